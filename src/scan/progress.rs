//! The scan's progress line (records read, shards done), for a person watching a terminal.
//!
//! The scan reports through the [`Progress`] trait; the binary picks [`TerminalProgress`] only when
//! stderr is a terminal, so logs and CI output never fill with carriage returns.

use std::io::Write;
use std::time::{Duration, Instant};

/// How far a scan has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStatus {
    pub records: usize,
    pub shards_done: usize,
    pub shards_known: usize,
}

/// Receives the scan's status after every page and every shard.
pub trait Progress {
    fn update(&mut self, status: &ScanStatus);
    /// The scan is over: leave the output clean for the summary line.
    fn finish(&mut self) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn update(&mut self, _: &ScanStatus) {}
}

/// Rewrites one line in place, at most ten times a second.
pub struct TerminalProgress<W: Write> {
    out: W,
    last: Option<Instant>,
    drawn: bool,
}

const REDRAW_EVERY: Duration = Duration::from_millis(100);

impl<W: Write> TerminalProgress<W> {
    pub fn new(out: W) -> Self {
        TerminalProgress {
            out,
            last: None,
            drawn: false,
        }
    }
}

impl<W: Write> Progress for TerminalProgress<W> {
    fn update(&mut self, status: &ScanStatus) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < REDRAW_EVERY)
        {
            return;
        }
        self.last = Some(now);
        self.drawn = true;
        // A progress line that cannot be written is not worth failing the scan for.
        let _ = write!(
            self.out,
            "\r\x1b[2Kddb-audit scan: {} records read, {}/{} shards done",
            status.records, status.shards_done, status.shards_known
        );
        let _ = self.out.flush();
    }

    fn finish(&mut self) {
        if self.drawn {
            let _ = write!(self.out, "\r\x1b[2K");
            let _ = self.out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_line_and_clears_it() {
        let mut out = Vec::new();
        {
            let mut p = TerminalProgress::new(&mut out);
            p.update(&ScanStatus {
                records: 7,
                shards_done: 1,
                shards_known: 3,
            });
            // Within the redraw interval: skipped.
            p.update(&ScanStatus::default());
            p.finish();
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\r\x1b[2Kddb-audit scan: 7 records read, 1/3 shards done\r\x1b[2K"
        );
    }
}
