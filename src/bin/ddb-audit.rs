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
            let stdout = io::stdout();
            let format = format.unwrap_or(if stdout.is_terminal() {
                Format::Text
            } else {
                Format::Json
            });
            let mut sink: Box<dyn FindingSink> = match format {
                Format::Json => Box::new(JsonLines::new(io::BufWriter::new(stdout.lock()))),
                Format::Text => Box::new(TextListing::new(
                    io::BufWriter::new(stdout.lock()),
                    config.clone(),
                )),
            };
            let mut replay = Replay::new(Auditor::new(config));
            let result = replay.run(&inputs, sink.as_mut());
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
    }
}
