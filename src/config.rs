//! The rule configuration (`--config FILE`, `AUDIT_CONFIG`): defaults plus per-table overrides,
//! validated once at start-up into the resolved [`Config`] the core reads.
//!
//! Schema (every field optional; a table's section replaces the default field by field):
//! ```json
//! {
//!   "defaults": {
//!     "version": { "attribute": "version", "step": 1 },
//!     "version_exempt_attributes": ["updatedAt"],
//!     "bounds": [{ "attribute": "balance", "min": 0, "rule": "negative-balance", "severity": "critical" }],
//!     "disabled_rules": ["version-gap"],
//!     "severities": { "version-gap": "info" },
//!     "context_attributes": ["lastRequestId"],
//!     "invariants": [{ "name": "closed-with-balance", "severity": "warning",
//!                      "expression": "NEW.status <> 'closed' OR NEW.balance = 0",
//!                      "when": "attribute_exists(NEW.status)" }]
//!   },
//!   "tables": { "Accounts": { "version": { "attribute": "rev", "step": "any" } } }
//! }
//! ```

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use crate::audit::finding::Severity;
use crate::audit::rules::BUILT_IN_RULES;
use crate::decimal::Decimal;
use crate::expr::Expression;

/// A configuration that cannot be used, naming the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{0}")]
    Syntax(String),
}

/// How versions must advance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionStep {
    /// Each write adds exactly this much; more is a `version-gap`.
    Exactly(Decimal),
    /// Any increase is fine (timestamps used as versions, for example).
    AnyIncrease,
}

/// A numeric bound on one attribute of every NewImage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub attribute: String,
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
    pub rule: String,
    pub severity: Severity,
}

/// A declared invariant: a condition every audited change must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invariant {
    /// The finding's rule id.
    pub rule: String,
    pub severity: Severity,
    pub expression: Expression,
    /// Only changes for which this holds are checked.
    pub when: Option<Expression>,
}

/// `duplicate-request`: which attribute carries the request id, and which attributes a request
/// moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRequest {
    pub request_attribute: String,
    pub watched_attributes: Vec<String>,
    /// How many recent requests each item's checkpoint remembers.
    pub remember: usize,
}

/// `unbalanced-transfer`: which attribute names the transfer, which attribute it conserves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub transfer_attribute: String,
    pub conserved_attribute: String,
    /// Stream seconds after a transfer's first leg before it must balance.
    pub grace_seconds: i64,
}

/// The resolved settings for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRules {
    pub version_attribute: String,
    pub version_step: VersionStep,
    /// Attributes whose change does not need a version bump (`lost-update` ignores them).
    pub version_exempt_attributes: Vec<String>,
    pub bounds: Vec<Bound>,
    pub disabled_rules: Vec<String>,
    pub severities: BTreeMap<String, Severity>,
    pub context_attributes: Vec<String>,
    pub invariants: Vec<Invariant>,
    /// `None`: the rule is off for the table.
    pub duplicate_request: Option<DuplicateRequest>,
    /// `None`: the table's records are never transfer legs.
    pub transfer: Option<Transfer>,
}

impl TableRules {
    pub fn enabled(&self, rule: &str) -> bool {
        !self.disabled_rules.iter().any(|r| r == rule)
    }

    /// The severity a finding of `rule` gets: the configured override, else the default.
    pub fn severity(&self, rule: &str, default: Severity) -> Severity {
        self.severities.get(rule).copied().unwrap_or(default)
    }

    pub fn is_version_exempt(&self, attribute: &str) -> bool {
        self.version_exempt_attributes
            .iter()
            .any(|a| a == attribute)
    }
}

impl Default for TableRules {
    fn default() -> Self {
        TableRules {
            version_attribute: "version".to_owned(),
            version_step: VersionStep::Exactly(Decimal::from_i64(1)),
            version_exempt_attributes: Vec::new(),
            bounds: vec![Bound {
                attribute: "balance".to_owned(),
                min: Some(Decimal::ZERO),
                max: None,
                rule: "negative-balance".to_owned(),
                severity: Severity::Critical,
            }],
            disabled_rules: Vec::new(),
            severities: BTreeMap::new(),
            context_attributes: Vec::new(),
            invariants: Vec::new(),
            duplicate_request: None,
            transfer: None,
        }
    }
}

/// The whole resolved configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub defaults: TableRules,
    pub tables: HashMap<String, TableRules>,
}

impl Config {
    pub fn for_table(&self, table: &str) -> &TableRules {
        self.tables.get(table).unwrap_or(&self.defaults)
    }

    /// Parses and validates a configuration document.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        if !text.trim_start().starts_with('{') {
            return Err(ConfigError::Syntax(
                "the configuration must be a JSON object".to_owned(),
            ));
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let file: ConfigFile =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let structural = matches!(inner.classify(), serde_json::error::Category::Data);
                if structural && !path.is_empty() && path != "." && path != "?" {
                    ConfigError::Invalid {
                        path,
                        message: inner.to_string(),
                    }
                } else {
                    ConfigError::Syntax(inner.to_string())
                }
            })?;
        deserializer
            .end()
            .map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let defaults = file
            .defaults
            .resolve_over(&TableRules::default(), "defaults")?;
        let mut tables = HashMap::new();
        for (name, settings) in &file.tables {
            let resolved = settings.resolve_over(&defaults, &format!("tables.{name}"))?;
            tables.insert(name.clone(), resolved);
        }
        Ok(Config { defaults, tables })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    defaults: TableSettings,
    #[serde(default)]
    tables: BTreeMap<String, TableSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableSettings {
    version: Option<VersionSettings>,
    version_exempt_attributes: Option<Vec<String>>,
    bounds: Option<Vec<BoundSettings>>,
    disabled_rules: Option<Vec<String>>,
    severities: Option<BTreeMap<String, Severity>>,
    context_attributes: Option<Vec<String>>,
    invariants: Option<Vec<InvariantSettings>>,
    duplicate_request: Option<DuplicateRequestSettings>,
    transfer: Option<TransferSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferSettings {
    transfer_attribute: String,
    conserved_attribute: String,
    grace_seconds: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DuplicateRequestSettings {
    request_attribute: String,
    watched_attributes: Vec<String>,
    remember: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvariantSettings {
    name: String,
    severity: Option<Severity>,
    expression: String,
    when: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionSettings {
    attribute: Option<String>,
    step: Option<StepSetting>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StepSetting {
    Number(Decimal),
    Keyword(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BoundSettings {
    attribute: String,
    min: Option<Decimal>,
    max: Option<Decimal>,
    rule: Option<String>,
    severity: Option<Severity>,
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

fn is_rule_id(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl TableSettings {
    fn resolve_over(&self, base: &TableRules, at: &str) -> Result<TableRules, ConfigError> {
        let mut rules = base.clone();
        if let Some(version) = &self.version {
            if let Some(attribute) = &version.attribute {
                if attribute.is_empty() {
                    return Err(invalid(
                        format!("{at}.version.attribute"),
                        "must not be empty",
                    ));
                }
                rules.version_attribute = attribute.clone();
            }
            match &version.step {
                None => {}
                Some(StepSetting::Keyword(word)) if word == "any" => {
                    rules.version_step = VersionStep::AnyIncrease
                }
                Some(StepSetting::Keyword(word)) => match Decimal::parse(word) {
                    Ok(step) if step > Decimal::ZERO => {
                        rules.version_step = VersionStep::Exactly(step)
                    }
                    _ => {
                        return Err(invalid(
                            format!("{at}.version.step"),
                            format!("`{word}` is neither a positive number nor \"any\""),
                        ));
                    }
                },
                Some(StepSetting::Number(step)) if *step > Decimal::ZERO => {
                    rules.version_step = VersionStep::Exactly(*step)
                }
                Some(StepSetting::Number(step)) => {
                    return Err(invalid(
                        format!("{at}.version.step"),
                        format!("must be positive, not {step}"),
                    ));
                }
            }
        }
        if let Some(exempt) = &self.version_exempt_attributes {
            rules.version_exempt_attributes = exempt.clone();
        }
        if let Some(bounds) = &self.bounds {
            rules.bounds = bounds
                .iter()
                .enumerate()
                .map(|(i, b)| b.resolve(&format!("{at}.bounds[{i}]")))
                .collect::<Result<_, _>>()?;
        }
        if let Some(severities) = &self.severities {
            for (rule, severity) in severities {
                if !is_rule_id(rule) {
                    return Err(invalid(format!("{at}.severities.{rule}"), "not a rule id"));
                }
                rules.severities.insert(rule.clone(), *severity);
            }
        }
        if let Some(invariants) = &self.invariants {
            rules.invariants = Vec::with_capacity(invariants.len());
            for (i, settings) in invariants.iter().enumerate() {
                let invariant = settings.resolve(&format!("{at}.invariants[{i}]"))?;
                if rules
                    .invariants
                    .iter()
                    .any(|inv| inv.rule == invariant.rule)
                {
                    return Err(invalid(
                        format!("{at}.invariants[{i}].name"),
                        format!("`{}` is declared twice", invariant.rule),
                    ));
                }
                rules.invariants.push(invariant);
            }
        }
        if let Some(settings) = &self.duplicate_request {
            rules.duplicate_request = Some(settings.resolve(&format!("{at}.duplicate_request"))?);
        }
        if let Some(settings) = &self.transfer {
            rules.transfer = Some(settings.resolve(&format!("{at}.transfer"))?);
        }
        if let Some(disabled) = &self.disabled_rules {
            for (i, rule) in disabled.iter().enumerate() {
                let known = BUILT_IN_RULES.contains(&rule.as_str())
                    || rules.bounds.iter().any(|b| &b.rule == rule)
                    || rules.invariants.iter().any(|inv| &inv.rule == rule);
                if !known {
                    return Err(invalid(
                        format!("{at}.disabled_rules[{i}]"),
                        format!(
                            "unknown rule `{rule}` (known: {}, or a bound's or invariant's name)",
                            BUILT_IN_RULES.join(", ")
                        ),
                    ));
                }
            }
            rules.disabled_rules = disabled.clone();
        }
        if let Some(context) = &self.context_attributes {
            rules.context_attributes = context.clone();
        }
        Ok(rules)
    }
}

impl BoundSettings {
    fn resolve(&self, at: &str) -> Result<Bound, ConfigError> {
        if self.attribute.is_empty() {
            return Err(invalid(format!("{at}.attribute"), "must not be empty"));
        }
        if self.min.is_none() && self.max.is_none() {
            return Err(invalid(at, "a bound needs `min`, `max` or both"));
        }
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            return Err(invalid(at, format!("min {min} is greater than max {max}")));
        }
        let rule = self
            .rule
            .clone()
            .unwrap_or_else(|| format!("{}-out-of-bounds", self.attribute.to_ascii_lowercase()));
        if !is_rule_id(&rule) {
            return Err(invalid(
                format!("{at}.rule"),
                format!("`{rule}` is not a rule id (lowercase letters, digits and '-')"),
            ));
        }
        Ok(Bound {
            attribute: self.attribute.clone(),
            min: self.min,
            max: self.max,
            rule,
            severity: self.severity.unwrap_or(Severity::Critical),
        })
    }
}

/// The most request ids one checkpoint may hold: a checkpoint item must stay far below
/// DynamoDB's 400 KB item limit.
const MAX_REMEMBERED_REQUESTS: usize = 1000;

impl DuplicateRequestSettings {
    fn resolve(&self, at: &str) -> Result<DuplicateRequest, ConfigError> {
        if self.request_attribute.is_empty() {
            return Err(invalid(
                format!("{at}.request_attribute"),
                "must not be empty",
            ));
        }
        if self.watched_attributes.is_empty() {
            return Err(invalid(
                format!("{at}.watched_attributes"),
                "name at least one attribute a request moves",
            ));
        }
        if let Some(i) = self.watched_attributes.iter().position(|a| a.is_empty()) {
            return Err(invalid(
                format!("{at}.watched_attributes[{i}]"),
                "must not be empty",
            ));
        }
        let remember = self.remember.unwrap_or(32);
        if !(1..=MAX_REMEMBERED_REQUESTS).contains(&remember) {
            return Err(invalid(
                format!("{at}.remember"),
                format!("must be between 1 and {MAX_REMEMBERED_REQUESTS}, not {remember}"),
            ));
        }
        Ok(DuplicateRequest {
            request_attribute: self.request_attribute.clone(),
            watched_attributes: self.watched_attributes.clone(),
            remember,
        })
    }
}

impl TransferSettings {
    fn resolve(&self, at: &str) -> Result<Transfer, ConfigError> {
        if self.transfer_attribute.is_empty() {
            return Err(invalid(
                format!("{at}.transfer_attribute"),
                "must not be empty",
            ));
        }
        if self.conserved_attribute.is_empty() {
            return Err(invalid(
                format!("{at}.conserved_attribute"),
                "must not be empty",
            ));
        }
        let grace_seconds = self.grace_seconds.unwrap_or(300);
        if !(0..=7 * 24 * 3600).contains(&grace_seconds) {
            return Err(invalid(
                format!("{at}.grace_seconds"),
                format!("must be between 0 and 604800 (a week), not {grace_seconds}"),
            ));
        }
        Ok(Transfer {
            transfer_attribute: self.transfer_attribute.clone(),
            conserved_attribute: self.conserved_attribute.clone(),
            grace_seconds,
        })
    }
}

impl InvariantSettings {
    fn resolve(&self, at: &str) -> Result<Invariant, ConfigError> {
        if !is_rule_id(&self.name) {
            return Err(invalid(
                format!("{at}.name"),
                format!(
                    "`{}` is not a rule id (lowercase letters, digits and '-')",
                    self.name
                ),
            ));
        }
        // `negative-balance` stays free so the built-in bound can be restated as an invariant.
        if BUILT_IN_RULES.contains(&self.name.as_str()) && self.name != "negative-balance" {
            return Err(invalid(
                format!("{at}.name"),
                format!("`{}` is a built-in rule", self.name),
            ));
        }
        let expression = Expression::parse(&self.expression)
            .map_err(|e| invalid(format!("{at}.expression"), e.to_string()))?;
        let when = match &self.when {
            None => None,
            Some(text) => Some(
                Expression::parse(text)
                    .map_err(|e| invalid(format!("{at}.when"), e.to_string()))?,
            ),
        };
        Ok(Invariant {
            rule: self.name.clone(),
            severity: self.severity.unwrap_or(Severity::Critical),
            expression,
            when,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_contract_defaults() {
        let config = Config::from_json("{}").unwrap();
        assert_eq!(config, Config::default());
        let rules = config.for_table("Anything");
        assert_eq!(rules.version_attribute, "version");
        assert_eq!(
            rules.version_step,
            VersionStep::Exactly(Decimal::from_i64(1))
        );
        assert_eq!(rules.bounds[0].rule, "negative-balance");
        assert_eq!(rules.bounds[0].min, Some(Decimal::ZERO));
    }

    #[test]
    fn tables_override_defaults_field_by_field() {
        let config = Config::from_json(
            r#"{"defaults": {"context_attributes": ["lastRequestId"], "version": {"step": 2}},
                "tables": {"Orders": {"version": {"attribute": "rev", "step": "any"},
                                      "bounds": [{"attribute": "qty", "min": "1", "max": 100, "severity": "warning"}]}}}"#,
        )
        .unwrap();
        let orders = config.for_table("Orders");
        assert_eq!(orders.version_attribute, "rev");
        assert_eq!(orders.version_step, VersionStep::AnyIncrease);
        assert_eq!(orders.context_attributes, ["lastRequestId"]);
        assert_eq!(orders.bounds.len(), 1);
        assert_eq!(orders.bounds[0].rule, "qty-out-of-bounds");
        assert_eq!(orders.bounds[0].severity, Severity::Warning);
        let other = config.for_table("Accounts");
        assert_eq!(
            other.version_step,
            VersionStep::Exactly(Decimal::from_i64(2))
        );
        assert_eq!(other.bounds[0].rule, "negative-balance");
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#"{"defaults": {"verion": {}}}"#, "defaults"),
            (
                r#"{"tables": {"T": {"version": {"step": -1}}}}"#,
                "tables.T.version.step",
            ),
            (
                r#"{"tables": {"T": {"version": {"step": "often"}}}}"#,
                "tables.T.version.step",
            ),
            (
                r#"{"defaults": {"bounds": [{"attribute": "balance", "min": "abc"}]}}"#,
                "defaults.bounds[0].min",
            ),
            (
                r#"{"defaults": {"bounds": [{"attribute": "balance"}]}}"#,
                "defaults.bounds[0]",
            ),
            (
                r#"{"defaults": {"bounds": [{"attribute": "b", "min": 5, "max": 1}]}}"#,
                "defaults.bounds[0]",
            ),
            (
                r#"{"defaults": {"disabled_rules": ["lost-updates"]}}"#,
                "defaults.disabled_rules[0]",
            ),
            (
                r#"{"defaults": {"severities": {"lost-update": "page"}}}"#,
                "defaults.severities.lost-update",
            ),
            (
                r#"{"defaults": {"bounds": [{"attribute": "b", "min": 0, "rule": "Bad Name"}]}}"#,
                "defaults.bounds[0].rule",
            ),
        ];
        for (json, path) in cases {
            let err = Config::from_json(json).unwrap_err().to_string();
            assert!(err.starts_with(path), "{json}: {err}");
        }
        assert!(matches!(
            Config::from_json("{"),
            Err(ConfigError::Syntax(_))
        ));
        assert!(matches!(
            Config::from_json("[]"),
            Err(ConfigError::Syntax(_))
        ));
    }

    #[test]
    fn invariants_are_parsed_at_load_and_errors_point_at_the_column() {
        let config = Config::from_json(
            r#"{"tables": {"Accounts": {"invariants": [
                {"name": "closed-with-balance", "severity": "warning",
                 "expression": "NEW.status <> 'closed' OR NEW.balance = 0"},
                {"name": "balance-moves-by-amount", "expression": "NEW.balance = OLD.balance - NEW.lastAmount",
                 "when": "attribute_exists(NEW.lastAmount)"}],
                "disabled_rules": ["closed-with-balance"]}}}"#,
        )
        .unwrap();
        let accounts = config.for_table("Accounts");
        assert_eq!(accounts.invariants.len(), 2);
        assert_eq!(accounts.invariants[0].severity, Severity::Warning);
        assert_eq!(accounts.invariants[1].severity, Severity::Critical);
        assert!(accounts.invariants[1].when.is_some());
        assert!(!accounts.enabled("closed-with-balance"));

        let cases = [
            (
                r#"{"tables": {"Accounts": {"invariants": [{"name": "x", "expression": "NEW.balance >= "}]}}}"#,
                "tables.Accounts.invariants[0].expression: column 16: expected an attribute path",
            ),
            (
                r#"{"defaults": {"invariants": [{"name": "x", "expression": "NEW.a = 1"}, {"name": "y", "expression": "NEW.a = 1", "when": "NEW.a + 'x' = 1"}]}}"#,
                "defaults.invariants[1].when: column 9: arithmetic needs numbers",
            ),
            (
                r#"{"defaults": {"invariants": [{"name": "Bad", "expression": "NEW.a = 1"}]}}"#,
                "defaults.invariants[0].name: `Bad` is not a rule id",
            ),
            (
                r#"{"defaults": {"invariants": [{"name": "lost-update", "expression": "NEW.a = 1"}]}}"#,
                "defaults.invariants[0].name: `lost-update` is a built-in rule",
            ),
            (
                r#"{"defaults": {"invariants": [{"name": "a", "expression": "NEW.a = 1"}, {"name": "a", "expression": "NEW.a = 2"}]}}"#,
                "defaults.invariants[1].name: `a` is declared twice",
            ),
            (
                r#"{"defaults": {"invariants": [{"name": "a"}]}}"#,
                "defaults.invariants[0]",
            ),
            (
                r#"{"tables": {"T": {"duplicate_request": {"request_attribute": "r", "watched_attributes": []}}}}"#,
                "tables.T.duplicate_request.watched_attributes: name at least one",
            ),
            (
                r#"{"tables": {"T": {"duplicate_request": {"request_attribute": "", "watched_attributes": ["b"]}}}}"#,
                "tables.T.duplicate_request.request_attribute: must not be empty",
            ),
            (
                r#"{"tables": {"T": {"duplicate_request": {"request_attribute": "r", "watched_attributes": ["b"], "remember": 0}}}}"#,
                "tables.T.duplicate_request.remember: must be between",
            ),
            (
                r#"{"tables": {"T": {"transfer": {"transfer_attribute": "t", "conserved_attribute": "b", "grace_seconds": -1}}}}"#,
                "tables.T.transfer.grace_seconds: must be between",
            ),
            (
                r#"{"tables": {"T": {"transfer": {"transfer_attribute": "", "conserved_attribute": "b"}}}}"#,
                "tables.T.transfer.transfer_attribute: must not be empty",
            ),
        ];
        for (json, want) in cases {
            let err = Config::from_json(json).unwrap_err().to_string();
            assert!(err.starts_with(want), "{json}: {err}");
        }
    }

    #[test]
    fn bounds_are_exact() {
        let config = Config::from_json(
            r#"{"defaults": {"bounds": [{"attribute": "x", "min": "0.1", "rule": "x-low"}]}}"#,
        )
        .unwrap();
        assert_eq!(
            config.defaults.bounds[0].min,
            Some(Decimal::parse("0.1").unwrap())
        );
        let disabled = Config::from_json(r#"{"defaults": {"bounds": [{"attribute": "x", "min": 0, "rule": "x-low"}], "disabled_rules": ["x-low"]}}"#).unwrap();
        assert!(!disabled.defaults.enabled("x-low"));
    }
}
