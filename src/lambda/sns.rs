//! Publishes findings to the SNS topic with PublishBatch, checking each entry's result, since
//! SNS reports per-entry failures inside a successful response.

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

use super::FindingPublisher;
use super::error::{LambdaError, Retry};
use super::message::{Message, batches};
use crate::audit::finding::Finding;

/// The findings topic, standard or FIFO.
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    fifo: bool,
}

impl SnsPublisher {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> SnsPublisher {
        let topic_arn = topic_arn.into();
        let fifo = topic_arn.ends_with(".fifo");
        SnsPublisher {
            client,
            topic_arn,
            fifo,
        }
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    async fn publish_all(&self, findings: &[&Finding]) -> Vec<Result<(), LambdaError>> {
        let messages: Vec<Message> = findings
            .iter()
            .map(|f| Message::new(f, self.fifo))
            .collect();
        let mut results: Vec<Result<(), LambdaError>> = Vec::with_capacity(messages.len());
        let mut call_failed: Option<LambdaError> = None;
        for range in batches(&messages) {
            if let Some(error) = &call_failed {
                // The topic did not answer a whole call (after the SDK's retries): the next call
                // would only spend the same time failing. The rest waits for Lambda's retry.
                results.extend(range.map(|_| Err(error.clone())));
                continue;
            }
            match self
                .publish_batch(&messages[range.clone()], range.start)
                .await
            {
                Ok(outcome) => results.extend(outcome),
                Err(error) => {
                    results.extend(range.map(|_| Err(error.clone())));
                    call_failed = Some(error);
                }
            }
        }
        results
    }

    /// One PublishBatch call; entry ids are the messages' positions, so results map back.
    /// An `Err` is a failure of the whole call; entry failures are inside the `Ok`.
    async fn publish_batch(
        &self,
        messages: &[Message],
        first: usize,
    ) -> Result<Vec<Result<(), LambdaError>>, LambdaError> {
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, message)| entry(message, first + i))
            .collect::<Result<Vec<_>, _>>()?;
        let response = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await;
        let output = response.map_err(|err| LambdaError::from_sdk("sns:PublishBatch", err))?;
        let mut results: Vec<Result<(), LambdaError>> = (0..messages.len())
            .map(|_| {
                Err(LambdaError::Aws {
                    operation: "sns:PublishBatch",
                    message: "the entry is missing from the response".to_owned(),
                    retry: Retry::CanHelp,
                })
            })
            .collect();
        let slot = |id: Option<&str>| {
            id.and_then(|id| id.strip_prefix('m'))
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(first))
                .filter(|n| *n < messages.len())
        };
        for ok in output.successful() {
            if let Some(i) = slot(ok.id()) {
                results[i] = Ok(());
            }
        }
        for failed in output.failed() {
            if let Some(i) = slot(Some(failed.id())) {
                results[i] = Err(LambdaError::entry_failure(
                    "sns:PublishBatch",
                    failed.code(),
                    failed.message().unwrap_or("no message"),
                    failed.sender_fault(),
                ));
            }
        }
        Ok(results)
    }
}

fn entry(message: &Message, index: usize) -> Result<PublishBatchRequestEntry, LambdaError> {
    let build_error = |e: aws_sdk_sns::error::BuildError| LambdaError::Aws {
        operation: "sns:PublishBatch",
        message: format!("building the request: {e}"),
        retry: Retry::CannotHelp,
    };
    let mut builder = PublishBatchRequestEntry::builder()
        .id(format!("m{index}"))
        .message(&message.body)
        .subject(&message.subject)
        .set_message_group_id(message.group_id.clone())
        .set_message_deduplication_id(message.deduplication_id.clone());
    for (name, value) in &message.attributes {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(build_error)?;
        builder = builder.message_attributes(*name, attribute);
    }
    builder.build().map_err(build_error)
}

impl FindingPublisher for SnsPublisher {
    fn publish(
        &self,
        findings: &[&Finding],
    ) -> impl Future<Output = Vec<Result<(), LambdaError>>> + Send {
        self.publish_all(findings)
    }
}
