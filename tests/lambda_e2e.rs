//! End to end through the real `ddb-audit-lambda` binary: a local Lambda Runtime API emulator
//! hands it the bundled events/ files, moto plays SNS, SQS and DynamoDB, and the test checks the
//! responses and the messages a subscriber receives.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::aws::{TopicWithQueue, sdk_config, state_table, topic_with_queue};
use common::moto::{Moto, free_port};
use common::runtime_api::{Reply, RuntimeApi};
use serde_json::{Value, json};

const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// The function process, killed on drop.
struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn base_command(moto: &Moto, extra: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ddb-audit-lambda"));
    cmd.env_clear()
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_LAMBDA_FUNCTION_NAME", "ddb-audit")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    for (name, value) in extra {
        cmd.env(name, value);
    }
    cmd
}

fn start_function(api: &RuntimeApi, moto: &Moto, vars: &[(&str, &str)]) -> Function {
    start_function_logging_to(api, moto, vars, Stdio::null())
}

fn start_function_logging_to(
    api: &RuntimeApi,
    moto: &Moto,
    vars: &[(&str, &str)],
    stdout: Stdio,
) -> Function {
    let child = base_command(moto, vars)
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ddb-audit-lambda");
    Function(child)
}

fn event_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the bundled events/, found {}",
        files.len()
    );
    files
}

fn expected_findings(event: &Path) -> BTreeMap<String, Value> {
    let name = event
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let path = event
        .with_file_name("expected")
        .join(format!("{name}.jsonl"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let finding: Value = serde_json::from_str(l).expect("expected finding JSON");
            (
                finding["id"].as_str().unwrap_or_default().to_owned(),
                finding,
            )
        })
        .collect()
}

async fn received_findings(topic: &TopicWithQueue) -> BTreeMap<String, Value> {
    let mut by_id = BTreeMap::new();
    for message in topic.drain().await {
        let finding = message.finding();
        assert_eq!(
            message.attributes["rule"],
            finding["rule"].as_str().unwrap_or_default()
        );
        assert_eq!(
            message.attributes["severity"],
            finding["severity"].as_str().unwrap_or_default()
        );
        let id = finding["id"].as_str().unwrap_or_default().to_owned();
        assert!(
            by_id.insert(id.clone(), finding).is_none(),
            "finding {id} delivered twice"
        );
    }
    by_id
}

fn ok_response(reply: Reply) -> Value {
    match reply {
        Reply::Response(value) => value,
        Reply::Error(error) => panic!("invocation error: {error}"),
    }
}

/// Blocking runtime-API calls run off the async workers.
async fn invoke(api: &std::sync::Arc<RuntimeApi>, payload: Vec<u8>) -> Reply {
    let api = api.clone();
    tokio::task::spawn_blocking(move || api.invoke(&payload, INVOKE_TIMEOUT))
        .await
        .expect("invoke thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_publishes_exactly_the_expected_findings_of_each_bundled_event() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let topic = topic_with_queue(&sdk, false).await;
    let table = state_table(&sdk).await;
    let api = std::sync::Arc::new(RuntimeApi::start());
    let log_path = std::env::temp_dir().join(format!("ddb-audit-lambda-{}.log", free_port()));
    let log = std::fs::File::create(&log_path).expect("log file");
    // The configuration the golden replay uses (opt-in rules on tables of their own).
    let golden_config = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("events/config/audit.json"),
    )
    .expect("events/config/audit.json");
    let function = start_function_logging_to(
        &api,
        &moto,
        &[
            ("FINDINGS_TOPIC_ARN", &topic.topic_arn),
            ("STATE_TABLE_NAME", &table),
            ("AUDIT_CONFIG", &golden_config),
        ],
        Stdio::from(log),
    );
    let files = event_files();
    for file in &files {
        let payload = std::fs::read(file).expect("event file");
        let response = ok_response(invoke(&api, payload).await);
        assert_eq!(
            response,
            json!({"batchItemFailures": []}),
            "{}",
            file.display()
        );
        let expected = expected_findings(file);
        let received = received_findings(&topic).await;
        assert_eq!(
            received.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{}: finding ids",
            file.display()
        );
        assert_eq!(
            received,
            expected,
            "{}: bodies are the findings",
            file.display()
        );
    }
    // Lambda delivers at least once: the whole stream again publishes nothing.
    for file in &files {
        let payload = std::fs::read(file).expect("event file");
        let response = ok_response(invoke(&api, payload).await);
        assert_eq!(response, json!({"batchItemFailures": []}));
    }
    assert!(
        received_findings(&topic).await.is_empty(),
        "re-delivery published again"
    );

    // stdout: JSON log lines carrying the request id, and EMF metric lines.
    drop(function);
    let stdout = std::fs::read_to_string(&log_path).expect("function stdout");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let done: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "invocation done")
        .collect();
    assert_eq!(done.len(), 2 * files.len());
    assert_eq!(done[0]["fields"]["request_id"], "req-0");
    assert_eq!(
        done[0]["span"]["requestId"], "req-0",
        "the runtime's span is on every line"
    );
    let emf: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert!(emf.iter().any(|l| l["RecordsAudited"].as_u64() > Some(0)));
    assert!(
        emf.iter()
            .any(|l| l["Findings"].as_u64() > Some(0) && l["Rule"] == "lost-update")
    );
    assert!(
        !stdout.contains("acc-race-101"),
        "item keys and images stay out of the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reports_a_partial_batch_failure_when_sns_is_unreachable() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let topic = topic_with_queue(&sdk, false).await;
    let table = state_table(&sdk).await;
    let api = std::sync::Arc::new(RuntimeApi::start());
    let dead_sns = format!("http://127.0.0.1:{}", free_port());
    let _function = start_function(
        &api,
        &moto,
        &[
            ("FINDINGS_TOPIC_ARN", &topic.topic_arn),
            ("STATE_TABLE_NAME", &table),
            // The SDK's per-service override: only SNS is unreachable.
            ("AWS_ENDPOINT_URL_SNS", &dead_sns),
        ],
    );
    let file = event_files()
        .into_iter()
        .find(|f| !expected_findings(f).is_empty())
        .expect("an event with findings");
    let payload = std::fs::read(&file).expect("event file");
    let response = ok_response(invoke(&api, payload.clone()).await);
    let failures = response["batchItemFailures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{response}");
    let resume = failures[0]["itemIdentifier"]
        .as_str()
        .expect("an identifier");
    let event: Value = serde_json::from_slice(&payload).expect("event JSON");
    let sequence_numbers: Vec<&str> = event["Records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["dynamodb"]["SequenceNumber"].as_str())
        .collect();
    assert!(
        sequence_numbers.contains(&resume),
        "{resume} is a record of the batch"
    );
    assert!(topic.drain().await.is_empty());
}

#[test]
fn a_bad_configuration_is_an_init_error_naming_the_variable() {
    let moto = Moto::start();
    let cases = [
        (vec![], "FINDINGS_TOPIC_ARN"),
        (
            vec![
                (
                    "FINDINGS_TOPIC_ARN",
                    "arn:aws:sns:us-east-1:123456789012:findings",
                ),
                ("AUDIT_CONFIG", r#"{"defaults": {"bogus": 1}}"#),
            ],
            "AUDIT_CONFIG",
        ),
    ];
    for (vars, named) in cases {
        let output = base_command(&moto, &vars)
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("127.0.0.1:{}", free_port()),
            )
            .output()
            .expect("run ddb-audit-lambda");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "stderr names {named}: {stderr}");
    }
}
