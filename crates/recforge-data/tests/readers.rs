//! Every reader: header handling, line numbers, RecBole types, the OBD index column,
//! Parquet, and the exact messages for ragged rows and empty files.

mod common;

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use common::{Fixture, shown};
use parquet::arrow::ArrowWriter;
use recforge_data::reader::{Encoding, ReadOptions, open_reader_with};
use recforge_data::{FieldType, Format, Row, RowReader, open_reader};

fn rows(reader: Box<dyn RowReader>) -> Vec<Row> {
    reader.map(|r| r.expect("row")).collect()
}

#[test]
fn csv_reads_header_rows_and_physical_lines() {
    let fx = Fixture::new();
    let path = fx.write(
        "log.csv",
        "user,item,title\n1,10,\"Heat, The\"\n\n2,20,plain\n",
    );
    let reader = open_reader(&path, Format::Auto, None, true).unwrap();
    assert_eq!(reader.header(), ["user", "item", "title"]);
    let rows = rows(reader);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].line, 2);
    assert_eq!(rows[0].fields, ["1", "10", "Heat, The"]);
    assert_eq!(rows[1].line, 4, "blank lines are skipped but still counted");
}

#[test]
fn tsv_and_custom_delimiters() {
    let fx = Fixture::new();
    let tsv = fx.write("log.tsv", "a\tb\nx y\t\"q\n");
    let rows_tsv = rows(open_reader(&tsv, Format::Auto, None, true).unwrap());
    assert_eq!(rows_tsv[0].fields, ["x y", "\"q"], "TSV has no quoting");
    let semi = fx.write("log.txt", "a;b\n1;2\n");
    let rows_semi = rows(open_reader(&semi, Format::Csv, Some(';'), true).unwrap());
    assert_eq!(rows_semi[0].fields, ["1", "2"]);
}

#[test]
fn headerless_files_get_positional_names() {
    let fx = Fixture::new();
    let path = fx.write("log.csv", "1,2\n3,4\n");
    let reader = open_reader(&path, Format::Csv, None, false).unwrap();
    assert_eq!(reader.header(), ["column_1", "column_2"]);
    let rows = rows(reader);
    assert_eq!(
        (rows[0].line, rows[0].fields.clone()),
        (1, vec!["1".into(), "2".into()])
    );
    assert_eq!(rows.len(), 2);
}

#[test]
fn recbole_header_types_are_parsed_and_stripped() {
    let fx = Fixture::new();
    let path = fx.write(
        "toy.item",
        "item_id:token\tgenre:token_seq\tyear:float\tscores:float_seq\r\nm1\tAction Comedy\t1995\t1 2\r\n",
    );
    let reader = open_reader(&path, Format::Auto, None, true).unwrap();
    assert_eq!(reader.header(), ["item_id", "genre", "year", "scores"]);
    assert_eq!(
        reader.field_types().unwrap(),
        [
            FieldType::Token,
            FieldType::TokenSeq,
            FieldType::Float,
            FieldType::FloatSeq
        ]
    );
    assert_eq!(
        rows(reader)[0].fields,
        ["m1", "Action Comedy", "1995", "1 2"]
    );
}

#[test]
fn recbole_header_without_type_is_an_error() {
    let fx = Fixture::new();
    let path = fx.write("toy.inter", "user_id:token\titem_id\n1\t2\n");
    let err = open_reader(&path, Format::Auto, None, true).err().unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:1: RecBole header cell \"item_id\" is not `name:type` with type token, token_seq, float or float_seq",
            shown(&path)
        )
    );
}

#[test]
fn obd_index_column_is_named() {
    let fx = Fixture::new();
    let path = fx.write(
        "all.csv",
        ",timestamp,item_id,click\n0,2019-11-24 00:00:34+00:00,14,0\n",
    );
    for format in [Format::Obd, Format::Csv] {
        let reader = open_reader(&path, format, None, true).unwrap();
        assert_eq!(reader.header(), ["index", "timestamp", "item_id", "click"]);
    }
}

#[test]
fn ragged_row_is_an_error_naming_the_line_and_reading_goes_on() {
    let fx = Fixture::new();
    let path = fx.write("x.csv", "a,b,c,d,e\n1,2,3,4,5\n1,2,3\n6,7,8,9,10\n");
    let mut reader = open_reader(&path, Format::Csv, None, true).unwrap();
    assert!(reader.next().unwrap().is_ok());
    let err = reader.next().unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}:3: expected 5 fields, found 3", shown(&path))
    );
    assert!(err.is_row_error());
    assert_eq!(reader.next().unwrap().unwrap().fields[0], "6");
}

#[test]
fn empty_file_is_an_error() {
    let fx = Fixture::new();
    for name in ["x.csv", "blank.csv"] {
        let path = fx.write(name, if name == "x.csv" { "" } else { "\n\n" });
        let err = open_reader(&path, Format::Csv, None, true).err().unwrap();
        assert_eq!(err.to_string(), format!("{}: file is empty", shown(&path)));
    }
}

#[test]
fn unknown_extension_asks_for_a_format() {
    let fx = Fixture::new();
    let path = fx.write("log.dat", "a\n1\n");
    let err = open_reader(&path, Format::Auto, None, true).err().unwrap();
    assert!(err.to_string().contains("set format ="), "{err}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let fx = Fixture::new();
    let path = fx.path("nope.csv");
    let err = open_reader(&path, Format::Csv, None, true).err().unwrap();
    assert!(
        err.to_string().starts_with(&format!("{}: ", shown(&path))),
        "{err}"
    );
}

#[test]
fn latin1_bytes_are_decoded_when_declared_and_rejected_otherwise() {
    let fx = Fixture::new();
    let path = fx.path("latin1.csv");
    std::fs::write(&path, b"title\nMis\xe9rables\n").unwrap();
    let latin1 = ReadOptions {
        encoding: Encoding::Latin1,
        ..ReadOptions::default()
    };
    let rows = rows(open_reader_with(&path, Format::Csv, None, true, &latin1).unwrap());
    assert_eq!(rows[0].fields, ["Misérables"]);
    // Undeclared, the bytes are not guessed at: one error naming the cell (see readers_strict.rs).
    let mut reader = open_reader(&path, Format::Csv, None, true).unwrap();
    let err = reader.next().unwrap().unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "{}:2: field \"title\": not valid UTF-8",
            shown(&path)
        )),
        "{err}"
    );
}

#[test]
fn parquet_rows_are_stringified_and_streamed() {
    let fx = Fixture::new();
    let path = fx.path("log.parquet");
    let users: ArrayRef = Arc::new(StringArray::from(vec![Some("u1"), None, Some("u3")]));
    let ages: ArrayRef = Arc::new(Int64Array::from(vec![31, 42, 53]));
    let prices: ArrayRef = Arc::new(Float64Array::from(vec![1.5, 2.0, 0.25]));
    let batch =
        RecordBatch::try_from_iter([("user", users), ("age", ages), ("price", prices)]).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let reader = open_reader(&path, Format::Auto, None, true).unwrap();
    assert_eq!(reader.header(), ["user", "age", "price"]);
    let rows = rows(reader);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].fields, ["u1", "31", "1.5"]);
    assert_eq!(
        rows[1].fields,
        ["", "42", "2"],
        "null becomes an empty cell"
    );
    assert_eq!(rows[2].line, 3);
}

fn write_parquet(path: &std::path::Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn parquet_lists_become_separated_tokens_and_odd_types_are_refused() {
    let fx = Fixture::new();
    let mut tags = ListBuilder::new(StringBuilder::new());
    tags.values().append_value("a");
    tags.values().append_value("b");
    tags.append(true);
    tags.append(true);
    let tags: ArrayRef = Arc::new(tags.finish());
    let path = fx.path("tags.parquet");
    write_parquet(
        &path,
        &RecordBatch::try_from_iter([("tags", tags)]).unwrap(),
    );
    let rows = rows(open_reader(&path, Format::Parquet, None, true).unwrap());
    assert_eq!(rows[0].fields, ["a|b"]);
    assert_eq!(rows[1].fields, [""]);

    let dates: ArrayRef = Arc::new(Date32Array::from(vec![1, 2]));
    let path = fx.path("dates.parquet");
    write_parquet(
        &path,
        &RecordBatch::try_from_iter([("day", dates)]).unwrap(),
    );
    let err = open_reader(&path, Format::Parquet, None, true)
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: column \"day\" has the unsupported type Date32",
            shown(&path)
        )
    );
}
