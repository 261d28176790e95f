//! The one error type of worm, shared by every provider and the pipeline.

use std::io;

/// Result alias used across worm.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when storing, reading or verifying audit objects.
///
/// Each provider maps its own failures onto these variants and decides which ones are
/// transient ([`Error::is_retryable`]). Messages name the object, path or bucket involved
/// and, where there is one, what to do about it.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key is already taken; write-once storage never overwrites.
    #[error("object '{key}' already exists in {target}; WORM storage never overwrites an object")]
    AlreadyExists {
        /// The object key.
        key: String,
        /// The store, e.g. `s3://bucket` or `/var/lib/worm`.
        target: String,
    },
    /// A retried write found a different object under its key.
    #[error(
        "object '{key}' already exists with sha256 {stored}, but this batch has sha256 {ours}: \
         another writer used the same key, or the stored object was altered"
    )]
    Conflict {
        /// The object key.
        key: String,
        /// Hex sha256 of the stored object.
        stored: String,
        /// Hex sha256 of the body we tried to store.
        ours: String,
    },
    /// No object under this key.
    #[error("object '{key}' not found in {target}")]
    NotFound {
        /// The object key.
        key: String,
        /// The store.
        target: String,
    },
    /// Credentials are missing or were rejected.
    #[error("{target}: {message}")]
    Unauthenticated {
        /// The store.
        target: String,
        /// What the server or credential chain said.
        message: String,
    },
    /// Credentials are valid but lack a permission.
    #[error("{target}: permission denied: {message}")]
    PermissionDenied {
        /// The store.
        target: String,
        /// What was refused.
        message: String,
    },
    /// The target does not enforce immutability (e.g. no Object Lock on the bucket).
    #[error("{target} is not WORM storage: {reason}")]
    NotWorm {
        /// The store.
        target: String,
        /// Why it is not write-once, and how to fix it.
        reason: String,
    },
    /// Bad input: a key, a configuration value, a record.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// What was invalid (e.g. `key 'a/../b'`, `AWS_S3_PREFIX`).
        what: String,
        /// Why.
        reason: String,
    },
    /// Local I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing, with the path.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A failure that may go away on retry: timeouts, 5xx, 429, connection resets.
    #[error("{context}: {message} (transient: trying again may succeed)")]
    Transient {
        /// What we were doing.
        context: String,
        /// What went wrong.
        message: String,
    },
    /// A permanent failure of the backend that fits no other variant.
    #[error("{context}: {message}")]
    Backend {
        /// What we were doing.
        context: String,
        /// What went wrong.
        message: String,
    },
    /// The writer was closed; no further records are accepted.
    #[error("the audit log writer is closed; records can no longer be accepted")]
    Closed,
    /// The queue was full and the `DropNewest` overflow policy dropped the record. The drop
    /// is counted in the writer's stats and recorded in the stream as a gap record.
    #[error(
        "audit queue full (capacity {capacity}): record dropped by overflow policy DropNewest; \
         the drop is counted and recorded in the stream"
    )]
    Overflow {
        /// Queue capacity in records.
        capacity: usize,
    },
    /// A deadline passed before the operation finished.
    #[error("{what} did not finish within {seconds:.1}s: {left}")]
    Timeout {
        /// What timed out.
        what: String,
        /// The deadline.
        seconds: f64,
        /// What is still outstanding.
        left: String,
    },
}

impl Error {
    /// Whether a retry may succeed. Permanent errors (auth, missing bucket, bad input,
    /// conflicts) are never retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transient { .. } => true,
            Error::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::Interrupted
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::WouldBlock
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::StorageFull
                    | io::ErrorKind::QuotaExceeded
            ),
            _ => false,
        }
    }

    /// A copy for a second recipient (errors are not `Clone` because `io::Error` is not):
    /// same variant and message, I/O sources rebuilt from their kind and text.
    pub fn clone_lossy(&self) -> Error {
        match self {
            Error::AlreadyExists { key, target } => Error::AlreadyExists {
                key: key.clone(),
                target: target.clone(),
            },
            Error::Conflict { key, stored, ours } => Error::Conflict {
                key: key.clone(),
                stored: stored.clone(),
                ours: ours.clone(),
            },
            Error::NotFound { key, target } => Error::NotFound {
                key: key.clone(),
                target: target.clone(),
            },
            Error::Unauthenticated { target, message } => Error::Unauthenticated {
                target: target.clone(),
                message: message.clone(),
            },
            Error::PermissionDenied { target, message } => Error::PermissionDenied {
                target: target.clone(),
                message: message.clone(),
            },
            Error::NotWorm { target, reason } => Error::NotWorm {
                target: target.clone(),
                reason: reason.clone(),
            },
            Error::InvalidInput { what, reason } => Error::InvalidInput {
                what: what.clone(),
                reason: reason.clone(),
            },
            Error::Io { context, source } => Error::Io {
                context: context.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Error::Transient { context, message } => Error::Transient {
                context: context.clone(),
                message: message.clone(),
            },
            Error::Backend { context, message } => Error::Backend {
                context: context.clone(),
                message: message.clone(),
            },
            Error::Closed => Error::Closed,
            Error::Overflow { capacity } => Error::Overflow {
                capacity: *capacity,
            },
            Error::Timeout {
                what,
                seconds,
                left,
            } => Error::Timeout {
                what: what.clone(),
                seconds: *seconds,
                left: left.clone(),
            },
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Transient`].
    pub fn transient(context: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Transient {
            context: context.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classification() {
        assert!(Error::transient("put a", "503").is_retryable());
        assert!(Error::io("write /x", io::Error::from(io::ErrorKind::TimedOut)).is_retryable());
        assert!(
            !Error::io("write /x", io::Error::from(io::ErrorKind::PermissionDenied)).is_retryable()
        );
        assert!(!Error::invalid("key", "empty").is_retryable());
        let e = Error::AlreadyExists {
            key: "k".into(),
            target: "memory:".into(),
        };
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("'k'"));
    }
}
