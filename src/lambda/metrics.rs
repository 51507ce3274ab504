//! CloudWatch Embedded Metric Format lines for one invocation: CloudWatch Logs turns these JSON
//! lines into metrics without any API call, so metrics cost no latency and cannot fail the batch.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use crate::audit::finding::{Finding, Severity};

pub const NAMESPACE: &str = "DdbStreamAudit";

/// What one invocation did, counted as it goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvocationMetrics {
    pub records_audited: u64,
    pub redeliveries_skipped: u64,
    pub malformed_records: u64,
    /// Findings newly found in this invocation, by (rule, severity); re-found findings that were
    /// already published by an earlier attempt are not counted again.
    pub findings: BTreeMap<(String, Severity), u64>,
    /// Findings SNS did not accept (they are retried through the partial batch response).
    pub publish_failures: u64,
    /// Now minus the newest ApproximateCreationDateTime in the batch, when it had one.
    pub stream_lag_ms: Option<u64>,
}

impl InvocationMetrics {
    pub fn count_finding(&mut self, finding: &Finding) {
        *self
            .findings
            .entry((finding.rule.clone(), finding.severity))
            .or_default() += 1;
    }

    /// The EMF lines: one with the invocation counters (no dimension), and one per
    /// (rule, severity) with `Findings` aggregated both by `Severity` and by `Rule`.
    pub fn emf_lines(&self, timestamp_ms: u64) -> Vec<String> {
        let mut lines = Vec::with_capacity(1 + self.findings.len());
        let mut metrics = vec![
            metric("RecordsAudited", "Count"),
            metric("RedeliveriesSkipped", "Count"),
            metric("MalformedRecords", "Count"),
            metric("PublishFailures", "Count"),
        ];
        let mut totals = json!({
            "RecordsAudited": self.records_audited,
            "RedeliveriesSkipped": self.redeliveries_skipped,
            "MalformedRecords": self.malformed_records,
            "PublishFailures": self.publish_failures,
        });
        if let Some(lag) = self.stream_lag_ms {
            metrics.push(metric("StreamLagMs", "Milliseconds"));
            totals["StreamLagMs"] = json!(lag);
        }
        totals["_aws"] = envelope(timestamp_ms, json!([[]]), metrics);
        lines.push(totals.to_string());
        for ((rule, severity), count) in &self.findings {
            let line = json!({
                "_aws": envelope(
                    timestamp_ms,
                    json!([["Severity"], ["Rule"]]),
                    vec![metric("Findings", "Count")],
                ),
                "Severity": severity.as_str(),
                "Rule": rule,
                "Findings": count,
            });
            lines.push(line.to_string());
        }
        lines
    }
}

fn metric(name: &str, unit: &str) -> Json {
    json!({ "Name": name, "Unit": unit })
}

fn envelope(timestamp_ms: u64, dimensions: Json, metrics: Vec<Json>) -> Json {
    json!({
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [{
            "Namespace": NAMESPACE,
            "Dimensions": dimensions,
            "Metrics": metrics,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_name_every_metric_with_its_value() {
        let mut m = InvocationMetrics {
            records_audited: 7,
            redeliveries_skipped: 2,
            malformed_records: 1,
            publish_failures: 0,
            stream_lag_ms: Some(1500),
            ..Default::default()
        };
        m.findings
            .insert(("lost-update".to_owned(), Severity::Critical), 3);
        let lines = m.emf_lines(1_700_000_000_000);
        assert_eq!(lines.len(), 2);
        let totals: Json = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            totals["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            NAMESPACE
        );
        assert_eq!(totals["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let names: Vec<&str> = totals["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "RecordsAudited",
                "RedeliveriesSkipped",
                "MalformedRecords",
                "PublishFailures",
                "StreamLagMs"
            ]
        );
        for name in names {
            assert!(totals[name].is_u64(), "{name} has a value");
        }
        let findings: Json = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(findings["Findings"], 3);
        assert_eq!(findings["Severity"], "critical");
        assert_eq!(findings["Rule"], "lost-update");
        assert_eq!(
            findings["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Severity"], ["Rule"]])
        );
    }

    #[test]
    fn no_lag_metric_without_timestamps() {
        let lines = InvocationMetrics::default().emf_lines(0);
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].contains("StreamLagMs"));
    }
}
