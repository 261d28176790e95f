//! The completeness suite (`integration_tests::completeness`) on a local directory.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use integration_tests::chain::fs_store;
use integration_tests::completeness as suite;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_beyond_three_heartbeats_is_stale_and_a_fresh_open_stream_is_live() {
    let (_d, sink) = fs_store();
    suite::silence_beyond_three_heartbeats_is_stale_and_a_fresh_open_stream_is_live(
        &sink,
        "audit-logs",
    )
    .await;
}

#[tokio::test]
async fn a_removed_predecessor_stream_is_missing_stream() {
    let (_d, sink) = fs_store();
    suite::a_removed_predecessor_stream_is_missing_stream(&sink, "audit-logs").await;
}

#[tokio::test]
async fn anchors_catch_deletion_and_a_rewrite_resigned_with_the_writers_own_key() {
    let (_d, sink) = fs_store();
    suite::anchors_catch_deletion_and_a_rewrite_resigned_with_the_writers_own_key(
        &sink,
        "audit-logs",
    )
    .await;
}

#[tokio::test]
async fn record_proofs_verify_and_any_altered_field_fails() {
    let (_d, sink) = fs_store();
    suite::record_proofs_verify_and_any_altered_field_fails(&sink, "audit-logs").await;
}

#[tokio::test]
async fn a_copy_under_another_key_is_an_error_and_read_once() {
    let (_d, sink) = fs_store();
    suite::a_copy_under_another_key_is_an_error_and_read_once(&sink, "audit-logs").await;
}

#[tokio::test]
async fn worm_batch_1_and_2_stores_still_verify_and_show_a_changed_record() {
    let (_d, sink) = fs_store();
    suite::worm_batch_1_and_2_stores_still_verify_and_show_a_changed_record(&sink, "audit-logs")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_heartbeats_while_idle_and_names_its_predecessor_from_the_store() {
    let (_d, sink) = fs_store();
    suite::the_writer_heartbeats_while_idle_and_names_its_predecessor_from_the_store(
        &sink,
        "audit-logs",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_writers_of_one_service_at_once_verify_clean() {
    let (_d, sink) = fs_store();
    suite::several_writers_of_one_service_at_once_verify_clean(&sink, "audit-logs").await;
}
