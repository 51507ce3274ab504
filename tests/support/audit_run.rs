//! Building stream records as AWS delivers them and auditing them batch after batch through the
//! library's public API, for the rule tests.

use ddb_stream_audit::source::decode_event;
use ddb_stream_audit::{AuditState, Auditor, Config, Finding};
use serde_json::{Value, json};

/// One NEW_AND_OLD_IMAGES record of the table named by `arn`; `old`/`new` are attribute-value
/// images or `null`.
pub fn record_of(arn: &str, event: &str, seq: &str, keys: Value, old: Value, new: Value) -> Value {
    let mut dynamodb = json!({"Keys": keys, "SequenceNumber": seq, "SizeBytes": 100,
                              "StreamViewType": "NEW_AND_OLD_IMAGES", "ApproximateCreationDateTime": 1767225600});
    if !old.is_null() {
        dynamodb["OldImage"] = old;
    }
    if !new.is_null() {
        dynamodb["NewImage"] = new;
    }
    json!({"eventID": format!("ev-{seq}"), "eventName": event, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
           "awsRegion": "eu-west-1", "eventSourceARN": arn, "dynamodb": dynamodb})
}

/// `{"id": {"S": id}}`.
pub fn key(id: &str) -> Value {
    json!({"id": {"S": id}})
}

/// An audit carried across batches, as `ddb-audit replay` carries it across files.
pub struct Run {
    pub auditor: Auditor,
    pub state: AuditState,
}

impl Run {
    pub fn new() -> Run {
        Run::with_config("{}")
    }

    pub fn with_config(config: &str) -> Run {
        Run {
            auditor: Auditor::new(Config::from_json(config).unwrap()),
            state: AuditState::new(),
        }
    }

    /// Audits one batch; returns the rule ids found, in order.
    pub fn batch(&mut self, records: Vec<Value>) -> Vec<String> {
        self.findings(records).into_iter().map(|f| f.rule).collect()
    }

    pub fn findings(&mut self, records: Vec<Value>) -> Vec<Finding> {
        let bytes = serde_json::to_vec(&json!({ "Records": records })).unwrap();
        let decoded = decode_event(&bytes).unwrap();
        self.auditor.audit_batch(&decoded, &mut self.state)
    }
}

/// Rule ids as `Run::batch` returns them.
pub fn rules(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}
