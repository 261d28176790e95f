//! The queue's byte budget: with records of any size up to `max_record_bytes`, a bound on
//! the number of queued records alone is no bound on memory (100,000 records of 1 MiB
//! would be 100 GB). A caller takes a record's bytes from the budget before queueing it;
//! the worker gives them back when it takes the record out. When the budget is spent the
//! overflow policy applies, as for a full queue.

use tokio::sync::Semaphore;

use super::stats::QUEUED_RECORD_BYTES;

/// Bytes of records waiting in the queue, bounded.
#[derive(Debug)]
pub(crate) struct QueueBytes {
    room: Semaphore,
    total: usize,
}

/// The budget was closed: the worker has ended.
#[derive(Debug)]
pub(crate) struct BudgetClosed;

impl QueueBytes {
    /// A budget of `total` bytes (at least one record of any size always fits: a record
    /// larger than the whole budget takes all of it).
    pub fn new(total: usize) -> Self {
        let total = total.clamp(1, u32::MAX as usize);
        QueueBytes {
            room: Semaphore::new(total),
            total,
        }
    }

    /// What a record whose JSON line has `line_len` bytes takes from the budget: its line
    /// and its place in the queue.
    pub fn cost(&self, line_len: usize) -> u32 {
        // `total` fits in u32 (see `new`).
        (line_len + QUEUED_RECORD_BYTES).min(self.total) as u32
    }

    /// Take `cost` bytes if they are free now.
    pub fn try_take(&self, cost: u32) -> Result<bool, BudgetClosed> {
        match self.room.try_acquire_many(cost) {
            Ok(p) => {
                p.forget();
                Ok(true)
            }
            Err(tokio::sync::TryAcquireError::NoPermits) => Ok(false),
            Err(tokio::sync::TryAcquireError::Closed) => Err(BudgetClosed),
        }
    }

    /// Wait for `cost` bytes; first come, first served, so blocked callers keep their order.
    pub async fn take(&self, cost: u32) -> Result<(), BudgetClosed> {
        let p = self
            .room
            .acquire_many(cost)
            .await
            .map_err(|_| BudgetClosed)?;
        p.forget();
        Ok(())
    }

    /// Give bytes back: a record left the queue, or was never queued.
    pub fn give(&self, bytes: usize) {
        if bytes > 0 {
            self.room.add_permits(bytes);
        }
    }

    /// Bytes free now.
    pub fn room(&self) -> usize {
        self.room.available_permits()
    }

    /// The worker has ended: callers waiting for room get [`BudgetClosed`].
    pub fn close(&self) {
        self.room.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_larger_than_the_budget_takes_all_of_it_and_waits_for_the_rest() {
        let b = QueueBytes::new(1000);
        let big = b.cost(5000);
        assert_eq!(big, 1000);
        let small = b.cost(10);
        assert!(b.try_take(small).unwrap());
        assert!(!b.try_take(big).unwrap(), "only part of the budget is free");
        b.give(small as usize);
        assert!(b.try_take(big).unwrap());
        assert_eq!(b.room(), 0);
        b.close();
        assert!(b.try_take(1).is_err());
    }
}
