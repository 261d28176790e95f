//! Reading stored objects back as batches, with memory bounded whatever the store holds.
//!
//! Every reader of a store (the verifier, the query API, `worm ls`) reads through a
//! [`BatchReader`]:
//! - an object whose listed or fetched size is larger than any batch of at most
//!   `max_object_bytes` could be stored as is never fetched or never scanned
//!   ([`Fault::TooLarge`]);
//! - the stored bytes of the objects in flight share a byte budget
//!   ([`DEFAULT_READ_BUDGET`], raised to one object when the cap is larger), so a few
//!   large objects wait for each other rather than all being held at once;
//! - the body is decompressed as a stream and scanned line by line
//!   ([`batch::Scanner`]): at most four lines of at most a sixteenth of the cap are
//!   held, and the scan stops at the cap;
//! - the zstd window is capped ([`batch::ZSTD_WINDOW_LOG_MAX`], 8 MiB).
//!
//! So memory is at most `budget + in-flight objects × (max_object_bytes / 4 + 9 MiB)`:
//! 128 MiB + 8 × 25 MiB = 328 MiB with the defaults.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::batch::{self, Compression, Fault, Header, Limits, OnRecord, ScanError, Scanned};
use crate::error::Error;
use crate::sink::{ObjectInfo, WormSink};
use crate::tlog::Hash;

/// Default cap on a decompressed batch: 64 MiB, sixteen times the largest preset batch
/// (`high_volume`: 4 MiB) plus room for a last record. A larger object is not something
/// a writer with the presets made; raise it for writers configured with bigger batches.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 64 << 20;

/// Default budget of stored bytes held at once by one reader's objects in flight.
pub const DEFAULT_READ_BUDGET: u64 = 128 << 20;

/// How a stored body is compressed. The magic bytes decide, so that a copy whose key
/// lost or gained an extension, or whose transfer tool already decompressed it, still
/// reads; the `Content-Encoding` and the key extension ([`Compression::from_key`]) are
/// only used when the body is too short to tell.
pub(crate) fn detect(body: &[u8], content_encoding: Option<&str>, key: &str) -> Compression {
    const GZIP: &[u8] = &[0x1f, 0x8b];
    const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
    if body.starts_with(GZIP) {
        return Compression::Gzip;
    }
    if body.starts_with(ZSTD) {
        return Compression::Zstd;
    }
    if body.first() == Some(&b'{') {
        return Compression::None;
    }
    match content_encoding {
        Some("gzip") => Compression::Gzip,
        Some("zstd") => Compression::Zstd,
        _ => Compression::from_key(key),
    }
}

/// The largest stored object that can hold a body of at most `max_body` bytes: gzip and
/// zstd add at most a few bytes per 32 KiB block to incompressible data.
pub fn max_stored(max_body: u64) -> u64 {
    max_body
        .saturating_add(max_body / 64)
        .saturating_add(64 << 10)
}

/// Scan a stored body: detect its compression, decompress as a stream, stop at `limits`.
pub fn scan(
    stored: &[u8],
    content_encoding: Option<&str>,
    key: &str,
    limits: Limits,
    on_record: &mut OnRecord<'_>,
) -> std::result::Result<Scanned, ScanError> {
    let compression = detect(stored, content_encoding, key);
    if compression == Compression::None {
        return batch::scan_slice(stored, limits, on_record);
    }
    let mut reader = compression
        .reader(stored)
        .map_err(|e| ScanError::new(Fault::Damaged, "compressed batch", e.to_string()))?;
    batch::scan_reader(&mut reader, limits, on_record)
}

/// Why an object could not be read as a batch.
#[derive(Debug)]
pub enum ReadError {
    /// Listed, but gone when fetched.
    Gone,
    /// Not a regular file (what it is, from the listing): never fetched.
    NotAFile(String),
    /// The store would not hand the object over.
    Fetch(Error),
    /// The bytes are not a whole batch within the caps.
    Scan(ScanError),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Gone => f.write_str("listed, but gone when read"),
            ReadError::NotAFile(what) => write!(f, "{what}: no writer makes one; not read"),
            ReadError::Fetch(e) => write!(f, "cannot read: {e}"),
            ReadError::Scan(e) => e.fmt(f),
        }
    }
}

/// Fetches and scans objects within the caps and the budget of the module docs. Cheap
/// to clone; clones share the budget.
#[derive(Debug, Clone)]
pub struct BatchReader {
    limits: Limits,
    max_stored: u64,
    budget: Arc<Semaphore>,
    /// Budget units (KiB) in all.
    budget_kib: u32,
}

fn kib(bytes: u64) -> u64 {
    bytes.div_ceil(1024)
}

impl BatchReader {
    /// A reader of batches of at most `max_object_bytes` uncompressed bytes, holding at
    /// most [`DEFAULT_READ_BUDGET`] stored bytes at once (or one object, if larger).
    pub fn new(max_object_bytes: u64) -> Self {
        let max_stored = max_stored(max_object_bytes);
        // Semaphore permits are counted in u32 KiB (4 TiB); a budget beyond is no budget.
        let budget_kib =
            u32::try_from(kib(max_stored.max(DEFAULT_READ_BUDGET))).unwrap_or(u32::MAX);
        BatchReader {
            limits: Limits::for_body(max_object_bytes),
            max_stored,
            budget: Arc::new(Semaphore::new(budget_kib as usize)),
            budget_kib,
        }
    }

    /// The caps applied to each body.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn too_large(&self, size: u64, when: &str) -> ReadError {
        ReadError::Scan(ScanError::new(
            Fault::TooLarge,
            "stored object",
            format!(
                "{size} bytes {when}, more than any batch of at most {} bytes takes ({} stored bytes at most)",
                self.limits.max_body, self.max_stored
            ),
        ))
    }

    /// Fetch a listed object and scan it off the async threads; `on_record` sees every
    /// record line with `state` (handed back) and the header. What the listing already
    /// tells (not a file, empty, too large) is reported without a fetch.
    pub async fn read<S, F>(
        &self,
        sink: &dyn WormSink,
        info: &ObjectInfo,
        state: S,
        on_record: F,
    ) -> std::result::Result<(Scanned, S), ReadError>
    where
        S: Send + 'static,
        F: FnMut(&mut S, &Header, &[u8]) + Send + 'static,
    {
        self.read_inner(
            sink,
            info,
            state,
            on_record,
            None::<fn(&mut S, &Header, &[Hash])>,
        )
        .await
    }

    /// [`BatchReader::read`] for a verifier of the tree: a plain `worm-batch/2` or `/3` body read
    /// whole hands `on_leaves` the leaf hashes of its record lines, a group at a time (its
    /// body hash and the leaves computed side by side), instead of each line to
    /// `on_record`; any other object goes line by line to `on_record`, as with `read`.
    pub(crate) async fn read_leaves<S, F, G>(
        &self,
        sink: &dyn WormSink,
        info: &ObjectInfo,
        state: S,
        on_record: F,
        on_leaves: G,
    ) -> std::result::Result<(Scanned, S), ReadError>
    where
        S: Send + 'static,
        F: FnMut(&mut S, &Header, &[u8]) + Send + 'static,
        G: FnMut(&mut S, &Header, &[Hash]) + Send + 'static,
    {
        self.read_inner(sink, info, state, on_record, Some(on_leaves))
            .await
    }

    async fn read_inner<S, F, G>(
        &self,
        sink: &dyn WormSink,
        info: &ObjectInfo,
        mut state: S,
        mut on_record: F,
        on_leaves: Option<G>,
    ) -> std::result::Result<(Scanned, S), ReadError>
    where
        S: Send + 'static,
        F: FnMut(&mut S, &Header, &[u8]) + Send + 'static,
        G: FnMut(&mut S, &Header, &[Hash]) + Send + 'static,
    {
        let (key, listed_size) = (info.key.as_str(), info.size);
        if let Some(what) = &info.not_a_file {
            return Err(ReadError::NotAFile(what.clone()));
        }
        if listed_size == 0 {
            return Err(ReadError::Scan(ScanError::new(
                Fault::NotABatch,
                "batch",
                "empty object",
            )));
        }
        if listed_size > self.max_stored {
            return Err(self.too_large(listed_size, "listed"));
        }
        let units = |bytes: u64| {
            u32::try_from(kib(bytes))
                .unwrap_or(u32::MAX)
                .min(self.budget_kib)
        };
        // The semaphore is never closed, so acquiring only fails if it were.
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(units(listed_size))
            .await;
        // Capped: an object that grew since it was listed (or a store that listed a false
        // size) is refused before more than the cap is held.
        let obj = match sink.get_capped(key, self.max_stored).await {
            Ok(o) => o,
            Err(Error::NotFound { .. }) => return Err(ReadError::Gone),
            Err(Error::TooLarge { .. }) => {
                return Err(
                    self.too_large(self.max_stored.saturating_add(1), "or more when fetched")
                );
            }
            Err(e) => return Err(ReadError::Fetch(e)),
        };
        let size = obj.body.len() as u64;
        if size > self.max_stored {
            return Err(self.too_large(size, "fetched"));
        }
        // The object grew after it was listed: take the rest of its share before going on.
        let more = units(size).saturating_sub(units(listed_size));
        let extra = if more > 0 {
            Some(self.budget.clone().acquire_many_owned(more).await)
        } else {
            None
        };
        let limits = self.limits;
        let job = tokio::task::spawn_blocking(move || {
            let _held = (permit, extra);
            let enc = obj.content_encoding.as_deref();
            let whole = detect(&obj.body, enc, &obj.key) == Compression::None;
            let Some(mut on_leaves) = on_leaves.filter(|_| whole) else {
                let mut each = |h: &Header, l: &[u8]| on_record(&mut state, h, l);
                return scan(&obj.body, enc, &obj.key, limits, &mut each).map(|s| (s, state));
            };
            // Both callbacks take the state; one of them runs at a time.
            let state = std::cell::RefCell::new(state);
            let mut each = |h: &Header, l: &[u8]| on_record(&mut state.borrow_mut(), h, l);
            let mut group = |h: &Header, ls: &[Hash]| on_leaves(&mut state.borrow_mut(), h, ls);
            let (scanned, _) =
                batch::scan_slice_or_leaves(&obj.body, limits, &mut each, &mut group)?;
            Ok((scanned, state.into_inner()))
        });
        match job.await {
            Ok(r) => r.map_err(ReadError::Scan),
            Err(e) => Err(ReadError::Fetch(Error::Backend {
                context: format!("reading '{key}'"),
                message: e.to_string(),
            })),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_win_over_the_key() {
        let plain = b"{\"worm\":{}}\n".to_vec();
        let gz = Compression::Gzip.compress(&plain).unwrap();
        let zst = Compression::Zstd.compress(&plain).unwrap();
        assert_eq!(detect(&gz, None, "a.json"), Compression::Gzip);
        assert_eq!(detect(&zst, None, "a.json.gz"), Compression::Zstd);
        assert_eq!(detect(&plain, Some("gzip"), "a.json.gz"), Compression::None);
        assert_eq!(detect(b"", None, "a.json.zst"), Compression::Zstd);
    }

    /// A zstd frame that asks for a 128 MiB window is refused before anything that size
    /// is allocated.
    #[test]
    fn a_large_zstd_window_is_refused() {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.long_distance_matching(true).unwrap();
        enc.window_log(27).unwrap();
        std::io::Write::write_all(&mut enc, b"{\"worm\":{}}\n").unwrap();
        let z = enc.finish().unwrap();
        let e = scan(&z, None, "k", Limits::for_body(1 << 20), &mut |_, _| {}).unwrap_err();
        assert_eq!(e.fault, Fault::Damaged, "{e}");
    }
}
