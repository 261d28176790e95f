//! Fault drills through Docker (feature `docker`): the SeaweedFS container paused, cut off
//! its network, and killed and replaced, each in the middle of a load
//! (`integration_tests::drill`): every accepted record stored exactly once, the writer's
//! memory bounded.
//!
//! Each drill starts its own container from the local image (`scripts/s3-image.sh`) with a
//! fixed host port on 127.0.0.1, so that the writer's endpoint stays valid when the
//! container is reconnected or replaced (Docker would otherwise pick a new port), and
//! removes what it created (containers, network, volume) by id, also when it fails.
#![cfg(feature = "docker")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use async_trait::async_trait;
use integration_tests::docker::{
    self, Network, SeaweedFsContainer, SeaweedFsOptions, Volume, free_loopback_port,
};
use integration_tests::drill::{self, Fault, Plan};

/// Whether to skip: no Docker engine, and none required (`WORM_TEST_REQUIRE_DOCKER=1` makes
/// a missing engine a failure).
async fn no_docker() -> bool {
    match docker::engine().await {
        Ok(_) => false,
        Err(e) => {
            assert!(
                !docker::docker_required(),
                "WORM_TEST_REQUIRE_DOCKER=1 but {e}"
            );
            eprintln!("skipped: {e}");
            true
        }
    }
}

async fn container(opts: &SeaweedFsOptions) -> SeaweedFsContainer {
    SeaweedFsContainer::start(opts)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `docker pause`: connections to the published port are still accepted (by Docker's proxy
/// and the frozen container's kernel) and requests are never answered, so only the sink's
/// request timeout notices.
struct Pause<'a>(&'a SeaweedFsContainer);

#[async_trait]
impl Fault for Pause<'_> {
    fn describe(&self) -> String {
        format!("container {} paused", &self.0.id()[..12])
    }

    async fn inject(&mut self) {
        self.0.container().pause().await.expect("docker pause");
    }

    async fn heal(&mut self) {
        self.0.container().unpause().await.expect("docker unpause");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_paused_for_30s_requests_time_out_and_retries_store_everything_once() {
    if no_docker().await {
        return;
    }
    let c = container(&SeaweedFsOptions::default()).await;
    let bucket = c.env().fresh_bucket().await;
    let figures = drill::run(c.env(), &bucket, &mut Pause(&c), &Plan::default()).await;
    assert!(
        figures.timeouts() > 0,
        "the paused server was noticed through request timeouts: {figures}"
    );
    c.remove().await.unwrap();
}

/// `docker network disconnect` from the container's only network, then `connect`. Docker
/// drops the port mapping with the network endpoint (the writer sees connections refused
/// and, for requests in flight, timeouts) and maps the same fixed host port again on
/// reconnect.
struct Disconnect<'a> {
    container: &'a SeaweedFsContainer,
    network: &'a Network,
}

#[async_trait]
impl Fault for Disconnect<'_> {
    fn describe(&self) -> String {
        format!(
            "container {} disconnected from network {}",
            &self.container.id()[..12],
            self.network.name()
        )
    }

    async fn inject(&mut self) {
        self.network.disconnect(self.container.id()).await.unwrap();
    }

    async fn heal(&mut self) {
        self.network.connect(self.container.id()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_cut_off_its_network_for_30s_then_reconnected_stores_everything_once() {
    if no_docker().await {
        return;
    }
    // Declared before the container: dropped (removed) after it.
    let network = Network::create().await.unwrap();
    let opts = SeaweedFsOptions {
        network: Some(network.name().to_string()),
        host_port: Some(free_loopback_port()),
        ..Default::default()
    };
    let c = container(&opts).await;
    let bucket = c.env().fresh_bucket().await;
    let mut fault = Disconnect {
        container: &c,
        network: &network,
    };
    drill::run(c.env(), &bucket, &mut fault, &Plan::default()).await;
    c.remove().await.unwrap();
}

/// `docker kill` (SIGKILL), then a new container on the same data volume and host port.
struct KillAndReplace {
    current: Option<SeaweedFsContainer>,
    opts: SeaweedFsOptions,
    first: String,
}

#[async_trait]
impl Fault for KillAndReplace {
    fn describe(&self) -> String {
        format!(
            "container {} killed and replaced on its volume",
            &self.first[..12]
        )
    }

    async fn inject(&mut self) {
        let c = self.current.take().expect("a running container");
        c.kill().await.unwrap();
    }

    async fn heal(&mut self) {
        let c = container(&self.opts).await;
        eprintln!(
            "container {} replaced by {} on {} (the same host port)",
            &self.first[..12],
            &c.id()[..12],
            c.env().endpoint
        );
        self.current = Some(c);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_killed_and_replaced_on_its_volume_stores_everything_once() {
    if no_docker().await {
        return;
    }
    // Declared before the containers: dropped (removed) after them.
    let volume = Volume::create().await.unwrap();
    let opts = SeaweedFsOptions {
        volume: Some(volume.name().to_string()),
        host_port: Some(free_loopback_port()),
        ..Default::default()
    };
    let first = container(&opts).await;
    let env = first.env().clone();
    let bucket = env.fresh_bucket().await;
    let mut fault = KillAndReplace {
        first: first.id().to_string(),
        current: Some(first),
        opts,
    };
    drill::run(&env, &bucket, &mut fault, &Plan::default()).await;
    if let Some(c) = fault.current.take() {
        c.remove().await.unwrap();
    }
}
