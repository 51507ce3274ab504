//! Golden replay tests: every event file under `events/` is replayed through the real `ddb-audit`
//! binary and must print exactly the findings in `events/expected/<name>.jsonl`, with the exit
//! code CONTRACT.md gives. A mismatch prints a line diff of the pretty-printed findings.
//!
//! Every scenario, and the whole directory, is replayed with `events/config/audit.json`: it only
//! configures tables of their own for the opt-in rules (declared invariants, duplicate requests,
//! transfers, ledgers), so the scenarios written for the defaults are unaffected.
//!
//! After a deliberate change, `UPDATE_GOLDEN=1 cargo test --test golden_replay` rewrites the
//! expected files; review the git diff before committing it.

mod support;

use std::path::{Path, PathBuf};

use support::*;

fn scenarios() -> Vec<(String, PathBuf)> {
    let events = repo_root().join("events");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&events).expect("events/ exists") {
        let path = entry.expect("readable").path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            found.push((name, path));
        }
    }
    for entry in std::fs::read_dir(events.join("multi-batch")).expect("events/multi-batch exists") {
        let path = entry.expect("readable").path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            found.push((name, path));
        }
    }
    found.sort();
    found
}

/// The configuration every scenario is replayed with.
fn golden_config() -> String {
    repo_root()
        .join("events/config/audit.json")
        .to_string_lossy()
        .into_owned()
}

fn check_scenario(name: &str, input: &Path) -> Result<(), String> {
    let config = golden_config();
    let output = ddb_audit(
        &[
            "replay",
            "--config",
            &config,
            "--format",
            "json",
            input.to_str().unwrap(),
        ],
        None,
    );
    let stdout =
        String::from_utf8(output.stdout).map_err(|e| format!("{name}: stdout not UTF-8: {e}"))?;
    let actual = json_lines(&stdout);
    let expected_file = expected_path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_file, &stdout).unwrap();
        return Ok(());
    }
    let expected = read_expected(&expected_file);
    let mut problems = String::new();
    if actual != expected {
        problems.push_str(&format!(
            "{name}: findings differ from {} (- expected, + actual):\n{}",
            expected_file.display(),
            diff(&pretty_lines(&expected), &pretty_lines(&actual))
        ));
    }
    let want_code = if expected.is_empty() { 0 } else { 1 };
    if output.status.code() != Some(want_code) {
        problems.push_str(&format!(
            "{name}: exit code {:?}, expected {want_code}; stderr: {}\n",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[test]
fn every_event_file_prints_exactly_its_expected_findings() {
    let scenarios = scenarios();
    assert!(
        scenarios.len() >= 10,
        "expected the bundled scenarios, found {}",
        scenarios.len()
    );
    let failures: Vec<String> = scenarios
        .iter()
        .filter_map(|(name, path)| check_scenario(name, path).err())
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_built_in_rule_has_a_firing_scenario() {
    let mut rules = std::collections::BTreeSet::new();
    for (name, _) in scenarios() {
        for finding in read_expected(&expected_path(&name)) {
            rules.insert(finding["rule"].as_str().unwrap().to_owned());
        }
    }
    for rule in ddb_stream_audit::audit::rules::BUILT_IN_RULES {
        assert!(
            rules.contains(*rule),
            "no scenario in events/ fires `{rule}`"
        );
    }
}

/// The quick start replays the whole directory as one stream: scenarios use distinct items, so
/// the result is the per-file expectations in file-name order.
#[test]
fn replaying_the_whole_directory_is_the_sum_of_its_files() {
    let config = golden_config();
    let output = ddb_audit(
        &["replay", "--config", &config, "--format", "json", "events/"],
        None,
    );
    let actual = json_lines(&String::from_utf8(output.stdout).unwrap());
    let mut expected = Vec::new();
    for (name, path) in scenarios() {
        if path.is_file() {
            expected.extend(read_expected(&expected_path(&name)));
        }
    }
    assert_eq!(output.status.code(), Some(1));
    assert!(
        actual == expected,
        "(- expected, + actual)\n{}",
        diff(&pretty_lines(&expected), &pretty_lines(&actual))
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("audited") && stderr.contains("findings"),
        "summary missing: {stderr}"
    );
}

#[test]
fn aws_sample_events_decode_without_malformed_records() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(aws_samples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the five AWS sample events, found {}",
        files.len()
    );
    for file in files {
        let output = ddb_audit(
            &["replay", "--format", "json", file.to_str().unwrap()],
            None,
        );
        let findings = json_lines(&String::from_utf8(output.stdout).unwrap());
        assert!(
            output.status.code() == Some(1) || output.status.code() == Some(0),
            "{}",
            file.display()
        );
        for finding in &findings {
            // They carry no version attribute: missing-version is expected, nothing else.
            assert_eq!(
                finding["rule"],
                "missing-version",
                "{}: {finding}",
                file.display()
            );
        }
        let bytes = std::fs::read(&file).unwrap();
        let records = ddb_stream_audit::source::decode_event(&bytes).unwrap();
        assert!(!records.is_empty());
        for record in &records {
            assert!(
                matches!(record, ddb_stream_audit::source::Record::Change(_)),
                "{}: {record:?}",
                file.display()
            );
        }
    }
}
