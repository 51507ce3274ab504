//! Tallies what a run audited and found: the CLI's one-line stderr summary, the Lambda's metrics.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use crate::audit::finding::Finding;
use crate::audit::{Outcome, Verdict};
use crate::change::ItemId;
use crate::source::Record;

/// Counts for one run (all batches).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub records: usize,
    pub redeliveries: usize,
    pub malformed: usize,
    items: HashSet<ItemId>,
    pub findings_by_rule: BTreeMap<String, usize>,
}

impl Summary {
    pub fn add(&mut self, record: &Record<'_>, outcome: &Outcome) {
        self.records += 1;
        match outcome.verdict {
            Verdict::Redelivery => self.redeliveries += 1,
            Verdict::Malformed => self.malformed += 1,
            Verdict::Audited => {}
        }
        let item = match record {
            Record::Change(c) => Some(&c.item),
            Record::Malformed(m) => m.item.as_ref(),
        };
        if let Some(item) = item
            && !self.items.contains(item)
        {
            self.items.insert(item.clone());
        }
        for finding in &outcome.findings {
            self.add_finding(finding);
        }
    }

    /// Counts findings that belong to no record (the end-of-stream flush).
    pub fn add_findings(&mut self, findings: &[Finding]) {
        for finding in findings {
            self.add_finding(finding);
        }
    }

    fn add_finding(&mut self, finding: &Finding) {
        *self
            .findings_by_rule
            .entry(finding.rule.clone())
            .or_default() += 1;
    }

    pub fn items(&self) -> usize {
        self.items.len()
    }

    pub fn findings(&self) -> usize {
        self.findings_by_rule.values().sum()
    }
}

/// `audited 12 records (1 re-delivery skipped, 0 malformed) across 4 items: 3 findings (lost-update 1, negative-balance 2)`
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        write!(
            f,
            "audited {} ({} skipped, {}) across {}: {}",
            plural(self.records, "record", "records"),
            plural(self.redeliveries, "re-delivery", "re-deliveries"),
            plural(self.malformed, "malformed", "malformed"),
            plural(self.items(), "item", "items"),
            plural(self.findings(), "finding", "findings"),
        )?;
        if !self.findings_by_rule.is_empty() {
            let by_rule: Vec<String> = self
                .findings_by_rule
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            write!(f, " ({})", by_rule.join(", "))?;
        }
        Ok(())
    }
}
