//! Percentiles, peak memory and throughput helpers.

use std::time::Duration;

/// Percentiles of a set of durations in nanoseconds.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Percentiles {
    /// Samples.
    pub n: usize,
    /// Mean, ns.
    pub mean_ns: f64,
    /// Median, ns.
    pub p50_ns: u64,
    /// 90th percentile, ns.
    pub p90_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// 99.9th percentile, ns.
    pub p999_ns: u64,
    /// Largest sample, ns.
    pub max_ns: u64,
}

/// Percentiles of `samples` (sorted in place). Empty input gives zeros.
pub fn percentiles(samples: &mut [u64]) -> Percentiles {
    samples.sort_unstable();
    let n = samples.len();
    let at = |q: f64| {
        if n == 0 {
            0
        } else {
            samples[((n as f64 * q).ceil() as usize).clamp(1, n) - 1]
        }
    };
    let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
    Percentiles {
        n,
        mean_ns: if n == 0 { 0.0 } else { sum as f64 / n as f64 },
        p50_ns: at(0.50),
        p90_ns: at(0.90),
        p99_ns: at(0.99),
        p999_ns: at(0.999),
        max_ns: samples.last().copied().unwrap_or(0),
    }
}

/// A field of `/proc/self/status` in KiB (`VmHWM` is the peak resident set, `VmRSS` the
/// current one). `None` off Linux.
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Peak resident set size of this process, MiB.
pub fn peak_rss_mib() -> f64 {
    proc_status_kib("VmHWM").unwrap_or(0) as f64 / 1024.0
}

/// Current resident set size of this process, MiB.
pub fn rss_mib() -> f64 {
    proc_status_kib("VmRSS").unwrap_or(0) as f64 / 1024.0
}

/// `count / elapsed` per second.
pub fn per_sec(count: f64, elapsed: Duration) -> f64 {
    count / elapsed.as_secs_f64().max(1e-9)
}

/// CPU time (user + system) this process has used so far, threads that ended included.
/// Linux only; 0 elsewhere.
pub fn cpu_secs() -> f64 {
    stat_cpu_secs("/proc/self/stat").unwrap_or(0.0)
}

/// CPU time (user + system) of the calling thread so far. Linux only; 0 elsewhere.
pub fn thread_cpu_secs() -> f64 {
    stat_cpu_secs("/proc/thread-self/stat").unwrap_or(0.0)
}

/// User + system CPU seconds from a `/proc/.../stat` file.
fn stat_cpu_secs(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rfind(')').map(|i| &stat[i + 2..])?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100/s on
    // Linux).
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    Some((ticks(11) + ticks(12)) / 100.0)
}

/// CPU seconds used so far by every process of this machine whose command name is one of
/// `names` (e.g. the S3 server's `radosgw`, `ceph-osd`, `ceph-mon`), with the count of
/// such processes. Only processes alive at both reads can be compared.
pub fn processes_cpu_secs(names: &[&str]) -> (f64, usize) {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return (0.0, 0);
    };
    let mut total = (0.0, 0);
    for e in dir.flatten() {
        let pid = e.file_name();
        let Some(pid) = pid
            .to_str()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if names.contains(&comm.trim_end())
            && let Some(s) = stat_cpu_secs(&format!("/proc/{pid}/stat"))
        {
            total.0 += s;
            total.1 += 1;
        }
    }
    total
}
