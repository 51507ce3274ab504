//! AWS resources for tests, created through the real SDK against moto: a findings topic with an
//! SQS queue subscribed (raw delivery), a state table, and readers for what arrived.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sns::config::Credentials;

/// Resource names unique within a test process (moto is per test, but be safe anyway).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// SDK configuration for moto: fixed test credentials, one region, few retries.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
        .load()
        .await
}

/// A topic (standard or FIFO) with a queue subscribed to it, raw delivery.
pub struct TopicWithQueue {
    pub topic_arn: String,
    pub queue_url: String,
    pub sqs: aws_sdk_sqs::Client,
}

pub async fn topic_with_queue(sdk: &SdkConfig, fifo: bool) -> TopicWithQueue {
    let sns = aws_sdk_sns::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let suffix = if fifo { ".fifo" } else { "" };
    let name = unique("findings");
    let mut topic = sns.create_topic().name(format!("{name}{suffix}"));
    if fifo {
        topic = topic.attributes("FifoTopic", "true");
    }
    let topic_arn = topic
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("topic arn");
    let mut queue = sqs.create_queue().queue_name(format!("{name}-q{suffix}"));
    if fifo {
        queue = queue.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    let queue_url = queue
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("queue arn");
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe queue");
    TopicWithQueue {
        topic_arn,
        queue_url,
        sqs,
    }
}

/// One message as a subscriber receives it.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
}

impl Received {
    pub fn finding(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("message body is JSON")
    }
}

impl TopicWithQueue {
    /// Everything in the queue now (deletes what it reads).
    pub async fn drain(&self) -> Vec<Received> {
        let mut all = Vec::new();
        let mut empty_polls = 0;
        while empty_polls < 2 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                empty_polls += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            for m in messages {
                let attributes = m
                    .message_attributes
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| {
                        assert_eq!(v.data_type, "String", "attribute {k} is a String");
                        (k, v.string_value.unwrap_or_default())
                    })
                    .collect();
                let system = m.attributes.clone().unwrap_or_default();
                let sys = |name: aws_sdk_sqs::types::MessageSystemAttributeName| {
                    system.get(&name).cloned()
                };
                all.push(Received {
                    body: m.body.clone().unwrap_or_default(),
                    attributes,
                    group_id: sys(aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId),
                    deduplication_id: sys(
                        aws_sdk_sqs::types::MessageSystemAttributeName::MessageDeduplicationId,
                    ),
                });
                if let Some(receipt) = m.receipt_handle {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(receipt)
                        .send()
                        .await
                        .expect("delete message");
                }
            }
        }
        all
    }
}

/// Creates the state table as infra/ does: `pk` (S) partition key, TTL on `expires_at`.
pub async fn state_table(sdk: &SdkConfig) -> String {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let name = unique("audit-state");
    ddb.create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("create state table");
    ddb.update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("enable ttl");
    name
}

/// Every item of the state table, by `pk`.
pub async fn scan_state(
    sdk: &SdkConfig,
    table: &str,
) -> HashMap<String, HashMap<String, AttributeValue>> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let out = ddb.scan().table_name(table).send().await.expect("scan");
    out.items
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| match item.get("pk") {
            Some(AttributeValue::S(pk)) => Some((pk.clone(), item.clone())),
            _ => None,
        })
        .collect()
}

/// The checkpoints (pk starting `item#`) with their `seq`, sorted.
pub async fn checkpoints(sdk: &SdkConfig, table: &str) -> BTreeMap<String, String> {
    scan_state(sdk, table)
        .await
        .into_iter()
        .filter(|(pk, _)| pk.starts_with("item#"))
        .map(|(pk, item)| {
            let seq = match item.get("seq") {
                Some(AttributeValue::S(s)) => s.trim_start_matches('0').to_owned(),
                _ => String::new(),
            };
            (pk, seq)
        })
        .collect()
}
