//! ddb-stream-audit: audits DynamoDB Streams for the marks that race conditions leave in data.
//!
//! # Layout
//! The crate is a pipeline, source -> pure audit core -> sinks:
//! - [`decimal`]: exact 38-digit decimals, the only number type the rules compare with.
//! - [`value`]: typed attribute values and images, with semantic equality and digests.
//! - [`change`]: the domain record (`Change`), sequence numbers and item identity.
//! - [`source`]: decodes Lambda DynamoDB Streams events, one record at a time, into `Change`s or
//!   `MalformedRecord`s; only this module sees JSON event structure.
//! - [`expr`]: declared conditions (ConditionExpression notation with `OLD.`/`NEW.`): lexer,
//!   parser with column-pointing errors, exact evaluation on typed values.
//! - [`config`]: the rule configuration (defaults plus per-table overrides), validated once.
//! - [`audit`]: the pure core: per-item checkpoints, the rules (one file each), findings.
//! - [`sink`]: turns findings into bytes: JSON Lines and the aligned text listing.
//! - [`lambda`]: the Lambda function: handler over publisher and state-store traits, SNS alerts,
//!   DynamoDB checkpoints, shared cross-item state and de-duplication, partial batch responses,
//!   metrics.
//! - [`replay`]: the offline job behind `ddb-audit replay`: files in order, state carried across.
//! - [`scan`]: the live job behind `ddb-audit scan`: a table's stream read through the DynamoDB
//!   Streams API, shard by shard, parents first, and audited through the same path as `replay`.
//! - [`summary`]: counts of what a run audited and found, for the one-line summary.
//! - [`time`]: RFC 3339 rendering of stream timestamps.
//!
//! The binaries in `src/bin/` only parse arguments, wire these together and map results to exit
//! codes or Lambda responses.

pub mod audit;
pub mod change;
pub mod config;
pub mod decimal;
pub mod expr;
pub mod lambda;
pub mod replay;
pub mod scan;
pub mod sink;
pub mod source;
pub mod summary;
pub mod time;
pub mod value;

pub use audit::finding::{Finding, Severity};
pub use audit::state::{AuditState, SharedState};
pub use audit::{Auditor, Outcome, Verdict};
pub use config::Config;
