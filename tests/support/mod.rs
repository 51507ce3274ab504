//! Helpers shared by the golden and command-line tests: running `ddb-audit`, and a readable
//! line diff for mismatches.

#![allow(dead_code)]

pub mod audit_run;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The AWS sample events shared beside the repository (`../shared/fixtures/aws-samples`).
/// Missing fixtures are a failure, never a skip.
pub fn aws_samples_dir() -> PathBuf {
    let dir = repo_root().join("../shared/fixtures/aws-samples");
    assert!(
        dir.is_dir(),
        "the AWS sample events are missing: expected {} (shared/ beside the repository)",
        dir.display()
    );
    dir
}

/// Runs `ddb-audit` with `args`, optional stdin bytes.
pub fn ddb_audit(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ddb-audit"));
    command.args(args).current_dir(repo_root());
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("ddb-audit starts");
    if let Some(bytes) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin is piped");
        // A closed pipe is fine: the tool may stop reading after an error.
        let _ = pipe.write_all(bytes);
    }
    child.wait_with_output().expect("ddb-audit runs")
}

pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect()
}

/// A line diff (longest common subsequence) of two sequences of lines: `-` expected, `+` actual.
pub fn diff(expected: &[String], actual: &[String]) -> String {
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            out.push_str(&format!("  {}\n", expected[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", actual[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", expected[i]));
            i += 1;
        }
    }
    out
}

/// Pretty-printed lines of each finding, so a diff points at the field that changed.
pub fn pretty_lines(findings: &[serde_json::Value]) -> Vec<String> {
    findings
        .iter()
        .flat_map(|f| {
            serde_json::to_string_pretty(f)
                .expect("serializable")
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

pub fn expected_path(name: &str) -> PathBuf {
    repo_root()
        .join("events/expected")
        .join(format!("{name}.jsonl"))
}

pub fn read_expected(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    json_lines(&text)
}
