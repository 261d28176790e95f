//! The one place where S3 answers and transport failures become [`worm_core::Error`]s.
//!
//! The provider never retries: it only decides what is transient (worth a retry by the
//! pipeline) and what is permanent (a retry would get the same answer).

use http::StatusCode;
use object_store::client::{HttpError, HttpErrorKind};
use worm_core::Error;

use crate::xml;

/// What a request was doing, for error messages: `PUT s3://bucket/key`.
#[derive(Debug, Clone)]
pub(crate) struct Op {
    /// HTTP method or S3 operation name (`PUT`, `GetObjectRetention`).
    pub what: &'static str,
    /// Bucket.
    pub bucket: String,
    /// Object key, for object-level requests.
    pub key: Option<String>,
}

impl Op {
    pub(crate) fn target(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    pub(crate) fn context(&self) -> String {
        match &self.key {
            Some(k) => format!("{} s3://{}/{k}", self.what, self.bucket),
            None => format!("{} s3://{}", self.what, self.bucket),
        }
    }
}

/// The original handler's message for a missing bucket, kept recognisable.
pub(crate) fn bucket_missing(bucket: &str) -> Error {
    Error::Backend {
        context: format!("Cannot access S3 bucket '{bucket}'"),
        message: format!(
            "The specified bucket does not exist; create it with Object Lock enabled \
             (`worm s3 setup {bucket}`) or check AWS_S3_BUCKET, AWS_REGION and AWS_ENDPOINT_URL"
        ),
    }
}

/// Map a non-2xx S3 answer. `body` is the response body (empty for HEAD).
pub(crate) fn from_status(op: &Op, status: StatusCode, body: &[u8]) -> Error {
    let parsed = xml::parse_error(body);
    let code = parsed.as_ref().map(|e| e.code.as_str()).unwrap_or("");
    let server_msg = parsed
        .as_ref()
        .map(|e| e.message.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| code.to_string());
    let said = if server_msg.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status} {server_msg}")
    };
    let target = op.target();
    let context = op.context();
    match (status.as_u16(), code) {
        // Credentials the server does not know, a bad signature (wrong secret), an expired
        // session token or a skewed clock: the same request would be refused again.
        (
            400 | 401 | 403,
            "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "InvalidToken"
            | "TokenRefreshRequired"
            | "RequestTimeTooSkewed"
            | "AuthorizationHeaderMalformed",
        )
        | (401, _) => Error::Unauthenticated {
            target,
            message: format!(
                "{context}: the server rejected the credentials ({said}); check \
                 AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the role) and the clock"
            ),
        },
        // Valid credentials without the permission, or an action refused by Object Lock or a
        // bucket policy (deleting a locked version ends here): permanent.
        (403, _) => Error::PermissionDenied {
            target,
            message: format!("{context}: {said}"),
        },
        // The bucket itself is missing: permanent, and the original's wording.
        (404, "NoSuchBucket") => bucket_missing(&op.bucket),
        // A missing key or version (HEAD answers carry no body, so no code): NotFound when
        // the request named a key. `MethodNotAllowed` is what a GET of a delete marker gets.
        (404, _) | (405, "MethodNotAllowed") if op.key.is_some() => Error::NotFound {
            key: op.key.clone().unwrap_or_default(),
            target,
        },
        // `If-None-Match: *` lost: the key is taken.
        (412, _) if op.key.is_some() => Error::AlreadyExists {
            key: op.key.clone().unwrap_or_default(),
            target,
        },
        // Lock headers sent to a bucket without Object Lock.
        (400, _) if server_msg.contains("Object Lock") || server_msg.contains("object lock") => {
            Error::NotWorm {
                target,
                reason: format!(
                    "{context}: {said}; Object Lock not available on bucket '{}': it must be \
                     enabled when the bucket is created (`worm s3 setup {}`)",
                    op.bucket, op.bucket
                ),
            }
        }
        // The body the server received does not hash to what was sent and signed (Ceph
        // RGW checks the signed payload sha256, SeaweedFS `x-amz-checksum-sha256`, AWS
        // both): bytes changed on the way. Nothing was stored; sending again may succeed.
        (400, "BadDigest" | "XAmzContentSHA256Mismatch" | "InvalidDigest") => Error::transient(
            context,
            format!("{said}: the server's checksum of the body differs from the one sent"),
        ),
        // The server timed out reading our request, throttled us, or has a passing problem;
        // AWS's `ConditionalRequestConflict` (two conditional writes at once) says "retry".
        (400, "RequestTimeout")
        | (409, "ConditionalRequestConflict" | "OperationAborted")
        | (429, _) => Error::transient(context, said),
        // `501 Not Implemented` is a 5xx that never goes away: permanent.
        (501, _) => Error::Backend {
            context,
            message: format!("{said}: the server does not implement this S3 operation"),
        },
        // Other 5xx: 500 InternalError, 502/504 from a proxy, 503 SlowDown.
        (500..=599, _) => Error::transient(context, said),
        // Anything else is a request the server will refuse again as it is.
        _ => Error::Backend {
            context,
            message: said,
        },
    }
}

/// Map a failure below HTTP: connection refused or reset, timeouts, a body cut short.
pub(crate) fn from_http(op: &Op, e: &HttpError) -> Error {
    let context = op.context();
    let message = error_chain(e);
    match e.kind() {
        // Could not connect (server down, port closed, DNS), the request failed midway,
        // timed out, or the connection dropped / the body was cut short: all may pass.
        HttpErrorKind::Connect
        | HttpErrorKind::Request
        | HttpErrorKind::Timeout
        | HttpErrorKind::Interrupted
        | HttpErrorKind::Decode => Error::transient(context, message),
        // Unclassified (e.g. TLS certificate errors, invalid URL): retrying will not help.
        _ => Error::Backend { context, message },
    }
}

/// The credential chain found nothing usable (no env keys, no web identity, no IMDS).
pub(crate) fn credentials_missing(bucket: &str, e: &object_store::Error) -> Error {
    Error::Unauthenticated {
        target: format!("s3://{bucket}"),
        message: format!(
            "AWS credentials not found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
             AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, or run with an instance role ({})",
            error_chain(e)
        ),
    }
}

/// `e: cause: cause` on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let part = c.to_string();
        if !s.contains(&part) {
            s.push_str(": ");
            s.push_str(&part);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(key: Option<&str>) -> Op {
        Op {
            what: "PUT",
            bucket: "b".into(),
            key: key.map(Into::into),
        }
    }

    fn body(code: &str, msg: &str) -> Vec<u8> {
        format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>{msg}</Message></Error>")
            .into_bytes()
    }

    #[test]
    fn classification() {
        let k = op(Some("k"));
        let e = from_status(
            &k,
            StatusCode::FORBIDDEN,
            &body("SignatureDoesNotMatch", ""),
        );
        assert!(matches!(e, Error::Unauthenticated { .. }), "{e}");
        assert!(!e.is_retryable());
        let e = from_status(&k, StatusCode::FORBIDDEN, &body("AccessDenied", "locked"));
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
        let e = from_status(&k, StatusCode::NOT_FOUND, &body("NoSuchBucket", ""));
        assert!(
            e.to_string()
                .contains("Cannot access S3 bucket 'b': The specified bucket does not exist"),
            "{e}"
        );
        assert!(!e.is_retryable());
        let e = from_status(&k, StatusCode::NOT_FOUND, b"");
        assert!(
            matches!(e, Error::NotFound { ref key, .. } if key == "k"),
            "{e}"
        );
        let e = from_status(&k, StatusCode::PRECONDITION_FAILED, b"");
        assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
        for s in [500, 502, 503, 504, 429] {
            let e = from_status(&k, StatusCode::from_u16(s).unwrap(), b"");
            assert!(e.is_retryable(), "{s}: {e}");
        }
        let e = from_status(&k, StatusCode::NOT_IMPLEMENTED, b"");
        assert!(!e.is_retryable());
        let e = from_status(
            &k,
            StatusCode::BAD_REQUEST,
            &body(
                "InvalidRequest",
                "Bucket is missing Object Lock Configuration",
            ),
        );
        assert!(matches!(e, Error::NotWorm { .. }), "{e}");
        for code in ["BadDigest", "XAmzContentSHA256Mismatch"] {
            let e = from_status(&k, StatusCode::BAD_REQUEST, &body(code, ""));
            assert!(e.is_retryable(), "{code}: {e}");
            assert!(e.to_string().contains("checksum of the body"), "{e}");
        }
        let e = from_status(&op(None), StatusCode::NOT_FOUND, b"");
        assert!(matches!(e, Error::Backend { .. }), "{e}");
    }
}
