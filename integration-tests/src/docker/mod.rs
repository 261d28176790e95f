//! S3 servers with Object Lock in Docker, started through testcontainers (cargo feature
//! `docker`): the server the S3 suites use when `WORM_TEST_S3_ENDPOINT` is unset, and the
//! containers the fault drills pause, cut off and kill.
//!
//! - `WORM_TEST_DOCKER_S3=seaweedfs|minio` chooses the server. Unset: MinIO
//!   (testcontainers-modules) when a `minio/minio` image is present locally, as on a
//!   developer's laptop; otherwise SeaweedFS from the local image `worm-seaweedfs:<version>`
//!   that `scripts/s3-image.sh` builds (FROM scratch, the pinned `weed` binary).
//! - Nothing is pulled: a missing image is an error that names the script to run.
//! - Ports are published on 127.0.0.1 only.
//! - Without a Docker engine the S3 suites skip, unless `WORM_TEST_REQUIRE_DOCKER=1` (CI),
//!   which makes that a failure.
//!
//! Every container, network and volume is removed by id: containers by testcontainers when
//! dropped (the per-process shared one at exit), networks and volumes by [`Network`] and
//! [`Volume`].

mod minio;
mod resources;
mod seaweedfs;
mod shared;

use std::net::TcpListener;

use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{HostConfig, PortBinding};
use testcontainers::{ContainerAsync, Image};

use crate::s3::S3Env;

pub use resources::{Network, Volume};
pub use seaweedfs::{SeaweedFs, SeaweedFsContainer, SeaweedFsOptions};
pub(crate) use shared::start as start_shared;

/// The Docker client testcontainers uses, after checking the engine answers.
pub async fn engine() -> Result<Docker, String> {
    let docker = testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|e| format!("no Docker client: {e}"))?;
    docker
        .ping()
        .await
        .map_err(|e| format!("the Docker engine does not answer: {e}"))?;
    Ok(docker)
}

/// Whether `WORM_TEST_REQUIRE_DOCKER=1`: a missing engine fails instead of skipping.
pub fn docker_required() -> bool {
    std::env::var("WORM_TEST_REQUIRE_DOCKER").is_ok_and(|v| v == "1")
}

/// A port on 127.0.0.1 that was free a moment ago, for a container that must keep its host
/// port across a restart or a reconnect (another process could take it in between; the
/// container start then fails loudly rather than silently moving).
pub fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("finding a free port on 127.0.0.1: {e}"))
}

/// A host-config change that publishes `container_port` on 127.0.0.1 only (testcontainers
/// binds every interface), on `host_port` or, with `None`, a port Docker picks.
pub(crate) fn publish_on_loopback(
    container_port: u16,
    host_port: Option<u16>,
) -> impl Fn(&mut HostConfig) + Send + Sync + 'static {
    move |hc: &mut HostConfig| {
        hc.publish_all_ports = Some(false);
        hc.port_bindings = Some(
            [(
                format!("{container_port}/tcp"),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(host_port.map(|p| p.to_string()).unwrap_or_default()),
                }]),
            )]
            .into(),
        );
    }
}

/// How to reach a started container's S3 port on 127.0.0.1; `what` begins the server's
/// description, which the container id completes.
pub(crate) async fn loopback_env<I: Image>(
    container: &ContainerAsync<I>,
    container_port: u16,
    (access_key, secret_key): (String, String),
    what: &str,
) -> Result<S3Env, String> {
    let id = container.id();
    let port = container
        .get_host_port_ipv4(container_port)
        .await
        .map_err(|e| format!("the S3 port of container {id}: {e}"))?;
    Ok(S3Env {
        endpoint: format!("http://127.0.0.1:{port}"),
        access_key,
        secret_key,
        region: "us-east-1".into(),
        server: format!("{what}, container {})", &id[..12]),
    })
}
