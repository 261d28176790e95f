//! Replication targets: every sealed batch goes to each of them, under the same key with
//! the same bytes, with each target's own lock settings; and the acknowledgement policy
//! that says when a batch counts as stored.
//!
//! A leaf: the builder makes targets, the worker uploads to them, the stats name them.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::sink::{PutOptions, Retention, RetentionMode, WormSink};

/// When a batch counts as stored (for `flush`, `close` and [`Stats::stored`]) while it is
/// written to several targets. Either way every target receives every batch: a target
/// that is behind keeps its backlog (in the spool, when there is one) and catches up.
///
/// [`Stats::stored`]: super::Stats::stored
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckTargets {
    /// Stored when every target has it (the default).
    #[default]
    All,
    /// Stored when this many targets have it (1 ..= the number of targets).
    Quorum(usize),
}

impl AckTargets {
    /// How many of `targets` must hold a batch before it counts as stored.
    pub fn needed(self, targets: usize) -> usize {
        match self {
            AckTargets::All => targets,
            AckTargets::Quorum(n) => n.clamp(1, targets.max(1)),
        }
    }

    /// Check the policy against the number of targets.
    pub(crate) fn check(self, targets: usize) -> Result<()> {
        match self {
            AckTargets::Quorum(n) if n == 0 || n > targets => Err(Error::invalid(
                format!("acknowledgement policy quorum {n}"),
                format!("expected 1 to {targets} (the number of targets)"),
            )),
            _ => Ok(()),
        }
    }
}

impl std::str::FromStr for AckTargets {
    type Err = Error;
    /// `all`, `quorum N` or `quorum:N`.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("all") {
            return Ok(AckTargets::All);
        }
        let n = t
            .strip_prefix("quorum")
            .map(|r| r.trim_start_matches([' ', ':', '=']))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n > 0);
        n.map(AckTargets::Quorum).ok_or_else(|| {
            Error::invalid(
                format!("acknowledgement policy '{s}'"),
                "expected all, or quorum N with N ≥ 1",
            )
        })
    }
}

/// Lock settings of one target, replacing the writer's (see
/// [`AuditLogBuilder::retention`](super::AuditLogBuilder::retention)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetLocks {
    /// Retention mode and days; `None`: no per-object retention (the bucket default).
    pub retention: Option<(RetentionMode, u32)>,
    /// Legal hold on each batch.
    pub legal_hold: bool,
}

/// One place every batch is stored: a sink, a name, and optionally lock settings of its
/// own. The first target of a writer is the sink given to
/// [`AuditLogBuilder::new`](super::AuditLogBuilder::new); others are added with
/// [`replicate_to`](super::AuditLogBuilder::replicate_to) or
/// [`replica`](super::AuditLogBuilder::replica).
#[derive(Debug, Clone)]
pub struct Target {
    pub(crate) sink: Arc<dyn WormSink>,
    pub(crate) name: Option<String>,
    pub(crate) locks: Option<TargetLocks>,
}

impl Target {
    /// A target named by its sink's [`describe`](WormSink::describe), with the writer's
    /// lock settings.
    pub fn new(sink: impl WormSink + 'static) -> Self {
        Target::from_arc(Arc::new(sink))
    }

    /// The same from a shared sink.
    pub fn from_arc(sink: Arc<dyn WormSink>) -> Self {
        Target {
            sink,
            name: None,
            locks: None,
        }
    }

    /// The name in stats, messages and the spool's per-target markers. It must stay the
    /// same across restarts of a writer with a spool (the spool remembers by name which
    /// target has which batch) and differ between the targets of one writer. Two S3
    /// targets on different servers with the same bucket name need one.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Lock settings of this target instead of the writer's.
    pub fn locks(mut self, locks: TargetLocks) -> Self {
        self.locks = Some(locks);
        self
    }

    pub(crate) fn shown(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.sink.describe())
    }

    /// The PUT options of a batch for this target.
    pub(crate) fn opts(&self, writer: &PutOptions) -> PutOptions {
        let Some(l) = self.locks else {
            return writer.clone();
        };
        PutOptions {
            retention: l
                .retention
                .map(|(mode, days)| Retention::days_from_now(mode, days)),
            legal_hold: l.legal_hold,
            ..writer.clone()
        }
    }
}

/// The names of `targets`, checked to differ.
pub(crate) fn names(targets: &[Target]) -> Result<Vec<String>> {
    let names: Vec<String> = targets.iter().map(Target::shown).collect();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(Error::invalid(
                format!("replication target '{n}'"),
                "given twice (or two targets describe themselves the same): give each \
                 target its own name with Target::name",
            ));
        }
    }
    Ok(names)
}

/// A short, file-name-safe id of a target name, for the spool's markers.
pub(crate) fn marker_id(name: &str) -> String {
    crate::hash::Sha256Hex::of(name.as_bytes()).to_hex()[..16].to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn ack_policy_parses_and_checks() {
        assert_eq!("all".parse::<AckTargets>().unwrap(), AckTargets::All);
        assert_eq!(
            "quorum 2".parse::<AckTargets>().unwrap(),
            AckTargets::Quorum(2)
        );
        assert_eq!(
            "quorum:1".parse::<AckTargets>().unwrap(),
            AckTargets::Quorum(1)
        );
        assert!("quorum 0".parse::<AckTargets>().is_err());
        assert!("most".parse::<AckTargets>().is_err());
        assert!(AckTargets::Quorum(3).check(2).is_err());
        assert!(AckTargets::Quorum(2).check(2).is_ok());
        assert_eq!(AckTargets::All.needed(3), 3);
        assert_eq!(AckTargets::Quorum(2).needed(3), 2);
    }
}
