//! Turns findings into bytes for people and programs.

pub mod jsonl;
pub mod text;

use std::io;

use crate::audit::finding::Finding;

/// Where the core's findings go. Implementations write whole findings or nothing.
pub trait FindingSink {
    fn emit(&mut self, finding: &Finding) -> io::Result<()>;
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}
