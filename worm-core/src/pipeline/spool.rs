//! The durable spool: a write-ahead log of records plus the sealed batches not yet
//! stored, so that a crash, a kill or an outage loses nothing that `log` accepted.
//!
//! Layout of `<spool_dir>/<service>/`:
//! - `lock`: held (`flock`) by the one writer using this spool;
//! - `wal-<segment>.log`: records, each framed as `[len u32 LE][crc32 u32 LE][json line]`,
//!   appended (and, per [`SpoolSync`], fsynced) before `log` returns. A record logged with
//!   a cursor (`AuditLog::log_with_cursor`) has the top bit of `len` set and the payload
//!   `[cursor len u16 LE][cursor][json line]`: one checksum covers both, so a torn write
//!   keeps neither; with encryption on
//!   ([`crate::crypt`]) the record line is the line's own age ciphertext to the writer's
//!   recipients, so no record is on disk in the clear, and replaying it needs one of
//!   their identities;
//! - `sealed/<stream>-<seq>.batch`: a sealed batch (key, PUT options and exact bytes)
//!   written and fsynced before its upload starts, deleted once every target has it;
//! - `sealed/<stream>-<seq>.<target id>.done`: with replicas, an empty marker per target
//!   that has the batch, so a restarted writer uploads it only to the others (a marker
//!   lost in a crash costs one PUT that finds the same bytes already stored);
//! - `checkpoint`: where the stream continues (stream id, next seq, prev hash), how far
//!   the WAL has been sealed into batches, and the newest cursor the WAL held then (the
//!   WAL is fsynced first). WAL segments wholly before it are deleted.
//!
//! A restarted writer uploads the sealed batches again with their original keys and bytes
//! (a copy that had in fact been stored is recognised by its sha256, so nothing is stored
//! twice), replays the WAL after the checkpoint, and continues the same stream and seq.
//! A torn or corrupt WAL tail is detected by its checksum: the good prefix is kept, the
//! damaged bytes are cut off, and a `worm.spool_damaged` record goes into the stream.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::config::SpoolSync;
use super::entry::{Entry, WalPos};
use super::sealed::{Sealed, StreamPos};
use super::stats::lock;
use crate::batch::{Predecessor, TreeHash};
use crate::error::{Error, Result};
use crate::hash::Sha256Hex;
use crate::record::{AuditRecord, Level};
use crate::sink::PutOptions;
use crate::tlog::Frontier;

/// Size at which a new WAL segment is started.
const SEGMENT_BYTES: u64 = 64 << 20;
/// Frame header: length and crc32.
const FRAME_HEADER: usize = 8;
/// Set in a frame's length when its payload starts with a cursor.
const CURSOR_FLAG: u32 = 1 << 31;
/// Largest cursor `log_with_cursor` accepts.
pub(crate) const MAX_CURSOR_BYTES: usize = 4096;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    stream: Uuid,
    next_seq: u64,
    prev: Option<Sha256Hex>,
    /// Every WAL record before this position is in a sealed batch.
    wal: WalPos,
    /// The stream's final batch has been sealed.
    closed: bool,
    /// The stream's tree after the last sealed batch (absent in spools of older versions).
    #[serde(default)]
    tree: Option<(u64, Vec<TreeHash>)>,
    /// The newest cursor in the WAL when this was written (kept across streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

impl Checkpoint {
    /// The tree recorded, checked; an older spool's (or a damaged one's) starts empty.
    fn frontier(&self) -> Frontier {
        self.tree
            .as_ref()
            .and_then(|(n, h)| Frontier::from_parts(*n, h.iter().map(|x| x.0).collect()).ok())
            .unwrap_or_default()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SealedHeader {
    key: String,
    seq: u64,
    sha256: Sha256Hex,
    chain: Sha256Hex,
    user_records: u64,
    wal_end: Option<WalPos>,
    is_final: bool,
    stream: Uuid,
    opts: PutOptions,
    #[serde(default)]
    tree: Option<(u64, Vec<TreeHash>)>,
    /// The signed checkpoint of its seal (absent in spools of older versions).
    #[serde(default)]
    checkpoint: Option<String>,
}

struct Wal {
    /// The segment appended to; shared with the interval fsync, which runs outside the
    /// lock so that appends never wait for a disk flush they did not ask for.
    file: Arc<File>,
    seg: u64,
    off: u64,
    /// Writes to the WAL so far, and how many of them are known fsynced: the WAL is
    /// dirty while `synced < written`. Counted rather than flagged, so that an fsync
    /// running outside the lock only marks as synced what was written before it began.
    written: u64,
    synced: u64,
    /// The newest cursor appended (or recovered), and whether the checkpoint has it.
    cursor: Option<String>,
    cursor_saved: bool,
}

/// An open spool. One writer at a time (enforced by `flock`).
pub(crate) struct Spool {
    dir: PathBuf,
    wal: Mutex<Wal>,
    sync: SpoolSync,
    /// The cursor a previous run left: the last in its WAL, else its checkpoint's.
    resumed: Option<String>,
    /// Encrypt each log entry to these recipients.
    encrypt: Option<crate::crypt::Recipients>,
    _lock: File,
}

/// What a restarted writer finds.
pub(crate) struct Recovery {
    pub pos: StreamPos,
    pub sealed: Vec<Sealed>,
    /// For each sealed batch (stream, seq): the marker ids of the targets that have it.
    pub done: std::collections::BTreeMap<(Uuid, u64), Vec<String>>,
    pub replay: Vec<Entry>,
    pub damage: Vec<Entry>,
}

fn io(ctx: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let ctx = ctx.into();
    move |e| Error::io(ctx, e)
}

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("fsync of spool directory {}", dir.display())))
}

impl Spool {
    /// Open (or create) the spool of `service` under `root`, lock it, and recover what a
    /// previous run left.
    pub fn open(
        root: &Path,
        service: &str,
        sync: SpoolSync,
        cfg: &super::config::Config,
    ) -> Result<(Arc<Spool>, Recovery)> {
        let dir = root.join(crate::key::sanitize_part(Some(service)));
        fs::create_dir_all(dir.join("sealed"))
            .map_err(io(format!("creating spool directory {}", dir.display())))?;
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .map_err(io(format!("opening {}", dir.join("lock").display())))?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        if unsafe { libc::flock(lock_file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(Error::invalid(
                format!("spool directory {}", dir.display()),
                "in use by another running worm writer; give each writer its own spool",
            ));
        }
        let (checkpoint, sealed, done) = read_state(&dir)?;
        let (replay, damage, last_seg) = replay_wal(
            &dir,
            service,
            checkpoint.as_ref().map(|c| c.wal),
            &cfg.spool_identities,
        )?;
        let resumed = replay
            .iter()
            .rev()
            .find_map(|e| e.cursor.as_deref().map(String::from))
            .or_else(|| checkpoint.as_ref().and_then(|c| c.cursor.clone()));
        let pos = match &checkpoint {
            Some(c) if !c.closed => StreamPos {
                stream: c.stream,
                next_seq: c.next_seq,
                prev: c.prev,
                tree: c.frontier(),
                pred: None,
            },
            _ => StreamPos {
                stream: Uuid::now_v7(),
                next_seq: 0,
                prev: None,
                tree: Frontier::new(),
                // The stream this spool served before: the new one names it.
                pred: checkpoint.as_ref().and_then(|c| {
                    let t = c.frontier();
                    c.tree.as_ref().map(|_| Predecessor {
                        stream: c.stream,
                        size: t.size(),
                        root: TreeHash(t.root()),
                    })
                }),
            },
        };
        let seg = last_seg + 1;
        let wal = open_segment(&dir, seg)?;
        let spool = Arc::new(Spool {
            dir,
            wal: Mutex::new(Wal {
                file: Arc::new(wal),
                seg,
                off: 0,
                written: 0,
                synced: 0,
                cursor: resumed.clone(),
                cursor_saved: false,
            }),
            sync,
            resumed,
            encrypt: cfg.encrypt.clone(),
            _lock: lock_file,
        });
        if let SpoolSync::Interval(every) = sync {
            start_syncer(Arc::downgrade(&spool), every);
        }
        if !sealed.is_empty() || !replay.is_empty() || !damage.is_empty() {
            tracing::warn!(target: "worm", spool = %spool.dir.display(), sealed = sealed.len(),
                records = replay.len(), damaged = damage.len(), "recovering audit records from the spool");
        }
        Ok((
            spool,
            Recovery {
                pos,
                sealed,
                done,
                replay,
                damage,
            },
        ))
    }

    /// Append one record and, under the same lock, hand it with its WAL position to
    /// `then` (which queues it), so the WAL order is the queue order.
    pub fn append(&self, mut entry: Entry, then: impl FnOnce(Entry)) -> Result<()> {
        // Encrypted outside the lock: the age work runs on each caller's own thread.
        let sealed = match &self.encrypt {
            Some(to) => Some(to.encrypt(&entry.line)?),
            None => None,
        };
        let line = sealed.as_deref().unwrap_or(&entry.line[..]);
        let frame = frame(line, entry.cursor.as_deref())?;
        let mut w = lock(&self.wal);
        let (seg, start) = self.write_frames(&mut w, &frame)?;
        if let Some(c) = &entry.cursor {
            w.cursor = Some(c.to_string());
            w.cursor_saved = false;
        }
        entry.wal = Some(WalPos {
            seg,
            off: start + frame.len() as u64,
        });
        then(entry);
        Ok(())
    }

    /// [`append`](Self::append) for several records: one write of all their frames (and
    /// one fsync under `EveryRecord`), then each is handed with its WAL position to
    /// `then`, in order, under the same lock. On an error none is handed on.
    pub fn append_all(&self, entries: Vec<Entry>, mut then: impl FnMut(Entry)) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        // Framed (and encrypted) outside the lock, into one buffer.
        let mut buf = Vec::new();
        let mut ends = Vec::with_capacity(entries.len());
        for e in &entries {
            let sealed = match &self.encrypt {
                Some(to) => Some(to.encrypt(&e.line)?),
                None => None,
            };
            let line = sealed.as_deref().unwrap_or(&e.line[..]);
            frame_into(&mut buf, line, e.cursor.as_deref())?;
            ends.push(buf.len() as u64);
        }
        let mut w = lock(&self.wal);
        let (seg, start) = self.write_frames(&mut w, &buf)?;
        if let Some(c) = entries.iter().rev().find_map(|e| e.cursor.as_deref()) {
            w.cursor = Some(c.to_string());
            w.cursor_saved = false;
        }
        for (mut e, end) in entries.into_iter().zip(ends) {
            e.wal = Some(WalPos {
                seg,
                off: start + end,
            });
            then(e);
        }
        Ok(())
    }

    /// Write `frames` at the end of the WAL (in a new segment when this one is full),
    /// fsynced under `EveryRecord`; returns their segment and the offset they start at.
    /// A failed write is cut off so the segment stays readable.
    fn write_frames(&self, w: &mut Wal, frames: &[u8]) -> Result<(u64, u64)> {
        if w.off >= SEGMENT_BYTES {
            let seg = w.seg + 1;
            let file = open_segment(&self.dir, seg)?;
            w.file.sync_data().map_err(io("fsync of spool segment"))?;
            w.file = Arc::new(file);
            w.seg = seg;
            w.off = 0;
            w.synced = w.written;
        }
        let (seg, start) = (w.seg, w.off);
        let ctx = || {
            format!(
                "appending to spool {}",
                self.dir.join(segment_name(seg)).display()
            )
        };
        if let Err(e) = (&*w.file).write_all(frames) {
            let _ = w.file.set_len(start);
            return Err(Error::io(ctx(), e));
        }
        w.written += 1;
        if self.sync == SpoolSync::EveryRecord {
            w.file.sync_data().map_err(|e| Error::io(ctx(), e))?;
            w.synced = w.written;
        }
        w.off += frames.len() as u64;
        Ok((seg, start))
    }

    /// Persist a sealed batch before its upload starts, then move the checkpoint past it.
    pub fn seal(&self, b: &Sealed, stream: Uuid) -> Result<PathBuf> {
        let (wal_end, is_final) = (b.wal_end, b.is_final);
        let header = SealedHeader {
            key: b.key.clone(),
            seq: b.seq,
            sha256: b.sha256,
            chain: b.chain,
            user_records: b.user_records,
            wal_end,
            is_final,
            stream,
            opts: b.opts.clone(),
            tree: Some(b.tree.clone()),
            checkpoint: b.checkpoint.clone(),
        };
        let dir = self.dir.join("sealed");
        let path = dir.join(sealed_name(b.stream, b.seq));
        let tmp = path.with_extension("tmp");
        let ctx = format!("writing sealed batch {}", path.display());
        let mut f = File::create(&tmp).map_err(io(ctx.clone()))?;
        let mut head = serde_json::to_vec(&header)
            .map_err(|e| Error::invalid("sealed batch header", e.to_string()))?;
        head.push(b'\n');
        f.write_all(&head)
            .and_then(|()| f.write_all(&b.body))
            .and_then(|()| f.sync_all())
            .map_err(io(ctx.clone()))?;
        fs::rename(&tmp, &path).map_err(io(ctx))?;
        fsync_dir(&dir)?;
        let wal = match wal_end {
            Some(p) => p,
            None => self.read_checkpoint_wal()?,
        };
        let cursor = self.durable_cursor()?;
        self.write_checkpoint(&Checkpoint {
            stream,
            next_seq: b.seq + 1,
            prev: Some(b.chain),
            wal,
            closed: is_final,
            tree: Some(b.tree.clone()),
            cursor,
        })?;
        Ok(path)
    }

    /// The newest cursor, with the WAL frame that holds it fsynced first (so that a
    /// checkpoint never names a cursor whose record a power loss could take back).
    fn durable_cursor(&self) -> Result<Option<String>> {
        let mut w = lock(&self.wal);
        if !w.cursor_saved && w.synced < w.written {
            let seg = w.seg;
            w.file.sync_data().map_err(io(format!(
                "fsync of spool segment {}",
                self.dir.join(segment_name(seg)).display()
            )))?;
            w.synced = w.written;
        }
        w.cursor_saved = true;
        Ok(w.cursor.clone())
    }

    /// The cursor a previous run of this spool left (see `AuditLog::resume_cursor`).
    pub fn resume_cursor(&self) -> Option<String> {
        self.resumed.clone()
    }

    fn read_checkpoint_wal(&self) -> Result<WalPos> {
        Ok(read_checkpoint(&self.dir)?
            .map(|c| c.wal)
            .unwrap_or_default())
    }

    fn write_checkpoint(&self, c: &Checkpoint) -> Result<()> {
        let path = self.dir.join("checkpoint");
        let tmp = self.dir.join("checkpoint.tmp");
        let ctx = format!("writing spool checkpoint {}", path.display());
        let body =
            serde_json::to_vec(c).map_err(|e| Error::invalid("checkpoint", e.to_string()))?;
        let mut f = File::create(&tmp).map_err(io(ctx.clone()))?;
        f.write_all(&body)
            .and_then(|()| f.sync_all())
            .map_err(io(ctx.clone()))?;
        fs::rename(&tmp, &path).map_err(io(ctx))?;
        fsync_dir(&self.dir)?;
        // Segments wholly before the checkpoint are in sealed batches now.
        for (seg, p) in list_segments(&self.dir)? {
            if seg < c.wal.seg {
                fs::remove_file(&p).map_err(io(format!("removing {}", p.display())))?;
            }
        }
        Ok(())
    }

    /// Every target has the batch: its spool copy can go, then its targets' markers.
    pub fn stored(&self, stream: Uuid, seq: u64, markers: &[String]) -> Result<()> {
        let dir = self.dir.join("sealed");
        remove_if_there(&dir.join(sealed_name(stream, seq)))?;
        for id in markers {
            remove_if_there(&dir.join(marker_name(stream, seq, id)))?;
        }
        Ok(())
    }

    /// One target (of several) has the batch. Not fsynced: a marker lost in a crash only
    /// means one more PUT, which finds the same bytes stored.
    pub fn target_done(&self, stream: Uuid, seq: u64, marker: &str) -> Result<()> {
        let path = self
            .dir
            .join("sealed")
            .join(marker_name(stream, seq, marker));
        File::create(&path)
            .map(drop)
            .map_err(io(format!("writing marker {}", path.display())))
    }

    /// The interval fsync: the flush itself runs outside the WAL's lock, so appends go on
    /// meanwhile; it marks as synced only what was written before it began (the rest is
    /// flushed by the next one). A segment closed meanwhile was fsynced when it was.
    fn sync_now(&self) {
        let (file, upto) = {
            let w = lock(&self.wal);
            if w.synced >= w.written {
                return;
            }
            (w.file.clone(), w.written)
        };
        match file.sync_data() {
            Ok(()) => {
                let mut w = lock(&self.wal);
                w.synced = w.synced.max(upto);
            }
            Err(e) => tracing::error!(target: "worm", error = %e, "fsync of the spool failed"),
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.sync_now();
    }
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Spool({})", self.dir.display())
    }
}

fn start_syncer(spool: Weak<Spool>, every: Duration) {
    let _ = std::thread::Builder::new()
        .name("worm-spool-sync".into())
        .spawn(move || {
            let mut next = Instant::now() + every;
            loop {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                next += every;
                match spool.upgrade() {
                    Some(s) => s.sync_now(),
                    None => return,
                }
            }
        });
}

/// Sealed batch files are named by stream and seq: a recovered batch of a closed stream
/// and the first batches of the next stream must not share a name.
fn sealed_name(stream: Uuid, seq: u64) -> String {
    format!("{}-{seq:012}.batch", stream.simple())
}

/// The marker saying that the target with id `marker` has a sealed batch.
fn marker_name(stream: Uuid, seq: u64, marker: &str) -> String {
    format!("{}-{seq:012}.{marker}.done", stream.simple())
}

fn remove_if_there(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", path.display()), e)),
    }
}

fn segment_name(seg: u64) -> String {
    format!("wal-{seg:012}.log")
}

fn open_segment(dir: &Path, seg: u64) -> Result<File> {
    let path = dir.join(segment_name(seg));
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io(format!("opening spool segment {}", path.display())))?;
    fsync_dir(dir)?;
    Ok(f)
}

fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(io(format!("reading {}", dir.display())))? {
        let e = e.map_err(io(format!("reading {}", dir.display())))?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name
            .strip_prefix("wal-")
            .and_then(|s| s.strip_suffix(".log"))
            && let Ok(seg) = n.parse()
        {
            out.push((seg, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn read_checkpoint(dir: &Path) -> Result<Option<Checkpoint>> {
    let path = dir.join("checkpoint");
    match fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            Error::invalid(
                format!("spool checkpoint {}", path.display()),
                e.to_string(),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// Per sealed batch (stream, seq), the marker ids of the targets that have it.
type Markers = std::collections::BTreeMap<(Uuid, u64), Vec<String>>;

/// The batch (stream, seq) and target id a marker file name stands for.
fn parse_marker(name: &str) -> Option<((Uuid, u64), String)> {
    let (batch, id) = name.strip_suffix(".done")?.split_once('.')?;
    let (stream, seq) = batch.split_once('-')?;
    Some((
        (Uuid::try_parse(stream).ok()?, seq.parse().ok()?),
        id.to_string(),
    ))
}

/// The checkpoint, advanced past any sealed batch written after it (a crash between the
/// two writes), the sealed batches still to upload, and which targets have them.
fn read_state(dir: &Path) -> Result<(Option<Checkpoint>, Vec<Sealed>, Markers)> {
    let mut ckpt = read_checkpoint(dir)?;
    let sealed_dir = dir.join("sealed");
    let mut paths: Vec<PathBuf> = fs::read_dir(&sealed_dir)
        .map_err(io(format!("reading {}", sealed_dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    let mut sealed = Vec::new();
    let mut markers = Markers::new();
    for path in paths {
        if path.extension().is_some_and(|x| x == "done") {
            if let Some((batch, id)) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(parse_marker)
            {
                markers.entry(batch).or_default().push(id);
            }
            continue;
        }
        if path.extension().is_some_and(|x| x == "tmp") {
            // A seal interrupted before its rename: its records are still in the WAL.
            let _ = fs::remove_file(&path);
            continue;
        }
        let mut raw = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut raw))
            .map_err(io(format!("reading {}", path.display())))?;
        let bad = |r: String| Error::invalid(format!("spooled batch {}", path.display()), r);
        let nl = raw
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("no header".into()))?;
        let h: SealedHeader = serde_json::from_slice(&raw[..nl]).map_err(|e| bad(e.to_string()))?;
        let body = &raw[nl + 1..];
        let size = body.len();
        if Sha256Hex::of(body) != h.sha256 {
            return Err(bad(
                "body does not match its sha256 (disk corruption?)".into()
            ));
        }
        let behind = ckpt
            .as_ref()
            .is_none_or(|c| c.stream != h.stream || c.next_seq <= h.seq);
        if behind
            && ckpt
                .as_ref()
                .is_none_or(|c| c.stream == h.stream || c.closed)
        {
            ckpt = Some(Checkpoint {
                stream: h.stream,
                next_seq: h.seq + 1,
                prev: Some(h.chain),
                wal: h
                    .wal_end
                    .or(ckpt.as_ref().map(|c| c.wal))
                    .unwrap_or_default(),
                closed: h.is_final,
                tree: h.tree.clone(),
                cursor: ckpt.as_ref().and_then(|c| c.cursor.clone()),
            });
        }
        sealed.push(Sealed {
            stream: h.stream,
            order: 0,
            seq: h.seq,
            key: h.key,
            body: Bytes::new(),
            size,
            spool_file: Some(path.clone()),
            sha256: h.sha256,
            chain: h.chain,
            user_records: h.user_records,
            opts: h.opts,
            opened_at: Instant::now(),
            rounds: 0,
            wal_end: h.wal_end,
            is_final: h.is_final,
            // A previous run may have stored it before dying.
            maybe_sent: true,
            tree: h.tree.unwrap_or_default(),
            target: 0,
            checkpoint: h.checkpoint,
        });
    }
    // Markers of a batch whose file is gone (a crash between the two removals).
    let kept: std::collections::BTreeSet<(Uuid, u64)> =
        sealed.iter().map(|b| (b.stream, b.seq)).collect();
    markers.retain(|batch, ids| {
        let keep = kept.contains(batch);
        if !keep {
            for id in ids.iter() {
                let _ = fs::remove_file(sealed_dir.join(marker_name(batch.0, batch.1, id)));
            }
        }
        keep
    });
    Ok((ckpt, sealed, markers))
}

/// The stored bytes of a spooled batch, checked against their sha256.
pub(crate) async fn read_sealed_body(path: &Path, sha256: &Sha256Hex) -> Result<Bytes> {
    let raw = tokio::fs::read(path)
        .await
        .map_err(io(format!("reading spooled batch {}", path.display())))?;
    let bad = |r: &str| Error::invalid(format!("spooled batch {}", path.display()), r.to_string());
    let nl = raw
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| bad("no header"))?;
    let body = Bytes::from(raw).slice(nl + 1..);
    if Sha256Hex::of(&body) != *sha256 {
        return Err(bad("body does not match its sha256 (disk corruption?)"));
    }
    Ok(body)
}

/// Records after `from`, and a gap record for each damaged stretch. Damaged tails are cut
/// off so that the segment reads cleanly next time.
fn replay_wal(
    dir: &Path,
    service: &str,
    from: Option<WalPos>,
    ids: &crate::crypt::Identities,
) -> Result<(Vec<Entry>, Vec<Entry>, u64)> {
    let from = from.unwrap_or_default();
    let mut replay = Vec::new();
    let mut damage = Vec::new();
    let mut last = from.seg;
    for (seg, path) in list_segments(dir)? {
        last = last.max(seg);
        if seg < from.seg {
            continue;
        }
        let data = fs::read(&path).map_err(io(format!("reading {}", path.display())))?;
        let mut off = if seg == from.seg {
            from.off as usize
        } else {
            0
        };
        while off < data.len() {
            let Some(frame) = read_frame(&data[off..]) else {
                let lost = data.len() - off;
                tracing::error!(target: "worm", segment = %path.display(), offset = off, lost,
                    "spool segment damaged: keeping the good prefix, cutting the rest");
                damage.push(damage_entry(service, &path, off, lost));
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(off as u64).and_then(|()| f.sync_all()))
                    .map_err(io(format!("truncating damaged {}", path.display())))?;
                break;
            };
            off += FRAME_HEADER + frame.len;
            let plain;
            let line = if frame.line.starts_with(crate::crypt::AGE_MAGIC) {
                let what = format!("spool log {} (byte {off})", path.display());
                // Which recipients: age does not say, the writer's configuration may
                // have changed since; name the identities' own instead.
                plain = ids
                    .decrypt(frame.line, u64::from(u32::MAX), &what, &[])
                    .map_err(|e| match e {
                        Error::NoIdentity { what, given, .. } => Error::invalid(
                            what,
                            format!(
                                "holds encrypted records not yet stored; none of the {given} \
                                 spool identities given decrypts them: give the writer one \
                                 of its recipients' identities (`worm ship --spool-identity \
                                 FILE`, `AuditLogBuilder::spool_identities`); nothing in \
                                 the spool was changed"
                            ),
                        ),
                        e => e,
                    })?;
                plain.as_slice()
            } else {
                frame.line
            };
            let mut e = entry_from_line(
                line,
                WalPos {
                    seg,
                    off: off as u64,
                },
            );
            e.cursor = frame.cursor.map(Box::from);
            replay.push(e);
        }
    }
    Ok((replay, damage, last))
}

/// One WAL frame for `line`, with `cursor` when given.
fn frame(line: &[u8], cursor: Option<&str>) -> Result<Vec<u8>> {
    let mut frame = Vec::new();
    frame_into(&mut frame, line, cursor)?;
    Ok(frame)
}

/// Append one frame to `buf`.
fn frame_into(buf: &mut Vec<u8>, line: &[u8], cursor: Option<&str>) -> Result<()> {
    let cursor = cursor.map(str::as_bytes);
    let extra = cursor.map_or(0, |c| 2 + c.len());
    let len = u32::try_from(line.len() + extra)
        .ok()
        .filter(|n| n & CURSOR_FLAG == 0)
        .ok_or_else(|| Error::invalid("record", "larger than 2 GiB"))?;
    let start = buf.len();
    buf.reserve(FRAME_HEADER + line.len() + extra);
    buf.extend_from_slice(&(len | cursor.map_or(0, |_| CURSOR_FLAG)).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    if let Some(c) = cursor {
        let n = u16::try_from(c.len()).map_err(|_| Error::invalid("cursor", "too long"))?;
        buf.extend_from_slice(&n.to_le_bytes());
        buf.extend_from_slice(c);
    }
    buf.extend_from_slice(line);
    let crc = crc32fast::hash(&buf[start + FRAME_HEADER..]);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// A frame read back: its payload's length, the record line and the cursor, if any.
struct Frame<'a> {
    len: usize,
    line: &'a [u8],
    cursor: Option<&'a str>,
}

fn read_frame(buf: &[u8]) -> Option<Frame<'_>> {
    let raw = u32::from_le_bytes(buf.get(0..4)?.try_into().ok()?);
    let len = (raw & !CURSOR_FLAG) as usize;
    let crc = u32::from_le_bytes(buf.get(4..8)?.try_into().ok()?);
    let payload = buf.get(FRAME_HEADER..FRAME_HEADER + len)?;
    if crc32fast::hash(payload) != crc {
        return None;
    }
    if raw & CURSOR_FLAG == 0 {
        return Some(Frame {
            len,
            line: payload,
            cursor: None,
        });
    }
    let n = u16::from_le_bytes(payload.get(0..2)?.try_into().ok()?) as usize;
    let cursor = std::str::from_utf8(payload.get(2..2 + n)?).ok()?;
    Some(Frame {
        len,
        line: &payload[2 + n..],
        cursor: Some(cursor),
    })
}

fn entry_from_line(line: &[u8], pos: WalPos) -> Entry {
    // The line was written by this writer from an `AuditRecord`; parse it back for the
    // fields batching needs. Were it unparseable, it is still stored verbatim.
    let parsed = std::str::from_utf8(line)
        .ok()
        .and_then(|s| AuditRecord::from_json(s).ok());
    Entry {
        line: bytes::Bytes::copy_from_slice(line),
        ts: parsed
            .as_ref()
            .map_or_else(crate::record::timestamp::now, |r| r.timestamp),
        level: parsed.as_ref().map_or(Level::Info, |r| r.level),
        request_id: parsed
            .and_then(|r| r.request_id)
            .map(String::into_boxed_str),
        synthetic: false,
        wal: Some(pos),
        cursor: None,
    }
}

fn damage_entry(service: &str, path: &Path, offset: usize, lost: usize) -> Entry {
    let rec = AuditRecord::new(
        Level::Error,
        format!(
            "spool segment {} damaged at byte {offset}: {lost} bytes could not be read back \
             (torn write or disk corruption); records before it were recovered",
            path.display()
        ),
    )
    .action("worm.spool_damaged")
    .field("segment", path.display().to_string())
    .field("offset", offset as u64)
    .field("damaged_bytes", lost as u64);
    Entry::synthetic(&rec.service(service))
}
