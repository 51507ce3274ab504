//! Wires the handler to `lambda_runtime`: builds the AWS clients once at cold start, takes each
//! payload raw (a typed event would fail the whole invocation on one odd record), turns the
//! deadline into a timer, prints the metrics, and maps the outcome to the partial batch response.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::settings::Settings;
use super::sns::SnsPublisher;
use super::state_store::{AnyStateStore, DynamoStateStore, Stateless};
use super::{FindingPublisher, Handler, StateStore};
use crate::audit::Auditor;

/// The handler the binary runs.
pub type Function = Handler<SnsPublisher, AnyStateStore>;

/// Builds the function from validated settings and the SDK configuration (standard chain:
/// `AWS_REGION`, `AWS_ENDPOINT_URL`, credentials).
pub fn function(settings: &Settings, sdk: &aws_config::SdkConfig) -> Function {
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(sdk), settings.topic_arn.clone());
    let store = match &settings.state_table {
        Some(table) => AnyStateStore::Dynamo(DynamoStateStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            table.clone(),
        )),
        None => AnyStateStore::Stateless(Stateless),
    };
    Handler::new(
        Auditor::new(settings.audit_config.clone()),
        publisher,
        store,
        settings.deadline_margin,
    )
}

/// JSON log lines on stdout (CloudWatch Logs), level from `RUST_LOG` (default `info`). The
/// runtime's span carries the request id into every line.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}

/// Serves invocations until the runtime stops.
pub async fn serve<P, S>(handler: Handler<P, S>) -> Result<(), lambda_runtime::Error>
where
    P: FindingPublisher + Sync,
    S: StateStore + Sync,
{
    let handler = &handler;
    // Boxed: the handler's future type is deep enough to exhaust the compiler's layout limit
    // once nested in the runtime's own futures.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        Box::pin(invoke(handler, event))
    }))
    .await
}

/// One invocation: the partial batch response, or an error when the failure is one a retry of
/// just the tail cannot fix (see [`super::Invocation::invocation_error`]).
pub async fn invoke<P: FindingPublisher, S: StateStore>(
    handler: &Handler<P, S>,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<DynamoDbEventResponse, super::LambdaError> {
    let now_ms = epoch_ms();
    let deadline = remaining_ms(event.context.deadline, now_ms)
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    tracing::debug!(
        deadline_ms = event.context.deadline,
        now_ms,
        "invocation deadline"
    );
    let request_id = event.context.request_id.clone();
    let payload = event.payload.get().as_bytes();
    let outcome = handler.handle(payload, deadline).await;
    for line in outcome.metrics.emf_lines(epoch_ms()) {
        // EMF must be a line of its own on stdout, not wrapped in a log record.
        println!("{line}");
    }
    tracing::info!(
        request_id = %request_id,
        records_audited = outcome.metrics.records_audited,
        redeliveries_skipped = outcome.metrics.redeliveries_skipped,
        malformed_records = outcome.metrics.malformed_records,
        published = outcome.published.len(),
        already_published = outcome.already_published.len(),
        batch_item_failures = outcome.response.batch_item_failures.len(),
        "invocation done"
    );
    match outcome.invocation_error() {
        Some(error) => Err(error.clone()),
        None => Ok(outcome.response),
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Time left in the invocation. Lambda sends the deadline as epoch milliseconds; `cargo lambda
/// watch` sends the timeout itself (`600000`). A value before 2001 cannot be an epoch deadline,
/// so it is taken as a relative timeout rather than as a deadline long past (which would stop
/// every invocation before it starts). Zero means no deadline is known.
fn remaining_ms(deadline_ms: u64, now_ms: u64) -> Option<u64> {
    const EPOCH_2001_MS: u64 = 978_307_200_000;
    match deadline_ms {
        0 => None,
        relative if relative < EPOCH_2001_MS => Some(relative),
        absolute => Some(absolute.saturating_sub(now_ms)),
    }
}

#[cfg(test)]
mod deadline_tests {
    use super::remaining_ms;

    #[test]
    fn epoch_deadlines_and_relative_timeouts() {
        let now = 1_796_421_086_868;
        assert_eq!(remaining_ms(now + 2_500, now), Some(2_500));
        assert_eq!(remaining_ms(now - 10, now), Some(0));
        assert_eq!(remaining_ms(600_000, now), Some(600_000));
        assert_eq!(remaining_ms(0, now), None);
    }
}
