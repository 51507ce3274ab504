//! The live job behind `ddb-audit scan`: reads a table's stream through the DynamoDB Streams API
//! (every shard, parents before children, until caught up) and audits it exactly as `replay` does.
//!
//! Each GetRecords page is written as a Lambda event ([`event_json`]) and handed to the same
//! [`Replay`] that audits captured files, so the decoder, the auditor, the state carried between
//! batches, the sinks and the summary are one code path: a stream scanned live and the same
//! records replayed from a file give the same findings.

pub mod event_json;
pub mod progress;
pub mod shards;
pub mod stream;

use std::collections::HashSet;

use crate::change::SequenceNumber;
use crate::replay::{Replay, ReplayError};
use crate::sink::FindingSink;
use progress::{Progress, ScanStatus};
use shards::{ShardInfo, parents_first};
pub use stream::Clients;
use stream::{Page, Start};

pub use stream::AwsError;

/// Why a scan stopped. Each names the table, stream or shard at fault; the source is the SDK's
/// error (service error, credentials, network) with its own detail.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("table {table}: DescribeTable failed")]
    DescribeTable {
        table: String,
        #[source]
        source: AwsError,
    },
    #[error("table {table} has no stream: enable DynamoDB Streams on it (NEW_AND_OLD_IMAGES)")]
    NoStream { table: String },
    #[error("stream {stream_arn}: DescribeStream failed")]
    DescribeStream {
        stream_arn: String,
        #[source]
        source: AwsError,
    },
    #[error("stream {stream_arn}, shard {shard_id}: GetShardIterator failed")]
    ShardIterator {
        stream_arn: String,
        shard_id: String,
        #[source]
        source: AwsError,
    },
    #[error("stream {stream_arn}, shard {shard_id}: GetRecords failed")]
    GetRecords {
        stream_arn: String,
        shard_id: String,
        #[source]
        source: AwsError,
    },
    #[error(
        "stream {stream_arn}, shard {shard_id}: the shard iterator expired or hit trimmed data {attempts} times in a row"
    )]
    IteratorKeepsFailing {
        stream_arn: String,
        shard_id: String,
        attempts: usize,
    },
    #[error(transparent)]
    Audit(#[from] ReplayError),
}

/// Where a scan starts in each shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartingPosition {
    /// The oldest record still in the stream (the last 24 hours): the whole audited history.
    #[default]
    TrimHorizon,
    /// The tip of each open shard: only records written while the scan runs. Closed shards are
    /// skipped; shards that appear during the scan are read from their start.
    Latest,
}

/// What to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub table: String,
    pub from: StartingPosition,
}

/// What a finished scan read (the audit's own tallies are in [`Replay::summary`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub stream_arn: String,
    pub shards: usize,
    pub pages: usize,
}

/// An open shard at its tip answers with empty pages (DynamoDB Streams has no "behind latest"
/// figure); this many in a row mean the scan has caught up with it.
const EMPTY_PAGES_AT_TIP: usize = 3;
/// Iterator expiries or trimmed-data answers in a row before giving up on a shard.
const MAX_RESTARTS: usize = 3;

/// Reads the table's stream and audits every record into `replay`, findings to `sink`.
pub async fn scan(
    clients: &Clients,
    options: &ScanOptions,
    replay: &mut Replay,
    sink: &mut dyn FindingSink,
    progress: &mut dyn Progress,
) -> Result<ScanReport, ScanError> {
    let stream_arn = clients.stream_arn(&options.table).await?;
    let mut job = Job {
        clients,
        stream_arn: &stream_arn,
        replay,
        sink,
        progress,
        status: ScanStatus::default(),
        pages: 0,
    };
    let mut done: HashSet<String> = HashSet::new();
    let mut first_pass = true;
    // Shards can split or rotate while we read: list again until a listing brings nothing new.
    loop {
        let listed = clients.shards(&stream_arn).await?;
        job.status.shards_known = listed.len().max(done.len());
        let pending: Vec<ShardInfo> = parents_first(listed)
            .into_iter()
            .filter(|s| !done.contains(&s.id))
            .collect();
        if pending.is_empty() {
            break;
        }
        for shard in pending {
            let start = match options.from {
                StartingPosition::Latest if first_pass && shard.closed => None,
                StartingPosition::Latest if first_pass => Some(Start::Latest),
                _ => Some(Start::TrimHorizon),
            };
            if let Some(start) = start {
                job.read_shard(&shard, start).await?;
            }
            done.insert(shard.id);
            job.status.shards_done = done.len();
            job.progress.update(&job.status);
        }
        first_pass = false;
    }
    // Caught up: the end of the audited stream, exactly as for `replay` (transfers and ledger
    // accounts still open are reported as such).
    job.replay.finish(&mut *job.sink)?;
    job.progress.finish();
    Ok(ScanReport {
        shards: done.len(),
        pages: job.pages,
        stream_arn,
    })
}

/// The state of one scan while it reads shard after shard.
struct Job<'a> {
    clients: &'a Clients,
    stream_arn: &'a str,
    replay: &'a mut Replay,
    sink: &'a mut dyn FindingSink,
    progress: &'a mut dyn Progress,
    status: ScanStatus,
    pages: usize,
}

impl Job<'_> {
    /// Pages through one shard until it is closed and read, or caught up with.
    async fn read_shard(&mut self, shard: &ShardInfo, start: Start) -> Result<(), ScanError> {
        let arn = self.stream_arn;
        let Some(mut iterator) = self.clients.shard_iterator(arn, &shard.id, &start).await? else {
            return Ok(());
        };
        let batch_name = format!("{arn}, shard {}", shard.id);
        let mut last_read: Option<SequenceNumber> = None;
        let mut empty_pages = 0;
        let mut restarts = 0;
        loop {
            let page = self.clients.page(arn, &shard.id, &iterator).await?;
            let (records, next) = match page {
                Page::Records { records, next } => (records, next),
                Page::Expired | Page::Trimmed => {
                    restarts += 1;
                    if restarts > MAX_RESTARTS {
                        return Err(ScanError::IteratorKeepsFailing {
                            stream_arn: arn.to_owned(),
                            shard_id: shard.id.clone(),
                            attempts: restarts,
                        });
                    }
                    // After trimming, what is left starts at the horizon; records read twice are
                    // re-deliveries to the auditor and change nothing.
                    let resume = match (&page, &last_read) {
                        (Page::Expired, Some(seq)) => Start::After(seq.clone()),
                        (Page::Expired, None) => start.clone(),
                        _ => Start::TrimHorizon,
                    };
                    match self.clients.shard_iterator(arn, &shard.id, &resume).await? {
                        Some(fresh) => iterator = fresh,
                        None => return Ok(()),
                    }
                    continue;
                }
            };
            restarts = 0;
            self.pages += 1;
            if records.is_empty() {
                empty_pages += 1;
            } else {
                empty_pages = 0;
                if let Some(seq) = records
                    .iter()
                    .rev()
                    .find_map(|r| r.dynamodb.as_ref()?.sequence_number.as_deref())
                    .and_then(SequenceNumber::parse)
                {
                    last_read = Some(seq);
                }
                let event = event_json::lambda_event(arn, &records);
                self.replay.batch(&batch_name, &event, &mut *self.sink)?;
                self.status.records += records.len();
                self.progress.update(&self.status);
            }
            let Some(next) = next else {
                return Ok(()); // closed, and read to its end
            };
            // A closed shard is followed to its end whatever pages it answers with; an open one
            // is caught up when it keeps answering with nothing.
            let at_tip = !shard.closed && empty_pages >= EMPTY_PAGES_AT_TIP;
            if records.is_empty() && (at_tip || next == iterator) {
                return Ok(());
            }
            iterator = next;
        }
    }
}
