//! The command line's contract: exit codes, errors on stderr naming the input, stdout holding
//! only whole lines, stdin, directories, formats and help.

mod support;

use support::*;

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn assert_one_line_error(output: &std::process::Output, mentions: &[&str]) {
    assert_eq!(
        output.status.code(),
        Some(2),
        "stderr: {}",
        stderr_of(output)
    );
    let stderr = stderr_of(output);
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr:?}");
    for m in mentions {
        assert!(stderr.contains(m), "{stderr:?} should mention {m:?}");
    }
}

#[test]
fn exit_codes_follow_findings() {
    let clean = ddb_audit(&["replay", "events/01-clean-history.json"], None);
    assert_eq!(clean.status.code(), Some(0));
    assert!(clean.stdout.is_empty());
    let found = ddb_audit(&["replay", "events/02-lost-update.json"], None);
    assert_eq!(found.status.code(), Some(1));
    // Not a terminal: JSON Lines is the default.
    assert_eq!(
        json_lines(&String::from_utf8(found.stdout.clone()).unwrap()).len(),
        1
    );
    assert!(
        stderr_of(&found).contains("1 finding (lost-update 1)"),
        "{}",
        stderr_of(&found)
    );
}

#[test]
fn input_errors_exit_2_naming_the_file() {
    let missing = ddb_audit(&["replay", "events/no-such-file.json"], None);
    assert_one_line_error(&missing, &["events/no-such-file.json"]);

    let dir = tempdir("input-errors");
    let bad = dir.join("broken.json");
    std::fs::write(&bad, "{\"Records\": [ {\"eventID\": ").unwrap();
    let broken = ddb_audit(&["replay", bad.to_str().unwrap()], None);
    assert_one_line_error(&broken, &["broken.json", "line 1"]);

    let not_event = dir.join("not-event.json");
    std::fs::write(&not_event, "[1, 2]").unwrap();
    assert_one_line_error(
        &ddb_audit(&["replay", not_event.to_str().unwrap()], None),
        &["not-event.json", "Records"],
    );

    let empty = tempdir("empty-dir");
    assert_one_line_error(
        &ddb_audit(&["replay", empty.to_str().unwrap()], None),
        &["no *.json"],
    );
}

#[test]
fn a_bad_file_after_good_ones_keeps_stdout_whole_lines() {
    let dir = tempdir("bad-after-good");
    let bad = dir.join("z.json");
    std::fs::write(&bad, "{\"Records\": [").unwrap();
    let output = ddb_audit(
        &[
            "replay",
            "events/02-lost-update.json",
            bad.to_str().unwrap(),
        ],
        None,
    );
    assert_one_line_error(&output, &["z.json"]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.ends_with('\n'));
    assert_eq!(json_lines(&stdout).len(), 1);
}

#[test]
fn bad_config_exits_2_naming_the_field() {
    let dir = tempdir("bad-config");
    let config = dir.join("audit.json");
    std::fs::write(
        &config,
        r#"{"tables": {"Accounts": {"bounds": [{"attribute": "balance", "min": "zero"}]}}}"#,
    )
    .unwrap();
    let output = ddb_audit(
        &["replay", "--config", config.to_str().unwrap(), "events/"],
        None,
    );
    assert_one_line_error(&output, &["audit.json", "tables.Accounts.bounds[0].min"]);
    assert!(output.stdout.is_empty());
}

#[test]
fn config_changes_the_findings() {
    let dir = tempdir("good-config");
    let config = dir.join("audit.json");
    std::fs::write(
        &config,
        r#"{"defaults": {"disabled_rules": ["lost-update"]}}"#,
    )
    .unwrap();
    let output = ddb_audit(
        &[
            "replay",
            "--config",
            config.to_str().unwrap(),
            "events/02-lost-update.json",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

#[test]
fn stdin_is_a_batch_like_any_file() {
    let bytes = std::fs::read(repo_root().join("events/07-negative-balance.json")).unwrap();
    let output = ddb_audit(&["replay", "--format", "json", "-"], Some(&bytes));
    assert_eq!(output.status.code(), Some(1));
    let findings = json_lines(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(findings[0]["rule"], "negative-balance");
}

#[test]
fn files_are_consecutive_batches_of_one_stream() {
    let dir = repo_root().join("events/multi-batch/history-gap-across-batches");
    let one = ddb_audit(
        &[
            "replay",
            dir.join("01.json").to_str().unwrap(),
            dir.join("02.json").to_str().unwrap(),
        ],
        None,
    );
    let both = ddb_audit(&["replay", dir.to_str().unwrap()], None);
    assert_eq!(one.stdout, both.stdout);
    let findings = json_lines(&String::from_utf8(both.stdout).unwrap());
    let rules: Vec<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["history-gap", "lost-update"]);
    // The first batch alone is a clean history.
    let first = ddb_audit(&["replay", dir.join("01.json").to_str().unwrap()], None);
    assert_eq!(first.status.code(), Some(0));
}

#[test]
fn text_format_is_an_aligned_listing() {
    let output = ddb_audit(
        &[
            "replay",
            "--format",
            "text",
            "events/03-version-regression.json",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("RULE"));
    let column = lines[0].find("SEVERITY").unwrap();
    for line in &lines[1..] {
        assert_eq!(&line[column..column + 8], "critical", "{line}");
        assert!(
            line.contains("Accounts") && line.contains("id=acc-"),
            "{line}"
        );
    }
    assert!(lines[1].contains("6->5"), "{}", lines[1]);
}

#[test]
fn help_is_complete_and_usage_errors_exit_2() {
    let help = ddb_audit(&["--help"], None);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8(help.stdout).unwrap();
    assert!(
        text.contains("Usage: ddb-audit") && text.contains("replay"),
        "{text}"
    );
    let replay_help = ddb_audit(&["replay", "--help"], None);
    let text = String::from_utf8(replay_help.stdout).unwrap();
    for part in [
        "--config",
        "--format",
        "FILE_OR_DIR",
        "json",
        "text",
        "Exit status",
    ] {
        assert!(text.contains(part), "replay --help lacks {part}: {text}");
    }
    assert_eq!(ddb_audit(&["replay"], None).status.code(), Some(2));
    assert_eq!(
        ddb_audit(&["replay", "--format", "xml", "events/"], None)
            .status
            .code(),
        Some(2)
    );
    assert_eq!(ddb_audit(&["frobnicate"], None).status.code(), Some(2));
    assert_eq!(ddb_audit(&["--version"], None).status.code(), Some(0));
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ddb-audit-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
