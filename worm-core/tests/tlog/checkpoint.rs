//! Checkpoints: the C2SP spec's example text, Go's sumdb tree note, strict parsing.

use worm_core::sign::Signer;
use worm_core::tlog::checkpoint::{Checkpoint, CheckpointError, MAX_EXTENSIONS};
use worm_core::tlog::merkle::{empty_root, leaf_hash};
use worm_core::tlog::note::NoteError;

use super::h;

#[test]
fn spec_example_parses_and_formats_back() {
    // The example of c2sp.org/tlog-checkpoint.
    let text =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let cp = Checkpoint::parse(text).unwrap();
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20852163);
    assert!(cp.extensions.is_empty());
    assert_eq!(cp.to_text().unwrap(), text);
    // Go's sumdb tree note (golang.org/x/mod sumdb/tlog note_test.go) has the same shape;
    // its root there is RecordHash("hello world").
    let go = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";
    let cp = Checkpoint::parse(go).unwrap();
    assert_eq!(cp.size, 123456789012);
    assert_eq!(cp.root, leaf_hash(b"hello world"));
    assert_eq!(cp.to_text().unwrap(), go);
}

#[test]
fn extensions_round_trip_and_signed_checkpoints_open() {
    let cp = Checkpoint {
        origin: "worm/0190b6a0-0000-7000-8000-000000000000".into(),
        size: 7,
        root: h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
        extensions: vec!["time 2026-12-01T14:00:00Z".into(), "seq 3".into()],
    };
    let key = Signer::from_seed([4; 32]);
    let note = cp.sign(&key).unwrap();
    assert_eq!(Checkpoint::open(&note, &[key.public_key()]).unwrap(), cp);
    let other = Signer::from_seed([5; 32]).public_key();
    let e = Checkpoint::open(&note, &[other]).unwrap_err();
    assert!(
        matches!(e, CheckpointError::Note(NoteError::NoKnownSignature { .. })),
        "{e}"
    );
    let forged = note.replacen("\n7\n", "\n8\n", 1);
    let e = Checkpoint::open(&forged, &[key.public_key()]).unwrap_err();
    assert!(
        matches!(e, CheckpointError::Note(NoteError::BadSignature { .. })),
        "{e}"
    );
}

#[test]
fn malformed_checkpoints_say_which_line() {
    let root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let many = format!("o\n1\n{root}\n{}", "x\n".repeat(MAX_EXTENSIONS + 1));
    let cases: Vec<(String, &str)> = vec![
        (format!("o\n1\n{root}"), "newline"),
        ("o\n1\n".to_string(), "at least three lines"),
        (format!("\n1\n{root}\n"), "origin line is empty"),
        (format!("o\n01\n{root}\n"), "leading zero"),
        (format!("o\n-1\n{root}\n"), "not a decimal"),
        (format!("o\n 1\n{root}\n"), "not a decimal"),
        (format!("o\n18446744073709551616\n{root}\n"), "64 bits"),
        ("o\n1\nAAAA\n".to_string(), "3 bytes, not 32"),
        (
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n".to_string(),
            "not base64",
        ),
        (format!("o\n1\n{root}\n\n"), "extension 1 line is empty"),
        (many, "over the limit"),
    ];
    for (text, want) in cases {
        let e = Checkpoint::parse(&text).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
    assert_eq!(
        Checkpoint::parse(&format!("o\n0\n{root}\n")).unwrap().root,
        empty_root()
    );
    let bad = Checkpoint {
        origin: "a\nb".into(),
        size: 1,
        root: empty_root(),
        extensions: vec![],
    };
    assert!(bad.to_text().is_err());
    let bad = Checkpoint {
        origin: "o".into(),
        extensions: vec![String::new()],
        ..bad
    };
    assert!(
        bad.to_text()
            .unwrap_err()
            .to_string()
            .contains("extension 1")
    );
}
