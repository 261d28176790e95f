//! The one-pass reader against the full parser ([`AuditRecord::from_json`]) and the
//! record writer: wherever the reader answers, the stored line is the reference's, byte
//! for byte.

use super::*;
use crate::AuditRecord;

const SERVICE: &str = "svc";

/// What the full parser stores for `line`.
fn reference(line: &str) -> Result<Vec<u8>> {
    let mut r = AuditRecord::from_json(line)?;
    r.service_name.get_or_insert_with(|| SERVICE.into());
    let mut out = Vec::new();
    r.write_json(&mut out);
    Ok(out)
}

/// The two agree; returns whether the one-pass reader took the line.
fn agree(reader: &mut LineReader, line: &str) -> bool {
    let Some(fast) = reader.to_json(line, SERVICE) else {
        return false;
    };
    let want = reference(line).unwrap_or_else(|e| panic!("{line}: reader took it, {e}"));
    // A line without a timestamp is stamped now, by each side separately.
    let (fast, want) = if line.contains("\"timestamp\"") {
        (fast, want)
    } else {
        (mask_time(fast), mask_time(want))
    };
    assert_eq!(
        String::from_utf8_lossy(&fast),
        String::from_utf8_lossy(&want),
        "{line}"
    );
    true
}

fn mask_time(mut line: Vec<u8>) -> Vec<u8> {
    line[14..38].fill(b'T');
    line
}

const TS: &str = r#""timestamp":"2025-06-12T10:30:00.123Z""#;

/// Lines in stored form: taken, and stored as the full parser stores them.
#[test]
fn takes_stored_form_lines_as_the_full_parser_does() {
    let mut r = LineReader::new();
    let lines = [
        format!(
            r#"{{{TS},"level":"INFO","request_id":"req-12345-abcde","user_id":"user123","action":"motion_detected","message":"Motion detected in camera cam001","logger_name":"camera_service","line":245,"camera_id":"cam001","confidence":0.92,"detection_count":3,"n":0}}"#
        ),
        // Any order, whitespace between top-level tokens, a CR at the end.
        format!(
            "  {{ \"n\" : 1 , \"message\":\"m\",\t{TS} ,\"level\":\"warning\",\"service_name\":\"other\"}} \r"
        ),
        r#"{}"#.into(),
        r#"{"message":"no time, no level"}"#.into(),
        format!(r#"{{{TS},"level":"critical","line":0,"function":"f","module":"m"}}"#),
        format!(r#"{{{TS},"a":[],"b":{{}},"c":[1,-2,3.5,"x",true,false,null,[{{"d":[]}}]]}}"#),
        format!(r#"{{{TS},"nested":{{"a":1,"b":{{"a":2}}}},"again":{{"a":3}}}}"#),
        format!(r#"{{{TS},"esc":"q\"b\\n\nr\rt\tb\bf\f\u0000\u001f","é":"ü 日本 😀"}}"#),
        format!(r#"{{{TS},"k\"ey":1,"k\u0001":2,"timestamp\n":3}}"#),
        format!(r#"{{{TS},"big":18446744073709551615,"neg":-9223372036854775808,"z":0,"m":-1}}"#),
        format!(r#"{{{TS},"f":1.5,"g":-0.001,"h":1e-7,"i":1e+300,"j":123456789.0,"k":-0.0}}"#),
        format!(r#"{{{TS},"extra":{{"x":1}},"service_name":"s","request_id":""}}"#),
        r#"{"timestamp":"2024-02-29T23:59:59.999Z"}"#.into(),
        // Any RFC 3339 time: the writer stores it in its own form, as the parser does.
        r#"{"timestamp":"2025-06-12T10:30:00Z"}"#.into(),
        r#"{"timestamp":"2025-06-12T12:30:00.123456+02:00"}"#.into(),
    ];
    for line in &lines {
        assert!(agree(&mut r, line), "not taken: {line}");
    }
}

/// Valid lines in another form: left to the full parser, which takes them.
#[test]
fn leaves_other_forms_to_the_full_parser() {
    let mut r = LineReader::new();
    let lines = [
        r#"{"n":1e3}"#,
        r#"{"n":1.50}"#,
        r#"{"n":1E5}"#,
        r#"{"n":-0}"#,
        r#"{"n":18446744073709551616}"#,
        r#"{"n":-9223372036854775809}"#,
        r#"{"s":"a\/b"}"#,
        r#"{"s":"\u00e9"}"#,
        r#"{"s":"\u001F"}"#,
        r#"{"s":"\u007f"}"#,
        r#"{"s":"\u000a"}"#,
        r#"{"a":[1, 2]}"#,
        r#"{"a":{"b" :1}}"#,
        r#"{"message":"with \"quotes\""}"#,
        r#"{"user_id":null}"#,
    ];
    for line in lines {
        assert!(reference(line).is_ok(), "{line}");
        assert!(!agree(&mut r, line), "taken: {line}");
    }
}

/// Lines the full parser refuses: never taken.
#[test]
fn never_takes_what_the_full_parser_refuses() {
    let mut r = LineReader::new();
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
    let lines = [
        r#"{"user_id":"alice","user_id":"mallory"}"#,
        r#"{"a":{"b":1,"b":2}}"#,
        r#"{"a":[{"b":1,"b":2}]}"#,
        r#"{"a":NaN}"#,
        r#"{"a":Infinity}"#,
        "{\"a\":\"x\0y\"}",
        "{\"a\":\"x\ny\"}",
        r#"{"a":1} trailing"#,
        r#"{"a":1}}"#,
        r#"{"a":01}"#,
        r#"{"a":1.}"#,
        r#"{"a":.5}"#,
        r#"{"a":+1}"#,
        r#"{"a":1,}"#,
        r#"{,"a":1}"#,
        r#"{"a"}"#,
        r#"{"a":"\x"}"#,
        r#"{"a":"\u12"}"#,
        r#"{"a":1e400}"#,
        r#"[1,2]"#,
        r#""text""#,
        r#"{"timestamp":"yesterday"}"#,
        r#"{"timestamp":"2025-02-30T10:30:00.123Z"}"#,
        r#"{"timestamp":"2025-06-12T24:30:00.123Z"}"#,
        r#"{"level":"loud"}"#,
        r#"{"line":-1}"#,
        r#"{"line":4294967296}"#,
        r#"{"line":245.0}"#,
        r#"{"message":5}"#,
        r#"{"timestamp":1}"#,
        &deep,
        "",
        "{",
    ];
    for line in lines {
        assert!(reference(line).is_err(), "{line}");
        assert!(!agree(&mut r, line), "taken: {line}");
    }
}

/// Random edits of stored-form lines: wherever the reader answers, it agrees with the
/// full parser; and it answers for the unedited lines.
#[test]
fn random_edits_agree_with_the_full_parser() {
    let seeds = [
        format!(
            r#"{{{TS},"level":"INFO","request_id":"r-1","action":"a","message":"m","line":7,"x":[1,{{"y":"z\n"}},-2.5],"ok":true,"n":null}}"#
        ),
        format!(r#"{{{TS},"user_id":"u","e":{{"a":{{"b":[0.1,1e-7,"\u0001"]}}}},"f":12}}"#),
    ];
    let alphabet = br#"{}[]:,"\ 0123456789.-+eEtrufalsnabcxyz"#;
    let mut rng = fastrand::Rng::with_seed(18);
    let mut r = LineReader::new();
    let (mut taken, mut tried) = (0, 0);
    for seed in &seeds {
        assert!(agree(&mut r, seed));
        for _ in 0..40_000 {
            let mut b = seed.clone().into_bytes();
            for _ in 0..rng.usize(1..=3) {
                let at = rng.usize(0..=b.len());
                let c = alphabet[rng.usize(..alphabet.len())];
                match rng.u8(0..3) {
                    0 if at < b.len() => b[at] = c,
                    1 if at < b.len() => {
                        b.remove(at);
                    }
                    _ => b.insert(at, c),
                }
            }
            if let Ok(line) = std::str::from_utf8(&b) {
                tried += 1;
                taken += usize::from(agree(&mut r, line));
            }
        }
    }
    // The edits reach both sides of the reader.
    assert!(taken > tried / 20 && taken < tried, "{taken} of {tried}");
}

/// The word-at-a-time scan finds the first byte that ends a run of plain string text
/// wherever it is (each of the 8 lanes, the byte-wise tail, after UTF-8), as the
/// byte-by-byte table does, for every byte value.
#[test]
fn plain_run_finds_the_first_stop_byte_as_the_table_does() {
    let reference =
        |s: &[u8]| -> Option<usize> { s.iter().position(|&c| STRING_STOP[usize::from(c)]) };
    let mut rng = fastrand::Rng::with_seed(7);
    let filler = "aé日😀~ ".as_bytes();
    for len in 0..40 {
        for at in 0..=len {
            for stop in 0..=255u8 {
                let mut s: Vec<u8> = (0..len).map(|i| filler[i % filler.len()]).collect();
                if at < len {
                    s[at] = stop;
                }
                assert_eq!(plain_run(&s), reference(&s), "{s:?}");
            }
        }
    }
    // Random bytes, stop bytes among them: only the first counts.
    for _ in 0..20_000 {
        let len = rng.usize(0..64);
        let s: Vec<u8> = (0..len)
            .map(|_| match rng.u8(0..16) {
                0 => b'"',
                1 => b'\\',
                2 => rng.u8(0..0x20),
                _ => rng.u8(0x20..=0xff),
            })
            .collect();
        assert_eq!(plain_run(&s), reference(&s), "{s:?}");
    }
}

/// The float texts taken without reading them are exactly those serde_json writes back
/// as they are: random decimals of every length and magnitude near the fast path's
/// bounds, checked against the parse-and-write the slow path does.
#[test]
fn plain_decimals_are_what_serde_json_writes_back() {
    let slow = |text: &str| -> bool {
        serde_json::from_str::<f64>(text)
            .ok()
            .and_then(|f| serde_json::to_string(&f).ok())
            .is_some_and(|back| back == text)
    };
    let mut rng = fastrand::Rng::with_seed(15);
    let mut fast_taken = 0;
    let mut r = LineReader::new();
    for n in 0..100_000 {
        let int_len = rng.usize(0..18);
        let frac_len = rng.usize(0..18);
        let mut t = String::new();
        if rng.bool() {
            t.push('-');
        }
        if int_len == 0 {
            t.push('0');
        }
        for i in 0..int_len {
            t.push(char::from(
                b'0' + if i == 0 { rng.u8(1..10) } else { rng.u8(0..10) },
            ));
        }
        t.push('.');
        for _ in 0..frac_len {
            // Zeros often, so that trailing and leading zeros are common.
            t.push(char::from(
                b'0' + if rng.bool() { 0 } else { rng.u8(0..10) },
            ));
        }
        if frac_len == 0 {
            t.push('0');
        }
        let fast = plain_decimal(t.as_bytes());
        if fast {
            fast_taken += 1;
            assert!(
                slow(&t),
                "{t}: taken without reading, but serde_json writes it otherwise"
            );
        }
        // Whatever it takes, the reader as a whole agrees with the full parser.
        if n % 4 == 0 {
            agree(&mut r, &format!(r#"{{{TS},"f":{t}}}"#));
        }
    }
    for t in [
        "0.92",
        "-0.92",
        "3.5",
        "123456789012.345",
        "0.1",
        "-99999999999999.9",
    ] {
        assert!(plain_decimal(t.as_bytes()), "{t}");
        assert!(slow(t), "{t}");
    }
    for t in [
        "3.0",
        "0.05",
        "0.920",
        "1e5",
        "1.5e3",
        "00.5",
        "-.5",
        "5.",
        "1234567890123456.5",
        "0.1234567890123456",
        "+1.5",
        "1.-5",
    ] {
        assert!(!plain_decimal(t.as_bytes()), "{t}");
    }
    assert!(fast_taken > 3_000, "{fast_taken}");
}
