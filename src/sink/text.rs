//! The listing for a person: aligned columns (rule, severity, table, key, versions) followed by
//! the message. Findings are buffered until `finish` so columns can be sized to fit.

use std::io::{self, Write};

use super::FindingSink;
use crate::audit::finding::Finding;

pub struct TextListing<W: Write> {
    out: W,
    rows: Vec<[String; 6]>,
}

impl<W: Write> TextListing<W> {
    pub fn new(out: W) -> Self {
        TextListing {
            out,
            rows: Vec::new(),
        }
    }
}

fn key_text(finding: &Finding) -> String {
    let parts: Vec<String> = finding
        .key
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(",")
    }
}

/// `3->3` from evidence that has an `{old, new}` (or `{removed, new}`) pair for the version.
fn versions_text(finding: &Finding) -> String {
    for value in finding.evidence.values() {
        if let Some(pair) = value.as_object() {
            let from = pair
                .get("old")
                .or_else(|| pair.get("removed"))
                .or_else(|| pair.get("previous_new"));
            let to = pair.get("new").or_else(|| {
                if pair.contains_key("previous_new") {
                    pair.get("old")
                } else {
                    None
                }
            });
            let text = |v: &serde_json::Value| {
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string())
            };
            if let (Some(a), Some(b)) = (from, to)
                && (finding.rule.starts_with("version")
                    || finding.rule == "lost-update"
                    || finding.rule == "history-gap")
            {
                return format!("{}->{}", text(a), text(b));
            }
        }
    }
    "-".to_owned()
}

impl<W: Write> FindingSink for TextListing<W> {
    fn emit(&mut self, finding: &Finding) -> io::Result<()> {
        self.rows.push([
            finding.rule.clone(),
            finding.severity.to_string(),
            finding.table.clone(),
            key_text(finding),
            versions_text(finding),
            finding.message.clone(),
        ]);
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.rows.is_empty() {
            return self.out.flush();
        }
        let header = ["RULE", "SEVERITY", "TABLE", "KEY", "VERSIONS", "MESSAGE"].map(str::to_owned);
        let mut widths = [0usize; 5];
        for row in std::iter::once(&header).chain(&self.rows) {
            for (w, cell) in widths.iter_mut().zip(row.iter()) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut text = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            for (cell, width) in row.iter().zip(widths) {
                text.push_str(cell);
                text.push_str(&" ".repeat(width - cell.chars().count() + 2));
            }
            text.push_str(&row[5]);
            text.push('\n');
        }
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }
}
