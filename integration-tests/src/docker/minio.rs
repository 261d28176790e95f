//! MinIO through testcontainers-modules, for developers who have a `minio/minio` image.

use std::collections::HashMap;
use std::time::Duration;

use testcontainers::bollard::Docker;
use testcontainers::bollard::query_parameters::ListImagesOptionsBuilder;
use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ImageExt};
use testcontainers_modules::minio::MinIO;

use super::{loopback_env, publish_on_loopback};
use crate::s3::S3Env;

const API_PORT: u16 = 9000;

/// The tag of a `minio/minio` image present locally, if any (nothing is pulled).
pub(super) async fn local_tag(docker: &Docker) -> Result<Option<String>, String> {
    let filters = HashMap::from([("reference", vec!["minio/minio"])]);
    let images = docker
        .list_images(Some(
            ListImagesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(|e| format!("listing local images: {e}"))?;
    Ok(images
        .iter()
        .flat_map(|i| &i.repo_tags)
        .find_map(|t| t.strip_prefix("minio/minio:"))
        .map(str::to_string))
}

/// Start MinIO from the local image `minio/minio:<tag>`, published on 127.0.0.1.
pub(super) async fn start(tag: &str) -> Result<(ContainerAsync<MinIO>, S3Env), String> {
    let container = MinIO::default()
        .with_tag(tag)
        // Listed as mapped so that it is exposed; the modifier then binds it to loopback.
        .with_mapped_port(0, API_PORT.tcp())
        .with_host_config_modifier(publish_on_loopback(API_PORT, None))
        .with_startup_timeout(Duration::from_secs(180))
        .start()
        .await
        .map_err(|e| format!("starting minio/minio:{tag}: {e}"))?;
    // testcontainers-modules' MinIO keeps MinIO's default root user.
    let credentials = ("minioadmin".into(), "minioadmin".into());
    let what = format!("MinIO in Docker (minio/minio:{tag}");
    let env = loopback_env(&container, API_PORT, credentials, &what).await?;
    Ok((container, env))
}
