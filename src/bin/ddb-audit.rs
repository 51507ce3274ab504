//! `ddb-audit`: the command line. Parses arguments, runs the library, maps results to exit codes
//! (0 no findings, 1 findings, 2 usage or input error). Stdout carries data only; the summary and
//! errors go to stderr.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use ddb_stream_audit::Auditor;
use ddb_stream_audit::config::Config;
use ddb_stream_audit::replay::{Replay, ReplayError, expand_inputs};
use ddb_stream_audit::scan::progress::{Progress, Silent, TerminalProgress};
use ddb_stream_audit::scan::{Clients, ScanError, ScanOptions, StartingPosition, scan};
use ddb_stream_audit::sink::{FindingSink, jsonl::JsonLines, text::TextListing};

/// Audits DynamoDB Streams for the marks race conditions leave in data: versions that do not
/// advance or go backwards, negative balances, holes in an item's history.
#[derive(Parser)]
#[command(name = "ddb-audit", version, about, propagate_version = true)]
#[command(
    after_help = "Exit status: 0 no findings, 1 findings, 2 usage or input error.\nLogs and the summary go to stderr; stdout carries findings only."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Audit captured Lambda DynamoDB Streams events, in order, as consecutive batches of one stream.
    ///
    /// Exit status: 0 no findings, 1 findings, 2 usage or input error.
    #[command(
        after_help = "Examples:\n  ddb-audit replay events/\n  ddb-audit replay --format text batch-1.json batch-2.json\n  cat event.json | ddb-audit replay --config audit.json -"
    )]
    Replay {
        /// Rule configuration (JSON; see the README's configuration section). Default: the built-in rules.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,

        /// Output format. Default: json when stdout is not a terminal, text when it is.
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<Format>,

        /// Lambda event JSON files; a directory means its *.json files sorted by name; `-` is stdin.
        #[arg(value_name = "FILE_OR_DIR", required = true)]
        inputs: Vec<String>,
    },
    /// Read a table's stream through the DynamoDB Streams API and audit it as `replay` does.
    ///
    /// Every shard, parents before children, until caught up. Credentials, region and endpoint
    /// follow the AWS SDK's standard chain (AWS_ENDPOINT_URL, AWS_REGION, AWS_PROFILE, ...);
    /// the flags override them. Exit status: 0 no findings, 1 findings, 2 usage or input error.
    #[command(
        after_help = "Examples:\n  ddb-audit scan --table Accounts\n  ddb-audit scan --table Accounts --region eu-west-1 --format text\n  ddb-audit scan --table Accounts --endpoint-url http://127.0.0.1:5000"
    )]
    Scan {
        /// The table whose stream to read (its latest stream).
        #[arg(long, value_name = "NAME")]
        table: String,

        /// The AWS endpoint (e.g. a local emulator). Default: AWS_ENDPOINT_URL, else AWS itself.
        #[arg(long, value_name = "URL")]
        endpoint_url: Option<String>,

        /// The AWS region. Default: AWS_REGION, else the profile's region.
        #[arg(long, value_name = "R")]
        region: Option<String>,

        /// Where to start in each shard: the oldest record kept (24 hours), or records written
        /// while the scan runs.
        #[arg(
            long,
            value_enum,
            value_name = "POSITION",
            default_value = "trim-horizon"
        )]
        from: Position,

        /// Rule configuration (JSON, as for replay). Default: the built-in rules.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,

        /// Output format. Default: json when stdout is not a terminal, text when it is.
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<Format>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Position {
    /// The oldest record still in the stream.
    TrimHorizon,
    /// The tip of each open shard.
    Latest,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// JSON Lines: one finding object per line.
    Json,
    /// An aligned listing for a person.
    Text,
}

enum Failure {
    Usage(anyhow::Error),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::from(1),
        Ok(false) => ExitCode::SUCCESS,
        Err(Failure::Usage(error)) => {
            eprintln!("ddb-audit: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read config", path.display()))?;
    Config::from_json(&text).with_context(|| format!("{}: invalid config", path.display()))
}

/// Output format: the flag, else JSON Lines unless stdout is a terminal.
fn make_sink(format: Option<Format>, config: &Config) -> Box<dyn FindingSink> {
    let stdout = io::stdout();
    let format = format.unwrap_or(if stdout.is_terminal() {
        Format::Text
    } else {
        Format::Json
    });
    match format {
        Format::Json => Box::new(JsonLines::new(io::BufWriter::new(stdout.lock()))),
        Format::Text => Box::new(TextListing::new(
            io::BufWriter::new(stdout.lock()),
            config.clone(),
        )),
    }
}

/// Ends a run: flushes the sink, maps errors (a closed stdout pipe is not one: the reader has
/// what it wanted), prints the summary, and returns whether anything was found.
fn finish(
    result: Result<(), ReplayError>,
    sink: &mut dyn FindingSink,
    replay: &Replay,
) -> Result<bool, Failure> {
    let flushed = sink.finish();
    match result {
        Err(ReplayError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(Failure::Usage(e.into())),
        Ok(()) => {}
    }
    if let Err(e) = flushed
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        return Err(Failure::Usage(
            anyhow::Error::new(e).context("writing findings"),
        ));
    }
    eprintln!("ddb-audit: {}", replay.summary());
    let _ = io::stderr().flush();
    Ok(replay.summary().findings() > 0)
}

/// Returns whether anything was found.
fn run(cli: Cli) -> Result<bool, Failure> {
    match cli.command {
        Command::Replay {
            config,
            format,
            inputs,
        } => {
            let config = load_config(config.as_ref()).map_err(Failure::Usage)?;
            let inputs = expand_inputs(&inputs).map_err(|e| Failure::Usage(e.into()))?;
            let mut sink = make_sink(format, &config);
            let mut replay = Replay::new(Auditor::new(config));
            let result = replay.run(&inputs, sink.as_mut());
            finish(result, sink.as_mut(), &replay)
        }
        Command::Scan {
            table,
            endpoint_url,
            region,
            from,
            config,
            format,
        } => {
            let config = load_config(config.as_ref()).map_err(Failure::Usage)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")
                .map_err(Failure::Usage)?;
            let clients = runtime
                .block_on(aws_clients(endpoint_url, region))
                .map_err(Failure::Usage)?;
            let options = ScanOptions {
                table,
                from: match from {
                    Position::TrimHorizon => StartingPosition::TrimHorizon,
                    Position::Latest => StartingPosition::Latest,
                },
            };
            let mut progress: Box<dyn Progress> = if io::stderr().is_terminal() {
                Box::new(TerminalProgress::new(io::stderr()))
            } else {
                Box::new(Silent)
            };
            let mut sink = make_sink(format, &config);
            let mut replay = Replay::new(Auditor::new(config));
            let scanned = runtime.block_on(scan(
                &clients,
                &options,
                &mut replay,
                sink.as_mut(),
                progress.as_mut(),
            ));
            match scanned {
                Ok(_) => finish(Ok(()), sink.as_mut(), &replay),
                Err(ScanError::Audit(e)) => finish(Err(e), sink.as_mut(), &replay),
                Err(e) => {
                    // Findings already printed stay whole lines; the error ends the run.
                    let _ = sink.finish();
                    Err(Failure::Usage(e.into()))
                }
            }
        }
    }
}

/// The SDK's standard chain (environment, profiles, AWS_ENDPOINT_URL), flags on top.
async fn aws_clients(
    endpoint_url: Option<String>,
    region: Option<String>,
) -> anyhow::Result<Clients> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let sdk = loader.load().await;
    if sdk.region().is_none_or(|r| r.as_ref().is_empty()) {
        anyhow::bail!("no AWS region: pass --region or set AWS_REGION (or a profile's region)");
    }
    Ok(Clients::new(&sdk))
}
