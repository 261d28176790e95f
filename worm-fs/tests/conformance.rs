//! The shared `worm_core::testing` suite against `FsSink`, once with read-only files and
//! once with the immutable attribute (falling back to read-only where it is unavailable;
//! the capability then says so and the tamper case does not expect refusal).

use std::io::Write;
use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use worm_core::testing::{Setup, Tamper};
use worm_core::{Error, Result, WormSink};
use worm_fs::FsSink;

/// The file system's raw path, as root would use it: unlink, and open-for-write.
struct RawFs(FsSink);

#[async_trait]
impl Tamper for RawFs {
    async fn delete(&self, key: &str) -> Result<()> {
        let path: PathBuf = self.0.path_of(key)?;
        std::fs::remove_file(&path).map_err(|e| Error::io(format!("remove {}", path.display()), e))
    }
    async fn overwrite(&self, key: &str, body: Bytes) -> Result<()> {
        let path = self.0.path_of(key)?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| Error::io(format!("open {} for writing", path.display()), e))?;
        f.write_all(&body)
            .map_err(|e| Error::io(format!("write {}", path.display()), e))
    }
}

/// Clears immutable attributes before the temporary directory is removed.
struct Cleanup {
    sink: FsSink,
    _dir: tempfile::TempDir,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Err(e) = self.sink.clear_immutable_all() {
            eprintln!("cleanup of {}: {e}", self.sink.describe());
        }
    }
}

fn setup(immutable: bool) -> Setup<FsSink, RawFs, Cleanup> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let sink = FsSink::builder(dir.path().join("store"))
        .immutable(immutable)
        .allow_read_only_fallback(true)
        .build()
        .expect("building the fs sink");
    Setup::new(sink.clone())
        .with_tamper(RawFs(sink.clone()))
        .with_guard(Cleanup { sink, _dir: dir })
}

mod read_only {
    worm_core::conformance_tests!(async { crate::setup(false) });
}

mod immutable {
    worm_core::conformance_tests!(async { crate::setup(true) });
}
