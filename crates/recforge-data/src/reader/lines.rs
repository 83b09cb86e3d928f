//! Physical line numbers for the csv parser's records. The `csv` crate's own line counter
//! skips blank lines, so error messages would point at the wrong line; this wrapper notes the
//! byte offset of every newline as the parser reads ahead and maps a record's position (the
//! byte after the previous record, blank lines included) to the line the record starts on.
//! Only newlines inside the parser's read-ahead window are held.

use std::collections::VecDeque;
use std::io::{self, Read};

/// A reader that remembers where the newlines it has passed on are.
pub(crate) struct LineIndex<R> {
    inner: R,
    /// Bytes handed out so far.
    offset: u64,
    /// Newlines not yet behind the last record asked about: offset, and whether a `\r`
    /// came right before.
    pending: VecDeque<(u64, bool)>,
    /// The last byte handed out was `\r`.
    last_was_cr: bool,
    /// Newlines before the last record asked about.
    passed: u64,
}

impl<R> LineIndex<R> {
    pub fn new(inner: R) -> Self {
        LineIndex {
            inner,
            offset: 0,
            pending: VecDeque::new(),
            last_was_cr: false,
            passed: 0,
        }
    }

    /// 1-based line of the first non-blank line at or after byte `offset`. Offsets must be
    /// asked in increasing order.
    pub fn line_at(&mut self, offset: u64) -> u64 {
        while self.pending.front().is_some_and(|&(nl, _)| nl < offset) {
            self.pending.pop_front();
            self.passed += 1;
        }
        let mut start = offset;
        while let Some(&(nl, cr)) = self.pending.front() {
            let blank = nl == start || (cr && nl == start + 1);
            if !blank {
                break;
            }
            self.pending.pop_front();
            self.passed += 1;
            start = nl + 1;
        }
        self.passed + 1
    }
}

impl<R: Read> Read for LineIndex<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        let base = self.offset;
        let last_was_cr = self.last_was_cr;
        self.pending
            .extend(memchr::memchr_iter(b'\n', chunk).map(|i| {
                let cr = if i == 0 {
                    last_was_cr
                } else {
                    chunk[i - 1] == b'\r'
                };
                (base + i as u64, cr)
            }));
        if let Some(&last) = chunk.last() {
            self.last_was_cr = last == b'\r';
        }
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_offsets_to_lines() {
        // Records start (as the csv parser reports them) at 0, 3 (a blank line, then "cd")
        // and 10 (a blank CRLF line, then "ef").
        let mut index = LineIndex::new(&b"ab\n\ncd\r\n\r\nef"[..]);
        let mut sink = Vec::new();
        index.read_to_end(&mut sink).unwrap();
        assert_eq!(index.line_at(0), 1);
        assert_eq!(index.line_at(3), 3);
        assert_eq!(index.line_at(8), 5);
    }
}
