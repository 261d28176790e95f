//! The control protocol between the handles and the worker: flush and close travel on
//! their own channel, apart from records.

use uuid::Uuid;

use crate::error::Result;

/// How a flush or close is answered.
pub(crate) type Reply<T> = Box<dyn FnOnce(T) + Send>;

/// Control messages travel apart from records, so a flush or close is heard even when
/// the record queue is full. Ordering comes from counting: `upto` is the number of
/// records whose send had begun when the call was made (see `AuditLog::flush`).
pub(crate) enum Control {
    Flush {
        upto: u64,
        reply: Reply<Result<()>>,
        /// Try batches refused permanently once more (`retry_failed`).
        retry_failed: bool,
    },
    Close {
        upto: u64,
        reply: Reply<Result<CloseReport>>,
    },
}

/// What `close` achieved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CloseReport {
    /// The stream that was closed.
    pub stream: Uuid,
    /// Seq of the final batch.
    pub final_seq: u64,
    /// Batches stored over the writer's life.
    pub batches_stored: u64,
    /// Records stored over the writer's life.
    pub records_stored: u64,
}
