//! The pure audit core: per-item histories and rules over decoded records.
//!
//! No I/O, no async, no clock, no AWS types: records and the checkpoints of earlier batches come
//! in as values; findings and the new checkpoints go out as values.

pub mod finding;
pub mod report;
pub mod rules;
pub mod state;

use crate::change::{Change, EventName};
use crate::config::Config;
use crate::source::{MalformedRecord, Record};
use finding::Finding;
use state::{AuditState, ImageState, ItemState};

/// What auditing one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Checked against its item's history; the checkpoint moved to it.
    Audited,
    /// Not newer than the item's checkpoint: a re-delivery, ignored entirely.
    Redelivery,
    /// Could not be interpreted; reported as `malformed-record`.
    Malformed,
}

/// The outcome of one record.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
}

/// Applies the configured rules to records, one item history at a time.
#[derive(Debug, Clone, Default)]
pub struct Auditor {
    config: Config,
}

impl Auditor {
    pub fn new(config: Config) -> Auditor {
        Auditor { config }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Audits one record against `state` and moves the item's checkpoint past it.
    pub fn audit_record(&self, record: &Record<'_>, state: &mut AuditState) -> Outcome {
        match record {
            Record::Change(change) => self.audit_change(change, state),
            Record::Malformed(malformed) => self.audit_malformed(malformed, state),
        }
    }

    /// Audits records in order; returns every finding in record order.
    pub fn audit_batch(&self, records: &[Record<'_>], state: &mut AuditState) -> Vec<Finding> {
        records
            .iter()
            .flat_map(|r| self.audit_record(r, state).findings)
            .collect()
    }

    fn audit_change(&self, change: &Change<'_>, state: &mut AuditState) -> Outcome {
        let previous = state.get(&change.item);
        if previous.is_some_and(|p| p.sequence_number >= change.sequence_number) {
            return Outcome {
                verdict: Verdict::Redelivery,
                findings: Vec::new(),
            };
        }
        let table_rules = self.config.for_table(&change.table);
        // Stream time moved on: transfers and out-of-step ledgers past their grace period settle
        // first (they are older).
        let mut findings = match rules::unbalanced_transfer::stream_seconds(change) {
            Some(now) if !state.shared.transfers.is_empty() => rules::unbalanced_transfer::settle(
                &self.config,
                &mut state.shared.transfers,
                Some(now),
            ),
            _ => Vec::new(),
        };
        if let Some(now) = rules::unbalanced_transfer::stream_seconds(change)
            && !state.shared.ledgers.is_empty()
        {
            findings.extend(rules::ledger_mismatch::settle(
                &self.config,
                &mut state.shared.ledgers,
                Some(now),
            ));
        }
        let previous = state.get(&change.item);
        // A deletion by Time to Live is DynamoDB's own doing, never an application race.
        if !change.ttl_delete {
            let context = rules::Context {
                change,
                rules: table_rules,
                previous,
            };
            rules::check_all(&context, &mut findings);
            if let Some(transfer) = &table_rules.transfer {
                rules::unbalanced_transfer::record_leg(
                    change,
                    transfer,
                    &mut state.shared.transfers,
                );
            }
            rules::ledger_mismatch::record(change, &self.config, &mut state.shared.ledgers);
        }
        let previous = state.get(&change.item);
        let mut next = next_state(change, &table_rules.version_attribute, previous);
        next.applied_requests = rules::duplicate_request::remembered(
            change,
            table_rules.duplicate_request.as_ref(),
            previous,
        );
        state.insert(change.item.clone(), next);
        Outcome {
            verdict: Verdict::Audited,
            findings: distinct_by_id(findings),
        }
    }

    /// Ends the audited stream: settles every pending transfer and out-of-step ledger and
    /// reports those still unbalanced. `ddb-audit replay` calls it after its last file; the
    /// Lambda never does (its stream has no end).
    pub fn finish(&self, state: &mut AuditState) -> Vec<Finding> {
        let mut findings =
            rules::unbalanced_transfer::settle(&self.config, &mut state.shared.transfers, None);
        findings.extend(rules::ledger_mismatch::settle(
            &self.config,
            &mut state.shared.ledgers,
            None,
        ));
        findings
    }

    fn audit_malformed(&self, malformed: &MalformedRecord, state: &mut AuditState) -> Outcome {
        let mut verdict = Verdict::Malformed;
        if let (Some(item), Some(sequence_number)) = (&malformed.item, &malformed.sequence_number) {
            let previous = state.get(item);
            if previous.is_some_and(|p| p.sequence_number >= *sequence_number) {
                verdict = Verdict::Redelivery;
            } else {
                // The content after this record is unknown: the next record has nothing to be
                // compared with, exactly like the first record of an item.
                let removed_version = previous.and_then(|p| p.removed_version);
                let applied_requests = previous
                    .map(|p| p.applied_requests.clone())
                    .unwrap_or_default();
                state.insert(
                    item.clone(),
                    ItemState {
                        sequence_number: sequence_number.clone(),
                        image: ImageState::Unknown,
                        removed_version,
                        applied_requests,
                    },
                );
            }
        }
        let findings = match verdict {
            Verdict::Redelivery => Vec::new(),
            _ => {
                let table = malformed.table.as_deref().unwrap_or("");
                let rules = self.config.for_table(table);
                if rules.enabled(rules::malformed_record::RULE) {
                    vec![rules::malformed_record::finding(malformed, rules)]
                } else {
                    Vec::new()
                }
            }
        };
        Outcome { verdict, findings }
    }
}

/// Two rules with the same id on the same record (a bound and an invariant both named
/// `negative-balance`, say) are one finding: the id is the identity subscribers de-duplicate on.
fn distinct_by_id(findings: Vec<Finding>) -> Vec<Finding> {
    if findings.len() < 2 {
        return findings;
    }
    let mut seen = std::collections::HashSet::new();
    findings
        .into_iter()
        .filter(|f| seen.insert(f.id.clone()))
        .collect()
}

fn next_state(
    change: &Change<'_>,
    version_attribute: &str,
    previous: Option<&ItemState>,
) -> ItemState {
    let version_of = |image: &crate::value::Image<'_>| {
        image
            .get(version_attribute)
            .and_then(|v| v.as_number())
            .map(|n| n.value)
    };
    let image = match change.event_name {
        EventName::Remove => ImageState::Absent,
        EventName::Insert | EventName::Modify => match &change.new_image {
            Some(new) => ImageState::Present {
                digest: new.digest(),
                version: version_of(new),
            },
            None => ImageState::Unknown,
        },
    };
    let removed_version = match change.event_name {
        // An expiry by Time to Live ends the item's life: DynamoDB deleted it, no writer raced
        // anyone, and an item created afresh under the same key may start its versions again.
        EventName::Remove if change.ttl_delete => None,
        EventName::Remove => change.old_image.as_ref().and_then(version_of),
        _ => previous.and_then(|p| p.removed_version),
    };
    ItemState {
        sequence_number: change.sequence_number.clone(),
        image,
        removed_version,
        applied_requests: Vec::new(),
    }
}
