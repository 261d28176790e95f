//! The `worm_core::testing` conformance suite against a real S3 server
//! (`WORM_TEST_S3_ENDPOINT`; see `integration_tests::s3`).

use integration_tests::s3::conformance_fixture;

worm_core::conformance_tests!(optional: conformance_fixture());
