//! `duplicate-request` through the public API: across batches, not for re-deliveries or for
//! changes that did not move a watched attribute, and only within the remembered window.

mod support;

use serde_json::{Value, json};
use support::audit_run::{Run, key, record_of, rules};

fn record(event: &str, seq: &str, keys: Value, old: Value, new: Value) -> Value {
    record_of(
        "arn:aws:dynamodb:eu-west-1:1:table/Purses/stream/x",
        event,
        seq,
        keys,
        old,
        new,
    )
}

fn purse(id: &str, balance: &str, version: &str, request: &str) -> Value {
    json!({"id": {"S": id}, "balance": {"N": balance}, "version": {"N": version},
           "lastRequestId": {"S": request}})
}

const DUPLICATE_REQUEST: &str = r#"{"defaults": {"duplicate_request": {"request_attribute": "lastRequestId", "watched_attributes": ["balance"], "remember": 2}}}"#;

#[test]
fn duplicate_request_across_batches_but_not_for_redeliveries_or_unmoved_balances() {
    let mut run = Run::with_config(DUPLICATE_REQUEST);
    let first = record(
        "MODIFY",
        "100",
        key("p"),
        purse("p", "100", "1", "r0"),
        purse("p", "70", "2", "r1"),
    );
    assert_eq!(run.batch(vec![first.clone()]), rules(&[]));
    // A re-delivery of the same record is not a second application.
    assert_eq!(run.batch(vec![first]), rules(&[]));
    // A change that does not move the balance keeps the stale id: not an application.
    let rename = record(
        "MODIFY",
        "200",
        key("p"),
        purse("p", "70", "2", "r1"),
        purse("p", "70.0", "3", "r1"),
    );
    assert_eq!(run.batch(vec![rename]), rules(&[]));
    // The retry moves the balance again under the same id, in a later batch.
    let retry = record(
        "MODIFY",
        "300",
        key("p"),
        purse("p", "70", "3", "r1"),
        purse("p", "40", "4", "r1"),
    );
    let found = run.findings(vec![retry]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, "duplicate-request");
    assert_eq!(found[0].evidence["first_applied_sequence_number"], "100");
    assert_eq!(found[0].evidence["lastRequestId"], "r1");
}

#[test]
fn duplicate_request_remembers_only_the_configured_number_of_requests() {
    let mut run = Run::with_config(DUPLICATE_REQUEST);
    let found = run.batch(vec![
        record(
            "INSERT",
            "100",
            key("q"),
            Value::Null,
            purse("q", "10", "1", "a"),
        ),
        record(
            "MODIFY",
            "200",
            key("q"),
            purse("q", "10", "1", "a"),
            purse("q", "20", "2", "b"),
        ),
        record(
            "MODIFY",
            "300",
            key("q"),
            purse("q", "20", "2", "b"),
            purse("q", "30", "3", "c"),
        ),
        // `a` has been forgotten (remember: 2): no finding; `b` has not.
        record(
            "MODIFY",
            "400",
            key("q"),
            purse("q", "30", "3", "c"),
            purse("q", "40", "4", "a"),
        ),
        record(
            "MODIFY",
            "500",
            key("q"),
            purse("q", "40", "4", "a"),
            purse("q", "50", "5", "c"),
        ),
    ]);
    assert_eq!(found, rules(&["duplicate-request"]));
    // Other tables without the setting never fire it.
    let mut off = Run::new();
    let found = off.batch(vec![
        record(
            "MODIFY",
            "100",
            key("z"),
            purse("z", "1", "1", "x"),
            purse("z", "2", "2", "x"),
        ),
        record(
            "MODIFY",
            "200",
            key("z"),
            purse("z", "2", "2", "x"),
            purse("z", "3", "3", "x"),
        ),
    ]);
    assert_eq!(found, rules(&[]));
}
