//! `ddb-audit scan` against a live stream (moto in server mode, written to through the AWS SDK
//! for Rust): the findings equal what `replay` gives on the same records, fetched independently
//! of the scan's own reader from the DynamoDB Streams wire protocol.

mod common;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Output;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use common::aws::{sdk_config, unique};
use common::moto::Moto;
use ddb_stream_audit::Auditor;
use ddb_stream_audit::audit::finding::Finding;
use ddb_stream_audit::replay::Replay;
use ddb_stream_audit::scan::progress::{Progress, ScanStatus};
use ddb_stream_audit::scan::{Clients, ScanOptions, StartingPosition, scan};
use ddb_stream_audit::sink::FindingSink;
use support::{diff, json_lines};

/// Runs `ddb-audit` against `moto` with the standard chain's environment (as on-call would).
fn ddb_audit_at(moto: &Moto, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ddb-audit"))
        .args(args)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("ddb-audit runs")
}

async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str, stream: bool) {
    let mut request = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        );
    if stream {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        );
    }
    request.send().await.expect("create table");
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

async fn put(ddb: &aws_sdk_dynamodb::Client, table: &str, item: &[(&str, AttributeValue)]) {
    let mut request = ddb.put_item().table_name(table);
    for (name, value) in item {
        request = request.item(*name, value.clone());
    }
    request.send().await.expect("put item");
}

/// A history with something for every rule, plus enough clean writes to need several
/// GetRecords pages (the API returns at most 1000 records a page).
async fn write_history(ddb: &aws_sdk_dynamodb::Client, table: &str) {
    // Clean increments on a few accounts: 1200 records, no findings.
    for version in 1..=300 {
        for account in ["clean-1", "clean-2", "clean-3", "clean-4"] {
            put(
                ddb,
                table,
                &[
                    ("id", s(account)),
                    ("version", n(version)),
                    ("balance", n(1000 - version)),
                ],
            )
            .await;
        }
    }
    // lost-update, then negative-balance, then version-gap, version-regression.
    for (version, balance) in [(1, 100), (2, 70), (2, 80), (3, -5), (7, 10), (6, 10)] {
        put(
            ddb,
            table,
            &[
                ("id", s("racy")),
                ("version", n(version)),
                ("balance", n(balance)),
            ],
        )
        .await;
    }
    // Exact decimals, binary, sets, maps and lists survive the trip.
    let big = "12345678901234567890123456789012345678";
    for (version, tag) in [(big, "a"), (big, "b")] {
        put(
            ddb,
            table,
            &[
                ("id", s("odd-types")),
                ("version", n(version)),
                ("blob", AttributeValue::B(vec![0u8, 1, 2, 255].into())),
                ("tags", AttributeValue::Ss(vec!["x".into(), tag.into()])),
                (
                    "nested",
                    AttributeValue::M(
                        [(
                            "l".to_owned(),
                            AttributeValue::L(vec![AttributeValue::Null(true), n("1.50")]),
                        )]
                        .into(),
                    ),
                ),
            ],
        )
        .await;
    }
    // missing-version, then a delete and a resurrection at an older version.
    put(ddb, table, &[("id", s("unversioned")), ("balance", n(5))]).await;
    put(
        ddb,
        table,
        &[("id", s("zombie")), ("version", n(4)), ("balance", n(1))],
    )
    .await;
    ddb.delete_item()
        .table_name(table)
        .key("id", s("zombie"))
        .send()
        .await
        .expect("delete");
    put(
        ddb,
        table,
        &[("id", s("zombie")), ("version", n(1)), ("balance", n(1))],
    )
    .await;
}

/// A fresh directory under the system's temp dir.
fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ddb-audit-{name}-{}", unique("t")));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A DynamoDB Streams call over plain HTTP: the wire JSON exactly as the service sends it, with
/// no SDK in between (moto does not check signatures).
fn streams_call(endpoint: &str, target: &str, body: &serde_json::Value) -> serde_json::Value {
    let address = endpoint.trim_start_matches("http://");
    let body = body.to_string();
    let request = format!(
        "POST / HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: DynamoDBStreams_20120810.{target}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(address).expect("connect to moto");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP response has a body");
    let status = String::from_utf8_lossy(&response[..split]);
    assert!(status.contains(" 200 "), "{target} failed: {status}");
    serde_json::from_slice(&response[split + 4..]).expect("JSON response")
}

/// The stream's records as Lambda would deliver them: one event file per GetRecords page, each
/// record given the `eventSourceARN` Lambda adds.
fn capture_as_lambda_events(endpoint: &str, stream_arn: &str, dir: &std::path::Path) -> usize {
    let described = streams_call(
        endpoint,
        "DescribeStream",
        &serde_json::json!({"StreamArn": stream_arn}),
    );
    let shards = described["StreamDescription"]["Shards"]
        .as_array()
        .expect("shards")
        .clone();
    let mut total = 0;
    let mut page = 0;
    for shard in shards {
        let mut iterator = streams_call(
            endpoint,
            "GetShardIterator",
            &serde_json::json!({"StreamArn": stream_arn, "ShardId": shard["ShardId"],
                                "ShardIteratorType": "TRIM_HORIZON"}),
        )["ShardIterator"]
            .clone();
        loop {
            let out = streams_call(
                endpoint,
                "GetRecords",
                &serde_json::json!({"ShardIterator": iterator}),
            );
            let mut records = out["Records"].as_array().cloned().unwrap_or_default();
            if records.is_empty() {
                break;
            }
            for record in &mut records {
                record["eventSourceARN"] = stream_arn.into();
            }
            total += records.len();
            let event = serde_json::json!({ "Records": records });
            std::fs::write(dir.join(format!("{page:04}.json")), event.to_string()).unwrap();
            page += 1;
            iterator = out["NextShardIterator"].clone();
        }
    }
    total
}

fn sorted_lines(findings: &[serde_json::Value]) -> Vec<String> {
    let mut lines: Vec<String> = findings.iter().map(|f| f.to_string()).collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_finds_what_replay_finds_on_the_same_records() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique("scan-accounts");
    create_table(&ddb, &table, true).await;
    write_history(&ddb, &table).await;

    let scanned = ddb_audit_at(&moto, &["scan", "--table", &table]);
    let scan_stderr = String::from_utf8_lossy(&scanned.stderr).to_string();
    assert_eq!(scanned.status.code(), Some(1), "stderr: {scan_stderr}");
    let scan_findings = json_lines(&String::from_utf8(scanned.stdout.clone()).unwrap());

    let stream_arn = ddb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .latest_stream_arn
        .unwrap();
    let dir = tempdir("scan-capture");
    let captured = capture_as_lambda_events(&moto.endpoint, &stream_arn, &dir);
    assert!(
        captured > 1000,
        "the history spans several pages: {captured}"
    );
    let replayed = support::ddb_audit(&["replay", dir.to_str().unwrap()], None);
    let replay_stderr = String::from_utf8_lossy(&replayed.stderr).to_string();
    assert_eq!(replayed.status.code(), Some(1), "stderr: {replay_stderr}");
    let replay_findings = json_lines(&String::from_utf8(replayed.stdout.clone()).unwrap());

    // Same findings, in the same order, byte for byte once parsed; and the same summary line.
    let (expected, actual) = (sorted_lines(&replay_findings), sorted_lines(&scan_findings));
    assert!(
        expected == actual,
        "scan and replay disagree:\n{}",
        diff(&expected, &actual)
    );
    assert_eq!(replay_findings, scan_findings, "same order");
    assert_eq!(replay_stderr, scan_stderr);
    assert!(
        scan_stderr.contains(&format!("audited {captured} records")),
        "{scan_stderr}"
    );

    let mut rules: Vec<&str> = scan_findings
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    rules.sort();
    rules.dedup();
    assert_eq!(
        rules,
        [
            "lost-update",
            "missing-version",
            "negative-balance",
            "version-gap",
            "version-regression"
        ],
        "{scan_findings:#?}"
    );
    // The 38-digit version was not rounded: its unchanged version with changed tags is a lost update.
    assert!(
        scan_findings
            .iter()
            .any(|f| f["key"]["id"] == "odd-types" && f["rule"] == "lost-update"),
        "{scan_findings:#?}"
    );

    // Text format, region and endpoint flags over a wrong environment.
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_ddb-audit"))
        .args(["scan", "--table", &table, "--format", "text"])
        .args(["--endpoint-url", &moto.endpoint, "--region", "us-east-1"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "eu-west-3")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert_eq!(
        text.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let listing = String::from_utf8(text.stdout).unwrap();
    assert!(
        listing.starts_with("RULE") && listing.contains("lost-update"),
        "{listing}"
    );
    // Nothing is drawn on a stderr that is not a terminal.
    assert!(!String::from_utf8_lossy(&text.stderr).contains('\r'));
}

/// Collects findings in memory.
#[derive(Default)]
struct Collect(Vec<Finding>);

impl FindingSink for Collect {
    fn emit(&mut self, finding: &Finding) -> std::io::Result<()> {
        self.0.push(finding.clone());
        Ok(())
    }
}

#[derive(Default)]
struct Track(Vec<ScanStatus>, bool);

impl Progress for Track {
    fn update(&mut self, status: &ScanStatus) {
        self.0.push(*status);
    }
    fn finish(&mut self) {
        self.1 = true;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_scan_pages_reports_progress_and_starts_where_asked() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique("scan-library");
    create_table(&ddb, &table, true).await;
    for version in 1..=1005 {
        put(
            &ddb,
            &table,
            &[
                ("id", s("acct")),
                ("version", n(version)),
                ("balance", n(1)),
            ],
        )
        .await;
    }
    let clients = Clients::new(&sdk);

    let mut replay = Replay::new(Auditor::default());
    let mut sink = Collect::default();
    let mut progress = Track::default();
    let options = ScanOptions {
        table: table.clone(),
        from: StartingPosition::TrimHorizon,
    };
    let report = scan(&clients, &options, &mut replay, &mut sink, &mut progress)
        .await
        .expect("scan");
    assert!(sink.0.is_empty(), "{:?}", sink.0);
    assert_eq!(replay.summary().records, 1005);
    assert_eq!(report.shards, 1);
    assert!(report.pages >= 2, "{report:?}");
    let last = progress.0.last().copied().unwrap();
    assert_eq!(
        last,
        ScanStatus {
            records: 1005,
            shards_done: 1,
            shards_known: 1
        }
    );
    assert!(progress.1, "finish called");

    // From the tip: nothing written since, nothing read.
    let mut replay = Replay::new(Auditor::default());
    let latest = ScanOptions {
        table: table.clone(),
        from: StartingPosition::Latest,
    };
    scan(
        &clients,
        &latest,
        &mut replay,
        &mut Collect::default(),
        &mut Track::default(),
    )
    .await
    .expect("scan from latest");
    assert_eq!(replay.summary().records, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_errors_exit_2_naming_the_table() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let no_stream = unique("no-stream");
    create_table(&ddb, &no_stream, false).await;

    for (table, mention) in [
        (no_stream.as_str(), "has no stream"),
        ("missing-table", "ResourceNotFoundException"),
    ] {
        let out = ddb_audit_at(&moto, &["scan", "--table", table]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(out.stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(table) && stderr.contains(mention),
            "{stderr}"
        );
    }
    let usage = ddb_audit_at(&moto, &["scan"]);
    assert_eq!(usage.status.code(), Some(2));
}
