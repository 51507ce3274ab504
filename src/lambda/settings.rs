//! The function's environment, read and validated once at cold start, so a misconfiguration is
//! an init error naming the variable instead of a failure on every invocation.

use std::time::Duration;

use super::error::InitError;
use crate::config::Config;

/// How long before the invocation deadline the function stops starting new work, so it can
/// still write what it finished and return the partial batch response.
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(3000);

/// Everything the handler needs from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `FINDINGS_TOPIC_ARN`: where findings go.
    pub topic_arn: String,
    /// `STATE_TABLE_NAME`: per-item checkpoints and de-duplication records; `None` = stateless.
    pub state_table: Option<String>,
    /// `AUDIT_CONFIG`: the rule configuration (defaults when unset).
    pub audit_config: Config,
    pub deadline_margin: Duration,
}

impl Settings {
    /// Reads the variables through `var` (the process environment in the binary, a map in tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, InitError> {
        let topic_arn = var("FINDINGS_TOPIC_ARN")
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or(InitError::MissingTopic)?;
        if !is_sns_topic_arn(&topic_arn) {
            return Err(InitError::BadTopic(topic_arn));
        }
        let state_table = match var("STATE_TABLE_NAME") {
            None => None,
            Some(t) if t.trim().is_empty() => return Err(InitError::EmptyStateTable),
            Some(t) => Some(t.trim().to_owned()),
        };
        let audit_config = match var("AUDIT_CONFIG") {
            Some(text) if !text.trim().is_empty() => {
                Config::from_json(&text).map_err(InitError::AuditConfig)?
            }
            _ => Config::default(),
        };
        Ok(Settings {
            topic_arn,
            state_table,
            audit_config,
            deadline_margin: DEFAULT_DEADLINE_MARGIN,
        })
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, InitError> {
        Settings::from_vars(|name| std::env::var(name).ok())
    }

    /// FIFO topics need a message group and a de-duplication id on every message.
    pub fn fifo_topic(&self) -> bool {
        self.topic_arn.ends_with(".fifo")
    }
}

fn is_sns_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6 && parts[0] == "arn" && parts[2] == "sns" && !parts[5].is_empty()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, InitError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_vars(|name| vars.get(name).cloned())
    }

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:findings";

    #[test]
    fn the_topic_is_required_and_checked() {
        let missing = settings(&[]).unwrap_err().to_string();
        assert!(
            missing.contains("FINDINGS_TOPIC_ARN is not set"),
            "{missing}"
        );
        let bad = settings(&[("FINDINGS_TOPIC_ARN", "findings")])
            .unwrap_err()
            .to_string();
        assert!(bad.contains("not an SNS topic ARN"), "{bad}");
        let ok = settings(&[("FINDINGS_TOPIC_ARN", TOPIC)]).unwrap();
        assert_eq!(ok.state_table, None);
        assert!(!ok.fifo_topic());
        assert!(
            settings(&[("FINDINGS_TOPIC_ARN", "arn:aws:sns:us-east-1:1:f.fifo")])
                .unwrap()
                .fifo_topic()
        );
    }

    #[test]
    fn a_bad_audit_config_is_an_init_error_naming_the_problem() {
        let err = settings(&[
            ("FINDINGS_TOPIC_ARN", TOPIC),
            ("AUDIT_CONFIG", r#"{"defaults": {"version": {"step": -1}}}"#),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("AUDIT_CONFIG is not a valid rule configuration: "),
            "{err}"
        );
        assert!(err.contains("step"), "{err}");
        let err = settings(&[("FINDINGS_TOPIC_ARN", TOPIC), ("AUDIT_CONFIG", "nope")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("AUDIT_CONFIG"), "{err}");
    }

    #[test]
    fn state_table_is_optional_but_not_empty() {
        let s = settings(&[
            ("FINDINGS_TOPIC_ARN", TOPIC),
            ("STATE_TABLE_NAME", "audit-state"),
        ])
        .unwrap();
        assert_eq!(s.state_table.as_deref(), Some("audit-state"));
        assert!(matches!(
            settings(&[("FINDINGS_TOPIC_ARN", TOPIC), ("STATE_TABLE_NAME", " ")]),
            Err(InitError::EmptyStateTable)
        ));
    }
}
