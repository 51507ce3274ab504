//! Errors of the Lambda shell, each saying whether a retry can help, because that decides between
//! a partial batch failure (Lambda retries the rest quietly) and a loud invocation error.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// Whether trying the same work again later can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Throttling, 5xx, timeouts, an unreachable endpoint, the invocation deadline: transient.
    CanHelp,
    /// Access denied, a missing topic or table, a rejected request: needs an operator.
    CannotHelp,
}

/// Something the function could not do with an AWS service or within its time.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LambdaError {
    /// A call to an AWS service failed (after the SDK's own retries).
    #[error("{operation}: {message}")]
    Aws {
        operation: &'static str,
        message: String,
        retry: Retry,
    },
    /// The invocation deadline came within the safety margin; the rest is left for a retry.
    #[error("stopped {margin_ms} ms before the invocation deadline during {phase}")]
    Deadline { phase: &'static str, margin_ms: u64 },
    /// Another invocation stored the shared (cross-item) state after this one loaded revision
    /// `expected_rev`: the batch must be audited again against the new state.
    #[error(
        "the shared state was changed by a concurrent invocation after revision {expected_rev} was loaded"
    )]
    SharedStateConflict { expected_rev: u64 },
}

impl LambdaError {
    pub fn retry(&self) -> Retry {
        match self {
            LambdaError::Aws { retry, .. } => *retry,
            LambdaError::Deadline { .. } | LambdaError::SharedStateConflict { .. } => {
                Retry::CanHelp
            }
        }
    }

    pub fn retry_can_help(&self) -> bool {
        self.retry() == Retry::CanHelp
    }

    /// Classifies an SDK error: transport failures, timeouts, throttling and 5xx can pass;
    /// other service errors (4xx) will fail the same way again.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E>) -> LambdaError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let retry = match &err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => Retry::CanHelp,
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or_default();
                if is_transient_code(code) || service.raw().status().is_server_error() {
                    Retry::CanHelp
                } else {
                    Retry::CannotHelp
                }
            }
            _ => Retry::CannotHelp,
        };
        let message = match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                format!(
                    "{}: {}",
                    e.code().unwrap_or("service error"),
                    e.message().unwrap_or("no message")
                )
            }
            other => error_chain(other),
        };
        LambdaError::Aws {
            operation,
            message,
            retry,
        }
    }

    /// An entry-level failure reported inside a successful response (PublishBatch).
    pub fn entry_failure(
        operation: &'static str,
        code: &str,
        message: &str,
        sender_fault: bool,
    ) -> LambdaError {
        let retry = if !sender_fault || is_transient_code(code) {
            Retry::CanHelp
        } else {
            Retry::CannotHelp
        };
        LambdaError::Aws {
            operation,
            message: format!("{code}: {message}"),
            retry,
        }
    }
}

/// Error codes that mean "try again later" across SNS and DynamoDB.
pub fn is_transient_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "Throttled"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "ProvisionedThroughputExceededException"
            | "RequestThrottled"
            | "KMSThrottling"
            | "KMSThrottlingException"
            | "InternalError"
            | "InternalFailure"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "TransactionConflictException"
            | "LimitExceededException"
    ) || code.starts_with("Throttl")
}

/// The error Lambda records for a failed invocation: the type says whether a retry can help.
impl From<LambdaError> for lambda_runtime::Diagnostic {
    fn from(error: LambdaError) -> Self {
        let error_type = match error.retry() {
            Retry::CanHelp => "DdbStreamAudit.Retryable",
            Retry::CannotHelp => "DdbStreamAudit.NeedsOperator",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// `outer: inner: innermost`, so a log line shows the cause (connection refused, ...).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// Why the function cannot start: reported once at cold start, naming the variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(
        "FINDINGS_TOPIC_ARN is not set: the function needs the SNS topic to publish findings to"
    )]
    MissingTopic,
    #[error(
        "FINDINGS_TOPIC_ARN `{0}` is not an SNS topic ARN (arn:PARTITION:sns:REGION:ACCOUNT:NAME)"
    )]
    BadTopic(String),
    #[error("STATE_TABLE_NAME is set but empty: unset it to run stateless, or name the table")]
    EmptyStateTable,
    #[error("AUDIT_CONFIG is not a valid rule configuration: {0}")]
    AuditConfig(#[source] crate::config::ConfigError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_codes_are_retryable() {
        assert!(is_transient_code("Throttling"));
        assert!(is_transient_code("ProvisionedThroughputExceededException"));
        assert!(!is_transient_code("AuthorizationError"));
        assert!(!is_transient_code("NotFound"));
        assert!(
            LambdaError::entry_failure("publish", "InternalError", "x", false).retry_can_help()
        );
        assert!(
            !LambdaError::entry_failure("publish", "InvalidParameter", "x", true).retry_can_help()
        );
        assert!(
            LambdaError::Deadline {
                phase: "publish",
                margin_ms: 1
            }
            .retry_can_help()
        );
    }
}
