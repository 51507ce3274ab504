//! JSON Lines: one finding object per line, written whole (a line is serialized before any byte
//! of it reaches the writer, so stdout only ever holds whole lines).

use std::io::{self, Write};

use super::FindingSink;
use crate::audit::finding::Finding;

pub struct JsonLines<W: Write> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines {
            out,
            line: Vec::with_capacity(1024),
        }
    }
}

impl<W: Write> FindingSink for JsonLines<W> {
    fn emit(&mut self, finding: &Finding) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, finding)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
