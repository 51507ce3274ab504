//! `unbalanced-transfer` through the public API: legs in separate batches and items, re-delivered
//! legs, the grace period in stream time, the end-of-stream flush, and pending transfers as a
//! serializable value.

use ddb_stream_audit::source::decode_event;
use ddb_stream_audit::{AuditState, Auditor, Config, Finding};
use serde_json::{Value, json};

const CONFIG: &str = r#"{"defaults": {"transfer": {"transfer_attribute": "transferId", "conserved_attribute": "balance", "grace_seconds": 60}}}"#;

fn leg(seq: &str, id: &str, old: i64, new: i64, transfer: &str, time: i64) -> Value {
    let image = |balance: i64, t: Option<&str>| {
        let mut i = json!({"id": {"S": id}, "balance": {"N": balance.to_string()}});
        if let Some(t) = t {
            i["transferId"] = json!({ "S": t });
        }
        i
    };
    json!({"eventID": format!("ev-{seq}"), "eventName": "MODIFY", "eventSource": "aws:dynamodb",
           "eventSourceARN": "arn:aws:dynamodb:r:1:table/Vaults/stream/x",
           "dynamodb": {"Keys": {"id": {"S": id}}, "SequenceNumber": seq, "SizeBytes": 1,
                        "StreamViewType": "NEW_AND_OLD_IMAGES", "ApproximateCreationDateTime": time,
                        "OldImage": image(old, None), "NewImage": image(new, Some(transfer))}})
}

fn batch(auditor: &Auditor, state: &mut AuditState, records: Vec<Value>) -> Vec<Finding> {
    let bytes = serde_json::to_vec(&json!({ "Records": records })).unwrap();
    // Only this rule: the hand-made images carry no version.
    auditor
        .audit_batch(&decode_event(&bytes).unwrap(), state)
        .into_iter()
        .filter(|f| f.rule == "unbalanced-transfer")
        .collect()
}

#[test]
fn legs_in_separate_batches_and_items_balance() {
    let auditor = Auditor::new(Config::from_json(CONFIG).unwrap());
    let mut state = AuditState::new();
    assert!(
        batch(
            &auditor,
            &mut state,
            vec![leg("100", "a", 100, 60, "t1", 1000)]
        )
        .is_empty()
    );
    assert_eq!(state.shared.transfers.len(), 1);
    assert!(
        batch(
            &auditor,
            &mut state,
            vec![leg("200", "b", 0, 40, "t1", 1010)]
        )
        .is_empty()
    );
    // Past the grace period a balanced transfer settles silently.
    assert!(
        batch(
            &auditor,
            &mut state,
            vec![leg("300", "c", 5, 6, "other", 2000)]
        )
        .is_empty()
    );
    assert!(!state.shared.transfers.contains_key("t1"));
}

#[test]
fn a_redelivered_leg_counts_once_and_an_unbalanced_transfer_is_reported_once() {
    let auditor = Auditor::new(Config::from_json(CONFIG).unwrap());
    let mut state = AuditState::new();
    let debit = leg("100", "a", 100, 60, "t2", 1000);
    batch(&auditor, &mut state, vec![debit.clone()]);
    // Re-delivered in the next batch: not a second debit.
    batch(
        &auditor,
        &mut state,
        vec![debit, leg("200", "b", 0, 30, "t2", 1010)],
    );
    assert_eq!(state.shared.transfers["t2"].legs.len(), 2);
    assert_eq!(state.shared.transfers["t2"].sum.to_string(), "-10");
    // Not yet due at 1060 (grace is 60 s after the first leg at 1000).
    assert!(batch(&auditor, &mut state, vec![leg("300", "c", 1, 2, "x", 1060)]).is_empty());
    let found = batch(&auditor, &mut state, vec![leg("400", "c", 2, 3, "y", 1061)]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, "unbalanced-transfer");
    assert_eq!(found[0].sequence_number, "200", "reported on the last leg");
    assert_eq!(found[0].evidence["sum"], "-10");
    // Reported once: nothing more, even at the end of the stream for it.
    assert!(
        auditor
            .finish(&mut state)
            .iter()
            .all(|f| f.evidence["transfer_id"] != "t2")
    );
}

#[test]
fn open_transfers_are_reported_at_the_end_and_survive_serialization() {
    let auditor = Auditor::new(Config::from_json(CONFIG).unwrap());
    let mut state = AuditState::new();
    batch(
        &auditor,
        &mut state,
        vec![leg("100", "a", 100, 50, "t3", 1000)],
    );
    let json = serde_json::to_string(&state.shared).unwrap();
    let mut restored = AuditState::new();
    restored.shared = serde_json::from_str(&json).unwrap();
    assert_eq!(restored.shared.transfers, state.shared.transfers);
    let found = auditor.finish(&mut restored);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].message.contains("still open"),
        "{}",
        found[0].message
    );
    assert!(restored.shared.transfers.is_empty());
    // Without a `transfer` setting nothing is collected.
    let mut plain = AuditState::new();
    batch(
        &Auditor::default(),
        &mut plain,
        vec![leg("100", "a", 100, 50, "t3", 1000)],
    );
    assert!(plain.shared.transfers.is_empty());
}
