//! Building, signing and sending the S3 requests that object_store does not model.
//!
//! Every request is a whole-body request: the body's sha256 is computed up front, sent as
//! `x-amz-content-sha256` and signed (SigV4 through object_store's public
//! [`AwsAuthorizer`]). Configuration bodies also carry `Content-MD5` (AWS requires it for
//! them); PutObject carries the same sha256 as `x-amz-checksum-sha256` instead, hashed
//! once (see [`put_object`]). Requests go through object_store's HTTP client and are sent
//! exactly once: retrying is the pipeline's job.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use chrono::SecondsFormat;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use md5::{Digest as _, Md5};
use object_store::aws::{AmazonS3, AwsAuthorizer, AwsCredential, AwsCredentialProvider};
use object_store::client::{HttpClient, HttpRequest, HttpRequestBody};
use worm_core::{Error, PutOptions, Result, Sha256Hex};

use crate::error::{self, Op};

/// User metadata header prefix.
pub(crate) const META_PREFIX: &str = "x-amz-meta-";

/// The connection to one bucket: where it is, how to sign, how to send.
#[derive(Debug)]
pub(crate) struct S3Client {
    pub http: HttpClient,
    pub credentials: AwsCredentialProvider,
    pub region: String,
    pub bucket: String,
    /// `http://127.0.0.1:7480/bucket` (path style) or `https://bucket.s3.region.amazonaws.com`.
    pub bucket_url: String,
}

/// What a built sink or setup is made of: the request settings every call uses.
#[derive(Debug)]
pub(crate) struct Parts {
    pub client: S3Client,
    pub store: AmazonS3,
    pub require_worm: bool,
    pub endpoint: Option<String>,
}

/// One request to send: method, optional key, sub-resource query, headers, body.
#[derive(Debug)]
pub(crate) struct S3Request {
    pub op: Op,
    pub method: Method,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The body's sha256 when the caller already has it (signed as the payload hash).
    pub body_sha256: Option<Sha256Hex>,
    /// Refuse a response body longer than this ([`Error::TooLarge`]), reading at most
    /// about this much of it. `None`: read it whole.
    pub max_response: Option<u64>,
}

/// A response with its body read in full.
#[derive(Debug)]
pub(crate) struct S3Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl S3Response {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl S3Request {
    /// A request on the bucket (`key: None`) or on one object.
    pub fn new(what: &'static str, method: Method, bucket: &str, key: Option<&str>) -> Self {
        S3Request {
            op: Op {
                what,
                bucket: bucket.to_string(),
                key: key.map(str::to_string),
            },
            method,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            body_sha256: None,
            max_response: None,
        }
    }

    /// Refuse a response body longer than `limit` bytes (see [`S3Request::max_response`]).
    pub fn max_response(mut self, limit: u64) -> Self {
        self.max_response = Some(limit);
        self
    }

    /// Add a query parameter (`("versioning", "")` for a sub-resource).
    pub fn query(mut self, k: &str, v: &str) -> Self {
        self.query.push((k.to_string(), v.to_string()));
        self
    }

    /// Add a header; names and values come from this crate or were validated.
    pub fn header(mut self, name: &'static str, value: &str) -> Result<Self> {
        let v = HeaderValue::from_str(value).map_err(|_| {
            Error::invalid(
                format!("header {name} of {}", self.op.context()),
                "not a valid header value",
            )
        })?;
        self.headers.insert(HeaderName::from_static(name), v);
        Ok(self)
    }

    /// Set a body and its `Content-MD5` (S3 requires it, or a checksum, for lock and
    /// configuration requests).
    pub fn body(mut self, body: Bytes) -> Self {
        let md5 = B64.encode(Md5::digest(&body));
        // base64 is always a valid header value.
        if let Ok(v) = HeaderValue::from_str(&md5) {
            self.headers
                .insert(HeaderName::from_static("content-md5"), v);
        }
        self.body_hashed(body, None)
    }

    /// Set a body without `Content-MD5`; `sha256`, when given, must be the body's (it is
    /// signed as the payload hash, and the server refuses the request if it is not).
    fn body_hashed(mut self, body: Bytes, sha256: Option<Sha256Hex>) -> Self {
        // Explicit even when 0: Ceph RGW answers 411 to a PUT without it.
        self.headers
            .insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        self.body = body;
        self.body_sha256 = sha256;
        self
    }
}

impl S3Client {
    /// Fetch the current credential from object_store's chain (env, web identity, ECS, IMDS).
    pub async fn credential(&self) -> Result<Arc<AwsCredential>> {
        self.credentials
            .get_credential()
            .await
            .map_err(|e| error::credentials_missing(&self.bucket, &e))
    }

    /// The URL of the bucket or an object, with the query.
    pub fn url(&self, key: Option<&str>, query: &[(String, String)]) -> String {
        let mut url = self.bucket_url.clone();
        if let Some(k) = key {
            url.push('/');
            url.push_str(&encode_key(k));
        }
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&encode_component(k));
            if !v.is_empty() {
                url.push('=');
                url.push_str(&encode_component(v));
            }
        }
        url
    }

    /// Build and sign the HTTP request.
    pub fn sign(&self, req: S3Request, credential: &AwsCredential) -> Result<(Op, HttpRequest)> {
        let url = self.url(req.op.key.as_deref(), &req.query);
        let digest = req.body_sha256.unwrap_or_else(|| Sha256Hex::of(&req.body));
        let mut http_req = http::Request::builder()
            .method(req.method)
            .uri(&url)
            .body(HttpRequestBody::from(req.body))
            .map_err(|e| Error::invalid(format!("request URL '{url}'"), e.to_string()))?;
        *http_req.headers_mut() = req.headers;
        AwsAuthorizer::new(credential, "s3", &self.region)
            .try_authorize(&mut http_req, Some(&digest.0))
            .map_err(|e| Error::Backend {
                context: format!("signing {}", req.op.context()),
                message: error::error_chain(&e),
            })?;
        Ok((req.op, http_req))
    }

    /// Sign and send once. Non-2xx answers are mapped to errors (see `error.rs`).
    pub async fn send(&self, req: S3Request) -> Result<S3Response> {
        let resp = self.send_raw(req).await?;
        Ok(resp.1)
    }

    /// Sign and send once; returns the response whatever its status, for callers that
    /// look at specific answers (404 on HEAD, 409 on create). Transport errors are mapped.
    pub async fn exchange(&self, req: S3Request) -> Result<(Op, S3Response)> {
        let credential = self.credential().await?;
        let limit = req.max_response;
        let (op, http_req) = self.sign(req, &credential)?;
        let resp = self
            .http
            .execute(http_req)
            .await
            .map_err(|e| error::from_http(&op, &e))?;
        let (parts, body) = resp.into_parts();
        let body = match limit {
            None => body.bytes().await.map_err(|e| error::from_http(&op, &e))?,
            Some(limit) => read_capped(&op, &parts, body, limit).await?,
        };
        Ok((
            op,
            S3Response {
                status: parts.status,
                headers: parts.headers,
                body,
            },
        ))
    }

    async fn send_raw(&self, req: S3Request) -> Result<(Op, S3Response)> {
        let (op, resp) = self.exchange(req).await?;
        if resp.status.is_success() {
            Ok((op, resp))
        } else {
            Err(error::from_status(&op, resp.status, &resp.body))
        }
    }
}

/// A response body of at most `limit` bytes: refused on its `Content-Length` before any
/// of it is read, and while it streams in (a server may send more than it announced).
async fn read_capped(
    op: &Op,
    parts: &http::response::Parts,
    body: object_store::client::HttpResponseBody,
    limit: u64,
) -> Result<Bytes> {
    use futures::StreamExt;
    let too_large = || Error::TooLarge {
        key: op.key.clone().unwrap_or_default(),
        target: format!("s3://{}", op.bucket),
        limit,
    };
    let announced = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut out = Vec::with_capacity(usize::try_from(announced.unwrap_or(0)).unwrap_or(0));
    let mut chunks = body.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| error::from_http(op, &e))?;
        if (out.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// Object Lock headers of one PUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockHeaders {
    /// Send retention and legal hold as asked.
    Send,
    /// The bucket has no Object Lock and the user opted out: send none.
    Omit,
}

/// The write-once PutObject: `If-None-Match: *`, `x-amz-checksum-sha256`, content
/// type/encoding, user metadata and (with [`LockHeaders::Send`]) the Object Lock headers.
/// The sink's own `worm-sha256` metadata (hex sha256 of the body) is set here.
///
/// `sha` is the body's sha256, computed once by the caller and used four times: as the
/// signed payload hash (`x-amz-content-sha256`, which Ceph RGW and AWS check against the
/// bytes received), as `x-amz-checksum-sha256` (checked by SeaweedFS and AWS, and what AWS
/// accepts in place of `Content-MD5` on an Object Lock PUT), as `worm-sha256` and in the
/// receipt. No `Content-MD5`: a weaker hash of the same bytes, which cost as much client
/// CPU as everything else in the request together (BENCHMARKS.md §3).
pub(crate) fn put_object(
    bucket: &str,
    key: &str,
    body: Bytes,
    sha: Sha256Hex,
    opts: &PutOptions,
    lock: LockHeaders,
) -> Result<S3Request> {
    let mut req = S3Request::new("PUT", Method::PUT, bucket, Some(key))
        .body_hashed(body, Some(sha))
        .header("if-none-match", "*")?
        .header("x-amz-checksum-sha256", &B64.encode(sha.0))?;
    if let Some(ct) = &opts.content_type {
        req.headers
            .insert(CONTENT_TYPE, header_value(key, "content type", ct)?);
    }
    if let Some(ce) = &opts.content_encoding {
        req.headers
            .insert(CONTENT_ENCODING, header_value(key, "content encoding", ce)?);
    }
    let mut metadata = opts.metadata.clone();
    match metadata.get(SHA_META) {
        Some(v) if !v.eq_ignore_ascii_case(&sha.to_hex()) => {
            return Err(Error::invalid(
                format!("metadata {SHA_META} of '{key}'"),
                format!("says {v}, but the body's sha256 is {sha}"),
            ));
        }
        _ => {
            metadata.insert(SHA_META.to_string(), sha.to_hex());
        }
    }
    add_metadata(&mut req.headers, key, &metadata)?;
    if lock == LockHeaders::Send {
        if let Some(r) = &opts.retention {
            req = req
                .header("x-amz-object-lock-mode", r.mode.as_str())?
                .header(
                    "x-amz-object-lock-retain-until-date",
                    &lock_date(r.retain_until),
                )?;
        }
        if opts.legal_hold {
            req = req.header("x-amz-object-lock-legal-hold", "ON")?;
        }
    }
    Ok(req)
}

/// The metadata entry holding the hex sha256 of the stored bytes.
pub(crate) const SHA_META: &str = "worm-sha256";

/// Retain-until as S3 wants it: RFC 3339, UTC, whole seconds.
pub(crate) fn lock_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn header_value(key: &str, what: &str, v: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(v).map_err(|_| {
        Error::invalid(
            format!("{what} of '{key}'"),
            format!("'{v}' is not a valid header value"),
        )
    })
}

/// Metadata entry listing the names that contain `_`, comma-separated. Ceph RGW turns `_`
/// in header names into `-` (`x-amz-meta-service_name` comes back as `service-name`), so
/// the original's names (`service_name`, `request_id`, …) are restored from this list.
pub(crate) const NAMES_META: &str = "worm-meta-names";

/// Add `x-amz-meta-*` headers. Names must be lower-case `[a-z0-9_-]`; values that are not
/// printable ASCII are sent RFC 2047-encoded (`=?UTF-8?B?…?=`), as AWS itself returns them.
fn add_metadata(
    headers: &mut HeaderMap,
    key: &str,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let underscored: Vec<&str> = metadata
        .keys()
        .filter(|k| k.contains('_'))
        .map(String::as_str)
        .collect();
    if metadata.contains_key(NAMES_META) {
        return Err(Error::invalid(
            format!("metadata key '{NAMES_META}' of '{key}'"),
            "is reserved by worm-s3",
        ));
    }
    if !underscored.is_empty() {
        headers.insert(
            HeaderName::from_static("x-amz-meta-worm-meta-names"),
            header_value(key, "metadata", &underscored.join(","))?,
        );
    }
    for (k, v) in metadata {
        let ok_name = !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok_name {
            return Err(Error::invalid(
                format!("metadata key '{k}' of '{key}'"),
                "use lower-case ASCII letters, digits, '-' and '_'",
            ));
        }
        let name = HeaderName::from_bytes(format!("{META_PREFIX}{k}").as_bytes())
            .map_err(|e| Error::invalid(format!("metadata key '{k}' of '{key}'"), e.to_string()))?;
        headers.insert(name, header_value(key, "metadata", &encode_meta_value(v))?);
    }
    Ok(())
}

/// Printable ASCII stays as it is; anything else becomes `=?UTF-8?B?<base64>?=`.
pub(crate) fn encode_meta_value(v: &str) -> String {
    if v.bytes().all(|b| (0x20..0x7f).contains(&b)) && !v.starts_with("=?") {
        v.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", B64.encode(v.as_bytes()))
    }
}

/// Reverse of [`encode_meta_value`].
pub(crate) fn decode_meta_value(v: &str) -> String {
    v.strip_prefix("=?UTF-8?B?")
        .or_else(|| v.strip_prefix("=?utf-8?b?"))
        .and_then(|r| r.strip_suffix("?="))
        .and_then(|b| B64.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| v.to_string())
}

/// User metadata from response headers, decoded, with the names restored (see
/// [`NAMES_META`]).
pub(crate) fn metadata_of(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut raw: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(n, v)| {
            let k = n.as_str().strip_prefix(META_PREFIX)?;
            Some((k.to_string(), decode_meta_value(v.to_str().ok()?)))
        })
        .collect();
    let Some(names) = raw.remove(NAMES_META) else {
        return raw;
    };
    let fold = |s: &str| s.replace('_', "-");
    raw.into_iter()
        .map(|(k, v)| {
            let name = names
                .split(',')
                .find(|n| fold(n) == fold(&k))
                .map_or(k, str::to_string);
            (name, v)
        })
        .collect()
}

/// S3's URI encoding of a key: every byte except unreserved characters and `/`.
pub(crate) fn encode_key(key: &str) -> String {
    encode(key, true)
}

/// URI encoding of a query component (also `/`).
pub(crate) fn encode_component(s: &str) -> String {
    encode(s, false)
}

fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::StaticCredentialProvider;
    use worm_core::{Retention, RetentionMode};

    fn client() -> S3Client {
        let credential = AwsCredential {
            key_id: "AKIDEXAMPLE".into(),
            secret_key: "secret".into(),
            token: None,
        };
        S3Client {
            http: object_store::client::HttpClient::new(NoHttp),
            credentials: Arc::new(StaticCredentialProvider::new(credential)),
            region: "us-east-1".into(),
            bucket: "audit".into(),
            bucket_url: "http://127.0.0.1:7480/audit".into(),
        }
    }

    /// Never called: these tests only build and sign.
    #[derive(Debug)]
    struct NoHttp;
    #[async_trait::async_trait]
    impl object_store::client::HttpService for NoHttp {
        async fn call(
            &self,
            _req: HttpRequest,
        ) -> std::result::Result<object_store::client::HttpResponse, object_store::client::HttpError>
        {
            unreachable!("unit tests do not send")
        }
    }

    #[tokio::test]
    async fn lock_put_carries_and_signs_every_header() {
        let c = client();
        let body = Bytes::from_static(b"{\"worm\":{\"v\":1}}\n");
        let mut metadata = BTreeMap::new();
        metadata.insert("service_name".to_string(), "camera_service".to_string());
        metadata.insert("note".to_string(), "caméra".to_string());
        let opts = PutOptions {
            content_type: Some("application/x-ndjson".into()),
            metadata,
            retention: Some(Retention {
                mode: RetentionMode::Governance,
                retain_until: "2032-06-12T10:30:00.123Z".parse().unwrap(),
            }),
            legal_hold: true,
            ..PutOptions::default()
        };
        let req = put_object(
            "audit",
            "audit-logs/2025/06/12/r 1.json",
            body.clone(),
            Sha256Hex::of(&body),
            &opts,
            LockHeaders::Send,
        )
        .unwrap();
        let cred = c.credential().await.unwrap();
        let (_, signed) = c.sign(req, &cred).unwrap();
        assert_eq!(
            signed.uri().to_string(),
            "http://127.0.0.1:7480/audit/audit-logs/2025/06/12/r%201.json"
        );
        let h = |n: &str| {
            signed
                .headers()
                .get(n)
                .map(|v| v.to_str().unwrap().to_string())
        };
        // PutObject is checked by sha256 alone (see `put_object`).
        assert_eq!(h("content-md5"), None);
        let sha = Sha256Hex::of(&body);
        // `printf '{"worm":{"v":1}}\n' | openssl dgst -sha256 -binary | base64`.
        assert_eq!(
            h("x-amz-checksum-sha256").unwrap(),
            "CtkaYIfxh5kOjiv4FBua5xwHRC2gGAzG5PpZhlRrGI4="
        );
        assert_eq!(h("x-amz-content-sha256").unwrap(), sha.to_hex());
        assert_eq!(h("x-amz-meta-worm-sha256").unwrap(), sha.to_hex());
        assert_eq!(h("if-none-match").unwrap(), "*");
        assert_eq!(h("x-amz-object-lock-mode").unwrap(), "GOVERNANCE");
        assert_eq!(
            h("x-amz-object-lock-retain-until-date").unwrap(),
            "2032-06-12T10:30:00Z"
        );
        assert_eq!(h("x-amz-object-lock-legal-hold").unwrap(), "ON");
        assert_eq!(h("x-amz-meta-service_name").unwrap(), "camera_service");
        assert_eq!(h("x-amz-meta-note").unwrap(), "=?UTF-8?B?Y2Ftw6lyYQ==?=");
        assert_eq!(h("content-type").unwrap(), "application/x-ndjson");
        let auth = h("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        let signed_headers = auth
            .split("SignedHeaders=")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        assert_eq!(
            signed_headers,
            "content-type;host;if-none-match;x-amz-checksum-sha256;x-amz-content-sha256;\
             x-amz-date;x-amz-meta-note;x-amz-meta-service_name;x-amz-meta-worm-meta-names;x-amz-meta-worm-sha256;\
             x-amz-object-lock-legal-hold;x-amz-object-lock-mode;x-amz-object-lock-retain-until-date"
        );
    }

    #[tokio::test]
    async fn configuration_bodies_carry_content_md5() {
        let c = client();
        let body = Bytes::from_static(b"{\"worm\":{\"v\":1}}\n");
        let req = S3Request::new("PutObjectRetention", Method::PUT, "audit", Some("k"))
            .query("retention", "")
            .body(body.clone());
        let cred = c.credential().await.unwrap();
        let (_, signed) = c.sign(req, &cred).unwrap();
        let h = |n: &str| signed.headers()[n].to_str().unwrap().to_string();
        // Independently computed: `printf '{"worm":{"v":1}}\n' | openssl dgst -md5 -binary | base64`.
        assert_eq!(h("content-md5"), "PdTAYwL924t3Y4HBtx3k+Q==");
        assert_eq!(h("x-amz-content-sha256"), Sha256Hex::of(&body).to_hex());
    }

    #[test]
    fn unlocked_put_has_no_lock_headers_and_bad_sha_metadata_is_refused() {
        let opts = PutOptions {
            retention: Some(Retention::days_from_now(RetentionMode::Compliance, 1)),
            legal_hold: true,
            ..PutOptions::default()
        };
        let x = Bytes::from_static(b"x");
        let req = put_object(
            "b",
            "k",
            x.clone(),
            Sha256Hex::of(&x),
            &opts,
            LockHeaders::Omit,
        )
        .unwrap();
        assert!(
            req.headers
                .keys()
                .all(|k| !k.as_str().starts_with("x-amz-object-lock"))
        );
        assert!(req.headers.contains_key("x-amz-checksum-sha256"));
        let mut bad = PutOptions::default();
        bad.metadata.insert(SHA_META.into(), "00".repeat(32));
        let e = put_object(
            "b",
            "k",
            x.clone(),
            Sha256Hex::of(&x),
            &bad,
            LockHeaders::Send,
        )
        .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
    }

    #[test]
    fn underscored_metadata_names_survive_a_server_that_dashes_them() {
        let mut metadata = BTreeMap::new();
        metadata.insert("service_name".to_string(), "cam".to_string());
        metadata.insert("worm-seq".to_string(), "1".to_string());
        let opts = PutOptions {
            metadata,
            ..PutOptions::default()
        };
        let empty = Bytes::new();
        let req = put_object(
            "b",
            "k",
            empty,
            Sha256Hex::of(b""),
            &opts,
            LockHeaders::Send,
        )
        .unwrap();
        assert_eq!(req.headers["x-amz-meta-worm-meta-names"], "service_name");
        assert_eq!(req.headers["content-length"], "0");
        // What Ceph RGW sends back.
        let mut back = HeaderMap::new();
        back.insert("x-amz-meta-service-name", HeaderValue::from_static("cam"));
        back.insert("x-amz-meta-worm-seq", HeaderValue::from_static("1"));
        back.insert(
            "x-amz-meta-worm-meta-names",
            HeaderValue::from_static("service_name"),
        );
        let got = metadata_of(&back);
        assert_eq!(got.get("service_name").map(String::as_str), Some("cam"));
        assert_eq!(got.get("worm-seq").map(String::as_str), Some("1"));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn key_and_metadata_encoding() {
        assert_eq!(
            encode_key("a/b c/日+=~.json"),
            "a/b%20c/%E6%97%A5%2B%3D~.json"
        );
        assert_eq!(encode_component("a/b"), "a%2Fb");
        for v in ["plain", "caméra 日本", "=?odd", ""] {
            assert_eq!(decode_meta_value(&encode_meta_value(v)), v);
        }
    }
}
