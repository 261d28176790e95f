//! Fault drill on a real S3 server: the Ceph gateway stopped for 30 s in the middle of a
//! load and started again (`integration_tests::drill`). Its own test binary, because it
//! takes the gateway away from every test running beside it.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::process::Command;

use async_trait::async_trait;
use integration_tests::drill::{self, Fault, Plan};
use integration_tests::s3::S3Env;

fn gateway(cmd: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3-server.sh");
    let st = Command::new(script).args([cmd, "ceph"]).status().unwrap();
    assert!(st.success(), "scripts/s3-server.sh {cmd} ceph");
}

/// The gateway process stopped (connections refused); it comes back on heal, or on drop
/// when the test fails first.
struct GatewayStop {
    down: bool,
}

#[async_trait]
impl Fault for GatewayStop {
    fn describe(&self) -> String {
        "Ceph gateway stopped".into()
    }

    async fn inject(&mut self) {
        gateway("gateway-stop");
        self.down = true;
    }

    async fn heal(&mut self) {
        gateway("gateway-start");
        self.down = false;
    }
}

impl Drop for GatewayStop {
    fn drop(&mut self) {
        if self.down {
            gateway("gateway-start");
        }
    }
}

/// The Ceph gateway stopped for 30 s in the middle of a load and started again: the writer
/// keeps accepting into its spool and stores everything once the gateway is back — nothing
/// lost, nothing twice, memory bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_outage_of_30s_loses_nothing_and_duplicates_nothing() {
    // Checked first: against any other server (a container included) there is no gateway
    // to stop, and nothing to start.
    if std::env::var("WORM_TEST_S3_SERVER").ok().as_deref() != Some("ceph") {
        eprintln!(
            "skipped here: the outage drill stops the Ceph gateway (WORM_TEST_S3_SERVER=ceph)"
        );
        return;
    }
    let Some(env) = S3Env::get() else { return };
    let bucket = env.shared_bucket().await;
    drill::run(
        &env,
        &bucket,
        &mut GatewayStop { down: false },
        &Plan::default(),
    )
    .await;
}
