//! Running `worm serve` and its clients (the OpenTelemetry Python SDK, curl) in tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use super::worm;

/// The venv's python, created on first use (a missing SDK fails the test).
pub fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/otel-venv.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .expect("run otel-venv.sh");
        assert!(
            out.status.success(),
            "scripts/otel-venv.sh could not install the OpenTelemetry SDK: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// Run the Python client; its exit status and its JSON line.
pub fn client(
    protocol: &str,
    endpoint: &str,
    service: &str,
    count: usize,
    extra: &[&str],
) -> (bool, Value) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otel/client.py");
    let out = Command::new(python())
        .arg(script)
        .args([protocol, endpoint, service, &count.to_string()])
        .args(extra)
        .output()
        .expect("run the python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{e}: client printed {stdout:?}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), v)
}

/// `curl` with `args`; the HTTP status and the body.
pub fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap_or(0), body.to_string())
}

/// A running `worm serve`.
pub struct Server {
    /// The process.
    pub child: Child,
    /// HTTP address.
    pub http: String,
    /// gRPC address.
    pub grpc: String,
    stderr: std::thread::JoinHandle<String>,
}

impl Server {
    /// `worm serve` on `store` and `spool`, both ports on 127.0.0.1 (free ones).
    pub fn start(store: &Path, spool: &Path, extra: &[&str]) -> Server {
        Self::start_cmd(worm(), store.to_str().unwrap(), spool, extra)
    }

    /// [`start`](Self::start) with a prepared command and a store URL.
    pub fn start_cmd(mut cmd: Command, store: &str, spool: &Path, extra: &[&str]) -> Server {
        // Small, quick batches unless the test sets its own.
        let defaults: Vec<&str> = [["--batch-size", "50"], ["--interval", "0.2"]]
            .into_iter()
            .filter(|[flag, _]| !extra.contains(flag))
            .flatten()
            .collect();
        let mut child = cmd
            .args(["serve", "--to", store, "--spool", spool.to_str().unwrap()])
            .args([
                "--listen",
                "127.0.0.1:0",
                "--grpc-listen",
                "127.0.0.1:0",
                "--heartbeat",
                "0",
            ])
            .args(defaults)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn worm serve");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        let mut before = String::new();
        loop {
            first.clear();
            if err.read_line(&mut first).unwrap() == 0 {
                let _ = child.wait();
                panic!("worm serve exited before listening: {before}");
            }
            before.push_str(&first);
            if first.contains("listening") {
                break;
            }
        }
        let field = |k: &str| {
            first
                .split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .unwrap()
                .to_string()
        };
        let (http, grpc) = (field("http="), field("grpc="));
        let stderr = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
            rest
        });
        Server {
            child,
            http,
            grpc,
            stderr,
        }
    }

    /// `http://` and the HTTP address.
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Send a signal.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    /// SIGTERM, wait; the exit code and what it printed after its first line.
    pub fn term(mut self) -> (i32, String) {
        self.signal(libc::SIGTERM);
        let status = self.child.wait().unwrap();
        let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
        (status.code().unwrap_or(-1), stderr.join().unwrap())
    }

    /// Peak resident memory (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// gzip -c.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut c = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut i = c.stdin.take().unwrap();
    let d = data.to_vec();
    let w = std::thread::spawn(move || i.write_all(&d).unwrap());
    let out = c.wait_with_output().unwrap();
    w.join().unwrap();
    out.stdout
}
