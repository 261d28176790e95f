//! The test process's resident memory: where it started and how high it went.

/// Peak resident memory since [`PeakRss::start`].
#[derive(Debug)]
pub struct PeakRss {
    before_kib: u64,
    reset: bool,
}

impl PeakRss {
    /// Hand freed heap back to the kernel, reset the kernel's high-water mark
    /// (`/proc/self/clear_refs`, Linux ≥ 4.0) and note the current RSS.
    ///
    /// The trim matters when drills run one after another in one process: the read-back of
    /// the previous drill leaves hundreds of MiB freed but resident, which the next writer
    /// would reuse without raising the RSS, hiding its growth. Without the reset the peak
    /// includes earlier history, which can only make a bound fail, never pass.
    pub fn start() -> PeakRss {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only returns free pages of glibc's heap to the kernel.
        unsafe {
            libc::malloc_trim(0);
        }
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        if !reset {
            eprintln!("could not reset the RSS high-water mark: the peak includes earlier history");
        }
        PeakRss {
            before_kib: status_kib("VmRSS"),
            reset,
        }
    }

    /// RSS when started.
    pub fn before_kib(&self) -> u64 {
        self.before_kib
    }

    /// The highest RSS since started (since the process began if the reset failed).
    pub fn peak_kib(&self) -> u64 {
        status_kib("VmHWM")
    }

    /// The highest RSS since the start or the previous `end_phase`, and reset the
    /// high-water mark for the next phase, so that a drill can tell in which phase its
    /// memory peaked. Without a reset (see [`was_reset`](Self::was_reset)) every phase
    /// reports the peak since the process began.
    pub fn end_phase(&self) -> u64 {
        let peak = self.peak_kib();
        if self.reset {
            // Cannot fail where it succeeded at the start.
            let _ = std::fs::write("/proc/self/clear_refs", "5");
        }
        peak
    }

    /// How far the peak rose above the start.
    pub fn growth_kib(&self) -> u64 {
        self.peak_kib().saturating_sub(self.before_kib)
    }

    /// Whether the high-water mark was reset at the start.
    pub fn was_reset(&self) -> bool {
        self.reset
    }
}

/// A `kB` field of `/proc/self/status`.
pub fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_else(|e| panic!("reading /proc/self/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}
