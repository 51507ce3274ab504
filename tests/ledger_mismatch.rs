//! `ledger-mismatch` through the public API: the entry before and after the balance update, in
//! one batch and across batches, re-delivered records, the grace boundary in stream time, one
//! report per episode, the end-of-stream flush, a separate account table with debit amounts, and
//! the pending state as a serializable value.

use ddb_stream_audit::source::decode_event;
use ddb_stream_audit::{AuditState, Auditor, Config, Finding};
use serde_json::{Value, json};

/// Entries `ledger#...` and accounts `acct-...` share the table `Books`, as in the race lab.
const CONFIG: &str = r#"{"tables": {"Books": {"ledger": {
    "entry_key_attribute": "id", "entry_key_prefix": "ledger#", "account_attribute": "account",
    "account_key_attribute": "id", "amount_attribute": "amount", "grace_seconds": 60}}}}"#;

fn record(table: &str, event: &str, seq: &str, time: i64, old: Value, new: Value) -> Value {
    let image = if new.is_null() { &old } else { &new };
    let mut dynamodb = json!({"Keys": {"id": image["id"]}, "SequenceNumber": seq, "SizeBytes": 1,
                              "StreamViewType": "NEW_AND_OLD_IMAGES",
                              "ApproximateCreationDateTime": time});
    if !old.is_null() {
        dynamodb["OldImage"] = old;
    }
    if !new.is_null() {
        dynamodb["NewImage"] = new;
    }
    json!({"eventID": format!("ev-{seq}"), "eventName": event, "eventSource": "aws:dynamodb",
           "eventSourceARN": format!("arn:aws:dynamodb:r:1:table/{table}/stream/x"),
           "dynamodb": dynamodb})
}

/// A balance update of `acct` from `old` to `new`.
fn balance(seq: &str, acct: &str, old: i64, new: i64, time: i64) -> Value {
    let image = |b: i64| json!({"id": {"S": acct}, "balance": {"N": b.to_string()}});
    record("Books", "MODIFY", seq, time, image(old), image(new))
}

/// A new ledger entry of `amount` for `acct`.
fn entry(seq: &str, id: &str, acct: &str, amount: i64, time: i64) -> Value {
    let new = json!({"id": {"S": format!("ledger#{id}")}, "account": {"S": acct},
                     "amount": {"N": amount.to_string()}});
    record("Books", "INSERT", seq, time, Value::Null, new)
}

struct Run {
    auditor: Auditor,
    state: AuditState,
}

impl Run {
    fn new(config: &str) -> Run {
        Run {
            auditor: Auditor::new(Config::from_json(config).unwrap()),
            state: AuditState::new(),
        }
    }

    /// Audits one batch; returns this rule's findings (the hand-made images carry no version).
    fn batch(&mut self, records: Vec<Value>) -> Vec<Finding> {
        let bytes = serde_json::to_vec(&json!({ "Records": records })).unwrap();
        self.auditor
            .audit_batch(&decode_event(&bytes).unwrap(), &mut self.state)
            .into_iter()
            .filter(|f| f.rule == "ledger-mismatch")
            .collect()
    }

    fn finish(&mut self) -> Vec<Finding> {
        self.auditor.finish(&mut self.state)
    }

    /// The running difference of `acct` (`None`: in step, not held).
    fn difference(&self, acct: &str) -> Option<String> {
        let id = json!(["Books", {"id": acct}]).to_string();
        self.state
            .shared
            .ledgers
            .get(&id)
            .map(|p| p.difference.to_string())
    }
}

/// A record far later in stream time, of an unrelated account: only moves the clock.
fn tick(seq: &str, time: i64) -> Value {
    balance(seq, "acct-clock", 0, 0, time)
}

#[test]
fn entry_before_or_after_the_balance_update_in_one_batch_is_in_step() {
    let mut run = Run::new(CONFIG);
    let found = run.batch(vec![
        entry("100", "r1", "acct-1", -30, 1000),
        balance("101", "acct-1", 100, 70, 1000),
        balance("102", "acct-1", 70, 50, 1001),
        entry("103", "r2", "acct-1", -20, 1001),
    ]);
    assert!(found.is_empty(), "{found:?}");
    assert!(run.state.shared.ledgers.is_empty());
    assert!(run.finish().is_empty());
}

#[test]
fn entry_and_balance_update_in_separate_batches_in_either_order_are_in_step() {
    let mut run = Run::new(CONFIG);
    assert!(
        run.batch(vec![entry("100", "r1", "acct-1", -30, 1000)])
            .is_empty()
    );
    assert_eq!(run.difference("acct-1").as_deref(), Some("-30"));
    // The state between batches is a plain value (the Lambda stores it between invocations).
    let saved = serde_json::to_string(&run.state.shared).unwrap();
    run.state.shared = serde_json::from_str(&saved).unwrap();
    assert!(
        run.batch(vec![balance("200", "acct-1", 100, 70, 1030)])
            .is_empty()
    );
    assert_eq!(run.difference("acct-1"), None);
    // Balance first, entry in the next batch.
    assert!(
        run.batch(vec![balance("201", "acct-1", 70, 60, 1040)])
            .is_empty()
    );
    assert_eq!(run.difference("acct-1").as_deref(), Some("10"));
    assert!(
        run.batch(vec![entry("300", "r2", "acct-1", -10, 1050)])
            .is_empty()
    );
    assert_eq!(run.difference("acct-1"), None);
    assert!(run.batch(vec![tick("400", 5000)]).is_empty());
    assert!(run.finish().is_empty());
}

#[test]
fn redelivered_entries_and_balance_updates_count_once() {
    let mut run = Run::new(CONFIG);
    let e = entry("100", "r1", "acct-1", -30, 1000);
    let b = balance("200", "acct-1", 100, 70, 1001);
    assert!(run.batch(vec![e.clone(), b.clone()]).is_empty());
    // Lambda retries the batch, then delivers part of it again with new records.
    assert!(run.batch(vec![e.clone(), b.clone()]).is_empty());
    assert!(
        run.batch(vec![b, e, entry("101", "r2", "acct-1", -5, 1002)])
            .is_empty()
    );
    assert_eq!(run.difference("acct-1").as_deref(), Some("-5"));
    assert!(
        run.batch(vec![balance("201", "acct-1", 70, 65, 1003)])
            .is_empty()
    );
    assert_eq!(run.difference("acct-1"), None);
}

#[test]
fn a_lost_update_is_reported_once_after_the_grace_period() {
    let mut run = Run::new(CONFIG);
    // Two withdrawals of 20 read balance 100; both write 80. The second write changes nothing,
    // so real DynamoDB writes no record for it: one balance update, two entries.
    assert!(
        run.batch(vec![
            balance("200", "acct-1", 100, 80, 1000),
            entry("100", "r1", "acct-1", -20, 1000),
            entry("101", "r2", "acct-1", -20, 1001),
        ])
        .is_empty()
    );
    assert_eq!(run.difference("acct-1").as_deref(), Some("-20"));
    // In step again after the first entry (1000); out of step since the second (1001): at
    // 1061 the grace period has not passed yet.
    assert!(run.batch(vec![tick("300", 1061)]).is_empty());
    let found = run.batch(vec![tick("301", 1062)]);
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(f.severity.as_str(), "critical");
    assert_eq!(f.table, "Books");
    // The episode is the second entry alone (the first was matched by the balance update): no
    // balance update in it, so it is reported on the entry, naming the account in its evidence.
    assert_eq!(f.key["id"], "ledger#r2");
    assert_eq!(f.sequence_number, "101");
    assert_eq!(f.evidence["account"]["key"]["id"], "acct-1");
    assert_eq!(f.evidence["difference"], "-20");
    assert_eq!(f.evidence["ledger_sum"], "-20");
    assert_eq!(f.evidence["balance_moved"], "0");
    assert_eq!(f.evidence["entries"], 1);
    assert_eq!(f.evidence["recent"].as_array().unwrap().len(), 1);
    assert!(f.message.contains("more than 60s"), "{}", f.message);
    // Reported once: the account starts again in step; nothing at later times or at the end.
    assert_eq!(run.difference("acct-1"), None);
    assert!(run.batch(vec![tick("302", 9000)]).is_empty());
    assert!(run.finish().is_empty());
    // And the next movement of the account is audited from zero.
    assert!(
        run.batch(vec![
            entry("102", "r3", "acct-1", -10, 9001),
            balance("201", "acct-1", 80, 70, 9001)
        ])
        .is_empty()
    );
}

#[test]
fn the_grace_period_runs_from_when_the_difference_became_non_zero() {
    let mut run = Run::new(CONFIG);
    run.batch(vec![entry("100", "r1", "acct-1", -30, 1000)]);
    // Back in step at 1050, out again at 1055: the clock restarts at 1055.
    run.batch(vec![
        balance("200", "acct-1", 100, 70, 1050),
        entry("101", "r2", "acct-1", -10, 1055),
    ]);
    assert!(run.batch(vec![tick("300", 1115)]).is_empty());
    let found = run.batch(vec![tick("301", 1116)]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].evidence["difference"], "-10");
    assert_eq!(
        found[0].sequence_number, "101",
        "no balance update in the episode: on the entry"
    );
    assert_eq!(found[0].key["id"], "ledger#r2");
}

#[test]
fn accounts_out_of_step_at_the_end_are_reported_as_open() {
    let mut run = Run::new(CONFIG);
    run.batch(vec![
        entry("100", "r1", "acct-1", -30, 1000),
        balance("200", "acct-1", 100, 80, 1001),
        // Another account, moved in step: nothing.
        entry("101", "r2", "acct-2", 15, 1001),
        balance("210", "acct-2", 0, 15, 1001),
    ]);
    let found = run.finish();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].evidence["difference"], "-10");
    assert!(found[0].message.contains("end of the audited stream"));
    assert!(run.state.shared.ledgers.is_empty());
}

#[test]
fn opening_balances_entry_updates_and_removals() {
    let mut run = Run::new(CONFIG);
    let account = json!({"id": {"S": "acct-9"}, "balance": {"N": "1000"}});
    let e = json!({"id": {"S": "ledger#r1"}, "account": {"S": "acct-9"}, "amount": {"N": "-5"}});
    let e2 = json!({"id": {"S": "ledger#r1"}, "account": {"S": "acct-9"}, "amount": {"N": "-8"}});
    let found = run.batch(vec![
        // An opening balance is not a movement (insert_is_movement is off).
        record("Books", "INSERT", "100", 1000, Value::Null, account.clone()),
        record("Books", "INSERT", "200", 1000, Value::Null, e.clone()),
        // An entry corrected from -5 to -8 says the balance moves by 3 more.
        record("Books", "MODIFY", "201", 1000, e.clone(), e2.clone()),
        balance("101", "acct-9", 1000, 992, 1001),
        // Archiving an entry or closing an account moves nothing.
        record("Books", "REMOVE", "202", 1002, e2, Value::Null),
        record("Books", "REMOVE", "102", 1002, account, Value::Null),
    ]);
    assert!(found.is_empty(), "{found:?}");
    assert!(run.state.shared.ledgers.is_empty());
}

#[test]
fn a_separate_account_table_with_debit_amounts() {
    let config = r#"{"tables": {"Journal": {"ledger": {
        "account_attribute": "accountId", "account_table": "Cards", "account_key_attribute": "id",
        "amount_attribute": "debit", "balance_attribute": "available", "sign": "opposite",
        "insert_is_movement": true, "grace_seconds": 0}}}}"#;
    let mut run = Run::new(config);
    let journal = |seq: &str, debit: i64, time: i64| {
        record(
            "Journal",
            "INSERT",
            seq,
            time,
            Value::Null,
            json!({"id": {"S": format!("j-{seq}")}, "accountId": {"S": "card-1"},
                   "debit": {"N": debit.to_string()}}),
        )
    };
    let card = |seq: &str, old: Option<i64>, new: i64, time: i64| {
        let image = |v: i64| json!({"id": {"S": "card-1"}, "available": {"N": v.to_string()}});
        match old {
            None => record("Cards", "INSERT", seq, time, Value::Null, image(new)),
            Some(old) => record("Cards", "MODIFY", seq, time, image(old), image(new)),
        }
    };
    let found = run.batch(vec![
        journal("100", -50, 1000), // a credit of 50 opens the card
        card("200", None, 50, 1000),
        journal("101", 20, 1000),
        card("201", Some(50), 30, 1000),
    ]);
    assert!(found.is_empty(), "{found:?}");
    // Grace 0: a difference still there one second later is reported.
    run.batch(vec![journal("102", 10, 1001)]);
    let found = run.batch(vec![card("202", Some(30), 30, 1002)]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].table, "Journal");
    assert_eq!(found[0].evidence["account"]["table"], "Cards");
    assert_eq!(found[0].evidence["difference"], "-10");
}

#[test]
fn without_a_ledger_section_nothing_is_collected_and_disabling_silences_it() {
    let mut plain = Run::new("{}");
    plain.batch(vec![entry("100", "r1", "acct-1", -30, 1000)]);
    assert!(plain.state.shared.ledgers.is_empty());

    let disabled = CONFIG.replace(
        r#""grace_seconds": 60}"#,
        r#""grace_seconds": 60}, "disabled_rules": ["ledger-mismatch"]"#,
    );
    let mut run = Run::new(&disabled);
    run.batch(vec![entry("100", "r1", "acct-1", -30, 1000)]);
    assert!(run.finish().is_empty());
}
