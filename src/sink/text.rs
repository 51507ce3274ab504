//! The listing for a person: aligned columns (rule, severity, table, key, versions) followed by
//! the message. Findings are buffered until `finish` so columns can be sized to fit.

use std::io::{self, Write};

use super::FindingSink;
use crate::audit::finding::Finding;
use crate::config::Config;

pub struct TextListing<W: Write> {
    out: W,
    config: Config,
    rows: Vec<[String; 6]>,
}

impl<W: Write> TextListing<W> {
    /// The configuration tells which attribute is each table's version.
    pub fn new(out: W, config: Config) -> Self {
        TextListing {
            out,
            config,
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

/// `6->5`: the version movement a version rule saw, from its evidence for the table's version
/// attribute (`old`/`new`, `removed`/`new`, or for a history gap `previous_new`/`old`).
fn versions_text(finding: &Finding, version_attribute: &str) -> String {
    let Some(pair) = finding
        .evidence
        .get(version_attribute)
        .and_then(|v| v.as_object())
    else {
        return "-".to_owned();
    };
    let text = |key: &str| {
        pair.get(key).map(|v| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        })
    };
    let (from, to) = if pair.contains_key("previous_new") {
        (text("previous_new"), text("old"))
    } else {
        (text("old").or_else(|| text("removed")), text("new"))
    };
    match (from, to) {
        (Some(a), Some(b)) => format!("{a}->{b}"),
        (None, Some(b)) => b,
        (Some(a), None) => a,
        (None, None) => "-".to_owned(),
    }
}

impl<W: Write> FindingSink for TextListing<W> {
    fn emit(&mut self, finding: &Finding) -> io::Result<()> {
        self.rows.push([
            finding.rule.clone(),
            finding.severity.to_string(),
            if finding.table.is_empty() {
                "-".to_owned()
            } else {
                finding.table.clone()
            },
            key_text(finding),
            versions_text(
                finding,
                &self.config.for_table(&finding.table).version_attribute,
            ),
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
