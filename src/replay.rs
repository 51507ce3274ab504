//! The offline job behind `ddb-audit replay`: event files audited in order as consecutive batches
//! of one stream, with item checkpoints carried from file to file.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::audit::Auditor;
use crate::audit::state::AuditState;
use crate::sink::FindingSink;
use crate::source::{self, DecodeError};
use crate::summary::Summary;

/// One input named on the command line, after directories are expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_owned(),
            Input::File(p) => p.display().to_string(),
        }
    }
}

/// Why a replay stopped. Each names the input at fault, and says all of it in its own message
/// (no source chain to repeat it).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{path}: cannot read: {error}")]
    Read { path: String, error: io::Error },
    #[error("{path}: directory holds no *.json event files")]
    EmptyDirectory { path: String },
    #[error("{path}: {error}")]
    Decode { path: String, error: DecodeError },
    #[error("writing findings: {0}")]
    Output(io::Error),
}

/// Expands the command line's inputs: `-` is stdin, a directory is its `*.json` files sorted by
/// name (not recursive), anything else a file.
pub fn expand_inputs(args: &[String]) -> Result<Vec<Input>, ReplayError> {
    let mut inputs = Vec::new();
    for arg in args {
        if arg == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        let path = Path::new(arg);
        let read_err = |error| ReplayError::Read {
            path: arg.clone(),
            error,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(read_err)?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
                .collect();
            if files.is_empty() {
                return Err(ReplayError::EmptyDirectory { path: arg.clone() });
            }
            files.sort();
            inputs.extend(files.into_iter().map(Input::File));
        } else {
            inputs.push(Input::File(path.to_path_buf()));
        }
    }
    Ok(inputs)
}

/// Reads a whole input into memory (events are at most a few MB: Lambda's payload limit is 6 MB).
pub fn read_input(input: &Input) -> Result<Vec<u8>, ReplayError> {
    let read_err = |error| ReplayError::Read {
        path: input.name(),
        error,
    };
    match input {
        Input::Stdin => {
            let mut bytes = Vec::new();
            io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .map_err(read_err)?;
            Ok(bytes)
        }
        Input::File(path) => std::fs::read(path).map_err(read_err),
    }
}

/// A replay in progress: the auditor, the checkpoints carried across batches, the tallies.
pub struct Replay {
    auditor: Auditor,
    state: AuditState,
    summary: Summary,
}

impl Replay {
    pub fn new(auditor: Auditor) -> Replay {
        Replay {
            auditor,
            state: AuditState::new(),
            summary: Summary::default(),
        }
    }

    /// Audits one event's bytes as the next batch; findings go to `sink` in record order.
    pub fn batch(
        &mut self,
        name: &str,
        bytes: &[u8],
        sink: &mut dyn FindingSink,
    ) -> Result<(), ReplayError> {
        let records = source::decode_event(bytes).map_err(|source| ReplayError::Decode {
            path: name.to_owned(),
            error: source,
        })?;
        for record in &records {
            let outcome = self.auditor.audit_record(record, &mut self.state);
            self.summary.add(record, &outcome);
            for finding in &outcome.findings {
                sink.emit(finding).map_err(ReplayError::Output)?;
            }
        }
        Ok(())
    }

    /// Reads and audits every input in order, then ends the stream ([`Replay::finish`]).
    pub fn run(&mut self, inputs: &[Input], sink: &mut dyn FindingSink) -> Result<(), ReplayError> {
        for input in inputs {
            let bytes = read_input(input)?;
            self.batch(&input.name(), &bytes, sink)?;
        }
        self.finish(sink)
    }

    /// The end of the replayed stream: reports what is still open (unbalanced transfers).
    pub fn finish(&mut self, sink: &mut dyn FindingSink) -> Result<(), ReplayError> {
        let findings = self.auditor.finish(&mut self.state);
        self.summary.add_findings(&findings);
        for finding in &findings {
            sink.emit(finding).map_err(ReplayError::Output)?;
        }
        Ok(())
    }

    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    pub fn state(&self) -> &AuditState {
        &self.state
    }
}
