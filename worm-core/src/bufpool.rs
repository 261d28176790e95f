//! Byte buffers kept for reuse: a buffer handed out as [`Bytes`] comes back to its pool
//! when the last `Bytes` over it is dropped.
//!
//! A fresh buffer of a batch's size costs a page fault and a zeroed page per 4 KiB as it
//! is first filled, in the kernel (BENCHMARKS.md, "Session 6" for the writer, "Session 8"
//! for the readers). A few buffers kept alive and filled again cost neither. How many are
//! kept, and how large a kept one may be, are fixed when the pool is made, so what a pool
//! holds stays bounded whatever passes through it.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

/// Buffers given back, up to a count and a size each.
#[derive(Debug)]
pub struct BufPool {
    free: Mutex<Vec<Vec<u8>>>,
    kept: usize,
    max_capacity: usize,
}

impl BufPool {
    /// A pool that keeps at most `kept` buffers, each of at most `max_capacity` bytes (a
    /// larger one given back is freed).
    pub fn new(kept: usize, max_capacity: usize) -> Self {
        BufPool {
            free: Mutex::new(Vec::with_capacity(kept)),
            kept,
            max_capacity,
        }
    }

    /// An empty buffer with room for at least `capacity` bytes: a kept one when there is
    /// one, else a new one.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let kept = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match kept {
            Some(mut buf) => {
                buf.clear();
                buf.reserve(capacity);
                buf
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// Keep `buf` for a later [`BufPool::take`], unless the pool is full or `buf` is too
    /// large to keep.
    pub fn give(&self, buf: Vec<u8>) {
        if buf.capacity() > self.max_capacity {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if free.len() < self.kept {
            free.push(buf);
        }
    }

    /// `buf` as [`Bytes`], given back to this pool when the last of them is dropped.
    pub fn bytes(self: &Arc<Self>, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled {
            buf,
            pool: Arc::clone(self),
        })
    }
}

/// A buffer lent out as [`Bytes`], given back to its pool when dropped.
struct Pooled {
    buf: Vec<u8>,
    pool: Arc<BufPool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_within_the_bounds() {
        let pool = Arc::new(BufPool::new(2, 1 << 20));
        let mut a = pool.take(1000);
        a.extend_from_slice(&[7; 100]);
        let at = a.as_ptr();
        let b = pool.bytes(a);
        let c = b.slice(10..20);
        drop(b);
        // Still lent out while a slice of it lives.
        let other = pool.take(1000);
        assert_ne!(other.as_ptr(), at);
        assert_eq!(&c[..], &[7; 10]);
        drop(c);
        let again = pool.take(10);
        assert_eq!(again.as_ptr(), at, "the buffer came back");
        assert!(again.is_empty() && again.capacity() >= 1000);
        // Too large to keep, and no more than `kept` kept.
        pool.give(Vec::with_capacity(2 << 20));
        for _ in 0..5 {
            pool.give(Vec::with_capacity(100));
        }
        let free = pool.free.lock().map(|f| f.len()).unwrap_or(0);
        assert_eq!(free, 2);
    }
}
