//! `ledger-mismatch` (opt-in: `ledger` in the table configuration): an account's balance must
//! move by exactly the sum of its new ledger entries.
//!
//! Invariant: apps that record each movement as a ledger item write the entry and move the
//! balance together. A balance that moved less (or more) than the ledger says is a lost update,
//! a half-done movement, or money moved without an entry. It catches what no per-item rule can:
//! on real DynamoDB a blind overwrite that stores exactly what was already there writes no stream
//! record, so the account's history looks clean while its ledger holds one entry too many.
//!
//! Contributions, per account (account table + the value of its key attribute):
//! - a ledger entry (an item of a table with a `ledger` section, selected by its key prefix or,
//!   without one, every item of that table) adds `amount` (or `-amount` with `sign: opposite`)
//!   to what the ledger says: INSERT adds its amount; MODIFY with both images naming the same
//!   account adds `new - old` amount (an entry kept as a running total is still counted right);
//!   REMOVE adds nothing (archiving entries does not move money back);
//! - a balance update (a MODIFY of an account item with both images) adds `new - old` balance to
//!   what the balance moved; an INSERT counts from 0 only with `insert_is_movement` (otherwise it
//!   is an opening balance); REMOVE adds nothing. An absent attribute counts as 0; a non-number
//!   is not a contribution.
//!
//! Matching in time: the running difference is (ledger sum) - (balance moved). Entries and
//! balance updates may come in either order, in one batch or several; only the sum matters. When
//! the difference returns to 0 the account is forgotten (the state holds only accounts out of
//! step). The core has no clock, so time is stream time (ApproximateCreationDateTime): when a
//! record is audited more than `grace_seconds` after the difference became non-zero, the account
//! is reported once and forgotten (its difference starts again from 0).
//! [`crate::audit::Auditor::finish`] reports accounts still out of step at the end of a replay.
//! Re-delivered records never reach the rule (the item checkpoint drops them first), so nothing
//! counts twice.
//!
//! Evidence: the account, the difference, the ledger sum and the balance movement of the
//! episode, their counts, the stream time it opened, and the newest contributions (entries with
//! amounts, balance updates with old and new balance). Reported on the account's newest balance
//! update of the episode, or on its newest entry when the balance never moved in it.
//!
//! Blind spots: entries deleted, balances set by paths that write no entry (corrections,
//! migrations: false positives), records without the images a contribution needs (KEYS_ONLY,
//! NEW_IMAGE and OLD_IMAGE views), an entry moved to another account by a MODIFY, accounts with a
//! composite key beyond `account_key_attribute`. False positives from timing: an account never in
//! step at any audited record for longer than the grace period (a constant stream of half-done
//! movements); and a movement half done at the moment of a report: its other half opens a new
//! difference of the opposite sign. Choose a grace period far longer than the time between an
//! entry and its balance update, plus the lag between shards.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::finding::{Finding, JsonMap, Severity};
use crate::audit::rules::unbalanced_transfer::{RecordRef, stream_seconds};
use crate::change::{Change, EventName};
use crate::config::{Config, Ledger};
use crate::decimal::Decimal;
use crate::value::{Image, Value};

pub const RULE: &str = "ledger-mismatch";

/// How many contributions of an episode its state keeps for the evidence: the state of every
/// out-of-step account travels in one stored item, so it must stay small.
const KEPT_CONTRIBUTIONS: usize = 8;

/// The account item an entry or balance update belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub table: String,
    /// `{account_key_attribute: value}`, as findings show keys.
    pub key: JsonMap,
}

impl Account {
    /// The key of the account in the rule's map: unambiguous whatever the names hold.
    fn id(&self) -> String {
        json!([self.table, self.key]).to_string()
    }
}

/// One contribution, as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    pub table: String,
    pub key: JsonMap,
    pub sequence_number: String,
    /// What the ledger says the balance should move by (entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<Decimal>,
    /// Old and new balance (balance updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<(Decimal, Decimal)>,
}

/// An account whose balance is out of step with its ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLedger {
    pub account: Account,
    /// Stream time the difference became non-zero.
    pub since: i64,
    pub grace_seconds: i64,
    /// Ledger sum minus balance moved.
    pub difference: Decimal,
    pub ledger_sum: Decimal,
    pub balance_moved: Decimal,
    pub entries: u64,
    pub balance_updates: u64,
    /// The newest contributions, oldest first.
    pub recent: Vec<Contribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_balance_update: Option<RecordRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_entry: Option<RecordRef>,
}

/// Out-of-step accounts, by [`Account`] id.
pub type Ledgers = BTreeMap<String, PendingLedger>;

/// What one change says about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Movement {
    /// A ledger entry: the balance should move by this much.
    Entry(Decimal),
    /// A balance update from old to new.
    Balance { old: Decimal, new: Decimal },
}

/// The account a change concerns and what it contributes, if anything.
pub fn movement_of(change: &Change<'_>, config: &Config) -> Option<(Account, Movement, i64)> {
    let own = config.for_table(&change.table).ledger.as_ref();
    if let Some(ledger) = own.filter(|l| is_entry(change, l)) {
        let account_table = ledger.account_table.as_deref().unwrap_or(&change.table);
        return entry_movement(change, ledger, account_table);
    }
    let ledger = config.ledger_for_accounts_in(&change.table)?;
    balance_movement(change, ledger)
}

fn is_entry(change: &Change<'_>, ledger: &Ledger) -> bool {
    match &ledger.entry_key_prefix {
        Some((attribute, prefix)) => matches!(
            change.keys.get(attribute),
            Some(Value::S(key)) if key.starts_with(prefix.as_str())
        ),
        // Every item is an entry, unless this table is where the accounts live.
        None => ledger
            .account_table
            .as_deref()
            .is_some_and(|t| t != change.table),
    }
}

fn entry_movement(
    change: &Change<'_>,
    ledger: &Ledger,
    account_table: &str,
) -> Option<(Account, Movement, i64)> {
    let new = change.new_image.as_ref()?;
    let account = account_value(new, &ledger.account_attribute)?;
    let amount = match change.event_name {
        EventName::Insert => number_or_zero(new, &ledger.amount_attribute)?,
        EventName::Modify => {
            let old = change.old_image.as_ref()?;
            if account_value(old, &ledger.account_attribute).as_ref() != Some(&account) {
                return None;
            }
            number_or_zero(new, &ledger.amount_attribute)?
                .checked_sub(&number_or_zero(old, &ledger.amount_attribute)?)?
        }
        EventName::Remove => return None,
    };
    let expected = if ledger.opposite_sign {
        amount.negated()
    } else {
        amount
    };
    if expected.is_zero() {
        return None;
    }
    let account = Account {
        table: account_table.to_owned(),
        key: JsonMap::from_iter([(ledger.account_key_attribute.clone(), json!(account))]),
    };
    Some((account, Movement::Entry(expected), ledger.grace_seconds))
}

fn balance_movement(change: &Change<'_>, ledger: &Ledger) -> Option<(Account, Movement, i64)> {
    let account = account_value(&change.keys, &ledger.account_key_attribute)?;
    let new = change.new_image.as_ref()?;
    let old = match change.event_name {
        EventName::Modify => number_or_zero(change.old_image.as_ref()?, &ledger.balance_attribute)?,
        EventName::Insert if ledger.insert_is_movement => Decimal::ZERO,
        _ => return None,
    };
    let new = number_or_zero(new, &ledger.balance_attribute)?;
    if new == old {
        return None;
    }
    let account = Account {
        table: change.table.to_string(),
        key: JsonMap::from_iter([(ledger.account_key_attribute.clone(), json!(account))]),
    };
    Some((
        account,
        Movement::Balance { old, new },
        ledger.grace_seconds,
    ))
}

/// An account key value as text: strings as they are, numbers normalized (`1.0` is `1`).
fn account_value(image: &Image<'_>, attribute: &str) -> Option<String> {
    match image.get(attribute)? {
        Value::S(s) => Some(s.to_string()),
        Value::N(n) => Some(n.value.to_string()),
        _ => None,
    }
}

/// The number in `attribute`, 0 when absent, `None` for anything but a number.
fn number_or_zero(image: &Image<'_>, attribute: &str) -> Option<Decimal> {
    match image.get(attribute) {
        None => Some(Decimal::ZERO),
        Some(v) => v.as_number().map(|n| n.value),
    }
}

/// Adds a change's contribution to its account's running difference.
pub fn record(change: &Change<'_>, config: &Config, ledgers: &mut Ledgers) {
    let Some((account, movement, grace_seconds)) = movement_of(change, config) else {
        return;
    };
    let id = account.id();
    let now = stream_seconds(change).unwrap_or(0);
    let pending = ledgers.entry(id.clone()).or_insert_with(|| PendingLedger {
        account,
        since: now,
        grace_seconds,
        difference: Decimal::ZERO,
        ledger_sum: Decimal::ZERO,
        balance_moved: Decimal::ZERO,
        entries: 0,
        balance_updates: 0,
        recent: Vec::new(),
        last_balance_update: None,
        last_entry: None,
    });
    let mut contribution = Contribution {
        table: change.table.to_string(),
        key: change.keys.to_plain_json(),
        sequence_number: change.sequence_number.as_str().to_owned(),
        ledger: None,
        balance: None,
    };
    // Beyond 38 digits the sums cannot be kept exactly: the contribution is left out.
    let applied = match movement {
        Movement::Entry(amount) => pending
            .ledger_sum
            .checked_add(&amount)
            .zip(pending.difference.checked_add(&amount))
            .map(|(sum, difference)| {
                pending.ledger_sum = sum;
                pending.difference = difference;
                pending.entries += 1;
                pending.last_entry = Some(RecordRef::of(change));
                contribution.ledger = Some(amount);
            }),
        Movement::Balance { old, new } => new
            .checked_sub(&old)
            .and_then(|moved| {
                pending
                    .balance_moved
                    .checked_add(&moved)
                    .zip(pending.difference.checked_sub(&moved))
            })
            .map(|(sum, difference)| {
                pending.balance_moved = sum;
                pending.difference = difference;
                pending.balance_updates += 1;
                pending.last_balance_update = Some(RecordRef::of(change));
                contribution.balance = Some((old, new));
            }),
    };
    if applied.is_some() {
        pending.recent.push(contribution);
        if pending.recent.len() > KEPT_CONTRIBUTIONS {
            pending.recent.remove(0);
        }
    }
    if pending.difference.is_zero() {
        ledgers.remove(&id);
    }
}

/// Reports accounts out of step for longer than their grace period at stream time `now` (all of
/// them when `now` is `None`: the end of the audited stream), forgetting them.
pub fn settle(config: &Config, ledgers: &mut Ledgers, now: Option<i64>) -> Vec<Finding> {
    let due: Vec<String> = ledgers
        .iter()
        .filter(|(_, p)| now.is_none_or(|now| now > p.since.saturating_add(p.grace_seconds)))
        .map(|(id, _)| id.clone())
        .collect();
    let mut findings = Vec::new();
    for id in due {
        let Some(pending) = ledgers.remove(&id) else {
            continue;
        };
        if pending.difference.is_zero() || !config.for_table(&pending.account.table).enabled(RULE) {
            continue;
        }
        if let Some(finding) = finding(config, &pending, now.is_none()) {
            findings.push(finding);
        }
    }
    findings
}

fn finding(config: &Config, pending: &PendingLedger, at_end: bool) -> Option<Finding> {
    let on = pending
        .last_balance_update
        .as_ref()
        .or(pending.last_entry.as_ref())?;
    let account = format!(
        "{}[{}]",
        pending.account.table,
        pending
            .account
            .key
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let recent: Vec<serde_json::Value> = pending
        .recent
        .iter()
        .map(|c| {
            let mut item = json!({"table": c.table, "key": c.key,
                                  "sequence_number": c.sequence_number});
            if let Some(amount) = c.ledger {
                item["ledger_amount"] = json!(amount.to_string());
            }
            if let Some((old, new)) = c.balance {
                item["balance"] = json!({"old": old.to_string(), "new": new.to_string()});
            }
            item
        })
        .collect();
    let mut evidence = JsonMap::new();
    evidence.insert(
        "account".to_owned(),
        json!({"table": pending.account.table, "key": pending.account.key}),
    );
    evidence.insert(
        "difference".to_owned(),
        json!(pending.difference.to_string()),
    );
    evidence.insert(
        "ledger_sum".to_owned(),
        json!(pending.ledger_sum.to_string()),
    );
    evidence.insert(
        "balance_moved".to_owned(),
        json!(pending.balance_moved.to_string()),
    );
    evidence.insert("entries".to_owned(), json!(pending.entries));
    evidence.insert("balance_updates".to_owned(), json!(pending.balance_updates));
    if let Some(since) = crate::time::rfc3339_from_epoch_seconds(pending.since as f64) {
        evidence.insert("out_of_step_since".to_owned(), json!(since));
    }
    evidence.insert("recent".to_owned(), json!(recent));
    let when = if at_end {
        "is still out of step with its ledger at the end of the audited stream".to_owned()
    } else {
        format!(
            "stayed out of step with its ledger for more than {}s",
            pending.grace_seconds
        )
    };
    let message = format!(
        "Account {account} {when}: its {} new {} the balance should move by {}, but it \
         moved by {} (difference {}); a balance update was lost or a movement lacks its entry.",
        pending.entries,
        if pending.entries == 1 {
            "entry says"
        } else {
            "entries say"
        },
        pending.ledger_sum,
        pending.balance_moved,
        pending.difference
    );
    Some(on.finding(config, RULE, Severity::Critical, message, evidence))
}
