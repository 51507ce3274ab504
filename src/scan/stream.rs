//! The DynamoDB and DynamoDB Streams API calls a scan makes: find the table's stream, list its
//! shards (every page of DescribeStream), get shard iterators and page through records.
//!
//! Only this module names the SDKs' operations; errors come back as [`ScanError`]s that say which
//! table, stream and shard the call was about.

use aws_sdk_dynamodbstreams::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodbstreams::operation::get_records::GetRecordsError;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};

use super::ScanError;
use super::shards::ShardInfo;
use crate::change::SequenceNumber;

/// The clients a scan reads through, built once from one SDK configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Clients {
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            streams: aws_sdk_dynamodbstreams::Client::new(config),
        }
    }

    /// The ARN of the table's latest stream (DescribeTable's `LatestStreamArn`).
    pub async fn stream_arn(&self, table: &str) -> Result<String, ScanError> {
        let described = self
            .dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| ScanError::DescribeTable {
                table: table.to_owned(),
                source: aws_error(&e),
            })?;
        described
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| ScanError::NoStream {
                table: table.to_owned(),
            })
    }

    /// Every shard of the stream, following DescribeStream's pages.
    pub async fn shards(&self, stream_arn: &str) -> Result<Vec<ShardInfo>, ScanError> {
        let mut shards = Vec::new();
        let mut start_after: Option<String> = None;
        loop {
            let page = self
                .streams
                .describe_stream()
                .stream_arn(stream_arn)
                .set_exclusive_start_shard_id(start_after.take())
                .send()
                .await
                .map_err(|e| ScanError::DescribeStream {
                    stream_arn: stream_arn.to_owned(),
                    source: aws_error(&e),
                })?;
            let Some(description) = page.stream_description else {
                break;
            };
            for shard in description.shards.unwrap_or_default() {
                let Some(id) = shard.shard_id else { continue };
                let range = shard.sequence_number_range;
                shards.push(ShardInfo {
                    id,
                    parent_id: shard.parent_shard_id,
                    starting_sequence_number: range
                        .as_ref()
                        .and_then(|r| r.starting_sequence_number.as_deref())
                        .and_then(SequenceNumber::parse),
                    closed: range.is_some_and(|r| r.ending_sequence_number.is_some()),
                });
            }
            match description.last_evaluated_shard_id {
                // A page that repeats its start would loop forever: stop instead.
                Some(last) if shards.iter().filter(|s| s.id == last).count() == 1 => {
                    start_after = Some(last)
                }
                _ => break,
            }
        }
        Ok(shards)
    }

    /// An iterator for `shard` at `start`; `None` when the shard has nothing there.
    pub async fn shard_iterator(
        &self,
        stream_arn: &str,
        shard_id: &str,
        start: &Start,
    ) -> Result<Option<String>, ScanError> {
        let request = self
            .streams
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(shard_id);
        let request = match start {
            Start::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            Start::Latest => request.shard_iterator_type(ShardIteratorType::Latest),
            Start::After(seq) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(seq.as_str()),
        };
        let out = request.send().await.map_err(|e| ScanError::ShardIterator {
            stream_arn: stream_arn.to_owned(),
            shard_id: shard_id.to_owned(),
            source: aws_error(&e),
        })?;
        Ok(out.shard_iterator)
    }

    /// One GetRecords page.
    pub async fn page(
        &self,
        stream_arn: &str,
        shard_id: &str,
        iterator: &str,
    ) -> Result<Page, ScanError> {
        match self
            .streams
            .get_records()
            .shard_iterator(iterator)
            .limit(PAGE_LIMIT)
            .send()
            .await
        {
            Ok(out) => Ok(Page::Records {
                records: out.records.unwrap_or_default(),
                next: out.next_shard_iterator,
            }),
            Err(e) => match e.as_service_error() {
                // Iterators live 15 minutes; a slow consumer (or a paused terminal) outlives them.
                Some(GetRecordsError::ExpiredIteratorException(_)) => Ok(Page::Expired),
                Some(GetRecordsError::TrimmedDataAccessException(_)) => Ok(Page::Trimmed),
                _ => Err(ScanError::GetRecords {
                    stream_arn: stream_arn.to_owned(),
                    shard_id: shard_id.to_owned(),
                    source: aws_error(&e),
                }),
            },
        }
    }
}

/// The API's maximum page size.
const PAGE_LIMIT: i32 = 1000;

/// Where to start reading a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    TrimHorizon,
    Latest,
    After(SequenceNumber),
}

/// What one GetRecords call gave.
#[derive(Debug)]
pub enum Page {
    /// Records (possibly none) and the iterator for the next page; `None`: the shard is closed
    /// and fully read.
    Records {
        records: Vec<Record>,
        next: Option<String>,
    },
    /// The iterator expired: get a new one after the last record read.
    Expired,
    /// The iterator points at records trimmed away (older than 24 hours): restart at the horizon.
    Trimmed,
}

/// An SDK error as one readable line: the service's code and message when AWS answered, else the
/// chain of causes (credentials, dispatch, timeouts). The SDK's own chain repeats the service
/// message, which would print it twice.
fn aws_error<E, R>(error: &SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let Some(service) = error.as_service_error() {
        let code = service.code().unwrap_or("unknown error");
        return AwsError(match service.message() {
            Some(message) => format!("{code}: {message}"),
            None => code.to_owned(),
        });
    }
    let mut parts = vec![error.to_string()];
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        parts.push(c.to_string());
        cause = c.source();
    }
    AwsError(parts.join(": "))
}

/// What AWS (or the way to it) said, flattened to one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AwsError(pub String);
