//! The pinned semantics of CONTRACT.md, one case each, through the library's public API:
//! events are built as AWS delivers them, decoded, and audited across batches.

mod support;

use serde_json::{Value, json};
use support::audit_run::{Run, key, record_of, rules};

const ARN: &str =
    "arn:aws:dynamodb:eu-west-1:111122223333:table/Accounts/stream/2026-01-01T00:00:00.000";

/// One record of the `Accounts` table.
fn record(event: &str, seq: &str, keys: Value, old: Value, new: Value) -> Value {
    record_of(ARN, event, seq, keys, old, new)
}

fn acct(id: &str, balance: &str, version: &str) -> Value {
    json!({"id": {"S": id}, "balance": {"N": balance}, "version": {"N": version}})
}

#[test]
fn ordinary_increments_are_clean() {
    let mut run = Run::new();
    let found = run.batch(vec![
        record(
            "INSERT",
            "100",
            key("a"),
            Value::Null,
            acct("a", "100", "1"),
        ),
        record(
            "MODIFY",
            "200",
            key("a"),
            acct("a", "100", "1"),
            acct("a", "80", "2"),
        ),
        record(
            "MODIFY",
            "300",
            key("a"),
            acct("a", "80", "2"),
            acct("a", "0", "3"),
        ),
    ]);
    assert_eq!(found, rules(&[]));
}

#[test]
fn lost_update_needs_equal_versions_and_another_change() {
    let mut run = Run::new();
    let found = run.batch(vec![
        record(
            "MODIFY",
            "100",
            key("a"),
            acct("a", "100", "7"),
            acct("a", "80", "7"),
        ),
        // Nothing changed but the version stayed: not a lost update (emulators emit these).
        record(
            "MODIFY",
            "200",
            key("a"),
            acct("a", "80", "7"),
            acct("a", "80", "7.0"),
        ),
    ]);
    assert_eq!(found, rules(&["lost-update"]));
}

#[test]
fn thirty_eight_digit_versions_are_compared_exactly() {
    let v = "12345678901234567890123456789012345678";
    let v1 = "12345678901234567890123456789012345679";
    let mut run = Run::new();
    assert_eq!(
        run.batch(vec![record(
            "MODIFY",
            "100",
            key("a"),
            acct("a", "5", v),
            acct("a", "4", v1)
        )]),
        rules(&[])
    );
    assert_eq!(
        run.batch(vec![record(
            "MODIFY",
            "200",
            key("a"),
            acct("a", "4", v1),
            acct("a", "3", v1)
        )]),
        rules(&["lost-update"])
    );
}

#[test]
fn version_regression_on_modify_and_on_resurrection() {
    let mut run = Run::new();
    let found = run.batch(vec![
        record(
            "MODIFY",
            "100",
            key("a"),
            acct("a", "1", "5"),
            acct("a", "2", "4"),
        ),
        record("INSERT", "200", key("b"), Value::Null, acct("b", "1", "3")),
        record("REMOVE", "300", key("b"), acct("b", "1", "3"), Value::Null),
        record("INSERT", "400", key("b"), Value::Null, acct("b", "1", "3")),
        record("REMOVE", "500", key("b"), acct("b", "1", "3"), Value::Null),
        // Re-created above the removed version: fine, and no version-gap across a delete.
        record("INSERT", "600", key("b"), Value::Null, acct("b", "1", "10")),
    ]);
    assert_eq!(found, rules(&["version-regression", "version-regression"]));
}

#[test]
fn version_gap_follows_the_configured_step() {
    let mut run = Run::new();
    assert_eq!(
        run.batch(vec![record(
            "MODIFY",
            "100",
            key("a"),
            acct("a", "1", "1"),
            acct("a", "2", "3")
        )]),
        rules(&["version-gap"])
    );
    let mut any = Run::with_config(r#"{"tables": {"Accounts": {"version": {"step": "any"}}}}"#);
    assert_eq!(
        any.batch(vec![record(
            "MODIFY",
            "100",
            key("a"),
            acct("a", "1", "1"),
            acct("a", "2", "1000")
        )]),
        rules(&[])
    );
    let mut by_ten = Run::with_config(r#"{"defaults": {"version": {"step": 10}}}"#);
    assert_eq!(
        by_ten.batch(vec![
            record(
                "MODIFY",
                "100",
                key("a"),
                acct("a", "1", "10"),
                acct("a", "2", "20")
            ),
            record(
                "MODIFY",
                "200",
                key("a"),
                acct("a", "2", "20"),
                acct("a", "3", "31")
            ),
        ]),
        rules(&["version-gap"])
    );
}

#[test]
fn missing_version_only_where_a_new_image_is_present() {
    let mut run = Run::new();
    let found = run.batch(vec![
        record(
            "INSERT",
            "100",
            key("a"),
            Value::Null,
            json!({"id": {"S": "a"}}),
        ),
        record(
            "MODIFY",
            "200",
            key("a"),
            json!({"id": {"S": "a"}}),
            json!({"id": {"S": "a"}, "version": {"NULL": true}}),
        ),
        record(
            "MODIFY",
            "300",
            key("a"),
            json!({"id": {"S": "a"}, "version": {"NULL": true}}),
            json!({"id": {"S": "a"}, "version": {"S": "4"}}),
        ),
        record(
            "REMOVE",
            "400",
            key("a"),
            json!({"id": {"S": "a"}, "version": {"S": "4"}}),
            Value::Null,
        ),
    ]);
    assert_eq!(
        found,
        rules(&["missing-version", "missing-version", "missing-version"])
    );
}

#[test]
fn history_gap_compares_with_the_previous_record_semantically() {
    let mut run = Run::new();
    let first = json!({"id": {"S": "a"}, "version": {"N": "1"}, "n": {"N": "1"},
                       "tags": {"SS": ["x", "y"]}, "m": {"M": {"p": {"N": "1"}, "q": {"S": "z"}}}});
    let same = json!({"m": {"M": {"q": {"S": "z"}, "p": {"N": "1.00"}}}, "tags": {"SS": ["y", "x"]},
                      "n": {"N": "1.0"}, "version": {"N": "1"}, "id": {"S": "a"}});
    let next = json!({"id": {"S": "a"}, "version": {"N": "2"}, "n": {"N": "2"}});
    let found = run.batch(vec![
        // The first record of an item has nothing to compare with.
        record(
            "MODIFY",
            "100",
            key("a"),
            json!({"id": {"S": "a"}, "version": {"N": "0"}}),
            first,
        ),
        record("MODIFY", "200", key("a"), same, next.clone()),
        record(
            "MODIFY",
            "300",
            key("a"),
            acct("a", "9", "3"),
            acct("a", "9", "4"),
        ),
    ]);
    assert_eq!(found, rules(&["history-gap"]));
}

#[test]
fn history_gap_after_a_remove_and_none_for_inserts() {
    let mut run = Run::new();
    let found = run.batch(vec![
        record("INSERT", "100", key("a"), Value::Null, acct("a", "1", "1")),
        // An INSERT carries no OldImage: nothing to compare.
        record("INSERT", "200", key("a"), Value::Null, acct("a", "1", "2")),
        record("REMOVE", "300", key("a"), acct("a", "1", "2"), Value::Null),
        // The item was removed, yet this MODIFY shows it existing: the re-creation is missing.
        record(
            "MODIFY",
            "400",
            key("a"),
            acct("a", "1", "3"),
            acct("a", "1", "4"),
        ),
    ]);
    assert_eq!(found, rules(&["history-gap"]));
}

#[test]
fn state_carries_across_batches() {
    let mut run = Run::new();
    assert_eq!(
        run.batch(vec![record(
            "INSERT",
            "100",
            key("a"),
            Value::Null,
            acct("a", "1", "1")
        )]),
        rules(&[])
    );
    assert_eq!(
        run.batch(vec![record(
            "MODIFY",
            "300",
            key("a"),
            acct("a", "5", "2"),
            acct("a", "6", "3")
        )]),
        rules(&["history-gap"])
    );
}

#[test]
fn redeliveries_are_ignored_entirely() {
    let mut run = Run::new();
    let bad = record(
        "MODIFY",
        "200",
        key("a"),
        acct("a", "1", "1"),
        acct("a", "-5", "1"),
    );
    let first = run.batch(vec![
        record("INSERT", "100", key("a"), Value::Null, acct("a", "1", "1")),
        bad.clone(),
    ]);
    assert_eq!(first, rules(&["lost-update", "negative-balance"]));
    // Lambda retries the batch: nothing again, and no state change either.
    assert_eq!(run.batch(vec![bad.clone(), bad]), rules(&[]));
    // An older record arriving late is not newer than the checkpoint: ignored.
    assert_eq!(
        run.batch(vec![record(
            "MODIFY",
            "150",
            key("a"),
            acct("a", "7", "9"),
            acct("a", "-7", "9")
        )]),
        rules(&[])
    );
    // Sequence numbers order numerically: 1000 is newer than 200.
    assert_eq!(
        run.batch(vec![record(
            "MODIFY",
            "1000",
            key("a"),
            acct("a", "-5", "1"),
            acct("a", "3", "2")
        )]),
        rules(&[])
    );
}

#[test]
fn checks_skip_images_the_view_type_does_not_carry() {
    let mut run = Run::new();
    let keys_only = |event: &str, seq: &str| {
        let mut r = record(event, seq, key("k"), Value::Null, Value::Null);
        r["dynamodb"]["StreamViewType"] = json!("KEYS_ONLY");
        r
    };
    assert_eq!(
        run.batch(vec![
            keys_only("INSERT", "100"),
            keys_only("MODIFY", "200"),
            keys_only("REMOVE", "300")
        ]),
        rules(&[])
    );
    // NEW_IMAGE: no OldImage, so no lost-update, and the previous NewImage never stands in for it.
    let mut run = Run::new();
    assert_eq!(
        run.batch(vec![
            record("INSERT", "100", key("a"), Value::Null, acct("a", "10", "1")),
            record("MODIFY", "200", key("a"), Value::Null, acct("a", "5", "1")),
        ]),
        rules(&[])
    );
    // OLD_IMAGE: no NewImage, so no missing-version and no bound check; the next record's
    // OldImage has nothing known to be compared with.
    let mut run = Run::new();
    assert_eq!(
        run.batch(vec![
            record("MODIFY", "100", key("a"), acct("a", "10", "1"), Value::Null),
            record("MODIFY", "200", key("a"), acct("a", "99", "7"), Value::Null),
        ]),
        rules(&[])
    );
}

#[test]
fn bounds_check_numbers_only_and_exactly() {
    let mut run = Run::new();
    let with_balance = |seq: &str, v: &str, balance: Value| {
        record(
            "INSERT",
            seq,
            key(&format!("i{seq}")),
            Value::Null,
            json!({"id": {"S": format!("i{seq}")}, "version": {"N": v}, "balance": balance}),
        )
    };
    let found = run.batch(vec![
        with_balance("100", "1", json!({"N": "-0"})),
        with_balance("200", "1", json!({"N": "-0.000"})),
        with_balance("300", "1", json!({"NULL": true})),
        with_balance("400", "1", json!({"S": "-5"})),
        with_balance(
            "500",
            "1",
            json!({"N": "-0.00000000000000000000000000000000000001"}),
        ),
        with_balance("600", "1", json!({"N": "0"})),
    ]);
    assert_eq!(found, rules(&["negative-balance"]));
    let mut run = Run::with_config(
        r#"{"defaults": {"bounds": [{"attribute": "qty", "min": 1, "max": "99.5", "rule": "qty-range", "severity": "warning"}]}}"#,
    );
    let qty = |seq: &str, q: &str| {
        record(
            "INSERT",
            seq,
            key(&format!("q{seq}")),
            Value::Null,
            json!({"id": {"S": "q"}, "version": {"N": "1"}, "qty": {"N": q}, "balance": {"N": "-1"}}),
        )
    };
    let found = run.findings(vec![
        qty("1", "0.99"),
        qty("2", "1"),
        qty("3", "99.5"),
        qty("4", "99.51"),
    ]);
    assert_eq!(
        found.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
        ["qty-range", "qty-range"]
    );
    assert!(
        found
            .iter()
            .all(|f| f.severity == ddb_stream_audit::Severity::Warning)
    );
}

#[test]
fn ttl_deletions_are_never_findings() {
    let mut run = Run::new();
    let mut ttl = record("REMOVE", "200", key("a"), acct("a", "3", "9"), Value::Null);
    ttl["userIdentity"] = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
    let found = run.batch(vec![
        record("INSERT", "100", key("a"), Value::Null, acct("a", "3", "9")),
        ttl.clone(),
        // An expired item created afresh starts its versions again: not a resurrection.
        record("INSERT", "300", key("a"), Value::Null, acct("a", "0", "1")),
    ]);
    assert_eq!(found, rules(&[]));
    // A TTL deletion whose OldImage disagrees with the history is not reported either.
    let mut run = Run::new();
    let mut odd_ttl = ttl;
    odd_ttl["dynamodb"]["OldImage"] = acct("a", "7", "12");
    let found = run.batch(vec![
        record("INSERT", "100", key("a"), Value::Null, acct("a", "3", "9")),
        odd_ttl,
    ]);
    assert_eq!(found, rules(&[]));
}

#[test]
fn items_are_table_and_full_key_with_numbers_normalized() {
    let mut run = Run::new();
    let other_table = |mut r: Value| {
        r["eventSourceARN"] = json!("arn:aws:dynamodb:eu-west-1:111122223333:table/Other/stream/x");
        r
    };
    let nkey = |n: &str| json!({"id": {"N": n}});
    let nacct = |n: &str, b: &str, v: &str| json!({"id": {"N": n}, "balance": {"N": b}, "version": {"N": v}});
    let found = run.batch(vec![
        record(
            "INSERT",
            "100",
            nkey("1"),
            Value::Null,
            nacct("1", "5", "1"),
        ),
        // Same key in another table: a different item, so no history-gap.
        other_table(record(
            "MODIFY",
            "200",
            nkey("1"),
            nacct("1", "9", "4"),
            nacct("1", "8", "5"),
        )),
        // `1.0` is the same key as `1`: this continues the first item cleanly.
        record(
            "MODIFY",
            "300",
            nkey("1.0"),
            nacct("1", "5", "1"),
            nacct("1", "4", "2"),
        ),
    ]);
    assert_eq!(found, rules(&[]));
}

#[test]
fn a_malformed_record_is_a_finding_and_the_batch_goes_on() {
    let mut run = Run::new();
    let mut bad_ns = record(
        "MODIFY",
        "200",
        key("a"),
        acct("a", "1", "1"),
        acct("a", "1", "2"),
    );
    bad_ns["dynamodb"]["NewImage"]["s"] = json!({"NS": ["1", "two"]});
    let found = run.findings(vec![
        record("INSERT", "100", key("a"), Value::Null, acct("a", "1", "1")),
        bad_ns.clone(),
        // After an unreadable record the item's content is unknown: no history-gap here.
        record(
            "MODIFY",
            "300",
            key("a"),
            acct("a", "7", "2"),
            acct("a", "7", "3"),
        ),
        record(
            "MODIFY",
            "400",
            key("b"),
            acct("b", "1", "1"),
            acct("b", "-1", "2"),
        ),
    ]);
    let ids: Vec<&str> = found.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(ids, ["malformed-record", "negative-balance"]);
    assert!(
        found[0].message.contains("NewImage.s[1]"),
        "{}",
        found[0].message
    );
    assert_eq!(found[0].sequence_number, "200");
    // Its re-delivery is recognized like any other.
    assert_eq!(run.batch(vec![bad_ns]), rules(&[]));
}

#[test]
fn findings_carry_the_contract_fields_and_stable_ids() {
    let config = r#"{"defaults": {"context_attributes": ["lastRequestId"]}}"#;
    let event = || {
        let mut new = acct("a", "-20", "2");
        new["lastRequestId"] = json!({"S": "req-42"});
        vec![record(
            "MODIFY",
            "49680000000000000001000000001",
            key("a"),
            acct("a", "10", "1"),
            new,
        )]
    };
    let first = Run::with_config(config).findings(event());
    let second = Run::with_config(config).findings(event());
    assert_eq!(first, second, "the same finding always gets the same id");
    let f = serde_json::to_value(&first[0]).unwrap();
    assert_eq!(f["rule"], "negative-balance");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["table"], "Accounts");
    assert_eq!(f["key"], json!({"id": "a"}));
    assert_eq!(f["sequence_number"], "49680000000000000001000000001");
    assert_eq!(f["event_id"], "ev-49680000000000000001000000001");
    assert_eq!(f["event_name"], "MODIFY");
    assert_eq!(f["evidence"]["balance"], json!({"old": "10", "new": "-20"}));
    assert_eq!(f["context"], json!({"lastRequestId": "req-42"}));
    assert_eq!(f["approximate_creation_time"], "2026-01-01T00:00:00Z");
    assert_eq!(f["stream_arn"], ARN);
    assert_eq!(f["id"].as_str().unwrap().len(), 32);
    assert!(f["message"].as_str().unwrap().contains("-20"));
}

#[test]
fn configured_version_attribute_exemptions_and_switches() {
    let config = r#"{"tables": {"Accounts": {"version": {"attribute": "rev"},
                     "version_exempt_attributes": ["lastSeenAt"], "disabled_rules": ["negative-balance"]}}}"#;
    let mut run = Run::with_config(config);
    let img = |rev: &str, seen: &str, balance: &str| json!({"id": {"S": "a"}, "rev": {"N": rev}, "lastSeenAt": {"N": seen}, "balance": {"N": balance}});
    let found = run.batch(vec![
        record(
            "MODIFY",
            "100",
            key("a"),
            img("3", "1", "5"),
            img("3", "2", "5"),
        ),
        record(
            "MODIFY",
            "200",
            key("a"),
            img("3", "2", "5"),
            img("4", "2", "-5"),
        ),
    ]);
    assert_eq!(found, rules(&[]));
}

#[test]
fn odd_metadata_does_not_cost_a_record_its_audit() {
    let mut run = Run::new();
    let mut odd = record(
        "MODIFY",
        "200",
        key("a"),
        acct("a", "1", "1"),
        acct("a", "-1", "2"),
    );
    odd["eventID"] = json!(17);
    odd["userIdentity"] = json!("someone");
    odd["dynamodb"]["ApproximateCreationDateTime"] = json!("2026-01-01T00:00:00Z");
    odd["dynamodb"]["SizeBytes"] = json!("big");
    odd["dynamodb"]["StreamViewType"] = json!(4);
    odd["somethingNew"] = json!({"nested": [1, 2]});
    let found = run.findings(vec![odd]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, "negative-balance");
    assert_eq!(found[0].event_id, "");
    assert_eq!(found[0].approximate_creation_time, None);
}

#[test]
fn binary_values_must_be_base64() {
    let mut run = Run::new();
    let mut bad = record("INSERT", "100", key("a"), Value::Null, acct("a", "1", "1"));
    bad["dynamodb"]["NewImage"]["blob"] = json!({"B": "!!!notb64"});
    let mut good = record("INSERT", "200", key("b"), Value::Null, acct("b", "1", "1"));
    good["dynamodb"]["NewImage"]["blob"] = json!({"B": "AAEqQQ=="});
    good["dynamodb"]["NewImage"]["blobs"] = json!({"BS": ["AAEqQQ==", "QSoBAA=="]});
    let found = run.findings(vec![bad, good]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, "malformed-record");
    assert!(
        found[0].message.contains("NewImage.blob"),
        "{}",
        found[0].message
    );
}

#[test]
fn one_finding_per_id_even_when_two_rules_share_a_name() {
    // The default bound and an invariant both named `negative-balance`.
    let config = r#"{"defaults": {"invariants": [{"name": "negative-balance", "expression": "NEW.balance >= 0"}]}}"#;
    let found = Run::with_config(config).batch(vec![record(
        "INSERT",
        "100",
        key("a"),
        Value::Null,
        acct("a", "-1", "1"),
    )]);
    assert_eq!(found, rules(&["negative-balance"]));
}

#[test]
fn different_unreadable_records_get_different_ids() {
    let first = Run::new().findings(vec![json!("first bad record")]);
    let second = Run::new().findings(vec![
        json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"x": {"N": "zz"}}}}),
    ]);
    assert_eq!(first[0].rule, "malformed-record");
    assert_eq!(second[0].rule, "malformed-record");
    assert_ne!(first[0].id, second[0].id);
    // An unparsable sequence number is still named in the finding.
    let mut bad_seq = record("INSERT", "100", key("a"), Value::Null, acct("a", "1", "1"));
    bad_seq["dynamodb"]["SequenceNumber"] = json!("12ab");
    let found = Run::new().findings(vec![bad_seq]);
    assert_eq!(found[0].sequence_number, "12ab");
}
