//! The conformance suite every [`WormSink`] provider runs (feature `testing`).
//!
//! Modelled on object_store's `integration` module: each case is a free `async fn` taking
//! `&dyn WormSink` and a key prefix, asserting with panics whose messages name the case,
//! the store and the key. What a backend supports comes from
//! [`WormSink::capabilities`]: a case checks metadata, retention or legal hold only where
//! the sink claims them, and checks that a sink which does not claim them does not
//! pretend to either.
//!
//! # Prefixes
//!
//! Every case writes only under `{prefix}/{case name}/`, so many runs (and many
//! providers) can share one S3 bucket. Stored objects can never be deleted, so a prefix
//! must be fresh for each run: use [`unique_prefix`].
//!
//! # Running the suite from a provider's tests
//!
//! Put this in `tests/conformance.rs` of the provider crate (with `worm-core` as a
//! dev-dependency with feature `testing`). It generates one `#[test]` per case, named
//! `conformance::<case>` (e.g. `conformance::put_is_write_once`), each with a fresh
//! fixture, a fresh prefix and its own multi-threaded tokio runtime:
//!
//! ```ignore
//! use worm_core::testing::Setup;
//!
//! // An expression evaluating to a future whose output implements `Fixture`;
//! // it is evaluated anew for every case.
//! worm_core::conformance_tests!(async {
//!     let sink = worm_memory::MemorySink::new();
//!     Setup::new(sink.clone()).with_tamper(RawMemory(sink))
//! });
//! ```
//!
//! A backend that may be unavailable (S3 without a test server) uses the `optional:`
//! form: the future yields `Option<impl Fixture>`, and `None` makes each case print that
//! it was skipped and pass:
//!
//! ```ignore
//! worm_core::conformance_tests!(optional: async { s3_fixture_from_env().await });
//! ```
//!
//! [`Setup`] is the usual [`Fixture`]: the sink, an optional [`Tamper`] hook, and a guard
//! kept alive until the case ends (a temporary directory, say). Its fields drop in that
//! order, so a guard's `Drop` can clean up after the sink.
//!
//! Without the macro, call the cases directly or all at once:
//!
//! ```ignore
//! let prefix = worm_core::testing::unique_prefix("conformance");
//! worm_core::testing::run_all(&sink, &prefix, Some(&tamper)).await;
//! ```
//!
//! # Notes for providers
//!
//! - `list(prefix)` matches a plain string prefix: `list("p/a")` includes `p/ab/1` and
//!   `p/a-b`, not only `p/a/…` (object_store's `list` is segment-based; filter a listing
//!   of the parent, or use ListObjectsV2's own `prefix`).
//! - `tamper_is_refused` runs only where `capabilities().immutability` claims enforcement
//!   (memory, immutable files, Object Lock). On a versioned store a plain PUT adds a new
//!   version rather than changing the locked one, and `get` would return it; a faithful
//!   S3 `overwrite` hook therefore removes the locked version first (DeleteObject with
//!   its versionId, which Object Lock refuses) and only then puts.
//! - Keys used by the cases never make one key a directory-prefix of another (`a` and
//!   `a/b`), which a file system cannot hold.
//!
//! # Cases
//!
//! [`CASES`] lists them; [`run_case`] runs one by name. Each is also a public function:
//! [`put_get_round_trip`], [`put_is_write_once`], [`list_in_key_order_with_prefix`],
//! [`large_and_empty_bodies`], [`concurrent_distinct_puts`], [`concurrent_same_key_race`],
//! [`unusual_keys`], [`retention_and_legal_hold`], [`tamper_is_refused`] and
//! [`get_missing_is_not_found`].

use std::collections::BTreeMap;
use std::future::Future;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use futures::future::join_all;

use crate::error::{Error, Result};
use crate::hash::Sha256Hex;
use crate::sink::{Immutability, ObjectInfo, PutOptions, Retention, RetentionMode, WormSink};

/// A backend's own raw path to its objects, bypassing [`WormSink`]: what an operator or
/// an attacker with the backend's credentials would try. Used by [`tamper_is_refused`].
///
/// Examples: `std::fs::remove_file` and an open-for-write on the object's file (fs), a
/// DELETE of the object version or a PUT over it (S3), the map's own delete (memory).
#[async_trait]
pub trait Tamper: Send + Sync {
    /// Try to delete the object stored at `key`.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Try to replace the bytes stored at `key` with `body`.
    async fn overwrite(&self, key: &str, body: Bytes) -> Result<()>;
}

/// A [`Tamper`] placeholder for fixtures without a tamper hook; it has no values.
#[derive(Debug, Clone, Copy)]
pub enum NoTamper {}

#[async_trait]
impl Tamper for NoTamper {
    async fn delete(&self, _key: &str) -> Result<()> {
        match *self {}
    }
    async fn overwrite(&self, _key: &str, _body: Bytes) -> Result<()> {
        match *self {}
    }
}

/// What one conformance case runs against: a sink and, optionally, its raw tamper path.
pub trait Fixture: Send + Sync {
    /// The sink under test.
    fn sink(&self) -> &dyn WormSink;
    /// The backend's raw path for [`tamper_is_refused`]; `None` skips that case.
    fn tamper(&self) -> Option<&dyn Tamper>;
}

/// The usual [`Fixture`]: a sink, an optional tamper hook and a guard that lives as long
/// as the case (e.g. a temporary directory). Fields drop in declaration order: sink,
/// tamper, guard.
#[derive(Debug)]
pub struct Setup<S, T = NoTamper, G = ()> {
    /// The sink under test.
    pub sink: S,
    /// Raw access for the tamper case.
    pub tamper: Option<T>,
    /// Kept alive until the case ends, then dropped last.
    pub guard: G,
}

impl<S: WormSink> Setup<S> {
    /// A fixture with just a sink: no tamper hook, no guard.
    pub fn new(sink: S) -> Self {
        Setup {
            sink,
            tamper: None,
            guard: (),
        }
    }
}

impl<S, T, G> Setup<S, T, G> {
    /// Add the backend's raw tamper path.
    pub fn with_tamper<T2: Tamper>(self, tamper: T2) -> Setup<S, T2, G> {
        Setup {
            sink: self.sink,
            tamper: Some(tamper),
            guard: self.guard,
        }
    }

    /// Keep `guard` alive until the case ends; it is dropped after the sink and tamper.
    pub fn with_guard<G2>(self, guard: G2) -> Setup<S, T, G2> {
        Setup {
            sink: self.sink,
            tamper: self.tamper,
            guard,
        }
    }
}

impl<S: WormSink, T: Tamper, G: Send + Sync> Fixture for Setup<S, T, G> {
    fn sink(&self) -> &dyn WormSink {
        &self.sink
    }
    fn tamper(&self) -> Option<&dyn Tamper> {
        self.tamper.as_ref().map(|t| t as &dyn Tamper)
    }
}

/// Invokes `$crate::$callback!` with the list of case names: the one place they are
/// listed, shared by [`CASES`] and [`conformance_tests!`](crate::conformance_tests).
#[doc(hidden)]
#[macro_export]
macro_rules! __worm_conformance_cases {
    ($callback:ident ! ( $($args:tt)* )) => {
        $crate::$callback! {
            ($($args)*)
            put_get_round_trip,
            put_is_write_once,
            list_in_key_order_with_prefix,
            large_and_empty_bodies,
            concurrent_distinct_puts,
            concurrent_same_key_race,
            unusual_keys,
            retention_and_legal_hold,
            tamper_is_refused,
            get_missing_is_not_found,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __worm_conformance_case_names {
    (() $($case:ident,)*) => {
        /// Names of all conformance cases, in the order [`run_all`] runs them.
        pub const CASES: &[&str] = &[$(stringify!($case)),*];
    };
}

__worm_conformance_cases!(__worm_conformance_case_names!());

#[doc(hidden)]
#[macro_export]
macro_rules! __worm_conformance_test_fns {
    (($setup:expr) $($case:ident,)*) => {
        /// The `worm_core::testing` conformance suite, one test per case.
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    $crate::testing::run_test(stringify!($case), $setup);
                }
            )*
        }
    };
}

/// Generate one `#[test]` per conformance case, in a module `conformance`.
///
/// Two forms:
/// - `conformance_tests!(setup)`: `setup` is an expression evaluating to a future whose
///   output implements [`Fixture`] (typically [`Setup`]);
/// - `conformance_tests!(optional: setup)`: the future yields `Option<impl Fixture>`;
///   `None` skips every case with a message (for backends that need a server).
///
/// The expression is evaluated once per case, inside a fresh multi-threaded tokio
/// runtime; items of the calling module are in scope. See the [module docs](crate::testing).
#[macro_export]
macro_rules! conformance_tests {
    (optional: $setup:expr $(,)?) => {
        $crate::__worm_conformance_cases!(__worm_conformance_test_fns!($setup));
    };
    ($setup:expr $(,)?) => {
        $crate::__worm_conformance_cases!(__worm_conformance_test_fns!(async {
            ::core::option::Option::Some($setup.await)
        }));
    };
}

/// Run one case by name in a fresh multi-threaded tokio runtime, against the fixture
/// `setup` yields and a fresh [`unique_prefix`]. `None` from `setup` skips the case with
/// a message. This is what [`conformance_tests!`](crate::conformance_tests) expands to.
pub fn run_test<F, Fut>(case: &str, setup: Fut)
where
    F: Fixture,
    Fut: Future<Output = Option<F>>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building a tokio runtime for a conformance case");
    rt.block_on(async {
        let Some(fixture) = setup.await else {
            eprintln!("conformance case {case}: skipped, the backend is not available");
            return;
        };
        let prefix = unique_prefix("conformance");
        run_case(case, fixture.sink(), &prefix, fixture.tamper()).await;
        drop(fixture);
    });
}

/// A prefix no earlier run used: `{base}/{uuid v7}` (just the uuid when `base` is empty).
pub fn unique_prefix(base: &str) -> String {
    join(base, &uuid::Uuid::now_v7().to_string())
}

/// Run every case in [`CASES`] order, each under `{prefix}/{case}/`. Without a tamper
/// hook, [`tamper_is_refused`] is skipped with a message.
pub async fn run_all(sink: &dyn WormSink, prefix: &str, tamper: Option<&dyn Tamper>) {
    for case in CASES {
        run_case(case, sink, prefix, tamper).await;
    }
}

/// Run the case named `case` (one of [`CASES`]). Panics on an unknown name.
pub async fn run_case(case: &str, sink: &dyn WormSink, prefix: &str, tamper: Option<&dyn Tamper>) {
    match case {
        "put_get_round_trip" => put_get_round_trip(sink, prefix).await,
        "put_is_write_once" => put_is_write_once(sink, prefix).await,
        "list_in_key_order_with_prefix" => list_in_key_order_with_prefix(sink, prefix).await,
        "large_and_empty_bodies" => large_and_empty_bodies(sink, prefix).await,
        "concurrent_distinct_puts" => concurrent_distinct_puts(sink, prefix).await,
        "concurrent_same_key_race" => concurrent_same_key_race(sink, prefix).await,
        "unusual_keys" => unusual_keys(sink, prefix).await,
        "retention_and_legal_hold" => retention_and_legal_hold(sink, prefix).await,
        "tamper_is_refused" => match tamper {
            Some(t) => tamper_is_refused(sink, prefix, t).await,
            None => eprintln!(
                "conformance case tamper_is_refused on {}: skipped, no tamper hook given",
                sink.describe()
            ),
        },
        "get_missing_is_not_found" => get_missing_is_not_found(sink, prefix).await,
        other => panic!("unknown conformance case '{other}'; known cases: {CASES:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

/// Body, content type and encoding and user metadata (where `capabilities().metadata`)
/// come back from `get`; the receipt's key, sha256 and size are right; `stored_sha256`
/// agrees. Extra metadata entries added by the backend are allowed.
pub async fn put_get_round_trip(sink: &dyn WormSink, prefix: &str) {
    let base = join(prefix, "put_get_round_trip");
    let key = join(&base, "2025/06/12/req-1-batch.json");
    let body =
        Bytes::from_static("{\"worm\":{\"v\":1}}\n{\"message\":\"caméra 日本 ✓\"}\n".as_bytes());
    let mut metadata = BTreeMap::new();
    metadata.insert("service_name".to_string(), "camera_service".to_string());
    metadata.insert("worm-seq".to_string(), "42".to_string());
    metadata.insert("worm-sha256".to_string(), Sha256Hex::of(&body).to_hex());
    let opts = PutOptions {
        content_type: Some("application/x-ndjson".to_string()),
        content_encoding: Some("identity".to_string()),
        metadata: metadata.clone(),
        ..PutOptions::default()
    };
    let ctx = Ctx::new("put_get_round_trip", sink);

    let receipt = ctx.put_ok(&key, body.clone(), &opts).await;
    assert_eq!(receipt.key, key, "{ctx}: receipt names another key");
    assert_eq!(
        receipt.sha256,
        Sha256Hex::of(&body),
        "{ctx}: receipt sha256 of '{key}' is wrong"
    );
    assert_eq!(
        receipt.size,
        body.len() as u64,
        "{ctx}: receipt size of '{key}' is wrong"
    );

    let got = ctx.get_ok(&key).await;
    assert_eq!(got.key, key, "{ctx}: get('{key}') reports another key");
    assert_eq!(got.body, body, "{ctx}: get('{key}') returned other bytes");
    if let (Some(put_v), Some(got_v)) = (&receipt.version_id, &got.version_id) {
        assert_eq!(
            put_v, got_v,
            "{ctx}: version id of '{key}' changed between put and get"
        );
    }
    if sink.capabilities().metadata {
        assert_eq!(
            got.content_type, opts.content_type,
            "{ctx}: content type of '{key}'"
        );
        assert_eq!(
            got.content_encoding, opts.content_encoding,
            "{ctx}: content encoding of '{key}'"
        );
        for (k, v) in &metadata {
            assert_eq!(
                got.metadata.get(k),
                Some(v),
                "{ctx}: user metadata '{k}' of '{key}' did not come back (got {:?})",
                got.metadata
            );
        }
    }
    let stored = sink
        .stored_sha256(&key)
        .await
        .unwrap_or_else(|e| panic!("{ctx}: stored_sha256('{key}') failed: {e}"));
    assert_eq!(
        stored, receipt.sha256,
        "{ctx}: stored_sha256('{key}') disagrees with the receipt"
    );
}

/// A second put to a taken key fails with [`Error::AlreadyExists`] naming the key, even
/// with identical bytes, and the first object stays byte-identical and listed once.
pub async fn put_is_write_once(sink: &dyn WormSink, prefix: &str) {
    let base = join(prefix, "put_is_write_once");
    let key = join(&base, "once.json");
    let ctx = Ctx::new("put_is_write_once", sink);
    let first = Bytes::from_static(b"first body\n");
    let receipt = ctx
        .put_ok(&key, first.clone(), &PutOptions::default())
        .await;

    for second in [
        Bytes::from_static(b"second, different body\n"),
        first.clone(),
        Bytes::new(),
    ] {
        let err = ctx
            .put_err(&key, second.clone(), &PutOptions::default())
            .await;
        match &err {
            Error::AlreadyExists { key: k, .. } => {
                assert_eq!(k, &key, "{ctx}: AlreadyExists names another key")
            }
            other => panic!(
                "{ctx}: second put of '{key}' ({} bytes) must fail with AlreadyExists, got: {other}",
                second.len()
            ),
        }
        assert!(
            err.to_string().contains(&key),
            "{ctx}: error message '{err}' does not name the key"
        );
        assert!(
            !err.is_retryable(),
            "{ctx}: AlreadyExists must not be retryable"
        );
    }

    let got = ctx.get_ok(&key).await;
    assert_eq!(
        got.body, first,
        "{ctx}: '{key}' changed after a refused second put"
    );
    assert_eq!(
        Sha256Hex::of(&got.body),
        receipt.sha256,
        "{ctx}: sha256 of '{key}' changed"
    );
    let listed = ctx.list_keys(&join(&base, "")).await;
    assert_eq!(
        listed,
        vec![key.clone()],
        "{ctx}: '{key}' must be listed exactly once"
    );
}

/// `list` yields exactly the keys starting with the prefix (a plain string prefix, not
/// only whole path segments), in byte order of the full key, with the right sizes; a
/// sibling (`p/a` vs `p/ab`) is never confused, and `a-b` (0x2d) sorts before `a/…`
/// (0x2f) — which a naive directory walk gets wrong.
pub async fn list_in_key_order_with_prefix(sink: &dyn WormSink, prefix: &str) {
    let base = join(prefix, "list_in_key_order_with_prefix");
    let ctx = Ctx::new("list_in_key_order_with_prefix", sink);
    // No key is a directory-prefix of another, so file systems can hold them all.
    let rel = [
        "p/b/1", "p/a/2/x", "p/ab/1", "p/a.b", "p/a0", "p/a-b/1", "p/a/1", "q/1",
    ];
    for (i, r) in rel.iter().enumerate() {
        let body = Bytes::from(vec![b'x'; i + 1]);
        ctx.put_ok(&join(&base, r), body, &PutOptions::default())
            .await;
    }
    let full = |rs: &[&str]| rs.iter().map(|r| join(&base, r)).collect::<Vec<_>>();

    let all = ctx.list_keys(&join(&base, "")).await;
    let mut expected = full(&rel);
    expected.sort();
    assert_eq!(
        all, expected,
        "{ctx}: list('{base}/') is not every key in byte order"
    );
    assert_eq!(
        all,
        full(&[
            "p/a-b/1", "p/a.b", "p/a/1", "p/a/2/x", "p/a0", "p/ab/1", "p/b/1", "q/1"
        ]),
        "{ctx}: byte order of keys"
    );

    let cases: [(&str, &[&str]); 7] = [
        ("p/a/", &["p/a/1", "p/a/2/x"]),
        (
            "p/a",
            &["p/a-b/1", "p/a.b", "p/a/1", "p/a/2/x", "p/a0", "p/ab/1"],
        ),
        ("p/ab", &["p/ab/1"]),
        ("p/ab/", &["p/ab/1"]),
        ("p/a/2", &["p/a/2/x"]),
        ("p/a.b", &["p/a.b"]),
        ("nothing/", &[]),
    ];
    for (p, want) in cases {
        let listed = ctx.list_keys(&join(&base, p)).await;
        assert_eq!(
            listed,
            full(want),
            "{ctx}: list('{}') is wrong",
            join(&base, p)
        );
    }

    let infos: Vec<ObjectInfo> = sink
        .list(&join(&base, ""))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{ctx}: list('{base}/') failed: {e}"));
    for info in infos {
        let r = info
            .key
            .strip_prefix(&format!("{base}/"))
            .unwrap_or(&info.key);
        let i = rel
            .iter()
            .position(|x| *x == r)
            .unwrap_or_else(|| panic!("{ctx}: listed unknown key '{}'", info.key));
        assert_eq!(
            info.size,
            i as u64 + 1,
            "{ctx}: listed size of '{}'",
            info.key
        );
    }
}

/// An 8 MiB body and an empty body round-trip, with the right receipts and listed sizes;
/// `get_capped` returns each at a cap of its size and refuses it ([`Error::TooLarge`]) under.
pub async fn large_and_empty_bodies(sink: &dyn WormSink, prefix: &str) {
    let base = join(prefix, "large_and_empty_bodies");
    let ctx = Ctx::new("large_and_empty_bodies", sink);
    let mut rng = fastrand::Rng::with_seed(8);
    let large: Vec<u8> = (0..8 * 1024 * 1024).map(|_| rng.u8(..)).collect();
    let large = Bytes::from(large);
    for (name, body) in [("large.bin", large), ("empty.bin", Bytes::new())] {
        let key = join(&base, name);
        let receipt = ctx.put_ok(&key, body.clone(), &PutOptions::default()).await;
        assert_eq!(
            receipt.size,
            body.len() as u64,
            "{ctx}: receipt size of '{key}'"
        );
        assert_eq!(
            receipt.sha256,
            Sha256Hex::of(&body),
            "{ctx}: receipt sha256 of '{key}'"
        );
        let got = ctx.get_ok(&key).await;
        assert!(
            got.body == body,
            "{ctx}: '{key}' came back with {} bytes (sha256 {}), expected {} bytes (sha256 {})",
            got.body.len(),
            Sha256Hex::of(&got.body),
            body.len(),
            receipt.sha256
        );
        // `get_capped`: the whole object at a cap of its size, refused one byte under.
        let len = body.len() as u64;
        match sink.get_capped(&key, len).await {
            Ok(o) => assert!(o.body == body, "{ctx}: get_capped('{key}', {len}) body"),
            Err(e) => panic!("{ctx}: get_capped('{key}', {len}) failed: {e}"),
        }
        if len > 0 {
            for cap in [len - 1, 1 << 20] {
                match sink.get_capped(&key, cap).await {
                    Err(Error::TooLarge { limit, .. }) => {
                        assert_eq!(limit, cap, "{ctx}: get_capped('{key}', {cap}) limit")
                    }
                    Err(e) => panic!("{ctx}: get_capped('{key}', {cap}): {e}, not TooLarge"),
                    Ok(o) => panic!(
                        "{ctx}: get_capped('{key}', {cap}) gave {} bytes past its cap",
                        o.body.len()
                    ),
                }
            }
        }
    }
    let sizes: Vec<(String, u64)> = ctx
        .list(&join(&base, ""))
        .await
        .into_iter()
        .map(|i| (i.key, i.size))
        .collect();
    assert_eq!(
        sizes,
        vec![
            (join(&base, "empty.bin"), 0),
            (join(&base, "large.bin"), 8 * 1024 * 1024)
        ],
        "{ctx}: listed sizes"
    );
}

/// 64 concurrent puts to distinct keys all succeed and all land with their own bytes.
pub async fn concurrent_distinct_puts(sink: &dyn WormSink, prefix: &str) {
    const N: usize = 64;
    let base = join(prefix, "concurrent_distinct_puts");
    let ctx = Ctx::new("concurrent_distinct_puts", sink);
    let opts = PutOptions::default();
    let keys: Vec<String> = (0..N)
        .map(|i| join(&base, &format!("d{}/k{i:03}", i % 4)))
        .collect();
    let body = |i: usize| Bytes::from(format!("object {i}\n").repeat(i + 1));
    let results = join_all(
        keys.iter()
            .enumerate()
            .map(|(i, k)| sink.put(k, body(i), &opts)),
    )
    .await;
    for (k, r) in keys.iter().zip(&results) {
        if let Err(e) = r {
            panic!("{ctx}: concurrent put of '{k}' failed: {e}");
        }
    }
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        ctx.list_keys(&join(&base, "")).await,
        sorted,
        "{ctx}: not every concurrent put landed"
    );
    let gets = join_all(keys.iter().map(|k| sink.get(k))).await;
    for (i, (k, g)) in keys.iter().zip(gets).enumerate() {
        let g = g.unwrap_or_else(|e| panic!("{ctx}: get('{k}') failed: {e}"));
        assert_eq!(g.body, body(i), "{ctx}: '{k}' holds another object's bytes");
    }
}

/// 16 concurrent puts of different bodies to one key: exactly one succeeds, the others
/// fail with [`Error::AlreadyExists`], and the stored bytes are the winner's.
pub async fn concurrent_same_key_race(sink: &dyn WormSink, prefix: &str) {
    const N: usize = 16;
    let base = join(prefix, "concurrent_same_key_race");
    let key = join(&base, "contended.json");
    let ctx = Ctx::new("concurrent_same_key_race", sink);
    let opts = PutOptions::default();
    let bodies: Vec<Bytes> = (0..N)
        .map(|i| Bytes::from(format!("writer {i} was here\n")))
        .collect();
    let results = join_all(bodies.iter().map(|b| sink.put(&key, b.clone(), &opts))).await;
    let mut winners = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(receipt) => winners.push((i, receipt)),
            Err(Error::AlreadyExists { .. }) => {}
            Err(e) => panic!(
                "{ctx}: racing put #{i} of '{key}' failed with {e}, expected Ok or AlreadyExists"
            ),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "{ctx}: exactly one of {N} racing puts of '{key}' must succeed, {} did (writers {:?})",
        winners.len(),
        winners.iter().map(|w| w.0).collect::<Vec<_>>()
    );
    let (winner, receipt) = &winners[0];
    let got = ctx.get_ok(&key).await;
    assert_eq!(
        got.body, bodies[*winner],
        "{ctx}: '{key}' does not hold the winner's bytes"
    );
    assert_eq!(
        receipt.sha256,
        Sha256Hex::of(&bodies[*winner]),
        "{ctx}: winner's receipt sha256"
    );
    assert_eq!(
        ctx.list_keys(&join(&base, "")).await,
        vec![key.clone()],
        "{ctx}: '{key}' listed once"
    );
}

/// Legal keys with spaces, punctuation, unicode and deep paths round-trip and list in
/// byte order; invalid keys (`..`, `//`, leading or trailing `/`, `.`, control characters,
/// backslash, empty, over 1024 bytes) are refused with [`Error::InvalidInput`] and leave
/// nothing behind.
pub async fn unusual_keys(sink: &dyn WormSink, prefix: &str) {
    let base = join(prefix, "unusual_keys");
    let ctx = Ctx::new("unusual_keys", sink);
    let legal = [
        "with space.json",
        "plus+sign",
        "eq=al",
        "at@sign",
        "com,ma",
        "semi;colon",
        "tilde~",
        "bang!",
        "quote'",
        "paren(s)",
        "dollar$amp&",
        "café",
        "日本/語.json",
        "x..y",
        ".hidden",
        "-dash",
        "deep/a/b/c/d/e/f/g/h/i/leaf.json",
    ];
    let keys: Vec<String> = legal.iter().map(|r| join(&base, r)).collect();
    for (i, k) in keys.iter().enumerate() {
        let body = Bytes::from(format!("legal key #{i}: {k}\n"));
        ctx.put_ok(k, body.clone(), &PutOptions::default()).await;
        let got = ctx.get_ok(k).await;
        assert_eq!(got.body, body, "{ctx}: bytes of '{k}'");
        assert_eq!(got.key, *k, "{ctx}: get('{k}') reports key '{}'", got.key);
    }
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        ctx.list_keys(&join(&base, "")).await,
        sorted,
        "{ctx}: listing of unusual keys"
    );

    let long = join(&base, &"k".repeat(1100));
    let invalid = [
        String::new(),
        "../escape".to_string(),
        join(&base, "../escape"),
        join(&base, "a/../../escape"),
        format!("{base}//double"),
        format!("/{base}/leading"),
        format!("{base}/trailing/"),
        join(&base, "./dot"),
        join(&base, "ctl\u{1}char"),
        join(&base, "new\nline"),
        join(&base, "tab\there"),
        join(&base, "back\\slash"),
        long,
    ];
    for k in &invalid {
        let shown = k.escape_debug().to_string();
        match sink
            .put(
                k,
                Bytes::from_static(b"must not land\n"),
                &PutOptions::default(),
            )
            .await
        {
            Err(Error::InvalidInput { .. }) => {}
            Ok(_) => panic!("{ctx}: put of invalid key \"{shown}\" succeeded"),
            Err(e) => panic!(
                "{ctx}: put of invalid key \"{shown}\" must fail with InvalidInput, got: {e}"
            ),
        }
        match sink.get(k).await {
            Err(Error::InvalidInput { .. } | Error::NotFound { .. }) => {}
            Ok(_) => panic!("{ctx}: get of invalid key \"{shown}\" returned an object"),
            Err(e) => panic!(
                "{ctx}: get of invalid key \"{shown}\" must fail with InvalidInput or NotFound, got: {e}"
            ),
        }
    }
    assert_eq!(
        ctx.list_keys(&join(&base, "")).await,
        sorted,
        "{ctx}: a refused key left an object behind"
    );
}

/// Where `capabilities().retention` / `.legal_hold`: GOVERNANCE and COMPLIANCE retention
/// and legal hold as put are reported back by `get` (retain-until to the second). Where
/// not claimed, `get` must not report them either (puts with them still succeed).
pub async fn retention_and_legal_hold(sink: &dyn WormSink, prefix: &str) {
    let base = join(prefix, "retention_and_legal_hold");
    let ctx = Ctx::new("retention_and_legal_hold", sink);
    let caps = sink.capabilities();
    let until = whole_seconds_from_now(24 * 3600);
    let retention = |mode| {
        Some(Retention {
            mode,
            retain_until: until,
        })
    };
    let cases = [
        ("governance", retention(RetentionMode::Governance), false),
        ("compliance", retention(RetentionMode::Compliance), false),
        ("hold-only", None, true),
        (
            "governance-and-hold",
            retention(RetentionMode::Governance),
            true,
        ),
    ];
    for (name, ret, hold) in cases {
        let key = join(&base, name);
        let opts = PutOptions {
            retention: ret,
            legal_hold: hold,
            ..PutOptions::default()
        };
        ctx.put_ok(&key, Bytes::from(format!("{name}\n")), &opts)
            .await;
        let got = ctx.get_ok(&key).await;
        match (caps.retention, ret) {
            (true, Some(want)) => {
                let have = got.retention.unwrap_or_else(|| {
                    panic!(
                        "{ctx}: '{key}' was put with {} retention, get reports none",
                        want.mode
                    )
                });
                assert_eq!(have.mode, want.mode, "{ctx}: retention mode of '{key}'");
                assert_eq!(
                    have.retain_until.timestamp(),
                    want.retain_until.timestamp(),
                    "{ctx}: retain-until of '{key}' (put {}, got {})",
                    want.retain_until,
                    have.retain_until
                );
            }
            // A bucket default may apply to objects put without retention: not checked.
            (true, None) => {}
            (false, _) => assert_eq!(
                got.retention, None,
                "{ctx}: the sink does not claim retention, yet reports it for '{key}'"
            ),
        }
        if caps.legal_hold && hold {
            assert_eq!(
                got.legal_hold,
                Some(true),
                "{ctx}: legal hold of '{key}' not reported"
            );
        } else if caps.legal_hold {
            assert_ne!(
                got.legal_hold,
                Some(true),
                "{ctx}: '{key}' was put without legal hold"
            );
        } else {
            assert_ne!(
                got.legal_hold,
                Some(true),
                "{ctx}: the sink does not claim legal hold, yet reports one for '{key}'"
            );
        }
    }
}

/// Where the backend enforces immutability (memory, immutable files, Object Lock), the
/// raw [`Tamper`] path can neither overwrite nor delete a stored object (put with
/// COMPLIANCE retention and legal hold where supported), and the object stays intact.
/// Backends that only stop accidents (read-only files, which root may still change) are
/// not expected to refuse: the case says so and returns.
pub async fn tamper_is_refused(sink: &dyn WormSink, prefix: &str, tamper: &dyn Tamper) {
    let base = join(prefix, "tamper_is_refused");
    let ctx = Ctx::new("tamper_is_refused", sink);
    let caps = sink.capabilities();
    let enforced = matches!(
        caps.immutability,
        Immutability::Memory | Immutability::ImmutableFiles | Immutability::ObjectLock
    );
    if !enforced {
        eprintln!(
            "{ctx}: skipped, {:?} does not claim to stop a privileged raw delete or overwrite",
            caps.immutability
        );
        return;
    }
    let key = join(&base, "sealed.json");
    let body = Bytes::from_static(b"{\"worm_seal\":{\"sha256\":\"...\"}}\n");
    let opts = PutOptions {
        retention: caps.retention.then(|| Retention {
            mode: RetentionMode::Compliance,
            retain_until: whole_seconds_from_now(24 * 3600),
        }),
        legal_hold: caps.legal_hold,
        ..PutOptions::default()
    };
    ctx.put_ok(&key, body.clone(), &opts).await;

    if tamper
        .overwrite(&key, Bytes::from_static(b"forged\n"))
        .await
        .is_ok()
    {
        panic!(
            "{ctx}: a raw overwrite of '{key}' succeeded on a backend claiming {:?}",
            caps.immutability
        );
    }
    assert_eq!(
        ctx.get_ok(&key).await.body,
        body,
        "{ctx}: '{key}' changed after a refused raw overwrite"
    );

    if tamper.delete(&key).await.is_ok() {
        panic!(
            "{ctx}: a raw delete of '{key}' succeeded on a backend claiming {:?}",
            caps.immutability
        );
    }
    assert_eq!(
        ctx.get_ok(&key).await.body,
        body,
        "{ctx}: '{key}' changed after a refused raw delete"
    );
    assert_eq!(
        ctx.list_keys(&join(&base, "")).await,
        vec![key.clone()],
        "{ctx}: '{key}' no longer listed"
    );
}

/// `get` and `stored_sha256` of a missing key fail with [`Error::NotFound`] naming the
/// key (not retryable); listing an unused prefix yields nothing.
pub async fn get_missing_is_not_found(sink: &dyn WormSink, prefix: &str) {
    let base = join(prefix, "get_missing_is_not_found");
    let ctx = Ctx::new("get_missing_is_not_found", sink);
    ctx.put_ok(
        &join(&base, "present/x"),
        Bytes::from_static(b"x"),
        &PutOptions::default(),
    )
    .await;
    for k in [
        join(&base, "missing.json"),
        join(&base, "present/y"),
        join(&base, "present"),
    ] {
        match sink.get(&k).await {
            Err(e @ Error::NotFound { .. }) => {
                assert!(
                    e.to_string().contains(&k),
                    "{ctx}: NotFound message '{e}' does not name '{k}'"
                );
                assert!(!e.is_retryable(), "{ctx}: NotFound must not be retryable");
            }
            Ok(_) => panic!("{ctx}: get('{k}') returned an object that was never put"),
            Err(e) => panic!("{ctx}: get('{k}') must fail with NotFound, got: {e}"),
        }
        match sink.stored_sha256(&k).await {
            Err(Error::NotFound { .. }) => {}
            other => panic!("{ctx}: stored_sha256('{k}') must fail with NotFound, got: {other:?}"),
        }
    }
    assert_eq!(
        ctx.list_keys(&join(&base, "nothing/")).await,
        Vec::<String>::new(),
        "{ctx}: list of an unused prefix"
    );
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// `a/b`; no separator when either side is empty (so `join(p, "")` is `p/`).
fn join(prefix: &str, rest: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        rest.to_string()
    } else {
        format!("{prefix}/{rest}")
    }
}

/// Now plus `secs`, cut to whole seconds (S3 keeps retain-until to the second).
fn whole_seconds_from_now(secs: i64) -> DateTime<Utc> {
    let t = Utc::now().timestamp() + secs;
    DateTime::from_timestamp(t, 0).unwrap_or_else(Utc::now)
}

/// The case and store, for assertion messages, plus calls that panic with them.
struct Ctx<'a> {
    case: &'static str,
    sink: &'a dyn WormSink,
    store: String,
}

impl std::fmt::Display for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conformance case {} on {}", self.case, self.store)
    }
}

impl<'a> Ctx<'a> {
    fn new(case: &'static str, sink: &'a dyn WormSink) -> Self {
        Ctx {
            case,
            sink,
            store: sink.describe(),
        }
    }

    async fn put_ok(&self, key: &str, body: Bytes, opts: &PutOptions) -> crate::sink::PutReceipt {
        self.sink
            .put(key, body, opts)
            .await
            .unwrap_or_else(|e| panic!("{self}: put('{key}') failed: {e}"))
    }

    async fn put_err(&self, key: &str, body: Bytes, opts: &PutOptions) -> Error {
        match self.sink.put(key, body, opts).await {
            Ok(r) => panic!("{self}: put('{key}') succeeded ({r:?}), it must fail"),
            Err(e) => e,
        }
    }

    async fn get_ok(&self, key: &str) -> crate::sink::StoredObject {
        self.sink
            .get(key)
            .await
            .unwrap_or_else(|e| panic!("{self}: get('{key}') failed: {e}"))
    }

    async fn list(&self, prefix: &str) -> Vec<ObjectInfo> {
        self.sink
            .list(prefix)
            .try_collect()
            .await
            .unwrap_or_else(|e: Error| panic!("{self}: list('{prefix}') failed: {e}"))
    }

    async fn list_keys(&self, prefix: &str) -> Vec<String> {
        self.list(prefix).await.into_iter().map(|i| i.key).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_and_prefixes() {
        assert_eq!(join("a", "b"), "a/b");
        assert_eq!(join("a/", "b"), "a/b");
        assert_eq!(join("", "b"), "b");
        assert_eq!(join("a", ""), "a/");
        let p = unique_prefix("conformance");
        assert!(
            p.starts_with("conformance/") && p.len() == "conformance/".len() + 36,
            "{p}"
        );
        assert_ne!(unique_prefix(""), unique_prefix(""));
        assert_eq!(CASES.len(), 10);
        assert!(CASES.contains(&"tamper_is_refused"));
    }
}
