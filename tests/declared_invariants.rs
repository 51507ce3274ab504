//! Declared invariants through the public API: the built-in `negative-balance` restated as an
//! invariant gives the same findings, and invariants are skipped where an image they read is
//! missing.

use ddb_stream_audit::source::decode_event;
use ddb_stream_audit::{AuditState, Auditor, Config, Finding};
use serde_json::{Value, json};

/// The built-in bound, restated: numbers only (the bound ignores absent, NULL and string
/// balances), `>= 0` (so `-0` passes).
const AS_INVARIANT: &str = r#"{"defaults": {"bounds": [], "invariants": [{
    "name": "negative-balance", "severity": "critical",
    "when": "attribute_type(NEW.balance, 'N')", "expression": "NEW.balance >= 0"}]}}"#;

fn replay_all(config: &str) -> Vec<Finding> {
    let auditor = Auditor::new(Config::from_json(config).unwrap());
    let mut state = AuditState::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut findings = Vec::new();
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let records = decode_event(&bytes).unwrap();
        findings.extend(auditor.audit_batch(&records, &mut state));
    }
    findings
}

fn identities(findings: &[Finding], rule: &str) -> Vec<(String, String, String, String)> {
    findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| {
            (
                f.id.clone(),
                f.severity.to_string(),
                f.sequence_number.clone(),
                f.table.clone(),
            )
        })
        .collect()
}

#[test]
fn negative_balance_as_an_invariant_finds_exactly_what_the_built_in_finds() {
    let built_in = replay_all("{}");
    let declared = replay_all(AS_INVARIANT);
    let expected = identities(&built_in, "negative-balance");
    assert!(
        expected.len() >= 2,
        "the bundled events overdraw: {expected:?}"
    );
    assert_eq!(identities(&declared, "negative-balance"), expected);
    // Everything else is untouched.
    let others = |f: &[Finding]| -> Vec<String> {
        f.iter()
            .filter(|f| f.rule != "negative-balance")
            .map(|f| f.id.clone())
            .collect()
    };
    assert_eq!(others(&declared), others(&built_in));
}

fn record(event: &str, seq: &str, old: Value, new: Value, view: &str) -> Value {
    let mut dynamodb = json!({"Keys": {"id": {"S": "a"}}, "SequenceNumber": seq, "SizeBytes": 1,
                              "StreamViewType": view, "ApproximateCreationDateTime": 1767225600});
    if !old.is_null() {
        dynamodb["OldImage"] = old;
    }
    if !new.is_null() {
        dynamodb["NewImage"] = new;
    }
    json!({"eventID": format!("ev-{seq}"), "eventName": event, "eventSource": "aws:dynamodb",
           "eventSourceARN": "arn:aws:dynamodb:r:1:table/T/stream/x", "dynamodb": dynamodb})
}

fn acct(balance: &str, version: &str) -> Value {
    json!({"id": {"S": "a"}, "balance": {"N": balance}, "version": {"N": version}})
}

fn run(config: &str, records: Vec<Value>) -> Vec<String> {
    let auditor = Auditor::new(Config::from_json(config).unwrap());
    let bytes = serde_json::to_vec(&json!({ "Records": records })).unwrap();
    let decoded = decode_event(&bytes).unwrap();
    auditor
        .audit_batch(&decoded, &mut AuditState::new())
        .into_iter()
        .map(|f| f.rule)
        .collect()
}

#[test]
fn invariants_reading_a_missing_image_are_skipped() {
    let config = r#"{"defaults": {"invariants": [
        {"name": "no-big-moves", "expression": "OLD.balance - NEW.balance <= 50"},
        {"name": "was-positive", "expression": "OLD.balance > 0"}]}}"#;
    let found = run(
        config,
        vec![
            // INSERT: no OldImage, both skipped.
            record(
                "INSERT",
                "100",
                Value::Null,
                acct("100", "1"),
                "NEW_AND_OLD_IMAGES",
            ),
            // A move of 60: fires.
            record(
                "MODIFY",
                "200",
                acct("100", "1"),
                acct("40", "2"),
                "NEW_AND_OLD_IMAGES",
            ),
            // NEW_IMAGE view: no OldImage, skipped.
            record("MODIFY", "300", Value::Null, acct("-30", "3"), "NEW_IMAGE"),
            // REMOVE reads only OLD for `was-positive`: checked, and -30 fires it.
            record(
                "REMOVE",
                "400",
                acct("-30", "3"),
                Value::Null,
                "NEW_AND_OLD_IMAGES",
            ),
        ],
    );
    assert_eq!(
        found,
        ["no-big-moves", "negative-balance", "was-positive"],
        "{found:?}"
    );
}
