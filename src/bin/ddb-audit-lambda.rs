//! The Lambda function binary: reads configuration once, builds the AWS clients once, serves
//! invocations. All logic lives in `ddb_stream_audit::lambda`.

use ddb_stream_audit::lambda::runtime;
use ddb_stream_audit::lambda::settings::Settings;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_logging();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            // An init error: the function cannot run until the configuration is fixed.
            tracing::error!(%error, "invalid configuration");
            eprintln!("ddb-audit-lambda: {error}");
            std::process::exit(2);
        }
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    tracing::info!(
        topic = %settings.topic_arn,
        state_table = settings.state_table.as_deref().unwrap_or("(stateless)"),
        "ddb-audit-lambda starting"
    );
    runtime::serve(runtime::function(&settings, &sdk)).await
}
