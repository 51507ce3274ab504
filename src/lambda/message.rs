//! Turns a finding into an SNS message: the finding JSON as the body (evidence trimmed to fit),
//! a Subject a person reads at a glance, String attributes for filter policies, and the FIFO
//! group and de-duplication ids. Pure, so every limit is unit-tested without SNS.

use serde_json::Value as Json;

use crate::audit::finding::{Finding, JsonMap};

/// SNS's limit for one message, and for one PublishBatch call, in bytes (not characters).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Entries per PublishBatch call.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// SNS wants a Subject of fewer than 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;
const MAX_GROUP_ID_CHARS: usize = 128;
/// Room kept for what SNS may count besides body and attributes.
const SAFETY_BYTES: usize = 1024;

/// One message, ready to hand to the SNS client.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub body: String,
    pub subject: String,
    /// `severity`, `rule`, `table`, all of data type String.
    pub attributes: Vec<(&'static str, String)>,
    /// FIFO topics only.
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
}

impl Message {
    pub fn new(finding: &Finding, fifo: bool) -> Message {
        let attributes = vec![
            ("severity", finding.severity.as_str().to_owned()),
            ("rule", non_empty(&finding.rule)),
            ("table", non_empty(&finding.table)),
        ];
        let (group_id, deduplication_id) = if fifo {
            (Some(group_id(finding)), Some(finding.id.clone()))
        } else {
            (None, None)
        };
        let subject = subject(finding);
        let mut message = Message {
            body: String::new(),
            subject,
            attributes,
            group_id,
            deduplication_id,
        };
        let budget = MAX_MESSAGE_BYTES - SAFETY_BYTES - message.overhead_bytes();
        message.body = body_within(finding, budget);
        message
    }

    /// Bytes SNS counts against the size limit: body, attributes (name, type, value), and the
    /// other strings of the entry.
    pub fn size_bytes(&self) -> usize {
        self.body.len() + self.overhead_bytes()
    }

    fn overhead_bytes(&self) -> usize {
        self.subject.len()
            + self
                .attributes
                .iter()
                .map(|(name, value)| name.len() + "String".len() + value.len())
                .sum::<usize>()
            + self.group_id.as_ref().map_or(0, String::len)
            + self.deduplication_id.as_ref().map_or(0, String::len)
    }
}

/// Groups messages into PublishBatch calls: at most 10 entries and 256 KiB per call, in order.
pub fn batches(messages: &[Message]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, message) in messages.iter().enumerate() {
        let size = message.size_bytes();
        let full =
            i - start == MAX_BATCH_ENTRIES || bytes + size > MAX_MESSAGE_BYTES - SAFETY_BYTES;
        if i > start && full {
            ranges.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < messages.len() {
        ranges.push(start..messages.len());
    }
    ranges
}

fn non_empty(text: &str) -> String {
    if text.is_empty() {
        "unknown".to_owned()
    } else {
        text.to_owned()
    }
}

/// The finding JSON, with evidence and context values cut until it fits in `budget` bytes.
pub fn body_within(finding: &Finding, budget: usize) -> String {
    let body = serde_json::to_string(finding).unwrap_or_default();
    if body.len() <= budget {
        return body;
    }
    let original = body.len();
    // Cut long values to `limit` bytes, lowering the limit in small steps until the whole fits,
    // so that as much evidence as the limit allows survives. Rare, so re-serializing is fine.
    let mut limit = budget;
    while limit >= 64 {
        let mut trimmed = finding.clone();
        let mut cut = trim_map(&mut trimmed.evidence, limit);
        if let Some(context) = trimmed.context.as_mut() {
            cut |= trim_map(context, limit);
        }
        if cut {
            mark_trimmed(&mut trimmed.evidence, original);
        }
        let body = serde_json::to_string(&trimmed).unwrap_or_default();
        if body.len() <= budget {
            return body;
        }
        limit = limit * 7 / 8;
    }
    // Nothing small enough: the evidence goes, the identity and the message stay.
    let mut bare = finding.clone();
    bare.evidence = JsonMap::new();
    bare.context = None;
    mark_trimmed(&mut bare.evidence, original);
    truncate_to(&mut bare.message, 4096);
    serde_json::to_string(&bare).unwrap_or_default()
}

fn mark_trimmed(evidence: &mut JsonMap, original_bytes: usize) {
    evidence.insert(
        "_trimmed".to_owned(),
        Json::String(format!(
            "evidence cut to fit SNS's 256 KiB message limit (the full finding was {original_bytes} bytes)"
        )),
    );
}

/// Replaces every value of `map` whose JSON is longer than `limit` bytes by a string holding its
/// first `limit` bytes. Returns whether anything was cut.
fn trim_map(map: &mut JsonMap, limit: usize) -> bool {
    let mut cut = false;
    for value in map.values_mut() {
        cut |= trim_value(value, limit);
    }
    cut
}

fn trim_value(value: &mut Json, limit: usize) -> bool {
    match value {
        // Keep the structure of old/new pairs; cut inside them.
        Json::Object(map) if map.len() <= 8 => trim_map(map, limit / map.len().max(1)),
        _ => {
            let text = value.to_string();
            if text.len() <= limit {
                return false;
            }
            let mut head = match value {
                Json::String(s) => s.clone(),
                _ => text.clone(),
            };
            truncate_to(&mut head, limit);
            head.push_str(&format!("... [trimmed from {} bytes]", text.len()));
            *value = Json::String(head);
            true
        }
    }
}

/// Truncates `text` to at most `max` bytes, on a character boundary.
fn truncate_to(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}

/// `critical lost-update: Accounts[id=acc-1]`: printable ASCII, under 100 characters.
pub fn subject(finding: &Finding) -> String {
    let key: Vec<String> = finding
        .key
        .iter()
        .map(|(name, value)| match value {
            Json::String(s) => format!("{name}={s}"),
            other => format!("{name}={other}"),
        })
        .collect();
    let table = if finding.table.is_empty() {
        "unknown table"
    } else {
        &finding.table
    };
    let text = format!(
        "{} {}: {table}[{}]",
        finding.severity.as_str(),
        finding.rule,
        key.join(", ")
    );
    // SNS rejects control characters and line breaks in a Subject; keep it plain ASCII.
    let mut subject: String = text
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    if subject.len() > MAX_SUBJECT_CHARS {
        subject.truncate(MAX_SUBJECT_CHARS - 3);
        subject.push_str("...");
    }
    subject
}

/// The FIFO message group: table + key, so one item's findings stay in order while different
/// items are delivered in parallel. Where that text is too long or has characters SNS does not
/// allow in a group id, the key part becomes a hash of it (still one group per item).
pub fn group_id(finding: &Finding) -> String {
    let key = Json::Object(finding.key.clone()).to_string();
    let plain = format!("{}#{key}", finding.table);
    let allowed = |c: char| c.is_ascii_alphanumeric() || c.is_ascii_punctuation();
    if plain.len() <= MAX_GROUP_ID_CHARS && plain.chars().all(allowed) {
        return plain;
    }
    let hash = xxhash_rust::xxh3::xxh3_128(plain.as_bytes());
    let mut table: String = finding.table.chars().filter(|c| allowed(*c)).collect();
    truncate_to(&mut table, MAX_GROUP_ID_CHARS - 34);
    format!("{table}#{hash:032x}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::finding::Severity;

    fn finding(evidence: Json) -> Finding {
        Finding {
            id: "0123456789abcdef0123456789abcdef".to_owned(),
            rule: "lost-update".to_owned(),
            severity: Severity::Critical,
            table: "Accounts".to_owned(),
            key: json!({"id": "acc-1"}).as_object().unwrap().clone(),
            sequence_number: "100".to_owned(),
            event_id: "e1".to_owned(),
            event_name: "MODIFY".to_owned(),
            message: "Account acc-1 was overwritten.".to_owned(),
            evidence: evidence.as_object().unwrap().clone(),
            approximate_creation_time: None,
            stream_arn: None,
            context: None,
        }
    }

    #[test]
    fn a_small_finding_is_its_json_with_attributes() {
        let f = finding(json!({"version": {"old": "1", "new": "1"}}));
        let m = Message::new(&f, false);
        assert_eq!(serde_json::from_str::<Finding>(&m.body).unwrap(), f);
        assert_eq!(m.subject, "critical lost-update: Accounts[id=acc-1]");
        assert_eq!(
            m.attributes,
            vec![
                ("severity", "critical".to_owned()),
                ("rule", "lost-update".to_owned()),
                ("table", "Accounts".to_owned())
            ]
        );
        assert_eq!(m.group_id, None);
        let fifo = Message::new(&f, true);
        assert_eq!(fifo.group_id.as_deref(), Some(r#"Accounts#{"id":"acc-1"}"#));
        assert_eq!(fifo.deduplication_id.as_deref(), Some(f.id.as_str()));
    }

    #[test]
    fn huge_multibyte_evidence_is_trimmed_below_the_limit_in_bytes() {
        // 200k characters of 3-byte text: 600 KB, though under 256k characters.
        let big = "€".repeat(200_000);
        let f = finding(
            json!({"note": {"old": big.clone(), "new": big}, "version": {"old": "1", "new": "1"}}),
        );
        let m = Message::new(&f, true);
        assert!(m.size_bytes() <= MAX_MESSAGE_BYTES, "{}", m.size_bytes());
        let back: Finding = serde_json::from_str(&m.body).unwrap();
        assert_eq!(back.id, f.id);
        assert_eq!(back.key, f.key);
        assert_eq!(back.evidence["version"], json!({"old": "1", "new": "1"}));
        assert!(
            back.evidence["_trimmed"]
                .as_str()
                .unwrap()
                .contains("256 KiB")
        );
        assert!(
            back.evidence["note"]["old"]
                .as_str()
                .unwrap()
                .starts_with("€€€")
        );
        // Trimming keeps as much as fits, not a token amount.
        assert!(m.body.len() > MAX_MESSAGE_BYTES / 2, "{}", m.body.len());
    }

    #[test]
    fn subjects_are_short_printable_ascii() {
        let mut f = finding(json!({}));
        f.key = json!({"name": "Zoë\nwith a very long name that goes on and on and on and on and on and on and on"})
            .as_object()
            .unwrap()
            .clone();
        let s = subject(&f);
        assert!(s.chars().count() < 100, "{s}");
        assert!(s.chars().all(|c| (' '..='~').contains(&c)), "{s}");
        assert!(s.ends_with("..."));
        assert!(s.starts_with("critical lost-update: Accounts[name=Zo?"));
    }

    #[test]
    fn group_ids_stay_valid_for_any_key() {
        let mut f = finding(json!({}));
        f.key = json!({"pk": "ünïcode key ".repeat(20)})
            .as_object()
            .unwrap()
            .clone();
        let g = group_id(&f);
        assert!(g.len() <= 128 && g.starts_with("Accounts#"), "{g}");
        assert!(
            g.chars()
                .all(|c| c.is_ascii_alphanumeric() || c.is_ascii_punctuation())
        );
        assert_eq!(g, group_id(&f), "deterministic");
    }

    #[test]
    fn batches_hold_at_most_ten_entries_and_256_kib() {
        let small = Message::new(&finding(json!({})), false);
        let ranges = batches(&vec![small.clone(); 23]);
        assert_eq!(ranges, vec![0..10, 10..20, 20..23]);
        let big_evidence = json!({"blob": "x".repeat(100_000)});
        let big = Message::new(&finding(big_evidence), false);
        let ranges = batches(&[big.clone(), big.clone(), big.clone(), small]);
        assert_eq!(ranges, vec![0..2, 2..4]);
        for r in ranges {
            let total: usize = r
                .clone()
                .map(|i| [&big, &big, &big][i.min(2)].size_bytes())
                .sum();
            assert!(total <= MAX_MESSAGE_BYTES);
        }
        assert!(batches(&[]).is_empty());
    }
}
