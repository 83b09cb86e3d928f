//! Splits delimiter-separated bytes into records of raw fields, with the physical line each
//! record starts on, inside fixed memory bounds.
//!
//! The dialect is the `csv` crate's: a record ends at `\n`, `\r\n` or a lone `\r`; blank
//! lines are skipped (but counted); with quoting on, a field that starts with `"` runs to the
//! next lone `"` (`""` inside it is one quote, newlines are kept) and anything between that
//! closing quote and the next delimiter is appended verbatim; a `"` anywhere else is an
//! ordinary byte. Unlike the `csv` crate it never guesses at a broken file:
//!
//! - a quoted field still open at the end of the file is an error naming the line where the
//!   field began, instead of the rest of the file becoming one field;
//! - a field longer than `max_field_bytes` or a record longer than `max_line_bytes` is
//!   reported, and only the bytes within the limits are ever held. An oversized unquoted
//!   record is skipped up to its end, so reading goes on with the next one; a quoted field
//!   that runs past `max_line_bytes` is taken as a missing closing quote and ends reading.

use std::io::{self, BufRead};

/// Which bytes are special.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    pub delimiter: u8,
    /// RFC 4180 double quotes (CSV); off for TSV and RecBole files.
    pub quoting: bool,
}

/// Upper bounds on what one record may hold in memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_field_bytes: usize,
    pub max_line_bytes: usize,
}

/// A limit one record broke; the record's fields are incomplete and must not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Oversize {
    /// Field `field` (0-based) holds more than `max_field_bytes`.
    Field { field: usize },
    /// The record passed `max_line_bytes` while field `field` was being read.
    Line { field: usize },
}

/// One record: its fields' bytes back to back, split by `ends`.
#[derive(Debug, Default)]
pub(crate) struct RawRecord {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// 1-based physical line of the record's first byte.
    pub line: u64,
    /// Set when the record broke a limit.
    pub oversize: Option<Oversize>,
}

impl RawRecord {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The raw bytes of each field, in order.
    pub fn fields(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.bytes[start..end])
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.line = 0;
        self.oversize = None;
    }

    fn field_start(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }
}

/// Why a record could not be read at all; nothing after it can be trusted.
#[derive(Debug)]
pub(crate) enum RecordError {
    Io(io::Error),
    /// A quoted field was still open at the end of the file.
    UnterminatedQuote {
        line: u64,
        field: usize,
    },
    /// A quoted field ran past `max_line_bytes` (most likely a missing closing quote).
    RunawayQuote {
        line: u64,
        field: usize,
    },
}

impl From<io::Error> for RecordError {
    fn from(e: io::Error) -> Self {
        RecordError::Io(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between records (skipping blank lines).
    StartRecord,
    /// At the first byte of a field.
    StartField,
    /// Inside an unquoted field (or after a quoted field's closing quote).
    InField,
    /// Inside a quoted field.
    InQuoted,
    /// Just after a `"` inside a quoted field: `""`, or the closing quote.
    QuoteInQuoted,
}

/// A streaming record splitter over a buffered reader.
pub(crate) struct RecordReader<R> {
    inner: R,
    splitter: Splitter,
    /// Bytes consumed from `inner`.
    offset: u64,
}

impl<R: BufRead> RecordReader<R> {
    pub fn new(inner: R, dialect: Dialect, limits: Limits) -> Self {
        RecordReader {
            inner,
            splitter: Splitter {
                dialect,
                limits,
                state: State::StartRecord,
                line: 1,
                after_cr: false,
                record_bytes: 0,
                quote_line: 0,
                dropping_field: false,
                dropping_record: false,
            },
            offset: 0,
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Skips a UTF-8 byte-order mark at the very start of the input.
    pub fn skip_bom(&mut self) -> io::Result<()> {
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        if self.offset == 0 && self.inner.fill_buf()?.starts_with(BOM) {
            self.inner.consume(BOM.len());
            self.offset += BOM.len() as u64;
        }
        Ok(())
    }

    /// Reads the next record into `record`; `Ok(false)` at the end of the input.
    pub fn read_record(&mut self, record: &mut RawRecord) -> Result<bool, RecordError> {
        record.clear();
        self.splitter.start_record();
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if buf.is_empty() {
                return self.splitter.finish(record);
            }
            let (used, step) = self.splitter.scan(buf, record);
            self.inner.consume(used);
            self.offset += used as u64;
            if step? {
                return Ok(true);
            }
        }
    }
}

/// The splitting state machine, apart from the reader so a buffer can be scanned while
/// borrowed from it.
struct Splitter {
    dialect: Dialect,
    limits: Limits,
    state: State,
    /// Physical line of the next byte (1-based).
    line: u64,
    /// The last newline byte seen was `\r`, so a following `\n` ends the same line.
    after_cr: bool,
    /// Raw bytes of the current record so far (delimiters and quotes included).
    record_bytes: usize,
    /// Line where the current quoted field began.
    quote_line: u64,
    /// The current field broke a limit: its bytes are no longer kept.
    dropping_field: bool,
    /// The current record passed `max_line_bytes`: nothing more of it is kept.
    dropping_record: bool,
}

impl Splitter {
    fn start_record(&mut self) {
        self.state = State::StartRecord;
        self.record_bytes = 0;
        self.dropping_field = false;
        self.dropping_record = false;
    }

    /// The end of the input: closes the open field and record, if any.
    fn finish(&mut self, record: &mut RawRecord) -> Result<bool, RecordError> {
        match self.state {
            State::StartRecord => Ok(false),
            State::InQuoted => Err(RecordError::UnterminatedQuote {
                line: self.quote_line,
                field: record.len(),
            }),
            State::StartField | State::InField | State::QuoteInQuoted => {
                self.end_field(record);
                self.state = State::StartRecord;
                Ok(true)
            }
        }
    }

    /// Counts a newline byte: `\r`, `\n` and `\r\n` each end one physical line.
    fn newline(&mut self, b: u8) {
        if b == b'\n' && self.after_cr {
            self.after_cr = false;
        } else {
            self.line += 1;
            self.after_cr = b == b'\r';
        }
    }

    /// Appends `bytes` to the current field unless a limit says to drop them.
    fn keep(&mut self, record: &mut RawRecord, bytes: &[u8]) {
        if self.dropping_field || self.dropping_record {
            return;
        }
        let held = record.bytes.len() - record.field_start();
        if held + bytes.len() > self.limits.max_field_bytes {
            self.dropping_field = true;
            record.oversize.get_or_insert(Oversize::Field {
                field: record.len(),
            });
            return;
        }
        record.bytes.extend_from_slice(bytes);
    }

    /// Counts `n` raw bytes of the record against `max_line_bytes`.
    fn count(&mut self, record: &mut RawRecord, n: usize) -> Result<(), RecordError> {
        self.record_bytes = self.record_bytes.saturating_add(n);
        if self.record_bytes <= self.limits.max_line_bytes || self.dropping_record {
            return Ok(());
        }
        if matches!(self.state, State::InQuoted | State::QuoteInQuoted) {
            return Err(RecordError::RunawayQuote {
                line: self.quote_line,
                field: record.len(),
            });
        }
        self.dropping_record = true;
        record.oversize.get_or_insert(Oversize::Line {
            field: record.len(),
        });
        Ok(())
    }

    fn end_field(&mut self, record: &mut RawRecord) {
        // Past the line limit even the field boundaries are dropped: a line of nothing but
        // delimiters must not grow `ends` without bound.
        if !self.dropping_record {
            record.ends.push(record.bytes.len());
        }
        self.dropping_field = false;
    }

    /// Scans `buf` from its start; returns the bytes used and whether a record is complete.
    fn scan(&mut self, buf: &[u8], record: &mut RawRecord) -> (usize, Result<bool, RecordError>) {
        let delimiter = self.dialect.delimiter;
        let mut i = 0;
        while i < buf.len() {
            let b = buf[i];
            // Bytes of the record this step consumed, counted against `max_line_bytes`.
            let used;
            match self.state {
                State::StartRecord => {
                    if b == b'\n' || b == b'\r' {
                        self.newline(b);
                        i += 1;
                    } else {
                        self.after_cr = false;
                        record.line = self.line;
                        self.state = State::StartField;
                    }
                    continue;
                }
                State::StartField => {
                    if self.dialect.quoting && b == b'"' {
                        self.quote_line = self.line;
                        self.state = State::InQuoted;
                        self.after_cr = false;
                        used = 1;
                    } else {
                        self.state = State::InField;
                        continue;
                    }
                }
                State::InField => {
                    let end = memchr::memchr3(delimiter, b'\n', b'\r', &buf[i..])
                        .map_or(buf.len(), |k| i + k);
                    if end > i {
                        self.after_cr = false;
                        self.keep(record, &buf[i..end]);
                        used = end - i;
                    } else if b == delimiter {
                        self.after_cr = false;
                        self.end_field(record);
                        self.state = State::StartField;
                        used = 1;
                    } else {
                        self.newline(b);
                        self.end_field(record);
                        self.state = State::StartRecord;
                        return (i + 1, Ok(true));
                    }
                }
                State::InQuoted => {
                    let end =
                        memchr::memchr3(b'"', b'\n', b'\r', &buf[i..]).map_or(buf.len(), |k| i + k);
                    if end > i {
                        self.after_cr = false;
                        self.keep(record, &buf[i..end]);
                        used = end - i;
                    } else if b == b'"' {
                        self.after_cr = false;
                        self.state = State::QuoteInQuoted;
                        used = 1;
                    } else {
                        self.newline(b);
                        self.keep(record, &buf[i..=i]);
                        used = 1;
                    }
                }
                State::QuoteInQuoted => {
                    if b == b'"' {
                        self.after_cr = false;
                        self.keep(record, b"\"");
                        self.state = State::InQuoted;
                        used = 1;
                    } else {
                        // That was the closing quote: the field goes on unquoted up to the
                        // delimiter, as in the `csv` crate.
                        self.state = State::InField;
                        continue;
                    }
                }
            }
            i += used;
            if let Err(e) = self.count(record, used) {
                return (i, Err(e));
            }
        }
        (i, Ok(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: Dialect = Dialect {
        delimiter: b',',
        quoting: true,
    };
    const WIDE: Limits = Limits {
        max_field_bytes: 1 << 20,
        max_line_bytes: 1 << 20,
    };

    /// Splits `input` read `chunk` bytes at a time (to cross buffer boundaries everywhere).
    fn split(
        input: &[u8],
        dialect: Dialect,
        limits: Limits,
        chunk: usize,
    ) -> Result<Vec<(u64, Vec<String>, Option<Oversize>)>, RecordError> {
        let inner = io::BufReader::with_capacity(chunk, input);
        let mut reader = RecordReader::new(inner, dialect, limits);
        let mut record = RawRecord::default();
        let mut out = Vec::new();
        while reader.read_record(&mut record)? {
            let fields = record
                .fields()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            out.push((record.line, fields, record.oversize));
        }
        Ok(out)
    }

    fn fields(input: &[u8], dialect: Dialect) -> Vec<(u64, Vec<String>)> {
        let mut first = None;
        for chunk in [1, 2, 3, 7, 64] {
            let got: Vec<_> = split(input, dialect, WIDE, chunk)
                .unwrap()
                .into_iter()
                .map(|(line, f, _)| (line, f))
                .collect();
            match &first {
                None => first = Some(got),
                Some(f) => assert_eq!(&got, f, "chunk {chunk}"),
            }
        }
        first.unwrap_or_default()
    }

    fn row(line: u64, cells: &[&str]) -> (u64, Vec<String>) {
        (line, cells.iter().map(|c| c.to_string()).collect())
    }

    #[test]
    fn quoting_blank_lines_and_line_endings() {
        let input = b"a,b\r\n\r\n\"x, \"\"y\"\"\nz\",2\n\n3,\"q\"r\r4,\n";
        assert_eq!(
            fields(input, CSV),
            vec![
                row(1, &["a", "b"]),
                row(3, &["x, \"y\"\nz", "2"]),
                row(6, &["3", "qr"]),
                row(7, &["4", ""]),
            ]
        );
    }

    #[test]
    fn without_quoting_a_quote_is_a_byte() {
        let tsv = Dialect {
            delimiter: b'\t',
            quoting: false,
        };
        assert_eq!(fields(b"\"a\tb\"\n", tsv), vec![row(1, &["\"a", "b\""])]);
    }

    #[test]
    fn last_record_needs_no_newline_and_a_trailing_delimiter_adds_a_field() {
        assert_eq!(fields(b"1,2", CSV), vec![row(1, &["1", "2"])]);
        assert_eq!(fields(b"1,", CSV), vec![row(1, &["1", ""])]);
        assert_eq!(fields(b"\"\"", CSV), vec![row(1, &[""])]);
    }

    #[test]
    fn an_unterminated_quote_names_the_line_where_the_field_began() {
        for chunk in [1, 5, 64] {
            let err = split(b"a,b\n1,2\n3,\"never\nclosed\n", CSV, WIDE, chunk).unwrap_err();
            assert!(
                matches!(err, RecordError::UnterminatedQuote { line: 3, field: 1 }),
                "{err:?}"
            );
        }
    }

    #[test]
    fn oversized_fields_and_lines_are_flagged_and_reading_goes_on() {
        let limits = Limits {
            max_field_bytes: 4,
            max_line_bytes: 10,
        };
        for chunk in [1, 3, 64] {
            let got = split(b"ab,abcde,c\n0123,4567,89\nok,1\n", CSV, limits, chunk).unwrap();
            assert_eq!(got[0].2, Some(Oversize::Field { field: 1 }));
            assert_eq!(got[1].2, Some(Oversize::Line { field: 2 }));
            assert_eq!((got[2].0, got[2].2), (3, None));
            assert_eq!(got[2].1, ["ok", "1"]);
        }
        let err = split(b"\"0123456789abc\n", CSV, limits, 64).unwrap_err();
        assert!(
            matches!(err, RecordError::RunawayQuote { line: 1, field: 0 }),
            "{err:?}"
        );
    }

    /// Records as the `csv` crate splits them (the dialect this module promises to keep).
    fn oracle(input: &[u8], dialect: Dialect) -> Vec<Vec<Vec<u8>>> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(dialect.delimiter)
            .quoting(dialect.quoting)
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut out = Vec::new();
        let mut record = csv::ByteRecord::new();
        while reader
            .read_byte_record(&mut record)
            .expect("in-memory read")
        {
            out.push(record.iter().map(<[u8]>::to_vec).collect());
        }
        out
    }

    /// Bytes rich in the characters the splitter cares about.
    fn tricky_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let byte = prop_oneof![
            4 => prop::sample::select(b"a,\t\"\r\n".to_vec()),
            1 => any::<u8>(),
        ];
        prop::collection::vec(byte, 0..200)
    }

    proptest::proptest! {
        #[test]
        fn splits_like_the_csv_crate_wherever_the_input_is_well_formed(
            input in tricky_bytes(),
            quoting in proptest::bool::ANY,
            chunk in 1usize..9,
        ) {
            let dialect = Dialect { delimiter: if quoting { b',' } else { b'\t' }, quoting };
            let expected = oracle(&input, dialect);
            let mut reader =
                RecordReader::new(io::BufReader::with_capacity(chunk, &input[..]), dialect, WIDE);
            let mut record = RawRecord::default();
            let mut got = Vec::new();
            loop {
                match reader.read_record(&mut record) {
                    Ok(true) => got.push(record.fields().map(<[u8]>::to_vec).collect::<Vec<_>>()),
                    Ok(false) => break,
                    Err(RecordError::UnterminatedQuote { .. }) => {
                        // The one place this splitter refuses what the csv crate accepts; the
                        // records before it agree.
                        proptest::prop_assert!(got.len() < expected.len());
                        proptest::prop_assert_eq!(&got[..], &expected[..got.len()]);
                        return Ok(());
                    }
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            proptest::prop_assert_eq!(got, expected);
        }

        #[test]
        fn memory_stays_within_the_limits(
            input in tricky_bytes(),
            max_field_bytes in 1usize..12,
            max_line_bytes in 1usize..40,
        ) {
            let limits = Limits { max_field_bytes, max_line_bytes };
            let mut reader = RecordReader::new(io::BufReader::with_capacity(4, &input[..]), CSV, limits);
            let mut record = RawRecord::default();
            let mut records = 0;
            while let Ok(true) = reader.read_record(&mut record) {
                records += 1;
                proptest::prop_assert!(records <= input.len());
                if record.oversize.is_none() {
                    for field in record.fields() {
                        proptest::prop_assert!(field.len() <= max_field_bytes);
                    }
                }
                // What is held: the fields within limits plus at most one buffer's run.
                proptest::prop_assert!(record.bytes.len() <= max_line_bytes + 4);
            }
        }
    }
}
