//! Findings: plain data with a deterministic id, in the shape CONTRACT.md fixes. Turning them
//! into bytes (JSON line, SNS message, text listing) is the sinks' job.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How urgent a finding is; subscribers route on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// One invariant break, exposed by one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Deterministic from (rule, table, key, sequence_number): the same finding always has the
    /// same id, which is what makes de-duplication across retries possible.
    pub id: String,
    pub rule: String,
    pub severity: Severity,
    pub table: String,
    /// Key attribute name -> plain value (N as its decimal string, B as base64).
    pub key: JsonMap,
    pub sequence_number: String,
    pub event_id: String,
    pub event_name: String,
    /// One sentence a person on call understands without the rest.
    pub message: String,
    /// The old and new values of the attributes the rule looked at.
    pub evidence: JsonMap,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_creation_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<JsonMap>,
}

/// The finding id: 32 hex digits of a 128-bit xxh3 over a length-prefixed encoding of
/// (rule, table, canonical key, sequence number). Key attributes are sorted by name so the id
/// does not depend on the order `Keys` was written in.
pub fn finding_id(rule: &str, table: &str, key: &JsonMap, sequence_number: &str) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut field = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(b"ddb-stream-audit/finding/v1");
    field(rule.as_bytes());
    field(table.as_bytes());
    let sorted: BTreeMap<&String, &serde_json::Value> = key.iter().collect();
    for (name, value) in sorted {
        field(name.as_bytes());
        field(value.to_string().as_bytes());
    }
    field(sequence_number.as_bytes());
    format!("{:032x}", hasher.digest128())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&str, &str)]) -> JsonMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect()
    }

    #[test]
    fn ids_are_deterministic_and_distinguish_every_part() {
        let k = key(&[("pk", "a"), ("sk", "b")]);
        let base = finding_id("lost-update", "T", &k, "100");
        assert_eq!(
            base,
            finding_id("lost-update", "T", &key(&[("sk", "b"), ("pk", "a")]), "100")
        );
        assert_eq!(base.len(), 32);
        assert_ne!(base, finding_id("version-gap", "T", &k, "100"));
        assert_ne!(base, finding_id("lost-update", "U", &k, "100"));
        assert_ne!(
            base,
            finding_id("lost-update", "T", &key(&[("pk", "a"), ("sk", "c")]), "100")
        );
        assert_ne!(base, finding_id("lost-update", "T", &k, "101"));
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        assert_ne!(
            finding_id("ab", "c", &k, "1"),
            finding_id("a", "bc", &k, "1")
        );
    }
}
