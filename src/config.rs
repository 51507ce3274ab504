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

/// `ledger-mismatch`: which items of a table are ledger entries, which account each belongs to,
/// and how an entry's amount should move that account's balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// `(key attribute, prefix)`: an item is an entry when that key attribute is a string
    /// starting with the prefix. `None`: every item of the table is an entry (then the accounts
    /// live in another table).
    pub entry_key_prefix: Option<(String, String)>,
    /// The entry attribute holding the value of the account item's key attribute.
    pub account_attribute: String,
    /// The table of the account items; `None`: the entry's own table.
    pub account_table: Option<String>,
    /// The key attribute of an account item that `account_attribute` names.
    pub account_key_attribute: String,
    pub amount_attribute: String,
    pub balance_attribute: String,
    /// `true`: an entry of amount `a` moves the balance by `-a` (amounts recorded as debits).
    pub opposite_sign: bool,
    /// `true`: an account item's INSERT moves its balance from 0 (accounts are opened by their
    /// first entry); `false`: an INSERT sets an opening balance no entry accounts for.
    pub insert_is_movement: bool,
    /// Stream seconds an account may stay out of step with its ledger before it is reported.
    pub grace_seconds: i64,
}

impl Ledger {
    /// The settings that decide how an account is audited; every ledger naming one account
    /// table must agree on them.
    fn account_side(&self) -> (&str, &str, bool, i64) {
        (
            &self.account_key_attribute,
            &self.balance_attribute,
            self.insert_is_movement,
            self.grace_seconds,
        )
    }
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
    /// `None`: the table holds no ledger entries (it may still be another table's account table).
    pub ledger: Option<Ledger>,
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
            ledger: None,
        }
    }
}

/// The whole resolved configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub defaults: TableRules,
    pub tables: HashMap<String, TableRules>,
    /// `ledger-mismatch`: account tables named by some table's `ledger.account_table`, with the
    /// ledger settings that audit their balances.
    pub ledger_accounts: HashMap<String, Ledger>,
}

impl Config {
    pub fn for_table(&self, table: &str) -> &TableRules {
        self.tables.get(table).unwrap_or(&self.defaults)
    }

    /// The ledger settings whose accounts live in `table`: a ledger elsewhere naming it as its
    /// `account_table`, else the table's own ledger when its accounts live beside its entries.
    pub fn ledger_for_accounts_in(&self, table: &str) -> Option<&Ledger> {
        self.ledger_accounts.get(table).or_else(|| {
            self.for_table(table)
                .ledger
                .as_ref()
                .filter(|l| l.account_table.as_deref().is_none_or(|t| t == table))
        })
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
        let ledger_accounts = ledger_accounts(&defaults, &tables)?;
        Ok(Config {
            defaults,
            tables,
            ledger_accounts,
        })
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
    ledger: Option<LedgerSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerSettings {
    entry_key_attribute: Option<String>,
    entry_key_prefix: Option<String>,
    account_attribute: String,
    account_table: Option<String>,
    account_key_attribute: String,
    amount_attribute: String,
    balance_attribute: Option<String>,
    sign: Option<LedgerSign>,
    insert_is_movement: Option<bool>,
    grace_seconds: Option<i64>,
}

/// How an entry's amount relates to the balance movement it records.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum LedgerSign {
    /// The balance moves by `+amount` (a withdrawal is a negative amount).
    Same,
    /// The balance moves by `-amount` (a withdrawal is a positive debit).
    Opposite,
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
        if let Some(settings) = &self.ledger {
            rules.ledger = Some(settings.resolve(&format!("{at}.ledger"))?);
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

impl LedgerSettings {
    fn resolve(&self, at: &str) -> Result<Ledger, ConfigError> {
        let non_empty = |field: &str, value: &str| {
            if value.is_empty() {
                Err(invalid(format!("{at}.{field}"), "must not be empty"))
            } else {
                Ok(value.to_owned())
            }
        };
        let entry_key_prefix = match (&self.entry_key_attribute, &self.entry_key_prefix) {
            (Some(attribute), Some(prefix)) => Some((
                non_empty("entry_key_attribute", attribute)?,
                non_empty("entry_key_prefix", prefix)?,
            )),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    format!("{at}.entry_key_prefix"),
                    "is required with `entry_key_attribute`",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    format!("{at}.entry_key_attribute"),
                    "is required with `entry_key_prefix` (the key attribute the prefix applies to)",
                ));
            }
        };
        let account_table = match &self.account_table {
            Some(table) => Some(non_empty("account_table", table)?),
            None => None,
        };
        if entry_key_prefix.is_none() && account_table.is_none() {
            return Err(invalid(
                format!("{at}.account_table"),
                "is required when every item of the table is a ledger entry (no `entry_key_prefix`): \
                 the accounts must live in another table",
            ));
        }
        let grace_seconds = self.grace_seconds.unwrap_or(300);
        if !(0..=7 * 24 * 3600).contains(&grace_seconds) {
            return Err(invalid(
                format!("{at}.grace_seconds"),
                format!("must be between 0 and 604800 (a week), not {grace_seconds}"),
            ));
        }
        let balance_attribute = match &self.balance_attribute {
            Some(name) => non_empty("balance_attribute", name)?,
            None => "balance".to_owned(),
        };
        Ok(Ledger {
            entry_key_prefix,
            account_attribute: non_empty("account_attribute", &self.account_attribute)?,
            account_table,
            account_key_attribute: non_empty("account_key_attribute", &self.account_key_attribute)?,
            amount_attribute: non_empty("amount_attribute", &self.amount_attribute)?,
            balance_attribute,
            opposite_sign: matches!(self.sign, Some(LedgerSign::Opposite)),
            insert_is_movement: self.insert_is_movement.unwrap_or(false),
            grace_seconds,
        })
    }
}

/// Indexes the account tables that ledgers name, refusing two ledgers that would audit one
/// account table's balances differently.
fn ledger_accounts(
    defaults: &TableRules,
    tables: &HashMap<String, TableRules>,
) -> Result<HashMap<String, Ledger>, ConfigError> {
    let mut named: Vec<(String, &Ledger)> = Vec::new();
    if let Some(ledger) = &defaults.ledger {
        named.push(("defaults".to_owned(), ledger));
    }
    let mut names: Vec<&String> = tables.keys().collect();
    names.sort();
    for name in names {
        if let Some(ledger) = &tables[name].ledger {
            named.push((format!("tables.{name}"), ledger));
        }
    }
    let mut accounts: HashMap<String, (String, Ledger)> = HashMap::new();
    for (at, ledger) in named {
        let Some(table) = &ledger.account_table else {
            continue;
        };
        // Its own ledger, when the account table keeps entries beside its accounts, must agree.
        let own = tables
            .get(table)
            .and_then(|t| t.ledger.as_ref())
            .filter(|l| l.account_table.as_deref().is_none_or(|t| t == table));
        let first = accounts
            .get(table)
            .map(|(where_, l)| (where_.clone(), l))
            .or_else(|| own.map(|l| (format!("tables.{table}"), l)));
        if let Some((where_, other)) = first
            && other.account_side() != ledger.account_side()
        {
            return Err(invalid(
                format!("{at}.ledger.account_table"),
                format!(
                    "`{table}` is also the account table of {where_}.ledger with a different \
                     account_key_attribute, balance_attribute, insert_is_movement or grace_seconds"
                ),
            ));
        }
        accounts
            .entry(table.clone())
            .or_insert_with(|| (at.clone(), ledger.clone()));
    }
    Ok(accounts.into_iter().map(|(t, (_, l))| (t, l)).collect())
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
    fn ledger_settings_are_validated_naming_the_field() {
        let ok = Config::from_json(
            r#"{"tables": {"Journal": {"ledger": {"account_attribute": "acct", "account_table": "Cards",
                "account_key_attribute": "id", "amount_attribute": "amount", "sign": "opposite"}}}}"#,
        )
        .unwrap();
        let ledger = ok.for_table("Journal").ledger.as_ref().unwrap();
        assert!(ledger.opposite_sign && !ledger.insert_is_movement);
        assert_eq!(
            (ledger.balance_attribute.as_str(), ledger.grace_seconds),
            ("balance", 300)
        );
        assert_eq!(ok.ledger_for_accounts_in("Cards"), Some(ledger));
        assert_eq!(ok.ledger_for_accounts_in("Journal"), None);

        let base =
            r#""account_attribute": "a", "account_key_attribute": "id", "amount_attribute": "m""#;
        let cases = [
            (
                format!(r#"{{"tables": {{"T": {{"ledger": {{{base}}}}}}}}}"#),
                "tables.T.ledger.account_table: is required",
            ),
            (
                format!(
                    r#"{{"tables": {{"T": {{"ledger": {{{base}, "entry_key_attribute": "sk"}}}}}}}}"#
                ),
                "tables.T.ledger.entry_key_prefix: is required",
            ),
            (
                format!(
                    r#"{{"tables": {{"T": {{"ledger": {{{base}, "entry_key_prefix": "L#"}}}}}}}}"#
                ),
                "tables.T.ledger.entry_key_attribute: is required",
            ),
            (
                format!(
                    r#"{{"defaults": {{"ledger": {{{base}, "account_table": "A", "grace_seconds": -1}}}}}}"#
                ),
                "defaults.ledger.grace_seconds: must be between",
            ),
            (
                format!(
                    r#"{{"tables": {{"T": {{"ledger": {{{base}, "account_table": "A", "sign": "up"}}}}}}}}"#
                ),
                "tables.T.ledger.sign",
            ),
            (
                r#"{"tables": {"T": {"ledger": {"account_attribute": "", "account_table": "A",
                    "account_key_attribute": "id", "amount_attribute": "m"}}}}"#
                    .to_owned(),
                "tables.T.ledger.account_attribute: must not be empty",
            ),
            (
                format!(
                    r#"{{"tables": {{"T": {{"ledger": {{{base}, "account_table": "A"}}}},
                        "U": {{"ledger": {{{base}, "account_table": "A", "balance_attribute": "b"}}}}}}}}"#
                ),
                "tables.U.ledger.account_table: `A` is also the account table of tables.T.ledger",
            ),
        ];
        for (json, want) in cases {
            let err = Config::from_json(&json).unwrap_err().to_string();
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
