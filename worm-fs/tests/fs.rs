//! FsSink's own guarantees: modes, the immutable attribute, links, temp files, roots.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

use bytes::Bytes;
use worm_core::{Error, Immutability, PutOptions, Retention, RetentionMode, WormSink, WormSinkExt};
use worm_fs::FsSink;

fn opts() -> PutOptions {
    PutOptions::default()
}

fn all_names(dir: &Path, out: &mut Vec<String>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        out.push(e.file_name().into_string().unwrap());
        if e.file_type().unwrap().is_dir() {
            all_names(&e.path(), out);
        }
    }
}

/// An immutable sink in a fresh directory, or `None` (with a message) where the
/// attribute is unavailable.
fn immutable_sink(dir: &tempfile::TempDir) -> Option<FsSink> {
    match FsSink::builder(dir.path().join("store"))
        .immutable(true)
        .build()
    {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

#[tokio::test]
async fn objects_are_read_only_files_and_nothing_else_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FsSink::new(dir.path().join("store")).unwrap();
    assert_eq!(
        sink.capabilities().immutability,
        Immutability::ReadOnlyFiles
    );
    let caps = sink.capabilities();
    assert!(!caps.retention && !caps.legal_hold && !caps.metadata);
    assert_eq!(sink.describe(), sink.root().display().to_string());

    let put = PutOptions {
        content_type: Some("application/x-ndjson".into()),
        retention: Some(Retention::days_from_now(RetentionMode::Compliance, 1)),
        legal_hold: true,
        ..opts()
    };
    let r = sink
        .put("a/b/c.json", Bytes::from_static(b"{}\n"), &put)
        .await
        .unwrap();
    assert_eq!((r.size, r.version_id), (3, None));
    let path = sink.root().join("a/b/c.json");
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o444, "stored files are read-only");
    assert_eq!(meta.nlink(), 1, "the temporary link is gone");
    assert!(!sink.is_immutable("a/b/c.json").unwrap());
    let mut names = Vec::new();
    all_names(sink.root(), &mut names);
    names.sort();
    assert_eq!(
        names,
        ["a", "b", "c.json"],
        "no temporary or probe files are left"
    );

    // Honest about what a plain file system does not keep.
    let got = sink.get("a/b/c.json").await.unwrap();
    assert_eq!(
        (got.content_type, got.retention, got.legal_hold),
        (None, None, None)
    );
    sink.preflight().await.unwrap();
}

#[tokio::test]
async fn immutable_files_resist_root() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sink) = immutable_sink(&dir) else {
        return;
    };
    assert_eq!(
        sink.capabilities().immutability,
        Immutability::ImmutableFiles
    );
    sink.put("k/obj", Bytes::from_static(b"sealed"), &opts())
        .await
        .unwrap();
    let path = sink.root().join("k/obj");
    assert!(sink.is_immutable("k/obj").unwrap());
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o444);

    let eperm = |r: io::Result<()>, what: &str| {
        let e = r.expect_err(what);
        assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{what}: {e}");
    };
    eperm(fs::remove_file(&path), "unlink");
    eperm(
        fs::OpenOptions::new().write(true).open(&path).map(drop),
        "open for writing",
    );
    eperm(fs::rename(&path, sink.root().join("k/moved")), "rename");
    eperm(fs::hard_link(&path, sink.root().join("k/alias")), "link");
    assert_eq!(
        sink.get("k/obj").await.unwrap().body,
        Bytes::from_static(b"sealed")
    );
    sink.preflight().await.unwrap();

    // The administrator's way out.
    sink.clear_immutable("k/obj").unwrap();
    assert!(!sink.is_immutable("k/obj").unwrap());
    fs::remove_file(&path).unwrap();
    assert!(matches!(
        sink.clear_immutable("k/obj"),
        Err(Error::NotFound { .. })
    ));
    sink.put("k/1", Bytes::new(), &opts()).await.unwrap();
    sink.put("k/2", Bytes::new(), &opts()).await.unwrap();
    assert_eq!(sink.clear_immutable_all().unwrap(), 2);
    assert_eq!(sink.clear_immutable_all().unwrap(), 0);
}

/// Drop `CAP_LINUX_IMMUTABLE` (capability 9) from the calling thread's effective set.
fn drop_cap_linux_immutable() -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: version-3 capget/capset take a header and an array of two data structs,
    // both live and correctly laid out (repr(C)) for the duration of the calls.
    unsafe {
        if libc::syscall(libc::SYS_capget, &raw mut header, data.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        data[0].effective &= !(1 << 9);
        if libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[test]
fn immutable_without_the_capability_is_refused_or_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let root2 = root.clone();
    // Capabilities are per thread: only this thread loses it.
    let (strict, fallback) = std::thread::spawn(move || {
        drop_cap_linux_immutable().unwrap();
        let strict = FsSink::builder(&root2).immutable(true).build();
        let fallback = FsSink::builder(&root2)
            .immutable(true)
            .allow_read_only_fallback(true)
            .build();
        (strict, fallback)
    })
    .join()
    .unwrap();
    let e = strict.unwrap_err();
    assert!(matches!(e, Error::NotWorm { .. }), "{e}");
    let msg = e.to_string();
    for part in [
        "immutable attribute",
        "CAP_LINUX_IMMUTABLE",
        "allow_read_only_fallback",
        "store",
    ] {
        assert!(msg.contains(part), "message should mention {part}: {msg}");
    }
    let sink = fallback.unwrap();
    assert_eq!(
        sink.capabilities().immutability,
        Immutability::ReadOnlyFiles
    );
    assert_eq!(
        fs::read_dir(&root).unwrap().count(),
        0,
        "the probe file was removed"
    );
}

#[tokio::test]
async fn symbolic_links_are_refused_and_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), b"outside").unwrap();
    let sink = FsSink::new(dir.path().join("store")).unwrap();
    symlink(outside.path(), sink.root().join("linkdir")).unwrap();
    fs::create_dir(sink.root().join("d")).unwrap();
    symlink(
        outside.path().join("secret"),
        sink.root().join("d/linkfile"),
    )
    .unwrap();

    let e = sink
        .put("linkdir/x", Bytes::from_static(b"x"), &opts())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
    assert!(e.to_string().contains("linkdir"), "{e}");
    assert_eq!(
        fs::read_dir(outside.path()).unwrap().count(),
        1,
        "nothing written outside"
    );
    for key in ["linkdir/secret", "d/linkfile"] {
        let e = sink.get(key).await.unwrap_err();
        assert!(
            matches!(e, Error::PermissionDenied { .. }),
            "get {key}: {e}"
        );
    }
    let e = sink
        .put("d/linkfile", Bytes::from_static(b"x"), &opts())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
    assert_eq!(fs::read(outside.path().join("secret")).unwrap(), b"outside");

    sink.put("d/real", Bytes::new(), &opts()).await.unwrap();
    let listed: Vec<(String, Option<String>)> = sink
        .list_all("")
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.key, i.not_a_file))
        .collect();
    let link = Some("a symbolic link (never followed)".to_string());
    assert_eq!(
        listed,
        [
            ("d/linkfile".to_string(), link.clone()),
            ("d/real".to_string(), None),
            ("linkdir".to_string(), link),
        ],
        "links are listed as what they are, and never entered"
    );
    assert!(sink.list_all("linkdir/").await.unwrap().is_empty());
}

/// Everything no writer makes is listed as such, by its key, without being opened: a
/// FIFO (opening it for reading would hang), a socket, a link to an ancestor (the loop a
/// user without mount rights can make), and directories nested past the depth limit.
#[tokio::test]
async fn fifos_sockets_loops_and_deep_trees_are_listed_as_not_files() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FsSink::new(dir.path().join("store")).unwrap();
    sink.put("a/b/real", Bytes::from_static(b"x"), &opts())
        .await
        .unwrap();
    let c = std::ffi::CString::new(sink.root().join("a/fifo").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let _sock = std::os::unix::net::UnixListener::bind(sink.root().join("a/sock")).unwrap();
    symlink("..", sink.root().join("a/b/up")).unwrap();
    let mut deep = sink.root().join("deep");
    for _ in 0..70 {
        deep.push("d");
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("f"), b"x").unwrap();

    let listed = sink.list_all("").await.unwrap();
    let what = |k: &str| {
        listed
            .iter()
            .find(|i| i.key == k)
            .unwrap_or_else(|| panic!("{k} not listed: {listed:?}"))
            .not_a_file
            .clone()
    };
    assert_eq!(what("a/b/real"), None);
    assert_eq!(what("a/fifo").as_deref(), Some("a FIFO (never opened)"));
    assert_eq!(what("a/sock").as_deref(), Some("a socket"));
    assert_eq!(
        what("a/b/up").as_deref(),
        Some("a symbolic link (never followed)")
    );
    let deep_key = format!("deep{}", "/d".repeat(64));
    assert!(
        what(&deep_key).unwrap().contains("deeper than 64 levels"),
        "{listed:?}"
    );
    assert_eq!(listed.len(), 5, "{listed:?}");
    // A FIFO that is read anyway (a race after listing) does not hang the reader.
    assert!(sink.get("a/fifo").await.is_err());
}

#[tokio::test]
async fn temp_files_are_hidden_and_listing_stays_inside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FsSink::new(dir.path().join("store")).unwrap();
    sink.put("p/obj", Bytes::from_static(b"1"), &opts())
        .await
        .unwrap();
    // Leftovers of a crashed writer.
    fs::write(sink.root().join("p/.worm-tmp-999-1"), b"partial").unwrap();
    fs::write(sink.root().join(".worm-tmp-probe-1"), b"").unwrap();
    fs::write(dir.path().join("sibling"), b"outside the root").unwrap();

    let keys: Vec<String> = sink
        .list_all("")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(keys, ["p/obj"]);
    for prefix in ["../", "..", "p/../", "/", "p//", "./p"] {
        assert!(
            sink.list_all(prefix).await.unwrap().is_empty(),
            "list('{prefix}')"
        );
    }
    let e = sink.get("p/.worm-tmp-999-1").await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
    let e = sink
        .put(".worm-tmp-x", Bytes::new(), &opts())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
}

#[tokio::test]
async fn keys_and_directories_cannot_collide() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FsSink::new(dir.path()).unwrap();
    sink.put("a/b", Bytes::new(), &opts()).await.unwrap();
    let e = sink.put("a/b/c", Bytes::new(), &opts()).await.unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput { .. }) && e.to_string().contains("a/b"),
        "{e}"
    );
    let e = sink.put("a", Bytes::new(), &opts()).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
    assert!(matches!(sink.get("a").await, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn roots_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let e = FsSink::builder(&missing)
        .create_root(false)
        .build()
        .unwrap_err();
    assert!(
        e.to_string().contains("missing") && e.to_string().contains("create_root"),
        "{e}"
    );
    fs::write(dir.path().join("file"), b"").unwrap();
    let e = FsSink::new(dir.path().join("file")).unwrap_err();
    assert!(e.to_string().contains("file"), "{e}");

    let sink = FsSink::new(dir.path().join("gone")).unwrap();
    fs::remove_dir(sink.root()).unwrap();
    let e = sink.preflight().await.unwrap_err();
    assert!(e.to_string().contains("gone"), "{e}");
}

/// A real directory loop needs a bind mount (mount rights); where the test may mount, the
/// loop is listed once, as a loop, and not walked again.
#[tokio::test]
async fn a_bind_mount_loop_is_reported_not_entered() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FsSink::new(dir.path().join("store")).unwrap();
    sink.put("a/real", Bytes::from_static(b"x"), &opts())
        .await
        .unwrap();
    fs::create_dir(sink.root().join("a/loop")).unwrap();
    let c = |p: &std::path::Path| std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    let (src, dst) = (c(&sink.root().join("a")), c(&sink.root().join("a/loop")));
    // SAFETY: valid NUL-terminated paths; null fstype and data are allowed with MS_BIND.
    let mounted = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    } == 0;
    if !mounted {
        eprintln!(
            "skipped: no right to bind-mount here ({})",
            std::io::Error::last_os_error()
        );
        return;
    }
    let listed = sink.list_all("").await;
    // SAFETY: as above; detach so the tempdir can be removed whatever happened.
    unsafe { libc::umount2(dst.as_ptr(), libc::MNT_DETACH) };
    let listed: Vec<(String, Option<String>)> = listed
        .unwrap()
        .into_iter()
        .map(|i| (i.key, i.not_a_file))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "a/loop".to_string(),
                Some("a directory loop: the same directory as one of its parents".to_string())
            ),
            ("a/real".to_string(), None),
        ]
    );
}
