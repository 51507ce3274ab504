//! Bad input never panics and never loses a record: thousands of truncated, garbled and
//! wrongly-typed variants of the bundled and AWS sample events end either in a whole-input error
//! (exit 2, one line on stderr) or in `malformed-record` findings with every record accounted for.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use ddb_stream_audit::source::{Record, decode_event};
use ddb_stream_audit::{AuditState, Auditor, Config};
use serde_json::{Value, json};
use support::*;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [repo_root().join("events"), aws_samples_dir()] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

/// Decodes and audits; panics are caught and reported with the input that caused them.
fn audit_without_panic(label: &str, bytes: &[u8]) -> Option<Vec<ddb_stream_audit::Finding>> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let auditor = Auditor::new(Config::default());
        let mut state = AuditState::new();
        match decode_event(bytes) {
            Err(e) => {
                assert!(!e.to_string().is_empty());
                None
            }
            Ok(records) => Some(auditor.audit_batch(&records, &mut state)),
        }
    }));
    match result {
        Ok(found) => found,
        Err(_) => panic!("panic on {label}: {}", String::from_utf8_lossy(bytes)),
    }
}

#[test]
fn truncated_and_byte_garbled_events_never_panic() {
    let mut rng = Rng(0x5eed_0001);
    let mut cases = 0;
    let noise: &[u8] = b"{}[]\",:0123456789-.eE \\ntfaxS\xff\x00";
    for (name, bytes) in corpus() {
        let step = (bytes.len() / 100).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            audit_without_panic(&format!("{name} cut at {cut}"), &bytes[..cut]);
            cases += 1;
        }
        for round in 0..150 {
            let mut garbled = bytes.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(garbled.len());
                garbled[at] = noise[rng.below(noise.len())];
            }
            audit_without_panic(&format!("{name} garble {round}"), &garbled);
            cases += 1;
        }
    }
    assert!(cases > 3000, "only {cases} cases");
}

fn random_value(rng: &mut Rng) -> Value {
    match rng.below(9) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-12.5),
        3 => json!(u64::MAX),
        4 => json!("1e400"),
        5 => json!([]),
        6 => json!({}),
        7 => json!({"N": "not-a-number"}),
        _ => json!({"S": 5}),
    }
}

/// Replaces one randomly chosen node (anything but the top level and `Records` itself).
fn mutate(value: &mut Value, rng: &mut Rng, depth: usize) {
    let children: usize = match value {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    };
    if children == 0 || (depth > 2 && rng.below(3) == 0) {
        *value = random_value(rng);
        return;
    }
    let pick = rng.below(children);
    match value {
        Value::Object(m) => {
            let key = m.keys().nth(pick).unwrap().clone();
            if depth > 1 && rng.below(4) == 0 {
                m.remove(&key);
            } else {
                mutate(m.get_mut(&key).unwrap(), rng, depth + 1);
            }
        }
        Value::Array(a) => mutate(&mut a[pick], rng, depth + 1),
        _ => unreachable!(),
    }
}

#[test]
fn wrongly_typed_fields_become_malformed_records_and_none_is_lost() {
    let mut rng = Rng(0x5eed_0002);
    let mut malformed_seen = 0;
    for (name, bytes) in corpus() {
        let original: Value = serde_json::from_slice(&bytes).unwrap();
        let count = original["Records"].as_array().unwrap().len();
        for round in 0..200 {
            let mut event = original.clone();
            for _ in 0..1 + rng.below(3) {
                mutate(&mut event["Records"], &mut rng, 1);
            }
            let text = serde_json::to_vec(&event).unwrap();
            let label = format!("{name} mutation {round}");
            let records =
                catch_unwind(|| decode_event(&text).map(|r| r.len())).unwrap_or_else(|_| {
                    panic!("panic decoding {label}: {}", String::from_utf8_lossy(&text))
                });
            let decoded = records
                .unwrap_or_else(|e| panic!("{label}: valid JSON with Records failed whole: {e}"));
            assert_eq!(decoded, count, "{label}: a record was lost");
            let findings = audit_without_panic(&label, &text).unwrap();
            malformed_seen += findings
                .iter()
                .filter(|f| f.rule == "malformed-record")
                .count();
            let records = decode_event(&text).unwrap();
            let malformed = records
                .iter()
                .filter(|r| matches!(r, Record::Malformed(_)))
                .count();
            let reported = findings
                .iter()
                .filter(|f| f.rule == "malformed-record")
                .count();
            assert!(
                reported <= malformed,
                "{label}: more malformed findings than malformed records"
            );
        }
    }
    assert!(
        malformed_seen > 500,
        "the mutations should produce malformed records, saw {malformed_seen}"
    );
}

#[test]
fn the_binary_exits_2_with_one_line_or_reports_findings() {
    let mut rng = Rng(0x5eed_0003);
    let dir = std::env::temp_dir().join(format!("ddb-audit-garbled-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let corpus = corpus();
    for round in 0..40 {
        let (name, bytes) = &corpus[rng.below(corpus.len())];
        let mut input = bytes.clone();
        if round % 2 == 0 {
            input.truncate(rng.below(bytes.len()));
        } else {
            let mut event: Value = serde_json::from_slice(bytes).unwrap();
            mutate(&mut event["Records"], &mut rng, 1);
            input = serde_json::to_vec(&event).unwrap();
        }
        let path = dir.join(format!("case-{round}.json"));
        std::fs::write(&path, &input).unwrap();
        let output = ddb_audit(
            &["replay", "--format", "json", path.to_str().unwrap()],
            None,
        );
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        match output.status.code() {
            Some(2) => {
                assert_eq!(stderr.lines().count(), 1, "{name} round {round}: {stderr}");
                assert!(stderr.contains(&format!("case-{round}.json")), "{stderr}");
            }
            Some(0) | Some(1) => {
                json_lines(&String::from_utf8(output.stdout).unwrap());
            }
            other => panic!("{name} round {round}: exit {other:?}, stderr {stderr}"),
        }
    }
}
