//! Checks across the batches of one stream: which batch is genuine at each seq, gaps,
//! `prev` links, finality and signing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::check::{BatchMeta, Checked, SigState, problem};
use super::report::{Kind, Problem, Signed, StreamSummary};
use crate::batch::{Predecessor, TreeHash};
use crate::hash::Sha256Hex;
use crate::record::timestamp;

/// How the stream checks judge what they find.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamRules {
    /// Public keys were given: unsigned batches are problems.
    pub keys_expected: bool,
    /// Every stream must be closed: an open one counts as truncated.
    pub require_closed: bool,
    /// The time `stale` is judged against.
    pub now: DateTime<Utc>,
    /// Allowed silence of an open stream; `None`: 3 heartbeats (or 3 batch intervals).
    pub max_silence: Option<Duration>,
}

/// Where a stream's tree stood after each of its batches: what anchors and successors
/// are compared with.
#[derive(Debug, Default)]
pub(crate) struct TreePoints {
    /// (tree size, root, key of the batch), in seq order.
    pub points: Vec<(u64, TreeHash, String)>,
    /// The predecessor named by the stream's seq 0, with the key naming it.
    pub pred: Option<(Predecessor, String)>,
}

impl TreePoints {
    /// The largest tree size present.
    pub fn size(&self) -> u64 {
        self.points.last().map_or(0, |p| p.0)
    }

    /// The root at exactly `size`, when a batch ends there.
    pub fn root_at(&self, size: u64) -> Option<&(u64, TreeHash, String)> {
        self.points
            .binary_search_by_key(&size, |p| p.0)
            .ok()
            .map(|i| &self.points[i])
    }
}

/// One batch with its interned service and key id.
#[derive(Debug)]
struct Entry {
    meta: BatchMeta,
    service: Arc<str>,
}

#[derive(Debug, Default)]
struct Acc {
    entries: Vec<Entry>,
    services: Vec<Arc<str>>,
    key_ids: BTreeSet<String>,
}

/// Per-stream metadata collected while objects stream past.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    map: HashMap<Uuid, Acc>,
}

impl Streams {
    /// Keep what the stream checks need of one checked object.
    pub(crate) fn add(&mut self, checked: Checked) {
        let Some(meta) = checked.meta else { return };
        let acc = self.map.entry(meta.stream).or_default();
        let service = match acc.services.iter().find(|s| ***s == *checked.service) {
            Some(s) => s.clone(),
            None => {
                let s: Arc<str> = checked.service.into();
                acc.services.push(s.clone());
                s
            }
        };
        if let Some(id) = checked.key_id {
            acc.key_ids.insert(id);
        }
        acc.entries.push(Entry { meta, service });
    }

    /// Run the stream checks; returns summaries ordered by first timestamp, and each
    /// stream's tree points for the checks across streams.
    pub(crate) fn finish(
        self,
        rules: StreamRules,
        problems: &mut Vec<Problem>,
    ) -> (Vec<StreamSummary>, HashMap<Uuid, TreePoints>) {
        let mut trees = HashMap::new();
        let mut out: Vec<StreamSummary> = self
            .map
            .into_iter()
            .map(|(id, acc)| {
                let (summary, points) = analyze(id, acc, rules, problems);
                trees.insert(id, points);
                summary
            })
            .collect();
        out.sort_by(|a, b| (&a.first_ts, a.stream).cmp(&(&b.first_ts, b.stream)));
        check_successions(&trees, problems);
        (out, trees)
    }
}

fn push(problems: &mut Vec<Problem>, kind: Kind, m: &BatchMeta, message: String) {
    let mut p = problem(kind, &m.key, message);
    p.stream = Some(m.stream);
    p.seq = Some(m.seq);
    problems.push(p);
}

/// Order of preference between batches that claim the same seq.
fn score(
    m: &BatchMeta,
    linked_by_next: bool,
    links_to_prev: bool,
) -> (bool, bool, bool, bool, bool) {
    (
        m.sig == SigState::Valid,
        linked_by_next,
        links_to_prev,
        m.sound,
        !m.misplaced,
    )
}

fn analyze(
    id: Uuid,
    mut acc: Acc,
    rules: StreamRules,
    problems: &mut Vec<Problem>,
) -> (StreamSummary, TreePoints) {
    acc.entries
        .sort_by(|a, b| (a.meta.seq, &a.meta.key).cmp(&(b.meta.seq, &b.meta.key)));
    check_services(&acc, problems);
    check_unsigned(&acc, rules, problems);

    // One genuine batch per seq.
    let groups: Vec<&[Entry]> = acc
        .entries
        .chunk_by(|a, b| a.meta.seq == b.meta.seq)
        .collect();
    let mut chosen: Vec<&BatchMeta> = Vec::with_capacity(groups.len());
    for (gi, group) in groups.iter().enumerate() {
        let seq = group[0].meta.seq;
        let distinct = collapse_duplicates(group, problems);
        let pick = if distinct.len() == 1 {
            distinct[0]
        } else {
            let next: &[Entry] = groups
                .get(gi + 1)
                .filter(|g| g[0].meta.seq == seq + 1)
                .copied()
                .unwrap_or(&[]);
            let prev_chain = chosen.last().filter(|c| c.seq + 1 == seq).map(|c| c.chain);
            let scored: Vec<_> = distinct
                .iter()
                .map(|m| {
                    let linked = next.iter().any(|n| n.meta.prev == Some(m.chain));
                    let links = prev_chain.is_some() && m.prev == prev_chain;
                    (score(m, linked, links), *m)
                })
                .collect();
            // `distinct` is never empty: every group holds at least one entry.
            let best = scored.iter().map(|(s, _)| *s).max().unwrap_or_default();
            let winners: Vec<&BatchMeta> = scored
                .iter()
                .filter(|(s, _)| *s == best)
                .map(|(_, m)| *m)
                .collect();
            let pick = winners[0];
            let why = if winners.len() > 1 {
                "nothing tells which of them is genuine (no valid signature, no chain link decides)"
                    .to_string()
            } else if best.0 {
                "that one carries a valid signature".to_string()
            } else if best.1 {
                "that one is what the next batch names as prev".to_string()
            } else {
                "that one links to the batch before it".to_string()
            };
            for (_, m) in scored.iter().filter(|(_, m)| !std::ptr::eq(*m, pick)) {
                push(
                    problems,
                    Kind::Inserted,
                    m,
                    format!(
                        "a second, different batch claims stream {id} seq {seq}, which '{}' holds; {why}",
                        pick.key
                    ),
                );
            }
            pick
        };
        chosen.push(pick);
    }

    check_chain(id, &chosen, rules, problems);
    check_tree_links(&chosen, problems);
    let points = TreePoints {
        points: chosen
            .iter()
            .filter_map(|m| m.v2.as_ref().map(|v| (v.end.0, v.root, m.key.clone())))
            .collect(),
        pred: chosen
            .first()
            .filter(|m| m.seq == 0)
            .and_then(|m| Some((m.v2.as_ref()?.pred.clone()?, m.key.clone()))),
    };
    (summarize(id, &acc, &chosen), points)
}

/// Each `worm-batch/2` or `/3` batch's tree must start where the batch before it ended.
fn check_tree_links(chosen: &[&BatchMeta], problems: &mut Vec<Problem>) {
    for (i, c) in chosen.iter().enumerate() {
        let Some(v) = &c.v2 else { continue };
        let before = if i == 0 { None } else { Some(chosen[i - 1]) };
        let ok = match before {
            // The stream's head: an empty tree.
            None if c.seq == 0 => v.start.0 == 0,
            // A gap or a problem right before is reported already.
            None => true,
            Some(p) if p.seq + 1 != c.seq || !p.sound => true,
            Some(p) => match &p.v2 {
                Some(pv) if pv.opened => pv.end == v.start,
                // Encrypted records read without a key: this batch's start must fold to
                // the root the batch before it sealed.
                Some(pv) => pv.end.0 == v.start.0 && pv.root == v.start_root,
                // A stream resumed by a newer writer: its tree starts empty.
                None => v.start.0 == 0,
            },
        };
        if !ok {
            push(
                problems,
                Kind::Modified,
                c,
                format!(
                    "its tree starts at size {}, which is not where the batch before it left the stream's tree",
                    v.start.0
                ),
            );
        }
    }
}

/// A stream that names a predecessor: that stream must be present, at least as long as
/// named, with the named root at that size.
fn check_successions(trees: &HashMap<Uuid, TreePoints>, problems: &mut Vec<Problem>) {
    for (id, t) in trees {
        let Some((pred, key)) = &t.pred else { continue };
        let mut add = |kind: Kind, message: String| {
            let mut p = problem(kind, key, message);
            p.stream = Some(*id);
            p.seq = Some(0);
            problems.push(p);
        };
        let Some(before) = trees.get(&pred.stream) else {
            add(
                Kind::MissingStream,
                format!(
                    "stream {id} names stream {} (tree size {}) as its predecessor, and no batch of it is in the store",
                    pred.stream, pred.size
                ),
            );
            continue;
        };
        if let Some(p) = compare_to_tree(before, pred.size, &pred.root) {
            add(
                p.0,
                format!(
                    "stream {id} names stream {} as its predecessor: {}",
                    pred.stream, p.1
                ),
            );
        }
    }
}

/// Compare a recorded (size, root) of a stream with the stream found: `None` when the
/// stream extends it.
pub(crate) fn compare_to_tree(
    t: &TreePoints,
    size: u64,
    root: &TreeHash,
) -> Option<(Kind, String)> {
    if size == 0 {
        return None;
    }
    if t.size() < size {
        return Some((
            Kind::MissingStream,
            format!(
                "it was recorded at tree size {size}, the store holds only {} records of it: its tail was removed",
                t.size()
            ),
        ));
    }
    match t.root_at(size) {
        Some((_, r, _)) if r == root => None,
        Some((_, r, k)) => Some((
            Kind::Inconsistent,
            format!(
                "its tree at size {size} (after '{k}') has root {r}, but {root} was recorded: history was rewritten"
            ),
        )),
        None => Some((
            Kind::Inconsistent,
            format!(
                "no batch of it ends at the recorded tree size {size}: its batches were rewritten"
            ),
        )),
    }
}

/// Identical copies at one seq are one batch; the extra copies are benign duplicates.
fn collapse_duplicates<'a>(group: &'a [Entry], problems: &mut Vec<Problem>) -> Vec<&'a BatchMeta> {
    let mut by_hash: BTreeMap<Sha256Hex, Vec<&BatchMeta>> = BTreeMap::new();
    for e in group {
        by_hash.entry(e.meta.chain).or_default().push(&e.meta);
    }
    let mut distinct = Vec::with_capacity(by_hash.len());
    for (_, mut copies) in by_hash {
        // Prefer the copy that sits under its own key, then key order.
        copies.sort_by_key(|m| (m.misplaced, m.key.clone()));
        let keep = copies[0];
        for m in &copies[1..] {
            push(
                problems,
                Kind::Copied,
                m,
                format!(
                    "a copy of '{}' (same batch, same content) under a key no writer used; readers skip it",
                    keep.key
                ),
            );
        }
        distinct.push(keep);
    }
    distinct
}

fn check_chain(id: Uuid, chosen: &[&BatchMeta], rules: StreamRules, problems: &mut Vec<Problem>) {
    let by_hash: HashMap<Sha256Hex, &BatchMeta> = chosen.iter().map(|m| (m.chain, *m)).collect();
    let mut expected = 0u64;
    for (i, c) in chosen.iter().enumerate() {
        if c.seq > expected {
            let range = if c.seq - 1 == expected {
                format!("seq {expected}")
            } else {
                format!("seqs {expected}..={}", c.seq - 1)
            };
            if c.is_final {
                push(
                    problems,
                    Kind::Truncated,
                    c,
                    format!(
                        "the closed stream {id} lost its tail: {range} before this final batch are missing"
                    ),
                );
            } else {
                let head = if expected == 0 {
                    " (the stream's head)"
                } else {
                    ""
                };
                push(
                    problems,
                    Kind::Missing,
                    c,
                    format!("{range}{head} of stream {id} missing before this batch"),
                );
            }
            if let Some(p) = c.prev.and_then(|h| by_hash.get(&h)) {
                push(
                    problems,
                    Kind::Reordered,
                    c,
                    format!(
                        "its prev names seq {} ('{}'), not seq {}",
                        p.seq,
                        p.key,
                        c.seq - 1
                    ),
                );
            }
        } else if c.seq == 0 {
            if let Some(h) = c.prev {
                push(
                    problems,
                    Kind::Modified,
                    c,
                    format!("seq 0 must have no prev, but names {h}"),
                );
            }
        } else {
            let p = chosen[i - 1];
            match c.prev {
                None => push(
                    problems,
                    Kind::Modified,
                    c,
                    format!("seq {} has no prev (only seq 0 may)", c.seq),
                ),
                Some(h) if h == p.chain => {}
                Some(h) => match by_hash.get(&h) {
                    Some(other) => push(
                        problems,
                        Kind::Reordered,
                        c,
                        format!(
                            "its prev names seq {} ('{}'), but the batch before it is seq {} ('{}')",
                            other.seq, other.key, p.seq, p.key
                        ),
                    ),
                    None => blame_broken_link(p, c, h, problems),
                },
            }
        }
        expected = c.seq + 1;
        if c.is_final {
            for after in &chosen[i + 1..] {
                push(
                    problems,
                    Kind::Inserted,
                    after,
                    format!(
                        "comes after the final batch of stream {id} (seq {}, '{}')",
                        c.seq, c.key
                    ),
                );
            }
            return;
        }
    }
    if let Some(last) = chosen.last() {
        if let Some(v) = &last.v2 {
            check_liveness(id, last, v, rules, problems);
            return;
        }
        let (kind, message) = if rules.require_closed {
            (
                Kind::Truncated,
                format!(
                    "stream {id} has no final batch (last seq {}) but every stream must be closed: \
                     its tail, final batch included, was removed, or its writer never closed it",
                    last.seq
                ),
            )
        } else {
            (
                Kind::Open,
                format!(
                    "stream {id} has no final batch yet (last seq {}): its writer is running or stopped \
                     without close(), or its tail, final batch included, was removed; these cannot be \
                     told apart",
                    last.seq
                ),
            )
        };
        push(problems, kind, last, message);
    }
}

/// An open `worm-batch/2` or `/3` stream: its writer seals at least every heartbeat (or batch
/// interval), so a last checkpoint older than the allowed silence means the writer died
/// without a spool or the tail was removed.
fn check_liveness(
    id: Uuid,
    last: &BatchMeta,
    v: &super::check::V2Meta,
    rules: StreamRules,
    problems: &mut Vec<Problem>,
) {
    let cadence = v.heartbeat_ms.or(v.interval_ms).map(Duration::from_millis);
    let allowed = rules.max_silence.or(cadence.map(|c| c * 3));
    let silence =
        v.at.map(|at| (rules.now - at).to_std().unwrap_or(Duration::ZERO));
    let stale = match (allowed, silence) {
        (Some(a), Some(s)) => s > a,
        // Nothing says how often it should have sealed: as for worm-batch/1.
        _ => false,
    };
    let at = v.at.map_or("?".into(), |t| timestamp::format(&t));
    if stale || rules.require_closed {
        let why = if stale {
            format!(
                "its last checkpoint (seq {}, sealed {at}) is older than the allowed silence of {:?}: \
                 its writer died without a spool, or its tail was removed",
                last.seq,
                allowed.unwrap_or_default()
            )
        } else {
            format!(
                "stream {id} has no final batch (last seq {}) but every stream must be closed",
                last.seq
            )
        };
        let kind = if stale { Kind::Stale } else { Kind::Truncated };
        push(problems, kind, last, format!("stream {id}: {why}"));
        return;
    }
    let mut p = problem(
        Kind::Open,
        &last.key,
        format!(
            "stream {id} is live: no final batch yet, last checkpoint seq {} sealed {at}, within the allowed silence",
            last.seq
        ),
    );
    if allowed.is_some() && silence.is_some() {
        // Liveness is shown by the heartbeat, not merely assumed.
        p.severity = super::report::Severity::Info;
    }
    p.stream = Some(id);
    p.seq = Some(last.seq);
    problems.push(p);
}

/// `c.prev` names a hash that no batch of the stream has.
fn blame_broken_link(p: &BatchMeta, c: &BatchMeta, named: Sha256Hex, problems: &mut Vec<Problem>) {
    if !p.sound || !c.sound {
        return; // already reported as modified
    }
    // A validly signed batch vouches for its prev; an unsigned or badly signed one does not.
    let (victim, other) = if c.sig != SigState::Valid && p.sig == SigState::Valid {
        (c, p)
    } else {
        (p, c)
    };
    if victim.sig == SigState::Invalid {
        return; // already reported as bad_signature
    }
    let msg = if std::ptr::eq(victim, p) {
        format!(
            "its content hashes to {}, but the next batch '{}' (seq {}) names {named} as prev: \
             this batch was replaced, seal included",
            p.chain, other.key, c.seq
        )
    } else {
        format!(
            "its prev names {named}, but the batch before it '{}' (seq {}) hashes to {}: \
             this batch was replaced, seal included",
            other.key, p.seq, p.chain
        )
    };
    push(problems, Kind::Modified, victim, msg);
}

fn check_services(acc: &Acc, problems: &mut Vec<Problem>) {
    if acc.services.len() < 2 {
        return;
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for e in &acc.entries {
        *counts.entry(&e.service).or_default() += 1;
    }
    let major = counts
        .iter()
        .max_by_key(|(s, n)| (**n, std::cmp::Reverse(**s)))
        .map(|(s, _)| *s)
        .unwrap_or("");
    for e in acc.entries.iter().filter(|e| &*e.service != major) {
        push(
            problems,
            Kind::Modified,
            &e.meta,
            format!(
                "header names service '{}', the rest of its stream names '{major}'",
                e.service
            ),
        );
    }
}

fn check_unsigned(acc: &Acc, rules: StreamRules, problems: &mut Vec<Problem>) {
    if !rules.keys_expected {
        return;
    }
    let unsigned: Vec<&BatchMeta> = acc
        .entries
        .iter()
        .map(|e| &e.meta)
        .filter(|m| m.sig == SigState::Missing)
        .collect();
    if unsigned.is_empty() {
        return;
    }
    if unsigned.len() == acc.entries.len() && acc.entries.len() > 1 {
        let first = unsigned[0];
        push(
            problems,
            Kind::Unsigned,
            first,
            format!(
                "none of the {} batches of stream {} is signed, but a public key was given",
                unsigned.len(),
                first.stream
            ),
        );
        return;
    }
    for m in unsigned {
        push(
            problems,
            Kind::Unsigned,
            m,
            "no signature, but a public key was given".to_string(),
        );
    }
}

fn summarize(id: Uuid, acc: &Acc, chosen: &[&BatchMeta]) -> StreamSummary {
    let signed_n = acc
        .entries
        .iter()
        .filter(|e| e.meta.sig != SigState::Missing)
        .count();
    let signed = match signed_n {
        0 => Signed::None,
        n if n == acc.entries.len() => Signed::All,
        _ => Signed::Partly,
    };
    let first = chosen.first();
    let last = chosen.last();
    let service = acc
        .entries
        .first()
        .map(|e| e.service.to_string())
        .unwrap_or_default();
    StreamSummary {
        stream: id,
        service,
        batches: chosen.len() as u64,
        records: chosen.iter().map(|m| m.records).sum(),
        first_seq: first.map_or(0, |m| m.seq),
        last_seq: last.map_or(0, |m| m.seq),
        first_ts: chosen
            .iter()
            .find_map(|m| m.first_ts)
            .map(|t| timestamp::format(&t)),
        last_ts: chosen
            .iter()
            .rev()
            .find_map(|m| m.last_ts)
            .map(|t| timestamp::format(&t)),
        closed: chosen.iter().any(|m| m.is_final),
        signed,
        key_ids: acc.key_ids.iter().cloned().collect(),
        first_key: first.map(|m| m.key.clone()).unwrap_or_default(),
        last_key: last.map(|m| m.key.clone()).unwrap_or_default(),
        writer: last.and_then(|m| m.v2.as_ref()?.writer.clone()),
        tree_size: last.and_then(|m| Some(m.v2.as_ref()?.end.0)),
        root: last.and_then(|m| Some(m.v2.as_ref()?.root)),
        last_sealed: last
            .and_then(|m| m.v2.as_ref()?.at)
            .map(|t| timestamp::format(&t)),
        checkpoint: last.and_then(|m| m.v2.as_ref()?.checkpoint.clone()),
    }
}
