//! [`S3Setup`]: create a bucket fit for audit logs, and verify one.
//!
//! Every step reads the current setting first and only writes when it differs, so running
//! setup twice changes nothing the second time — and still works after the bucket policy
//! has started denying `s3:PutBucketObjectLockConfiguration`.

use bytes::Bytes;
use http::Method;
use serde::Serialize;
use serde_json::{Value, json};
use worm_core::{Error, Result, RetentionMode};

use crate::error::{self, error_chain};
use crate::request::{Parts, S3Client, S3Request, S3Response};
use crate::xml;

const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
const SID_TLS: &str = "WormDenyInsecureTransport";
const SID_DELETE: &str = "WormDenyDeleteAndLockChanges";
/// Actions the policy denies to everyone but the admin principal.
const DENIED_ACTIONS: [&str; 3] = [
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutBucketObjectLockConfiguration",
];
/// The original's cost tiers: (days, storage class).
const TRANSITIONS: [(u32, &str); 3] = [(30, "STANDARD_IA"), (90, "GLACIER"), (365, "DEEP_ARCHIVE")];

/// One setting of an audit-log bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// The bucket exists and is reachable with these credentials.
    Bucket,
    /// Versioning enabled.
    Versioning,
    /// Object Lock enabled.
    ObjectLock,
    /// Default retention (mode and days).
    DefaultRetention,
    /// Bucket policy statement denying requests without TLS (`aws:SecureTransport`).
    DenyInsecureTransport,
    /// Bucket policy statement denying object deletion and lock changes except to the
    /// admin principal.
    DenyDelete,
    /// Lifecycle transitions: 30 d STANDARD_IA, 90 d GLACIER, 365 d DEEP_ARCHIVE.
    Lifecycle,
}

/// What `verify` found for one setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SettingStatus {
    /// As wanted.
    Ok,
    /// Not configured.
    Missing,
    /// Configured differently.
    Wrong {
        /// What the bucket has.
        found: String,
        /// What setup would configure.
        expected: String,
    },
    /// The server does not implement this setting (some S3-compatible servers lack bucket
    /// policies or lifecycle): not enforced, and not reported as success.
    Unsupported {
        /// What the server said.
        reason: String,
    },
    /// The setting could not be read (e.g. permission denied).
    Unreadable {
        /// Why.
        reason: String,
    },
}

/// One line of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingReport {
    /// Which setting.
    pub setting: Setting,
    /// What was found.
    #[serde(flatten)]
    pub status: SettingStatus,
}

/// The result of [`S3Setup::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The bucket.
    pub bucket: String,
    /// One entry per setting checked, in a fixed order.
    pub settings: Vec<SettingReport>,
}

impl VerifyReport {
    /// Whether every setting is [`SettingStatus::Ok`].
    pub fn is_ok(&self) -> bool {
        self.settings.iter().all(|s| s.status == SettingStatus::Ok)
    }

    /// The status of one setting.
    pub fn status(&self, setting: Setting) -> Option<&SettingStatus> {
        self.settings
            .iter()
            .find(|s| s.setting == setting)
            .map(|s| &s.status)
    }
}

/// What one setup step did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StepOutcome {
    /// Created or written now.
    Applied,
    /// Already as wanted; nothing written.
    AlreadySet,
    /// Not requested (e.g. lifecycle turned off).
    Skipped,
    /// The server does not implement it.
    Unsupported {
        /// What the server said.
        reason: String,
    },
    /// The server refused it.
    Failed {
        /// The error.
        error: String,
    },
}

/// One line of a setup run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepReport {
    /// Which setting.
    pub setting: Setting,
    /// What happened.
    #[serde(flatten)]
    pub outcome: StepOutcome,
}

/// The result of [`S3Setup::apply`]: what each step did, then a fresh verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupReport {
    /// The bucket.
    pub bucket: String,
    /// One entry per step.
    pub steps: Vec<StepReport>,
    /// [`S3Setup::verify`] after the steps.
    pub verify: VerifyReport,
}

/// Creates and verifies an S3 bucket for audit logs, like the original `S3WORMSetup`:
/// Object Lock (which implies versioning), default retention, a bucket policy (deny
/// non-TLS requests; deny DeleteObject, DeleteObjectVersion and
/// PutBucketObjectLockConfiguration to all but an optional admin principal) and lifecycle
/// transitions. Build it with [`S3SinkBuilder::build_setup`](crate::S3SinkBuilder::build_setup).
#[derive(Debug)]
pub struct S3Setup {
    client: S3Client,
    mode: RetentionMode,
    days: u32,
    admin_principal: Option<String>,
    policy: bool,
    deny_insecure_transport: bool,
    lifecycle: bool,
}

/// Default retention [`S3Setup`] gives a bucket: 2557 days (7 years), as the original
/// handler used.
pub const DEFAULT_RETENTION_DAYS: u32 = 2557;

/// Default retention mode [`S3Setup`] gives a bucket: GOVERNANCE, as the original handler
/// used.
pub const DEFAULT_RETENTION_MODE: RetentionMode = RetentionMode::Governance;

impl S3Setup {
    pub(crate) fn new(p: Parts) -> Self {
        S3Setup {
            client: p.client,
            mode: DEFAULT_RETENTION_MODE,
            days: DEFAULT_RETENTION_DAYS,
            admin_principal: None,
            policy: true,
            deny_insecure_transport: true,
            lifecycle: true,
        }
    }

    /// The bucket's default retention, applied to objects stored without their own
    /// (default GOVERNANCE, 2557 days).
    pub fn with_default_retention(mut self, mode: RetentionMode, days: u32) -> Self {
        self.mode = mode;
        self.days = days;
        self
    }

    /// The one principal (an IAM role or user ARN) still allowed to delete versions and
    /// change the Object Lock configuration (GOVERNANCE bypass still needs its own grant).
    pub fn with_admin_principal(mut self, arn: impl Into<String>) -> Self {
        self.admin_principal = Some(arn.into());
        self
    }

    /// Whether to set the bucket policy (default `true`).
    pub fn with_policy(mut self, on: bool) -> Self {
        self.policy = on;
        self
    }

    /// Whether the policy denies non-TLS requests (default `true`). Turn off only for a
    /// plain-HTTP test server: with it, the server refuses every HTTP request.
    pub fn with_deny_insecure_transport(mut self, on: bool) -> Self {
        self.deny_insecure_transport = on;
        self
    }

    /// Whether to set the lifecycle transitions (default `true`).
    pub fn with_lifecycle(mut self, on: bool) -> Self {
        self.lifecycle = on;
        self
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.client.bucket
    }

    /// Create and configure the bucket; then verify it. Errors only when nothing can be
    /// done (credentials, network, bucket not creatable); per-setting failures are in
    /// the report.
    pub async fn apply(&self) -> Result<SetupReport> {
        let mut steps = vec![StepReport {
            setting: Setting::Bucket,
            outcome: self.create_bucket().await?,
        }];
        steps.push(StepReport {
            setting: Setting::Versioning,
            outcome: self.ensure_versioning().await,
        });
        let lock = self.ensure_object_lock().await;
        steps.push(StepReport {
            setting: Setting::ObjectLock,
            outcome: lock.clone(),
        });
        steps.push(StepReport {
            setting: Setting::DefaultRetention,
            outcome: lock,
        });
        let policy = if self.policy {
            self.ensure_policy().await
        } else {
            StepOutcome::Skipped
        };
        steps.push(StepReport {
            setting: Setting::DenyInsecureTransport,
            outcome: if self.deny_insecure_transport {
                policy.clone()
            } else {
                StepOutcome::Skipped
            },
        });
        steps.push(StepReport {
            setting: Setting::DenyDelete,
            outcome: policy,
        });
        steps.push(StepReport {
            setting: Setting::Lifecycle,
            outcome: if self.lifecycle {
                self.ensure_lifecycle().await
            } else {
                StepOutcome::Skipped
            },
        });
        // The policy may already refuse us (a server enforcing the TLS rule over plain
        // HTTP): report that rather than lose the steps.
        let verify = match self.verify().await {
            Ok(v) => v,
            Err(e) => VerifyReport {
                bucket: self.bucket().to_string(),
                settings: vec![SettingReport {
                    setting: Setting::Bucket,
                    status: SettingStatus::Unreadable {
                        reason: error_chain(&e),
                    },
                }],
            },
        };
        Ok(SetupReport {
            bucket: self.bucket().to_string(),
            steps,
            verify,
        })
    }

    /// Check every setting. Errors only when the bucket cannot be reached at all.
    pub async fn verify(&self) -> Result<VerifyReport> {
        let mut settings = Vec::new();
        let mut push = |setting, status| settings.push(SettingReport { setting, status });
        // Bucket and versioning: a missing bucket or bad credentials end the check here.
        let versioning = self.versioning_status().await?;
        push(Setting::Bucket, SettingStatus::Ok);
        push(
            Setting::Versioning,
            match versioning.as_deref() {
                Some("Enabled") => SettingStatus::Ok,
                None => SettingStatus::Missing,
                Some(other) => SettingStatus::Wrong {
                    found: other.to_string(),
                    expected: "Enabled".to_string(),
                },
            },
        );
        let (lock, retention) = self.verify_lock().await;
        push(Setting::ObjectLock, lock);
        push(Setting::DefaultRetention, retention);
        let (tls, delete) = self.verify_policy().await;
        push(Setting::DenyInsecureTransport, tls);
        push(Setting::DenyDelete, delete);
        push(Setting::Lifecycle, self.verify_lifecycle().await);
        Ok(VerifyReport {
            bucket: self.bucket().to_string(),
            settings,
        })
    }

    /// Create the bucket *without* Object Lock or versioning: what a misconfigured bucket
    /// looks like. For tests of the preflight only.
    #[doc(hidden)]
    pub async fn create_plain_bucket(&self) -> Result<()> {
        self.client
            .send(self.req("CreateBucket", Method::PUT, ""))
            .await
            .map(|_| ())
    }

    fn req(&self, what: &'static str, method: Method, sub: &str) -> S3Request {
        let r = S3Request::new(what, method, &self.client.bucket, None);
        if sub.is_empty() { r } else { r.query(sub, "") }
    }

    async fn create_bucket(&self) -> Result<StepOutcome> {
        // Look first: AWS us-east-1 and Ceph RGW answer 200 to re-creating one's own
        // bucket, which would report a second run as "applied".
        let (op, head) = self
            .client
            .exchange(self.req("HeadBucket", Method::HEAD, ""))
            .await?;
        if head.status.is_success() {
            return Ok(StepOutcome::AlreadySet);
        }
        if head.status.as_u16() != 404 {
            return Err(error::from_status(&op, head.status, &head.body));
        }
        let mut req = self
            .req("CreateBucket", Method::PUT, "")
            .header("x-amz-bucket-object-lock-enabled", "true")?;
        if self.client.region != "us-east-1" {
            req = req.body(Bytes::from(format!(
                "<CreateBucketConfiguration xmlns=\"{S3_NS}\"><LocationConstraint>{}</LocationConstraint>\
                 </CreateBucketConfiguration>",
                xml::escape(&self.client.region)
            )));
        }
        let (op, resp) = self.client.exchange(req).await?;
        if resp.status.is_success() {
            return Ok(StepOutcome::Applied);
        }
        let code = xml::parse_error(&resp.body)
            .map(|e| e.code)
            .unwrap_or_default();
        match code.as_str() {
            "BucketAlreadyOwnedByYou" => Ok(StepOutcome::AlreadySet),
            // Some servers say this for the caller's own bucket too: it is ours if we can
            // read its versioning state.
            "BucketAlreadyExists" => match self.versioning_status().await {
                Ok(_) => Ok(StepOutcome::AlreadySet),
                Err(_) => Err(Error::Backend {
                    context: format!("creating S3 bucket '{}'", self.bucket()),
                    message: "the name is taken by another account; choose another bucket name"
                        .to_string(),
                }),
            },
            _ => Err(error::from_status(&op, resp.status, &resp.body)),
        }
    }

    /// `Some("Enabled" | "Suspended")`, or `None` when never enabled.
    async fn versioning_status(&self) -> Result<Option<String>> {
        let resp = self
            .client
            .send(self.req("GetBucketVersioning", Method::GET, "versioning"))
            .await?;
        let doc: xml::VersioningConfiguration = xml::parse("GetBucketVersioning", &resp.body)
            .map_err(|m| self.backend("reading versioning", m))?;
        Ok(doc.status.filter(|s| !s.is_empty()))
    }

    async fn ensure_versioning(&self) -> StepOutcome {
        match self.versioning_status().await {
            Ok(Some(s)) if s == "Enabled" => return StepOutcome::AlreadySet,
            Ok(_) => {}
            Err(e) => return failed(&e),
        }
        let body = format!(
            "<VersioningConfiguration xmlns=\"{S3_NS}\"><Status>Enabled</Status></VersioningConfiguration>"
        );
        self.put_config("PutBucketVersioning", "versioning", body.into())
            .await
    }

    fn wanted_lock_xml(&self) -> String {
        format!(
            "<ObjectLockConfiguration xmlns=\"{S3_NS}\"><ObjectLockEnabled>Enabled</ObjectLockEnabled>\
             <Rule><DefaultRetention><Mode>{}</Mode><Days>{}</Days></DefaultRetention></Rule>\
             </ObjectLockConfiguration>",
            self.mode.as_str(),
            self.days
        )
    }

    async fn ensure_object_lock(&self) -> StepOutcome {
        let (lock, retention) = self.verify_lock().await;
        match (&lock, &retention) {
            (SettingStatus::Ok, SettingStatus::Ok) => return StepOutcome::AlreadySet,
            (SettingStatus::Unsupported { reason }, _) => {
                return StepOutcome::Unsupported {
                    reason: reason.clone(),
                };
            }
            _ => {}
        }
        self.put_config(
            "PutObjectLockConfiguration",
            "object-lock",
            self.wanted_lock_xml().into(),
        )
        .await
    }

    /// (Object Lock, default retention).
    async fn verify_lock(&self) -> (SettingStatus, SettingStatus) {
        let resp = match self
            .get_config("GetObjectLockConfiguration", "object-lock")
            .await
        {
            Ok(Some(r)) => r,
            Ok(None) => return (SettingStatus::Missing, SettingStatus::Missing),
            Err(s) => return (s.clone(), s),
        };
        let doc: xml::ObjectLockConfiguration =
            match xml::parse("GetObjectLockConfiguration", &resp.body) {
                Ok(d) => d,
                Err(m) => {
                    let s = SettingStatus::Unreadable { reason: m };
                    return (s.clone(), s);
                }
            };
        let lock = match doc.enabled.as_deref() {
            Some("Enabled") => SettingStatus::Ok,
            None | Some("") => SettingStatus::Missing,
            Some(o) => SettingStatus::Wrong {
                found: o.to_string(),
                expected: "Enabled".to_string(),
            },
        };
        let expected = format!("{} {} days", self.mode.as_str(), self.days);
        let retention = match doc.rule.and_then(|r| r.default_retention) {
            None => SettingStatus::Missing,
            Some(d) => {
                let days = d.days.or(d.years.map(|y| y * 365));
                let found = format!(
                    "{} {} days",
                    d.mode.as_deref().unwrap_or("?"),
                    days.map_or("?".into(), |x| x.to_string())
                );
                if found == expected {
                    SettingStatus::Ok
                } else {
                    SettingStatus::Wrong { found, expected }
                }
            }
        };
        (lock, retention)
    }

    fn wanted_policy(&self) -> Value {
        let b = &self.client.bucket;
        let resources = json!([format!("arn:aws:s3:::{b}"), format!("arn:aws:s3:::{b}/*")]);
        let mut statements = Vec::new();
        if self.deny_insecure_transport {
            statements.push(json!({
                "Sid": SID_TLS,
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": resources,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            }));
        }
        let mut delete = json!({
            "Sid": SID_DELETE,
            "Effect": "Deny",
            "Principal": "*",
            "Action": DENIED_ACTIONS,
            "Resource": resources,
        });
        if let Some(admin) = &self.admin_principal {
            delete["Condition"] = json!({"ArnNotEquals": {"aws:PrincipalArn": admin}});
        }
        statements.push(delete);
        json!({"Version": "2012-10-17", "Statement": statements})
    }

    async fn ensure_policy(&self) -> StepOutcome {
        let (tls, delete) = self.verify_policy().await;
        let tls_ok = !self.deny_insecure_transport || tls == SettingStatus::Ok;
        match (&tls, &delete) {
            _ if tls_ok && delete == SettingStatus::Ok => return StepOutcome::AlreadySet,
            (SettingStatus::Unsupported { reason }, _)
            | (_, SettingStatus::Unsupported { reason }) => {
                return StepOutcome::Unsupported {
                    reason: reason.clone(),
                };
            }
            _ => {}
        }
        self.put_config(
            "PutBucketPolicy",
            "policy",
            self.wanted_policy().to_string().into(),
        )
        .await
    }

    /// (deny insecure transport, deny delete).
    async fn verify_policy(&self) -> (SettingStatus, SettingStatus) {
        let resp = match self.get_config("GetBucketPolicy", "policy").await {
            Ok(Some(r)) => r,
            Ok(None) => return (SettingStatus::Missing, SettingStatus::Missing),
            Err(s) => return (s.clone(), s),
        };
        let policy: Value = match serde_json::from_slice(&resp.body) {
            Ok(v) => v,
            Err(e) => {
                let s = SettingStatus::Unreadable {
                    reason: format!("the bucket policy is not JSON: {e}"),
                };
                return (s.clone(), s);
            }
        };
        let statements: Vec<&Value> = match &policy["Statement"] {
            Value::Array(a) => a.iter().collect(),
            v @ Value::Object(_) => vec![v],
            _ => Vec::new(),
        };
        let denies: Vec<&Value> = statements
            .into_iter()
            .filter(|s| s["Effect"] == "Deny")
            .collect();
        let tls = denies.iter().any(|s| {
            let v = &s["Condition"]["Bool"]["aws:SecureTransport"];
            (v == "false" || v == &Value::Bool(false) || v == &json!(["false"]))
                && actions(s).iter().any(|a| a == "s3:*")
        });
        let tls = if tls {
            SettingStatus::Ok
        } else {
            SettingStatus::Missing
        };
        let denied: Vec<String> = denies.iter().flat_map(|s| actions(s)).collect();
        let missing: Vec<&str> = DENIED_ACTIONS
            .iter()
            .copied()
            .filter(|a| !denied.iter().any(|d| d == a || d == "s3:*"))
            .collect();
        let delete = if missing.len() == DENIED_ACTIONS.len() {
            SettingStatus::Missing
        } else if !missing.is_empty() {
            SettingStatus::Wrong {
                found: format!("denies {}", denied.join(", ")),
                expected: format!("also deny {}", missing.join(", ")),
            }
        } else if let Some(admin) = &self.admin_principal {
            let text = policy.to_string();
            if text.contains(admin.as_str()) {
                SettingStatus::Ok
            } else {
                SettingStatus::Wrong {
                    found: "no exception for the admin principal".to_string(),
                    expected: format!("exception for {admin}"),
                }
            }
        } else {
            SettingStatus::Ok
        };
        (tls, delete)
    }

    fn wanted_lifecycle(&self) -> String {
        let transitions: String = TRANSITIONS
            .iter()
            .map(|(d, c)| {
                format!("<Transition><Days>{d}</Days><StorageClass>{c}</StorageClass></Transition>")
            })
            .collect();
        format!(
            "<LifecycleConfiguration xmlns=\"{S3_NS}\"><Rule><ID>worm-audit-log-tiering</ID>\
             <Filter><Prefix></Prefix></Filter><Status>Enabled</Status>{transitions}</Rule>\
             </LifecycleConfiguration>"
        )
    }

    async fn ensure_lifecycle(&self) -> StepOutcome {
        match self.verify_lifecycle().await {
            SettingStatus::Ok => return StepOutcome::AlreadySet,
            SettingStatus::Unsupported { reason } => return StepOutcome::Unsupported { reason },
            _ => {}
        }
        self.put_config(
            "PutBucketLifecycleConfiguration",
            "lifecycle",
            self.wanted_lifecycle().into(),
        )
        .await
    }

    async fn verify_lifecycle(&self) -> SettingStatus {
        let resp = match self
            .get_config("GetBucketLifecycleConfiguration", "lifecycle")
            .await
        {
            Ok(Some(r)) => r,
            Ok(None) => return SettingStatus::Missing,
            Err(s) => return s,
        };
        let doc: xml::LifecycleConfiguration =
            match xml::parse("GetBucketLifecycleConfiguration", &resp.body) {
                Ok(d) => d,
                Err(m) => return SettingStatus::Unreadable { reason: m },
            };
        let mut found: Vec<(u32, String)> = doc
            .rules
            .iter()
            .filter(|r| r.status == "Enabled")
            .flat_map(|r| {
                r.transitions
                    .iter()
                    .map(|t| (t.days.unwrap_or(0), t.storage_class.clone()))
            })
            .collect();
        found.sort();
        let wanted: Vec<(u32, String)> = TRANSITIONS
            .iter()
            .map(|(d, c)| (*d, c.to_string()))
            .collect();
        let show = |v: &[(u32, String)]| {
            v.iter()
                .map(|(d, c)| format!("{d}d {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if found.is_empty() {
            SettingStatus::Missing
        } else if wanted.iter().all(|w| found.contains(w)) {
            SettingStatus::Ok
        } else {
            SettingStatus::Wrong {
                found: show(&found),
                expected: show(&wanted),
            }
        }
    }

    /// GET a bucket sub-resource. `Ok(None)` when it is not set (404), `Err(status)` for
    /// unsupported or unreadable.
    async fn get_config(
        &self,
        what: &'static str,
        sub: &str,
    ) -> std::result::Result<Option<S3Response>, SettingStatus> {
        match self.client.exchange(self.req(what, Method::GET, sub)).await {
            Ok((_, r)) if r.status.is_success() => Ok(Some(r)),
            Ok((op, r)) => {
                let code = xml::parse_error(&r.body)
                    .map(|e| e.code)
                    .unwrap_or_default();
                if r.status.as_u16() == 404 && code != "NoSuchBucket" {
                    Ok(None)
                } else if unsupported(r.status.as_u16(), &code) {
                    Err(SettingStatus::Unsupported {
                        reason: format!("{what}: the server answered HTTP {} {code}", r.status),
                    })
                } else {
                    Err(SettingStatus::Unreadable {
                        reason: error::from_status(&op, r.status, &r.body).to_string(),
                    })
                }
            }
            Err(e) => Err(SettingStatus::Unreadable {
                reason: e.to_string(),
            }),
        }
    }

    async fn put_config(&self, what: &'static str, sub: &str, body: Bytes) -> StepOutcome {
        match self
            .client
            .exchange(self.req(what, Method::PUT, sub).body(body))
            .await
        {
            Ok((_, r)) if r.status.is_success() => StepOutcome::Applied,
            Ok((op, r)) => {
                let code = xml::parse_error(&r.body)
                    .map(|e| e.code)
                    .unwrap_or_default();
                if unsupported(r.status.as_u16(), &code) {
                    StepOutcome::Unsupported {
                        reason: format!("{what}: the server answered HTTP {} {code}", r.status),
                    }
                } else {
                    failed(&error::from_status(&op, r.status, &r.body))
                }
            }
            Err(e) => failed(&e),
        }
    }

    fn backend(&self, what: &str, message: String) -> Error {
        Error::Backend {
            context: format!("{what} of S3 bucket '{}'", self.bucket()),
            message,
        }
    }
}

/// Answers meaning "this server does not implement that".
fn unsupported(status: u16, code: &str) -> bool {
    status == 501
        || matches!(
            code,
            "NotImplemented"
                | "NotSupported"
                | "UnsupportedOperation"
                | "InvalidStorageClass"
                | "MethodNotAllowed"
        )
}

fn failed(e: &Error) -> StepOutcome {
    StepOutcome::Failed {
        error: error_chain(e),
    }
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Why the bucket is not WORM storage (empty: it is). Fails on a missing bucket, bad
/// credentials or an unreachable server.
pub(crate) async fn worm_problems(client: &S3Client) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    // Both questions at once (each is a round trip every writer waits for before its
    // first record); the answers are read in the same order as before, so a failure is
    // reported as it was: the versioning request's first.
    let lock = S3Request::new(
        "GetObjectLockConfiguration",
        Method::GET,
        &client.bucket,
        None,
    )
    .query("object-lock", "");
    let (resp, lock) = futures::join!(
        client.send(
            S3Request::new("GetBucketVersioning", Method::GET, &client.bucket, None)
                .query("versioning", ""),
        ),
        client.exchange(lock)
    );
    let resp = resp?;
    let v: xml::VersioningConfiguration =
        xml::parse("GetBucketVersioning", &resp.body).map_err(|m| Error::Backend {
            context: format!("reading versioning of S3 bucket '{}'", client.bucket),
            message: m,
        })?;
    match v.status.as_deref() {
        Some("Enabled") => {}
        Some(s) if !s.is_empty() => problems.push(format!("versioning is {s}")),
        _ => problems.push("versioning is not enabled".to_string()),
    }
    let (op, resp) = lock?;
    let code = xml::parse_error(&resp.body)
        .map(|e| e.code)
        .unwrap_or_default();
    if resp.status.is_success() {
        let l: xml::ObjectLockConfiguration = xml::parse("GetObjectLockConfiguration", &resp.body)
            .map_err(|m| Error::Backend {
                context: format!(
                    "reading the Object Lock configuration of S3 bucket '{}'",
                    client.bucket
                ),
                message: m,
            })?;
        if l.enabled.as_deref() != Some("Enabled") {
            problems.push("Object Lock is not enabled".to_string());
        }
    } else if resp.status.as_u16() == 404 && code != "NoSuchBucket" {
        problems.push("the bucket has no Object Lock configuration".to_string());
    } else if unsupported(resp.status.as_u16(), &code) {
        problems.push(format!(
            "the server does not support Object Lock (HTTP {} {code})",
            resp.status
        ));
    } else {
        return Err(error::from_status(&op, resp.status, &resp.body));
    }
    Ok(problems)
}
