//! The Lambda function: one stream batch in, findings out to SNS, checkpoints to DynamoDB, and
//! the partial batch response that tells Lambda where to resume.
//!
//! The handler is generic over the two effects it has, [`FindingPublisher`] and [`StateStore`], so
//! tests run it against in-memory fakes or against the real AWS SDK talking to an emulator.
//!
//! Effects are ordered so that a crash at any point loses no finding:
//! load checkpoints and the shared (cross-item) state -> audit (pure) -> look up which finding
//! ids an earlier attempt already published -> publish the rest -> write their de-duplication
//! records -> write the shared state (conditional on its revision) -> write checkpoints, only up
//! to the first record not fully handled. A record is fully handled when each of its findings is
//! on the topic and recorded as published. Losing the shared state's revision check writes no
//! checkpoint and retries the whole batch against the fresh shared state. docs/LAMBDA.md explains
//! the duplicate window left.

pub mod error;
pub mod message;
pub mod metrics;
pub mod runtime;
pub mod settings;
pub mod sns;
pub mod state_store;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use tokio::time::Instant;

use crate::audit::finding::Finding;
use crate::audit::state::{AuditState, ItemState, SharedState};
use crate::audit::{Auditor, Outcome, Verdict};
use crate::change::ItemId;
use crate::source::{self, Record};
pub use error::{LambdaError, Retry};
use metrics::InvocationMetrics;

/// Delivers findings to subscribers.
pub trait FindingPublisher {
    /// Publishes every finding; result `i` says whether `findings[i]` reached the topic.
    fn publish(
        &self,
        findings: &[&Finding],
    ) -> impl Future<Output = Vec<Result<(), LambdaError>>> + Send;
}

/// What a conditional checkpoint write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Written,
    /// A newer checkpoint was already there (a concurrent or later invocation): left alone.
    Superseded,
}

/// The cross-item state as stored, and the revision it was stored under (0: never stored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredShared {
    pub state: SharedState,
    pub rev: u64,
}

/// What a conditional write of the shared state did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedSaved {
    /// Stored under the next revision.
    Written,
    /// The stored revision was no longer the one loaded: another invocation (another shard, or a
    /// retry) changed the shared state meanwhile. Nothing was written.
    Conflict,
}

/// Per-item checkpoints, the shared cross-item state, and the record of published findings,
/// kept between invocations.
pub trait StateStore {
    /// The checkpoints of `items` that exist.
    fn load_checkpoints(
        &self,
        items: &[&ItemId],
    ) -> impl Future<Output = Result<AuditState, LambdaError>> + Send;

    /// Which of `finding_ids` an earlier attempt already published.
    fn published(
        &self,
        finding_ids: &[&str],
    ) -> impl Future<Output = Result<HashSet<String>, LambdaError>> + Send;

    /// Records that `finding_ids` were published; result `i` is for `finding_ids[i]`.
    fn mark_published(
        &self,
        finding_ids: &[&str],
    ) -> impl Future<Output = Vec<Result<(), LambdaError>>> + Send;

    /// Writes checkpoints, each only if it is newer than the stored one.
    fn save_checkpoints(
        &self,
        checkpoints: &[(&ItemId, &ItemState)],
    ) -> impl Future<Output = Vec<Result<Saved, LambdaError>>> + Send;

    /// The shared state of the rules that span items, with its revision.
    fn load_shared(&self) -> impl Future<Output = Result<StoredShared, LambdaError>> + Send;

    /// Stores `state` as revision `expected_rev + 1`, only if the stored revision is still
    /// `expected_rev` (optimistic locking).
    fn save_shared(
        &self,
        state: &SharedState,
        expected_rev: u64,
    ) -> impl Future<Output = Result<SharedSaved, LambdaError>> + Send;
}

/// The result of one invocation.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// `batchItemFailures`: empty when every record was handled, else one entry holding the
    /// SequenceNumber where Lambda must resume.
    pub response: DynamoDbEventResponse,
    pub metrics: InvocationMetrics,
    /// Why the records from the resume point on were not handled.
    pub failure: Option<LambdaError>,
    /// Findings published by this invocation (ids), and those skipped as already published.
    pub published: Vec<String>,
    pub already_published: Vec<String>,
}

impl Invocation {
    /// The error to fail the whole invocation with: a failure no retry can fix (access denied,
    /// a missing topic), or no SequenceNumber to resume from. Lambda retries the batch either way,
    /// but an invocation error is what operators' alarms watch.
    pub fn invocation_error(&self) -> Option<&LambdaError> {
        let failure = self.failure.as_ref()?;
        (!failure.retry_can_help() || self.response.batch_item_failures.is_empty())
            .then_some(failure)
    }
}

/// The function's logic, independent of how events arrive and where effects go.
pub struct Handler<P, S> {
    auditor: Auditor,
    publisher: P,
    store: S,
    deadline_margin: Duration,
}

impl<P: FindingPublisher, S: StateStore> Handler<P, S> {
    pub fn new(auditor: Auditor, publisher: P, store: S, deadline_margin: Duration) -> Self {
        Handler {
            auditor,
            publisher,
            store,
            deadline_margin,
        }
    }

    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Handles one event payload. `deadline` is the invocation's deadline (none in tests that do
    /// not care). Never fails as a whole for bad input: a record that cannot be read is a
    /// `malformed-record` finding, and a payload that is not a Streams event is logged and
    /// acknowledged, since retrying the same bytes cannot make them readable.
    pub async fn handle(&self, payload: &[u8], deadline: Option<Instant>) -> Invocation {
        let records = match source::decode_event(payload) {
            Ok(records) => records,
            Err(error) => {
                tracing::error!(%error, bytes = payload.len(), "payload is not a DynamoDB Streams event; nothing to audit or retry");
                return Invocation::default();
            }
        };
        // The margin never takes more than a fifth of the time this invocation has: with Lambda's
        // default 3 s timeout a fixed 3 s margin would leave no time to work at all.
        let margin = deadline.map_or(self.deadline_margin, |d| {
            self.deadline_margin
                .min(d.saturating_duration_since(Instant::now()) / 5)
        });
        let stop_at = deadline.map(|d| d.checked_sub(margin).unwrap_or(d));
        // Finished work is worth saving: checkpoint writes may use part of the margin.
        let save_stop_at = deadline.map(|d| d.checked_sub(margin / 3).unwrap_or(d));
        let margin_ms = margin.as_millis() as u64;
        let mut run = Run::new(&records);

        if records.is_empty() {
            return run.finish(&records);
        }
        let items = distinct_items(&records);
        let loading = async {
            let (checkpoints, shared) = tokio::join!(
                self.store.load_checkpoints(&items),
                self.store.load_shared()
            );
            Ok::<_, LambdaError>((checkpoints?, shared?))
        };
        let (loaded, shared_rev) = match within(stop_at, "loading state", margin_ms, loading)
            .await
            .and_then(|r| r)
        {
            Ok((mut state, shared)) => {
                state.shared = shared.state;
                (state, shared.rev)
            }
            Err(error) => {
                run.fail_at(0, error);
                return run.finish(&records);
            }
        };

        // Audit everything once; the findings of record k are `outcomes[k]`.
        let mut state = loaded.clone();
        let outcomes: Vec<_> = records
            .iter()
            .map(|r| self.auditor.audit_record(r, &mut state))
            .collect();
        let findings: Vec<(usize, &Finding)> = outcomes
            .iter()
            .enumerate()
            .flat_map(|(k, o)| o.findings.iter().map(move |f| (k, f)))
            .collect();

        if !findings.is_empty() {
            self.deliver(&findings, &mut run, stop_at, margin_ms).await;
        }

        // Checkpoints as of just before the first record not fully handled.
        let cut = run.cut();
        let mut upto = loaded.clone();
        for record in &records[..cut] {
            self.auditor.audit_record(record, &mut upto);
        }
        // The shared state first: checkpoints say "these records are done", which is only true
        // once their contribution to the shared state is stored.
        if upto.shared != loaded.shared
            && let Err(error) = self
                .save_shared(&upto.shared, shared_rev, save_stop_at, margin_ms)
                .await
        {
            // No checkpoint: the retry re-audits every record against the fresh shared state.
            // Legs counted here are not counted twice (a leg is known by item and sequence
            // number), and findings published here are de-duplicated by id.
            run.fail_at(0, error);
            return self.finish(run, &records, &outcomes);
        }
        let changed: Vec<(&ItemId, &ItemState)> = upto
            .iter()
            .filter(|(item, s)| loaded.get(item) != Some(*s))
            .collect();
        if !changed.is_empty() {
            let results = match within(
                save_stop_at,
                "writing checkpoints",
                margin_ms,
                self.store.save_checkpoints(&changed),
            )
            .await
            {
                Ok(results) => results,
                Err(error) => vec![Err(error); changed.len()],
            };
            for ((item, _), result) in changed.iter().zip(results) {
                match result {
                    Ok(Saved::Written) => {}
                    Ok(Saved::Superseded) => {
                        tracing::info!(table = %item.table, "a newer checkpoint was already stored; kept it");
                    }
                    Err(error) => {
                        // The item's history must not skip these records: resume at its first one.
                        if let Some(k) = records[..cut]
                            .iter()
                            .position(|r| item_of(r) == Some(*item))
                        {
                            run.fail_at(k, error);
                        }
                    }
                }
            }
        }

        self.finish(run, &records, &outcomes)
    }

    /// Counts what was handled (the records before the resume point) and builds the response.
    fn finish(&self, mut run: Run<'_>, records: &[Record<'_>], outcomes: &[Outcome]) -> Invocation {
        for outcome in outcomes.iter().take(run.cut()) {
            match outcome.verdict {
                Verdict::Audited => run.invocation.metrics.records_audited += 1,
                Verdict::Redelivery => run.invocation.metrics.redeliveries_skipped += 1,
                Verdict::Malformed => run.invocation.metrics.malformed_records += 1,
            }
            for finding in &outcome.findings {
                if run.newly_published.contains(finding.id.as_str()) {
                    run.invocation.metrics.count_finding(finding);
                }
            }
        }
        run.finish(records)
    }

    /// Writes the shared state conditionally on the revision loaded; a lost condition is a
    /// retryable failure of the whole batch.
    async fn save_shared(
        &self,
        shared: &SharedState,
        expected_rev: u64,
        stop_at: Option<Instant>,
        margin_ms: u64,
    ) -> Result<(), LambdaError> {
        let saved = within(
            stop_at,
            "writing the shared state",
            margin_ms,
            self.store.save_shared(shared, expected_rev),
        )
        .await
        .and_then(|r| r)?;
        match saved {
            SharedSaved::Written => Ok(()),
            SharedSaved::Conflict => {
                tracing::warn!(
                    expected_rev,
                    "the shared state changed since it was loaded (a concurrent invocation); retrying the batch against the new one"
                );
                Err(LambdaError::SharedStateConflict { expected_rev })
            }
        }
    }

    /// Publishes the findings not already published, and records them as published. Marks the
    /// records whose findings did not all make it.
    async fn deliver<'f>(
        &self,
        findings: &[(usize, &'f Finding)],
        run: &mut Run<'f>,
        stop_at: Option<Instant>,
        margin_ms: u64,
    ) {
        let mut seen = HashSet::new();
        let ids: Vec<&str> = findings
            .iter()
            .map(|(_, f)| f.id.as_str())
            .filter(|id| seen.insert(*id))
            .collect();
        let already = match within(
            stop_at,
            "looking up published findings",
            margin_ms,
            self.store.published(&ids),
        )
        .await
        .and_then(|r| r)
        {
            Ok(already) => already,
            Err(error) => {
                run.fail_at(findings[0].0, error);
                return;
            }
        };
        let mut queued = HashSet::new();
        let mut to_publish: Vec<(usize, &Finding)> = Vec::new();
        for (k, finding) in findings {
            if already.contains(&finding.id) {
                run.invocation.already_published.push(finding.id.clone());
            } else if queued.insert(finding.id.as_str()) {
                to_publish.push((*k, finding));
            }
        }
        if to_publish.is_empty() {
            return;
        }
        let batch: Vec<&Finding> = to_publish.iter().map(|(_, f)| *f).collect();
        let results = match within(
            stop_at,
            "publishing findings",
            margin_ms,
            self.publisher.publish(&batch),
        )
        .await
        {
            Ok(results) => results,
            Err(error) => vec![Err(error); batch.len()],
        };
        let mut published: Vec<(usize, &Finding)> = Vec::new();
        for ((k, finding), result) in to_publish.iter().zip(results) {
            match result {
                Ok(()) => published.push((*k, finding)),
                Err(error) => {
                    run.invocation.metrics.publish_failures += 1;
                    tracing::warn!(finding_id = %finding.id, rule = %finding.rule, %error, retry_can_help = error.retry_can_help(), "finding not published");
                    run.fail_at(*k, error);
                }
            }
        }
        if published.is_empty() {
            return;
        }
        let published_ids: Vec<&str> = published.iter().map(|(_, f)| f.id.as_str()).collect();
        // Past the deadline margin the records are still worth marking: the findings are out.
        let marks = self.store.mark_published(&published_ids).await;
        for ((_, finding), mark) in published.iter().zip(marks) {
            tracing::info!(finding_id = %finding.id, rule = %finding.rule, severity = %finding.severity, table = %finding.table, "finding published");
            run.newly_published.insert(finding.id.as_str());
            run.invocation.published.push(finding.id.clone());
            if let Err(error) = mark {
                // The finding is on the topic, which is what matters: the record counts as
                // handled. Only a re-delivery of it (a failure earlier in the batch) would
                // publish it again; docs/LAMBDA.md lists this in the duplicate window.
                tracing::warn!(finding_id = %finding.id, %error, "finding published but its de-duplication record was not written");
            }
        }
    }
}

/// Book-keeping of one invocation: where the first record not fully handled is, and why.
struct Run<'f> {
    records: usize,
    cut: Option<(usize, LambdaError)>,
    newly_published: HashSet<&'f str>,
    invocation: Invocation,
    lag_ms: Option<u64>,
}

impl<'f> Run<'f> {
    fn new(records: &[Record<'_>]) -> Self {
        let newest = records
            .iter()
            .filter_map(|r| match r {
                Record::Change(c) => c.approximate_creation_time,
                Record::Malformed(m) => m.approximate_creation_time,
            })
            .filter(|t| t.is_finite())
            .fold(None, |max: Option<f64>, t| {
                Some(max.map_or(t, |m| m.max(t)))
            });
        let lag_ms = newest.map(|t| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            ((now - t).max(0.0) * 1000.0) as u64
        });
        Run {
            records: records.len(),
            cut: None,
            newly_published: HashSet::new(),
            invocation: Invocation::default(),
            lag_ms,
        }
    }

    fn fail_at(&mut self, k: usize, error: LambdaError) {
        if self.cut.as_ref().is_none_or(|(cut, _)| k < *cut) {
            self.cut = Some((k, error));
        }
    }

    fn cut(&self) -> usize {
        self.cut.as_ref().map_or(self.records, |(k, _)| *k)
    }

    fn finish(mut self, records: &[Record<'_>]) -> Invocation {
        self.invocation.metrics.stream_lag_ms = self.lag_ms;
        if let Some((cut, error)) = self.cut {
            // Lambda re-delivers everything after the reported SequenceNumber: a record before
            // the cut may stand in when the record at the cut has none (a malformed record).
            let resume = records
                .iter()
                .take(cut + 1)
                .rev()
                .find_map(|r| r.sequence_number());
            match resume {
                Some(seq) => {
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = Some(seq.as_str().to_owned());
                    self.invocation.response.batch_item_failures.push(failure);
                    tracing::warn!(resume_at = %seq, record_index = cut, %error, retry_can_help = error.retry_can_help(), "reporting a partial batch failure");
                }
                None => {
                    tracing::error!(record_index = cut, %error, "no SequenceNumber to resume from; failing the invocation so the whole batch is retried");
                }
            }
            self.invocation.failure = Some(error);
        }
        self.invocation
    }
}

fn item_of<'r>(record: &'r Record<'_>) -> Option<&'r ItemId> {
    match record {
        Record::Change(c) => Some(&c.item),
        Record::Malformed(m) => m.item.as_ref(),
    }
}

fn distinct_items<'r>(records: &'r [Record<'_>]) -> Vec<&'r ItemId> {
    let mut seen: HashMap<&ItemId, ()> = HashMap::new();
    records
        .iter()
        .filter_map(item_of)
        .filter(|item| seen.insert(item, ()).is_none())
        .collect()
}

/// Runs `work` unless `stop_at` passes first; then the work is abandoned as a deadline failure.
async fn within<T>(
    stop_at: Option<Instant>,
    phase: &'static str,
    margin_ms: u64,
    work: impl Future<Output = T>,
) -> Result<T, LambdaError> {
    match stop_at {
        None => Ok(work.await),
        Some(at) => tokio::time::timeout_at(at, work)
            .await
            .map_err(|_| LambdaError::Deadline { phase, margin_ms }),
    }
}
