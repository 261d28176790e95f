//! The S3 server of one test process: started on first use, removed when the process exits.

use std::sync::Mutex;

use tokio::runtime::Runtime;

use super::seaweedfs::{SeaweedFsContainer, SeaweedFsOptions};
use super::{docker_required, engine, minio};
use crate::s3::S3Env;

/// Removes the container; run at exit on the runtime that started it.
type Removal = Box<dyn FnOnce(&Runtime) + Send>;

static KEPT: Mutex<Option<(Runtime, Removal)>> = Mutex::new(None);

/// Which server (`WORM_TEST_DOCKER_S3`).
enum Choice {
    SeaweedFs,
    MinIO(String),
}

/// Start this process's server, or `None` without a Docker engine (a panic instead when
/// `WORM_TEST_REQUIRE_DOCKER=1`, or when the engine is there but the server cannot start).
pub(crate) fn start() -> Option<S3Env> {
    // A runtime of its own, kept for the life of the process: the container's client lives
    // on it, and tests call this from sync and async code alike.
    let handle = std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("a tokio runtime for the S3 container: {e}"));
        let started = rt.block_on(start_on_runtime());
        started.map(|(env, removal)| {
            keep(rt, removal);
            env
        })
    });
    handle
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

async fn start_on_runtime() -> Option<(S3Env, Removal)> {
    let docker = match engine().await {
        Ok(d) => d,
        Err(e) if docker_required() => panic!("WORM_TEST_REQUIRE_DOCKER=1 but {e}"),
        Err(e) => {
            eprintln!("no S3 server in Docker: {e}");
            return None;
        }
    };
    let choice = match std::env::var("WORM_TEST_DOCKER_S3").ok().as_deref() {
        Some("seaweedfs") => Choice::SeaweedFs,
        Some("minio") => match minio::local_tag(&docker).await {
            Ok(Some(tag)) => Choice::MinIO(tag),
            Ok(None) => panic!(
                "WORM_TEST_DOCKER_S3=minio but no minio/minio image is present (nothing is pulled)"
            ),
            Err(e) => panic!("{e}"),
        },
        None | Some("") => match minio::local_tag(&docker).await {
            Ok(Some(tag)) => Choice::MinIO(tag),
            Ok(None) => Choice::SeaweedFs,
            Err(e) => panic!("{e}"),
        },
        Some(other) => panic!("WORM_TEST_DOCKER_S3={other}: expected seaweedfs or minio"),
    };
    let started = std::time::Instant::now();
    let (env, removal): (S3Env, Removal) = match choice {
        Choice::SeaweedFs => {
            let c = SeaweedFsContainer::start(&SeaweedFsOptions::default())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let env = c.env().clone();
            (
                env,
                Box::new(move |rt: &Runtime| report(rt.block_on(c.remove()))),
            )
        }
        Choice::MinIO(tag) => {
            let (c, env) = minio::start(&tag).await.unwrap_or_else(|e| panic!("{e}"));
            let removal = move |rt: &Runtime| {
                let id = c.id().to_string();
                report(
                    rt.block_on(c.rm())
                        .map_err(|e| format!("removing container {id}: {e}")),
                )
            };
            (env, Box::new(removal))
        }
    };
    eprintln!(
        "S3 server for this test process: {} at {} (ready in {:.1?})",
        env.server,
        env.endpoint,
        started.elapsed()
    );
    Some((env, removal))
}

fn report(r: Result<(), String>) {
    if let Err(e) = r {
        eprintln!("{e}");
    }
}

fn keep(rt: Runtime, removal: Removal) {
    let mut kept = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    *kept = Some((rt, removal));
    // SAFETY: registers a plain `extern "C" fn()` with no arguments, as atexit requires.
    let rc = unsafe { libc::atexit(remove_at_exit) };
    if rc != 0 {
        eprintln!("atexit failed: the S3 container will outlive this process");
    }
}

/// The test harness ends through `exit`, also after failures: remove the container by id.
extern "C" fn remove_at_exit() {
    let taken = KEPT.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some((rt, removal)) = taken {
        removal(&rt);
        rt.shutdown_background();
    }
}
