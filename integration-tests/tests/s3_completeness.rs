//! The completeness suite (`integration_tests::completeness`) on a real S3 server with
//! Object Lock (Ceph RGW and SeaweedFS via scripts/test.sh), tampering through the
//! governance-bypass path an operator with the sink's credentials has.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use integration_tests::completeness as suite;
use integration_tests::fixtures::unique_prefix;
use integration_tests::s3::S3Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_beyond_three_heartbeats_is_stale_and_a_fresh_open_stream_is_live() {
    let Some(env) = S3Env::get() else { return };
    let sink = env.sink().await;
    suite::silence_beyond_three_heartbeats_is_stale_and_a_fresh_open_stream_is_live(
        &sink,
        &unique_prefix("silence_beyond_three"),
    )
    .await;
}

#[tokio::test]
async fn a_removed_predecessor_stream_is_missing_stream() {
    let Some(env) = S3Env::get() else { return };
    let sink = env.sink().await;
    suite::a_removed_predecessor_stream_is_missing_stream(
        &sink,
        &unique_prefix("a_removed_predecesso"),
    )
    .await;
}

#[tokio::test]
async fn anchors_catch_deletion_and_a_rewrite_resigned_with_the_writers_own_key() {
    let Some(env) = S3Env::get() else { return };
    let sink = env.sink().await;
    suite::anchors_catch_deletion_and_a_rewrite_resigned_with_the_writers_own_key(
        &sink,
        &unique_prefix("anchors_catch_deleti"),
    )
    .await;
}

#[tokio::test]
async fn record_proofs_verify_and_any_altered_field_fails() {
    let Some(env) = S3Env::get() else { return };
    let sink = env.sink().await;
    suite::record_proofs_verify_and_any_altered_field_fails(
        &sink,
        &unique_prefix("record_proofs_verify"),
    )
    .await;
}

#[tokio::test]
async fn a_copy_under_another_key_is_an_error_and_read_once() {
    let Some(env) = S3Env::get() else { return };
    let sink = env.sink().await;
    suite::a_copy_under_another_key_is_an_error_and_read_once(
        &sink,
        &unique_prefix("a_copy_under_another"),
    )
    .await;
}

#[tokio::test]
async fn worm_batch_1_and_2_stores_still_verify_and_show_a_changed_record() {
    let Some(env) = S3Env::get() else { return };
    let sink = env.sink().await;
    suite::worm_batch_1_and_2_stores_still_verify_and_show_a_changed_record(
        &sink,
        &unique_prefix("a_worm_batch_1_store"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_heartbeats_while_idle_and_names_its_predecessor_from_the_store() {
    let Some(env) = S3Env::get() else { return };
    let sink = env.sink().await;
    suite::the_writer_heartbeats_while_idle_and_names_its_predecessor_from_the_store(
        &sink,
        &unique_prefix("the_writer_heartbeat"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_writers_of_one_service_at_once_verify_clean() {
    let Some(env) = S3Env::get() else { return };
    let sink = env.sink().await;
    suite::several_writers_of_one_service_at_once_verify_clean(
        &sink,
        &unique_prefix("several_writers"),
    )
    .await;
}
