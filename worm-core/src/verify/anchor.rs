//! Anchors: checkpoints kept outside the writer's reach (a file an auditor keeps, an
//! anchor store). The store must be an append-only extension of every one of them.

use uuid::Uuid;

use super::check::problem;
use super::report::{Kind, Problem};
use super::stream::{TreePoints, compare_to_tree};
use crate::batch::TreeHash;
use crate::error::{Error, Result};
use crate::sign::PublicKey;
use crate::tlog::checkpoint::Checkpoint;
use crate::tlog::note::Note;

/// Largest anchor file read (a checkpoint is a few hundred bytes).
pub const MAX_ANCHOR_BYTES: usize = 64 << 20;

/// One stream's checkpoint as an anchor recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The stream (from the origin line `worm/<stream>`).
    pub stream: Uuid,
    /// Tree size recorded.
    pub size: u64,
    /// Root at that size.
    pub root: TreeHash,
    /// The checkpoint as found: a signed note, or the bare checkpoint text.
    pub text: String,
    /// Whether `text` carries signatures.
    pub signed: bool,
}

impl Anchor {
    /// Parse one checkpoint (signed note or bare checkpoint text) written by worm.
    pub fn parse(text: &str) -> Result<Anchor> {
        let bad = |why: String| Error::invalid("anchor checkpoint", why);
        let (body, signed) = match text.find("\n\n") {
            Some(_) => (
                Note::parse(text).map_err(|e| bad(e.to_string()))?.text,
                true,
            ),
            None => (text.to_string(), false),
        };
        let c = Checkpoint::parse(&body).map_err(|e| bad(e.to_string()))?;
        let stream = crate::tlog::proof::stream_of_origin(&c.origin).ok_or_else(|| {
            bad(format!(
                "origin '{}' is not a worm stream (worm/<uuid>)",
                c.origin
            ))
        })?;
        Ok(Anchor {
            stream,
            size: c.size,
            root: TreeHash(c.root),
            text: text.to_string(),
            signed,
        })
    }

    /// Parse a file of checkpoints, one after another, separated by blank lines (what
    /// `worm checkpoint` prints).
    pub fn parse_many(text: &str) -> Result<Vec<Anchor>> {
        if text.len() > MAX_ANCHOR_BYTES {
            return Err(Error::invalid(
                "anchor file",
                format!("larger than {MAX_ANCHOR_BYTES} bytes"),
            ));
        }
        let mut blocks: Vec<String> = Vec::new();
        let mut cur = String::new();
        for line in text.split_inclusive('\n') {
            if line.trim_end_matches(['\n', '\r']).is_empty() {
                if !cur.is_empty() {
                    blocks.push(std::mem::take(&mut cur));
                }
            } else {
                cur.push_str(line);
            }
        }
        if !cur.is_empty() {
            if !cur.ends_with('\n') {
                cur.push('\n');
            }
            blocks.push(cur);
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < blocks.len() {
            let is_sig = |b: &String| b.starts_with('\u{2014}');
            let text = if blocks.get(i + 1).is_some_and(is_sig) {
                i += 2;
                format!("{}\n{}", blocks[i - 2], blocks[i - 1])
            } else {
                i += 1;
                blocks[i - 1].clone()
            };
            out.push(Anchor::parse(&text)?);
        }
        Ok(out)
    }
}

/// Compare the store's streams with every anchor.
pub(crate) fn check_anchors(
    anchors: &[Anchor],
    keys: &[PublicKey],
    trees: &std::collections::HashMap<Uuid, TreePoints>,
    problems: &mut Vec<Problem>,
) {
    for a in anchors {
        let key = format!("anchor worm/{} size {}", a.stream, a.size);
        let mut add = |kind: Kind, message: String| {
            let mut p = problem(kind, &key, message);
            p.stream = Some(a.stream);
            problems.push(p);
        };
        if !keys.is_empty() {
            let verified = a.signed && Note::parse(&a.text).is_ok_and(|n| n.verify(keys).is_ok());
            if !verified {
                add(
                    Kind::BadSignature,
                    "the anchor is not signed by any of the given public keys; it was not used"
                        .into(),
                );
                continue;
            }
        }
        let Some(t) = trees.get(&a.stream) else {
            add(
                Kind::MissingStream,
                format!(
                    "the anchor holds stream {} at tree size {}, and no batch of it is in the store",
                    a.stream, a.size
                ),
            );
            continue;
        };
        if let Some((kind, msg)) = compare_to_tree(t, a.size, &a.root) {
            add(
                kind,
                format!("stream {} against the anchor: {msg}", a.stream),
            );
        }
    }
}
