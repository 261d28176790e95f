//! Signed notes against Go's `golang.org/x/mod/sumdb/note` examples (`note.go` and
//! `note_test.go`: the PeterNeumann and EnochRoot keys and signatures), and alterations.

use worm_core::sign::{PublicKey, Signer};
use worm_core::tlog::note::{self, MAX_NOTE_BYTES, Note, NoteError};

const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter() -> PublicKey {
    PublicKey::from_text(PETER_VKEY).unwrap()
}
fn enoch() -> PublicKey {
    PublicKey::from_text(ENOCH_VKEY).unwrap()
}

#[test]
fn signing_go_example_gives_go_bytes() {
    let s = Signer::from_text(PETER_SKEY).unwrap();
    let msg = note::sign(TEXT, &s).unwrap();
    assert_eq!(msg, format!("{TEXT}\n{PETER_SIG}"));
    // Re-signing replaces the key's own signature rather than adding a second.
    let again = Note::parse(&msg).unwrap().signed_by(&s).unwrap().to_text();
    assert_eq!(again, msg);
}

#[test]
fn go_example_notes_verify_and_unknown_keys_are_ignored() {
    let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let n = note::open(&msg, &[peter()]).unwrap();
    assert_eq!(n.text, TEXT);
    assert_eq!(n.signatures.len(), 2);
    assert_eq!(n.signatures[0].key_label(), "PeterNeumann+c74f20a3");
    assert_eq!(n.signatures[1].key_label(), "EnochRoot+af0cfe78");
    assert_eq!(n.to_text(), msg);
    let both = [peter(), enoch()];
    assert_eq!(n.verify(&both).unwrap().len(), 2);
    assert_eq!(n.verify(&[enoch()]).unwrap()[0].name(), "EnochRoot");
    match n.verify(&[]) {
        Err(NoteError::NoKnownSignature { signed_by, known }) => {
            assert_eq!(signed_by, "PeterNeumann+c74f20a3, EnochRoot+af0cfe78");
            assert_eq!(known, "none");
        }
        other => panic!("{other:?}"),
    }
    // A key known by name but not id (or id but not name) is another key: ignored.
    let other = Signer::from_seed([9; 32])
        .with_name("PeterNeumann")
        .unwrap();
    let e = n.verify(&[other.public_key()]).unwrap_err();
    assert!(matches!(e, NoteError::NoKnownSignature { .. }), "{e}");
}

#[test]
fn altered_text_or_signature_fails_naming_the_key() {
    let msg = format!("{TEXT}\n{PETER_SIG}");
    let bad_text = msg.replacen("problem,", "problem;", 1);
    let e = note::open(&bad_text, &[peter()]).unwrap_err();
    assert_eq!(
        e,
        NoteError::BadSignature {
            key: "PeterNeumann+c74f20a3".into()
        }
    );
    assert!(e.to_string().contains("PeterNeumann+c74f20a3"), "{e}");
    // Go's own mangling: four base64 characters inserted into the signature.
    let sig = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    let e = note::open(&format!("{TEXT}\n{sig}"), &[peter()]).unwrap_err();
    assert!(matches!(e, NoteError::BadSignature { .. }), "{e}");
    // A bad signature by a known key fails the note even beside a good one.
    let e = note::open(&format!("{TEXT}\n{ENOCH_SIG}{sig}"), &[peter(), enoch()]).unwrap_err();
    assert!(matches!(e, NoteError::BadSignature { .. }), "{e}");
    // ... but one by an unknown key is ignored.
    let enoch_bad = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
    note::open(&format!("{TEXT}\n{PETER_SIG}{enoch_bad}"), &[peter()]).unwrap();
}

#[test]
fn malformed_notes_are_rejected_with_a_reason() {
    let long_sigs = PETER_SIG.repeat(101);
    let cases: Vec<(String, &str)> = vec![
        (TEXT.to_string(), "no blank line"),
        (format!("{TEXT}\n"), "no signature lines"),
        (
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            "newline",
        ),
        (format!("\x01{TEXT}\n{PETER_SIG}"), "control character 0x01"),
        (format!("{TEXT}\r\n\n{PETER_SIG}"), "control character 0x0d"),
        (
            format!(
                "{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
            "base64",
        ),
        (
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
            "signature line 2: does not start with an em dash",
        ),
        (format!("{TEXT}\n- PeterNeumann x08go/ZJ=\n"), "em dash"),
        (
            format!(
                "{TEXT}\n— a+b x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
            "'+'",
        ),
        (format!("{TEXT}\n— PeterNeumann x08g\n"), "at least 5"),
        (
            format!("{TEXT}\n— PeterNeumann\n"),
            "expected '<key name> <base64 signature>'",
        ),
        (format!("{TEXT}\n{long_sigs}"), "101 signature lines"),
    ];
    for (msg, want) in cases {
        let e = Note::parse(&msg).unwrap_err();
        assert!(e.to_string().contains(want), "{msg:?}: {e}");
    }
    // 100 signature lines are still fine (the same key's repeated signature verifies).
    note::open(&format!("{TEXT}\n{}", PETER_SIG.repeat(100)), &[peter()]).unwrap();
    let huge = format!("{}\n{PETER_SIG}", "a".repeat(MAX_NOTE_BYTES));
    assert_eq!(
        Note::parse(&huge).unwrap_err(),
        NoteError::TooLarge(huge.len())
    );
}

#[test]
fn texts_may_hold_blank_lines_and_must_end_in_a_newline() {
    let s = Signer::from_text(PETER_SKEY).unwrap();
    let text = "first\n\nafter a blank line\n";
    let msg = note::sign(text, &s).unwrap();
    assert_eq!(note::open(&msg, &[peter()]).unwrap().text, text);
    for bad in ["no newline", "", "tab\there\n"] {
        let e = note::sign(bad, &s).unwrap_err();
        assert!(matches!(e, NoteError::Malformed(_)), "{bad:?}: {e}");
    }
}
