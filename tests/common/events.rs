//! Builds DynamoDB Streams events as AWS delivers them, for tests that need specific histories.

use serde_json::{Value, json};

pub const REGION: &str = "us-east-1";

pub fn stream_arn(table: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:123456789012:table/{table}/stream/2024-01-01T00:00:00.000")
}

/// An account image: `{id: S, version: N, balance: N}`.
pub fn account(id: &str, version: i64, balance: i64) -> Value {
    json!({"id": {"S": id}, "version": {"N": version.to_string()}, "balance": {"N": balance.to_string()}})
}

/// One stream record; `seq` becomes a 28-digit SequenceNumber like AWS's (see [`seq`]).
pub fn record(
    table: &str,
    seq: u64,
    name: &str,
    id: &str,
    old: Option<Value>,
    new: Option<Value>,
) -> Value {
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": 1_700_000_000 + seq / 100,
        "Keys": {"id": {"S": id}},
        "SequenceNumber": self::seq(seq),
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(old) = old {
        dynamodb["OldImage"] = old;
    }
    if let Some(new) = new {
        dynamodb["NewImage"] = new;
    }
    json!({
        "eventID": format!("ev-{seq}"),
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "eventSourceARN": stream_arn(table),
        "dynamodb": dynamodb,
    })
}

pub fn event(records: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "Records": records })).expect("event JSON")
}

/// The sequence number as a record carries it: AWS's have 21 to 40 digits and no leading zero.
pub fn seq(n: u64) -> String {
    format!("44215845{n:020}")
}
