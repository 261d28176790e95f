//! The one error type of worm, shared by every provider and the pipeline.

use std::io;
use std::sync::Arc;

/// Result alias used across worm.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is: one kind per variant, and for [`Error::Batch`]
/// the kind of the store's error underneath (see [`Error::kind`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// [`Error::AlreadyExists`].
    AlreadyExists,
    /// [`Error::Conflict`].
    Conflict,
    /// [`Error::NotFound`].
    NotFound,
    /// [`Error::Unauthenticated`].
    Unauthenticated,
    /// [`Error::PermissionDenied`].
    PermissionDenied,
    /// [`Error::NotWorm`].
    NotWorm,
    /// [`Error::InvalidInput`].
    InvalidInput,
    /// [`Error::Io`].
    Io,
    /// [`Error::Transient`].
    Transient,
    /// [`Error::Backend`].
    Backend,
    /// [`Error::Closed`].
    Closed,
    /// [`Error::Overflow`].
    Overflow,
    /// [`Error::Timeout`].
    Timeout,
    /// [`Error::NoIdentity`].
    NoIdentity,
    /// [`Error::TooLarge`].
    TooLarge,
}

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
    /// An object read with a cap ([`WormSink::get_capped`](crate::sink::WormSink::get_capped))
    /// holds more bytes than the cap: no writer made it that large, and it was not read
    /// further (a hostile or damaged store must not exhaust memory).
    #[error("object '{key}' in {target} holds more than {limit} bytes; not read further")]
    TooLarge {
        /// The object key.
        key: String,
        /// The store.
        target: String,
        /// The cap, in bytes.
        limit: u64,
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
    /// An encrypted batch that none of the identities given can decrypt.
    #[error(
        "cannot decrypt {what}: it is encrypted to {}, and {}",
        if recipients.is_empty() { "recipients it does not name".to_string() } else { recipients.join(", ") },
        if *given == 0 { "no identity was given (--identity FILE)".to_string() } else { format!("none of the {given} identities given matches") }
    )]
    NoIdentity {
        /// The batch (its key) or spool file.
        what: String,
        /// The age recipients it is encrypted to.
        recipients: Vec<String>,
        /// How many identities were tried.
        given: usize,
    },
    /// The writer was closed; no further records are accepted.
    #[error("the audit log writer is closed; records can no longer be accepted")]
    Closed,
    /// The queue was full and the `DropNewest` overflow policy dropped the record. The drop
    /// is counted in the writer's stats and recorded in the stream as a gap record.
    #[error(
        "audit queue full (capacity {capacity} records, {bytes} bytes): record dropped by \
         overflow policy DropNewest; the drop is counted and recorded in the stream"
    )]
    Overflow {
        /// Queue capacity in records.
        capacity: usize,
        /// Queue capacity in bytes (`max_queue_bytes`).
        bytes: usize,
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
    /// A sealed batch the store refused permanently, from `flush`, `retry_failed` or
    /// `close`: which batch, and the store's error as [`source`](std::error::Error::source)
    /// (its kind is this error's [`kind`](Error::kind)).
    #[error(transparent)]
    Batch(Box<BatchError>),
}

/// A batch that could not be stored: its key, seq and record count, and the error the
/// store gave, kept whole (it is this error's [`source`](std::error::Error::source)).
#[derive(Debug, Clone)]
pub struct BatchError {
    key: String,
    seq: u64,
    records: u64,
    cause: Arc<Error>,
    left: Option<String>,
}

impl BatchError {
    /// The batch `seq` of its stream, `records` records from callers, at `key`, refused
    /// with `cause`.
    pub(crate) fn new(key: String, seq: u64, records: u64, cause: Arc<Error>) -> Self {
        BatchError {
            key,
            seq,
            records,
            cause,
            left: None,
        }
    }

    /// Add what else a close leaves unstored.
    pub(crate) fn with_left(mut self, left: String) -> Self {
        self.left = Some(left);
        self
    }

    /// The object key the batch was to be stored at.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The batch's seq in its stream.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Records from callers in the batch.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The error the store gave for the batch.
    pub fn cause(&self) -> &Error {
        &self.cause
    }
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "batch {} ({} records) not stored at '{}': {}",
            self.seq, self.records, self.key, self.cause
        )?;
        if let Some(left) = &self.left {
            write!(f, "; closed with {left}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.cause)
    }
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
            Error::Batch(b) => b.cause.is_retryable(),
            _ => false,
        }
    }

    /// What kind of failure this is, for `match`. A [`Error::Batch`] has the kind of the
    /// error the store gave for the batch, so a caller of `flush` or `close` can tell a
    /// bucket without Object Lock ([`ErrorKind::NotWorm`]) from rejected credentials.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Unauthenticated { .. } => ErrorKind::Unauthenticated,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Error::NotWorm { .. } => ErrorKind::NotWorm,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::Io { .. } => ErrorKind::Io,
            Error::Transient { .. } => ErrorKind::Transient,
            Error::Backend { .. } => ErrorKind::Backend,
            Error::Closed => ErrorKind::Closed,
            Error::Overflow { .. } => ErrorKind::Overflow,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::NoIdentity { .. } => ErrorKind::NoIdentity,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::Batch(b) => b.cause.kind(),
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

    #[test]
    fn a_batch_error_keeps_the_store_error_as_kind_and_source() {
        let cause = Error::NotWorm {
            target: "s3://b".into(),
            reason: "Object Lock is not enabled".into(),
        };
        let e = Error::Batch(Box::new(BatchError::new(
            "audit-logs/k".into(),
            3,
            5,
            Arc::new(cause),
        )));
        assert_eq!(e.kind(), ErrorKind::NotWorm);
        assert!(!e.is_retryable());
        let source = std::error::Error::source(&e).expect("a source");
        let inner = source.downcast_ref::<Error>().expect("the store's error");
        assert!(matches!(inner, Error::NotWorm { target, .. } if target == "s3://b"));
        let Error::Batch(b) = &e else { unreachable!() };
        assert_eq!((b.key(), b.seq(), b.records()), ("audit-logs/k", 3, 5));
        assert!(
            e.to_string()
                .contains("batch 3 (5 records) not stored at 'audit-logs/k'")
        );
    }
}
