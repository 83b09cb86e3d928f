//! Arbitrary bytes through every reader (CSV, TSV, RecBole atomic, Open Bandit CSV, Parquet,
//! and the event wire format): the answer is rows or an error, never a panic or a hang.
//! Inputs stay small so the whole file runs in seconds.

mod common;

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use common::Fixture;
use parquet::arrow::ArrowWriter;
use proptest::prelude::*;
use recforge_data::reader::{Encoding, ReadOptions, open_reader_with};
use recforge_data::{Event, Format};

/// Reads `path` to the end; returns (rows, errors). Panics (failing the property) only if a
/// reader yields more items than the file could possibly hold, i.e. it does not advance.
fn drain(
    path: &Path,
    format: Format,
    header: bool,
    options: &ReadOptions,
    cap: usize,
) -> (usize, usize) {
    let Ok(reader) = open_reader_with(path, format, None, header, options) else {
        return (0, 1);
    };
    let width = reader.header().len();
    let (mut rows, mut errors) = (0, 0);
    for item in reader {
        match item {
            Ok(row) => {
                assert_eq!(
                    row.fields.len(),
                    width,
                    "a row always has the header's width"
                );
                rows += 1;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                errors += 1;
            }
        }
        assert!(rows + errors <= cap, "the reader does not advance");
    }
    (rows, errors)
}

/// Bytes that often look like delimited text, sometimes like nothing at all.
fn text_like() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        6 => prop::sample::select(b"ab1:,;\t\"\r\n ".to_vec()),
        1 => Just(0u8),
        2 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..400)
}

fn options() -> impl Strategy<Value = ReadOptions> {
    (
        prop::sample::select(vec![Encoding::Utf8, Encoding::Latin1]),
        prop_oneof![Just(1usize << 20), 1usize..16],
        prop_oneof![Just(16usize << 20), 1usize..64],
    )
        .prop_map(|(encoding, max_field_bytes, max_line_bytes)| ReadOptions {
            encoding,
            max_field_bytes,
            max_line_bytes,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn delimited_readers_give_rows_or_errors(
        bytes in text_like(),
        options in options(),
        header in any::<bool>(),
    ) {
        let fx = Fixture::new();
        for (name, format) in [
            ("f.csv", Format::Csv),
            ("f.tsv", Format::Tsv),
            ("f.inter", Format::Recbole),
            ("f.obd", Format::Obd),
        ] {
            let path = fx.path(name);
            std::fs::write(&path, &bytes).unwrap();
            drain(&path, format, header, &options, bytes.len() + 1);
        }
    }

    #[test]
    fn parquet_reader_gives_rows_or_errors_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        magic in any::<bool>(),
    ) {
        let fx = Fixture::new();
        let path = fx.path("f.parquet");
        // With the magic at both ends the footer parser gets past its first check.
        let bytes = if magic { [b"PAR1", &bytes[..], b"PAR1"].concat() } else { bytes };
        std::fs::write(&path, &bytes).unwrap();
        drain(&path, Format::Parquet, true, &ReadOptions::default(), usize::MAX);
    }

    #[test]
    fn parquet_reader_gives_rows_or_errors_on_damaged_files(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = valid_parquet().to_vec();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let fx = Fixture::new();
        let path = fx.path("f.parquet");
        std::fs::write(&path, &bytes).unwrap();
        // A damaged count may claim more rows than were written, but never without bound.
        drain(&path, Format::Parquet, true, &ReadOptions::default(), 1 << 20);
    }

    #[test]
    fn event_wire_format_gives_an_event_or_an_error(bytes in text_like()) {
        let _ = Event::from_bytes(&bytes, "fuzz");
    }
}

/// A small Parquet file with the column types the reader renders: strings, integers, floats,
/// lists and nulls.
fn valid_parquet() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let names: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc")]));
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![1, -2, 3]));
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![0.5, f64::NAN, 2.0]));
        let mut tags = ListBuilder::new(StringBuilder::new());
        tags.values().append_value("x");
        tags.values().append_value("y");
        tags.append(true);
        tags.append(false);
        tags.append(true);
        let tags: ArrayRef = Arc::new(tags.finish());
        let batch = RecordBatch::try_from_iter([
            ("name", names),
            ("n", ints),
            ("f", floats),
            ("tags", tags),
        ])
        .unwrap();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        out
    })
}
