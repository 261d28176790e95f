//! `worm s3 setup|verify`: create and check an audit-log bucket.

use crate::cli::S3Command;
use crate::error::CliResult;

/// Run an `s3` subcommand.
#[cfg(feature = "s3")]
pub async fn run(c: S3Command) -> CliResult<u8> {
    imp::run(c).await
}

/// Without the `s3` feature there is nothing to run.
#[cfg(not(feature = "s3"))]
pub async fn run(_c: S3Command) -> CliResult<u8> {
    Err(crate::error::CliError::fatal(
        "this worm was built without S3 support (cargo feature `s3`)",
    ))
}

#[cfg(feature = "s3")]
mod imp {
    use worm::s3::{Setting, SettingStatus, StepOutcome, VerifyReport};

    use crate::cli::{S3Command, S3SetupArgs, S3VerifyArgs};
    use crate::error::{CliError, CliResult, EXIT_OK, EXIT_PROBLEMS};
    use crate::output;
    use crate::store::s3_builder;

    fn store_env() -> CliResult<worm::env::StoreEnv> {
        worm::env::StoreEnv::from_env().map_err(|e| CliError::fatal(e.to_string()))
    }

    pub async fn run(c: S3Command) -> CliResult<u8> {
        match c {
            S3Command::Setup(a) => setup(a).await,
            S3Command::Verify(a) => verify(a).await,
        }
    }

    async fn setup(a: S3SetupArgs) -> CliResult<u8> {
        let t = &a.target;
        let b = s3_builder(&store_env()?, &t.bucket, &t.s3);
        // A TLS-only policy on a plain-http endpoint would refuse every request, this
        // tool's included.
        let plain_http = b.endpoint().is_some_and(|e| e.starts_with("http://"));
        let mut setup = b
            .build_setup()
            .map_err(|e| CliError::fatal(format!("cannot set up bucket '{}': {e}", t.bucket)))?
            .with_default_retention(t.mode.into(), t.retention_days)
            .with_policy(!t.no_policy)
            .with_lifecycle(!t.no_lifecycle)
            .with_deny_insecure_transport(!plain_http);
        if let Some(arn) = &a.admin_principal {
            setup = setup.with_admin_principal(arn);
        }
        let report = setup
            .apply()
            .await
            .map_err(|e| CliError::fatal(format!("cannot set up bucket '{}': {e}", t.bucket)))?;
        let mut skip = not_required(t.no_policy, t.no_lifecycle, plain_http);
        // What the server refused to implement cannot be required of it; a later
        // verification may only see it as missing.
        skip.extend(
            report
                .steps
                .iter()
                .filter(|s| matches!(s.outcome, StepOutcome::Unsupported { .. }))
                .map(|s| s.setting),
        );
        let bad = failures(&report.verify, &skip);
        if t.json {
            output::json(&report)?;
        } else {
            if plain_http && !t.no_policy {
                println!(
                    "note: plain-http endpoint: the policy statement denying non-TLS access is left out"
                );
            }
            println!("bucket {}:", report.bucket);
            for s in &report.steps {
                let what = match &s.outcome {
                    StepOutcome::Applied => "applied".to_string(),
                    StepOutcome::AlreadySet => "already set".to_string(),
                    StepOutcome::Skipped => "skipped".to_string(),
                    StepOutcome::Unsupported { reason } => {
                        format!("unsupported by the server: {reason}")
                    }
                    StepOutcome::Failed { error } => format!("FAILED: {error}"),
                };
                println!("  {:<24} {what}", name(&s.setting));
            }
            print_verify(&report.verify, &skip);
        }
        finish(&t.bucket, bad)
    }

    async fn verify(a: S3VerifyArgs) -> CliResult<u8> {
        let t = &a.target;
        let b = s3_builder(&store_env()?, &t.bucket, &t.s3);
        let plain_http = b.endpoint().is_some_and(|e| e.starts_with("http://"));
        let skip = not_required(t.no_policy, t.no_lifecycle, plain_http);
        let report = b
            .build_setup()
            .map_err(|e| CliError::fatal(format!("cannot check bucket '{}': {e}", t.bucket)))?
            .with_default_retention(t.mode.into(), t.retention_days)
            .verify()
            .await
            .map_err(|e| CliError::fatal(format!("cannot check bucket '{}': {e}", t.bucket)))?;
        let bad = failures(&report, &skip);
        if t.json {
            output::json(&report)?;
        } else {
            print_verify(&report, &skip);
        }
        finish(&t.bucket, bad)
    }

    /// Settings the user did not ask for, or that cannot work on a plain-http endpoint.
    fn not_required(no_policy: bool, no_lifecycle: bool, plain_http: bool) -> Vec<Setting> {
        let mut skip = Vec::new();
        if no_policy {
            skip.extend([Setting::DenyInsecureTransport, Setting::DenyDelete]);
        }
        if plain_http {
            skip.push(Setting::DenyInsecureTransport);
        }
        if no_lifecycle {
            skip.push(Setting::Lifecycle);
        }
        skip
    }

    /// Required settings that are missing, wrong or unreadable. Unsupported ones are
    /// shown but do not fail: the server cannot have them.
    fn failures(r: &VerifyReport, skip: &[Setting]) -> usize {
        r.settings
            .iter()
            .filter(|s| !skip.contains(&s.setting))
            .filter(|s| {
                !matches!(
                    s.status,
                    SettingStatus::Ok | SettingStatus::Unsupported { .. }
                )
            })
            .count()
    }

    fn finish(bucket: &str, bad: usize) -> CliResult<u8> {
        if bad == 0 {
            Ok(EXIT_OK)
        } else {
            eprintln!("worm: bucket '{bucket}': {bad} setting(s) not as required");
            Ok(EXIT_PROBLEMS)
        }
    }

    fn name<T: serde::Serialize>(v: &T) -> String {
        serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "?".into())
    }

    fn print_verify(r: &VerifyReport, skip: &[Setting]) {
        println!("verify {}:", r.bucket);
        for s in &r.settings {
            let note = if skip.contains(&s.setting) && s.status != SettingStatus::Ok {
                " (not required)"
            } else {
                ""
            };
            let what = match &s.status {
                SettingStatus::Ok => "ok".to_string(),
                SettingStatus::Missing => "MISSING".to_string(),
                SettingStatus::Wrong { found, expected } => {
                    format!("WRONG: found {found}, expected {expected}")
                }
                SettingStatus::Unsupported { reason } => {
                    format!("unsupported by the server (not enforced): {reason}")
                }
                SettingStatus::Unreadable { reason } => format!("UNREADABLE: {reason}"),
            };
            println!("  {:<24} {what}{note}", name(&s.setting));
        }
    }
}
