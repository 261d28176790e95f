//! Docker networks and volumes a test creates, removed by id when dropped (also when the
//! test fails), after the containers that use them (declare them first).

use testcontainers::bollard::Docker;
use testcontainers::bollard::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, VolumeCreateRequest,
};
use testcontainers::bollard::query_parameters::RemoveVolumeOptions;

use super::engine;

/// Run a removal from `Drop`. testcontainers removes its containers the same way: the
/// drills run on a multi-threaded runtime, where blocking in place is allowed.
fn block_on_drop(what: String, fut: impl Future<Output = Result<(), String>> + Send) {
    let outcome = match tokio::runtime::Handle::try_current() {
        Ok(h) => tokio::task::block_in_place(|| h.block_on(fut)),
        Err(_) => Err("not inside a tokio runtime".into()),
    };
    if let Err(e) = outcome {
        eprintln!("{what} was not removed: {e}");
    }
}

/// A private bridge network.
pub struct Network {
    docker: Docker,
    id: String,
    name: String,
}

impl Network {
    /// Create `worm-it-net-<uuid>`.
    pub async fn create() -> Result<Network, String> {
        let docker = engine().await?;
        let name = format!("worm-it-net-{}", uuid::Uuid::now_v7().simple());
        let created = docker
            .create_network(NetworkCreateRequest {
                name: name.clone(),
                driver: Some("bridge".into()),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("creating network {name}: {e}"))?;
        Ok(Network {
            docker,
            id: created.id,
            name,
        })
    }

    /// Its name (what containers join).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Cut `container` off this network (`docker network disconnect --force`).
    pub async fn disconnect(&self, container: &str) -> Result<(), String> {
        self.docker
            .disconnect_network(
                &self.id,
                NetworkDisconnectRequest {
                    container: container.into(),
                    force: Some(true),
                },
            )
            .await
            .map_err(|e| format!("disconnecting {container} from {}: {e}", self.name))
    }

    /// Attach `container` to this network again (`docker network connect`).
    pub async fn connect(&self, container: &str) -> Result<(), String> {
        self.docker
            .connect_network(
                &self.id,
                NetworkConnectRequest {
                    container: container.into(),
                    endpoint_config: None,
                },
            )
            .await
            .map_err(|e| format!("connecting {container} to {}: {e}", self.name))
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let (docker, id) = (self.docker.clone(), self.id.clone());
        block_on_drop(format!("network {}", self.name), async move {
            docker.remove_network(&id).await.map_err(|e| e.to_string())
        });
    }
}

/// A named volume.
pub struct Volume {
    docker: Docker,
    name: String,
}

impl Volume {
    /// Create `worm-it-vol-<uuid>`.
    pub async fn create() -> Result<Volume, String> {
        let docker = engine().await?;
        let name = format!("worm-it-vol-{}", uuid::Uuid::now_v7().simple());
        docker
            .create_volume(VolumeCreateRequest {
                name: Some(name.clone()),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("creating volume {name}: {e}"))?;
        Ok(Volume { docker, name })
    }

    /// Its name (a volume's id).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let (docker, name) = (self.docker.clone(), self.name.clone());
        block_on_drop(format!("volume {}", self.name), async move {
            docker
                .remove_volume(&name, None::<RemoveVolumeOptions>)
                .await
                .map_err(|e| e.to_string())
        });
    }
}
