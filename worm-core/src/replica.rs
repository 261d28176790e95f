//! Replicas compared and repaired: which objects one store holds and another lacks or
//! holds with other bytes ([`compare`]), and copying what is missing, byte for byte,
//! never overwriting ([`sync`]).
//!
//! Both read the bytes a reader gets (`get`) and hash them, rather than trusting what a
//! store says about itself: a replica is checked as an auditor would check it.
//!
//! Either store may have been tampered with, so reading is bounded as `verify`'s is: no
//! object larger than a batch can be ([`max_object_bytes`]) is read, nor more bytes than
//! its listing gave, and at most [`READ_BUDGET`] listed bytes are held at once. What is
//! over is reported by key ([`Comparison::oversized`], [`SyncReport::failed`]).

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::hash::Sha256Hex;
use crate::sink::{PutOptions, Retention, WormSink};

/// Objects read at once.
const CONCURRENCY: usize = 8;

/// Listed bytes of the objects read at once, at most (128 MiB, as `verify`).
pub const READ_BUDGET: u64 = crate::verify::DEFAULT_READ_BUDGET;

/// The largest object compared or copied: what a batch of `verify`'s default maximum
/// body can take stored, compressed or not (about 65 MiB).
pub fn max_object_bytes() -> u64 {
    crate::verify::max_stored(crate::verify::DEFAULT_MAX_OBJECT_BYTES)
}

/// Reads bounded in size and, together, in memory.
struct Reads {
    budget: tokio::sync::Semaphore,
    max: u64,
}

impl Reads {
    fn new() -> Self {
        let max = max_object_bytes();
        Reads {
            // At least one object of the largest size fits.
            budget: tokio::sync::Semaphore::new(READ_BUDGET.max(max) as usize),
            max,
        }
    }

    /// The object at `key`, listed with `size` bytes: `None` when it is larger than any
    /// batch, or larger than listed (never read past that).
    async fn get(
        &self,
        sink: &dyn WormSink,
        key: &str,
        size: u64,
    ) -> Result<Option<crate::sink::StoredObject>> {
        if size > self.max {
            return Ok(None);
        }
        // `size` ≤ `max`, which fits in u32 (about 65 MiB); the budget is never closed.
        let _held = self
            .budget
            .acquire_many(size as u32)
            .await
            .map_err(|_| Error::Closed)?;
        match sink.get_capped(key, size).await {
            Ok(o) => Ok(Some(o)),
            Err(Error::TooLarge { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// sha256 of the bytes a reader gets at `key` (see [`get`](Self::get)).
    async fn sha(&self, sink: &dyn WormSink, key: &str, size: u64) -> Result<Option<Sha256Hex>> {
        Ok(self
            .get(sink, key, size)
            .await?
            .map(|o| Sha256Hex::of(&o.body)))
    }
}

/// One object listed in a store, with the sha256 of its bytes once read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Key.
    pub key: String,
    /// Size in bytes, as listed.
    pub size: u64,
}

/// An object both stores hold with different bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Different {
    /// Key.
    pub key: String,
    /// sha256 of the bytes in the first store.
    pub sha256_a: String,
    /// sha256 of the bytes in the second store.
    pub sha256_b: String,
    /// Sizes in the first and second store.
    pub sizes: (u64, u64),
}

/// What [`compare`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// The first store (`describe`).
    pub a: String,
    /// The second store.
    pub b: String,
    /// Objects in both with the same bytes.
    pub same: u64,
    /// Keys only the first store holds.
    pub only_in_a: Vec<Entry>,
    /// Keys only the second store holds.
    pub only_in_b: Vec<Entry>,
    /// Keys both hold with different bytes.
    pub different: Vec<Different>,
    /// Entries that are not objects a writer could make (links, FIFOs: see
    /// [`ObjectInfo::not_a_file`](crate::sink::ObjectInfo::not_a_file)), by store and key;
    /// never read.
    pub not_files: Vec<String>,
    /// Objects never read because they are larger than any batch can be
    /// ([`max_object_bytes`]), or than their listing said: by store, key and size.
    pub oversized: Vec<String>,
}

impl Comparison {
    /// Whether the two stores hold the same objects with the same bytes.
    pub fn is_identical(&self) -> bool {
        self.only_in_a.is_empty()
            && self.only_in_b.is_empty()
            && self.different.is_empty()
            && self.not_files.is_empty()
            && self.oversized.is_empty()
    }
}

async fn listing(
    sink: &dyn WormSink,
    prefix: &str,
    not_files: &mut Vec<String>,
) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    let mut s = sink.list(prefix);
    while let Some(o) = s.next().await {
        let o = o?;
        match &o.not_a_file {
            Some(what) => not_files.push(format!("{}: {} ({what})", sink.describe(), o.key)),
            None => {
                out.insert(o.key, o.size);
            }
        }
    }
    Ok(out)
}

/// Compare the objects under `prefix_a` in `a` with those under `prefix_b` in `b`, by key
/// and by the sha256 of their bytes. Keys are compared whole (a batch has the same key
/// in every replica).
pub async fn compare(
    a: &dyn WormSink,
    prefix_a: &str,
    b: &dyn WormSink,
    prefix_b: &str,
) -> Result<Comparison> {
    let mut not_files = Vec::new();
    let la = listing(a, prefix_a, &mut not_files).await?;
    let lb = listing(b, prefix_b, &mut not_files).await?;
    let entries = |m: &BTreeMap<String, u64>, other: &BTreeMap<String, u64>| -> Vec<Entry> {
        m.iter()
            .filter(|(k, _)| !other.contains_key(*k))
            .map(|(k, s)| Entry {
                key: k.clone(),
                size: *s,
            })
            .collect()
    };
    let only_in_a = entries(&la, &lb);
    let only_in_b = entries(&lb, &la);
    let both: Vec<(&String, u64, u64)> = la
        .iter()
        .filter_map(|(k, sa)| lb.get(k).map(|sb| (k, *sa, *sb)))
        .collect();
    let reads = Reads::new();
    let reads = &reads;
    let oversize = |sink: &dyn WormSink, k: &str, size: u64| {
        format!(
            "{}: {k} ({size} bytes listed; larger than any batch, {} bytes, or than listed)",
            sink.describe(),
            reads.max
        )
    };
    let outcomes: Vec<(Option<Different>, Vec<String>)> = stream::iter(both)
        .map(|(k, sa, sb)| async move {
            let (ha, hb) = futures::try_join!(reads.sha(a, k, sa), reads.sha(b, k, sb))?;
            Ok::<_, Error>(match (ha, hb) {
                (Some(ha), Some(hb)) => (
                    (ha != hb).then(|| Different {
                        key: k.clone(),
                        sha256_a: ha.to_hex(),
                        sha256_b: hb.to_hex(),
                        sizes: (sa, sb),
                    }),
                    Vec::new(),
                ),
                (ha, hb) => {
                    let mut over = Vec::new();
                    if ha.is_none() {
                        over.push(oversize(a, k, sa));
                    }
                    if hb.is_none() {
                        over.push(oversize(b, k, sb));
                    }
                    (None, over)
                }
            })
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let unread = outcomes.iter().filter(|(_, o)| !o.is_empty()).count();
    let (mut different, mut oversized) = (Vec::new(), Vec::new());
    for (d, o) in outcomes {
        different.extend(d);
        oversized.extend(o);
    }
    different.sort_by(|x, y| x.key.cmp(&y.key));
    oversized.sort();
    let same = la.keys().filter(|k| lb.contains_key(*k)).count() - different.len() - unread;
    Ok(Comparison {
        a: a.describe(),
        b: b.describe(),
        same: same as u64,
        only_in_a,
        only_in_b,
        different,
        not_files,
        oversized,
    })
}

/// Lock settings of the copies [`sync`] makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyLocks {
    /// Retention of each copy; `None`: the destination's default (e.g. the bucket's).
    pub retention: Option<Retention>,
    /// Legal hold on each copy.
    pub legal_hold: bool,
}

/// What [`sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// The comparison it started from.
    pub before: Comparison,
    /// Keys copied (each read back from the destination with the source's sha256).
    pub copied: Vec<String>,
    /// Keys that could not be copied, with why.
    pub failed: Vec<(String, String)>,
}

impl SyncReport {
    /// Whether the destination now holds every object of the source, with its bytes.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
            && self.before.different.is_empty()
            && self.before.oversized.is_empty()
            && self.copied.len() == self.before.only_in_a.len()
    }
}

/// Copy every object under `prefix_from` in `from` that `to` lacks (under `prefix_to`),
/// byte for byte, keeping content type, encoding and metadata, with `locks` applied by
/// `to`. Never overwrites: a key `to` holds with other bytes is only reported (in
/// [`Comparison::different`]). Each copy is read back from `to` and its sha256 compared
/// with the source's. With `dry_run`, only compares.
///
/// A copy keeps its key, so a key of `from` outside `prefix_to` could never be found under
/// `prefix_to` afterwards (a later compare or verify of `to` would not see it, and a second
/// sync would try again). Such a sync is refused before anything is copied.
pub async fn sync(
    from: &dyn WormSink,
    prefix_from: &str,
    to: &dyn WormSink,
    prefix_to: &str,
    locks: CopyLocks,
    dry_run: bool,
) -> Result<SyncReport> {
    let before = compare(from, prefix_from, to, prefix_to).await?;
    if let Some(outside) = before
        .only_in_a
        .iter()
        .find(|e| !e.key.starts_with(prefix_to))
    {
        return Err(Error::invalid(
            format!("sync destination {} (prefix '{prefix_to}')", to.describe()),
            format!(
                "'{}' of {} would be copied under its own key, outside that prefix, where a \
                 compare or verify of the destination never looks; name a destination whose \
                 prefix holds the source's keys (for S3, the bucket without a path, or the \
                 path the source's keys start with)",
                outside.key,
                from.describe()
            ),
        ));
    }
    let mut report = SyncReport {
        before,
        ..SyncReport::default()
    };
    if dry_run {
        return Ok(report);
    }
    let entries: Vec<Entry> = report.before.only_in_a.clone();
    let reads = Reads::new();
    let reads = &reads;
    let results: Vec<(String, Result<()>)> = stream::iter(entries)
        .map(|e| async move {
            let r = copy_one(reads, from, to, &e, locks).await;
            (e.key, r)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (key, r) in results {
        match r {
            Ok(()) => report.copied.push(key),
            Err(e) => report.failed.push((key, e.to_string())),
        }
    }
    report.copied.sort();
    report.failed.sort();
    Ok(report)
}

async fn copy_one(
    reads: &Reads,
    from: &dyn WormSink,
    to: &dyn WormSink,
    e: &Entry,
    locks: CopyLocks,
) -> Result<()> {
    let key = e.key.as_str();
    let too_large = |sink: &dyn WormSink, limit: u64| Error::TooLarge {
        key: key.to_string(),
        target: sink.describe(),
        limit,
    };
    let src = reads
        .get(from, key, e.size)
        .await?
        .ok_or_else(|| too_large(from, e.size.min(reads.max)))?;
    let sha = Sha256Hex::of(&src.body);
    let opts = PutOptions {
        content_type: src.content_type.clone(),
        content_encoding: src.content_encoding.clone(),
        metadata: src.metadata.clone(),
        retention: locks.retention,
        legal_hold: locks.legal_hold,
        body_sha256: Some(sha),
    };
    match to.put(key, src.body.clone(), &opts).await {
        Ok(_) => {}
        // Written meanwhile (by a writer replicating to it, or another sync): the check
        // below says whether with the same bytes.
        Err(Error::AlreadyExists { .. }) => {}
        Err(e) => return Err(e),
    }
    let stored = reads
        .sha(to, key, src.body.len() as u64)
        .await?
        .ok_or_else(|| too_large(to, src.body.len() as u64))?;
    if stored != sha {
        return Err(Error::Conflict {
            key: key.to_string(),
            stored: stored.to_hex(),
            ours: sha.to_hex(),
        });
    }
    Ok(())
}
