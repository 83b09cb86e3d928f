//! Readers that never guess: unterminated quotes, size limits, encodings, NUL bytes, each an
//! error naming the file, the line and the field; and the schema keys that configure them.

mod common;

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use common::{Fixture, shown};
use parquet::arrow::ArrowWriter;
use recforge_data::reader::{Encoding, ReadOptions, open_reader_with};
use recforge_data::{Format, PrepareOptions, Row, RowReader, prepare};

fn open(path: &std::path::Path, format: Format, options: ReadOptions) -> Box<dyn RowReader> {
    open_reader_with(path, format, None, true, &options).expect("opens")
}

fn small(max_field_bytes: usize, max_line_bytes: usize) -> ReadOptions {
    ReadOptions {
        max_field_bytes,
        max_line_bytes,
        ..ReadOptions::default()
    }
}

#[test]
fn an_unterminated_quote_names_the_line_where_the_field_began_and_ends_reading() {
    let fx = Fixture::new();
    let path = fx.write(
        "log.csv",
        "user,title\n1,\"Heat\"\n2,\"Casino\n3,Ronin\n4,Fargo\n",
    );
    let mut reader = open(&path, Format::Csv, ReadOptions::default());
    assert_eq!(reader.next().unwrap().unwrap().fields, ["1", "Heat"]);
    let err = reader.next().unwrap().unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{}:3: field \"title\": the quoted field that starts here is never closed",
            shown(&path)
        )),
        "{text}"
    );
    assert!(text.contains("add the closing quote"), "{text}");
    assert!(
        !err.is_row_error(),
        "the rest of the file cannot be trusted, so skip_bad_rows must not skip it"
    );
    assert!(reader.next().is_none());
}

#[test]
fn skip_bad_rows_does_not_swallow_an_unterminated_quote() {
    let fx = Fixture::new();
    fx.write("log.csv", "user,click\n1,1\n\"2,0\n3,1\n");
    let schema = fx.schema(
        r#"
        [source]
        path = "log.csv"
        [label]
        column = "click"
        [[features]]
        name = "user"
        kind = "categorical"
        "#,
    );
    let opts = PrepareOptions {
        skip_bad_rows: true,
        ..fx.options()
    };
    let err = prepare(&schema, &opts).err().expect("refused");
    assert!(
        err.to_string()
            .contains(":3: field \"user\": the quoted field"),
        "{err}"
    );
}

#[test]
fn a_quote_that_runs_past_the_line_limit_is_reported_without_reading_on() {
    let fx = Fixture::new();
    let body = "x".repeat(100);
    let path = fx.write("log.csv", &format!("a,b\n1,\"{body}\n{body}\n"));
    let mut reader = open(&path, Format::Csv, small(1000, 64));
    let err = reader.next().unwrap().unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "{}:2: field \"b\": the quoted field that starts here runs past max_line_bytes = 64",
            shown(&path)
        )),
        "{err}"
    );
    assert!(!err.is_row_error());
}

#[test]
fn oversized_fields_and_rows_are_row_errors_and_reading_goes_on() {
    let fx = Fixture::new();
    let path = fx.write(
        "log.tsv",
        "user\ttitle\n1\tshort\n2\tmuch too long a title\n3\tok\n4444444444\t4444444444\n5\tfine\n",
    );
    let mut reader = open(&path, Format::Tsv, small(10, 16));
    let rows: Vec<_> = reader.by_ref().collect();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].as_ref().unwrap().fields, ["1", "short"]);
    let field = rows[1].as_ref().unwrap_err();
    assert_eq!(
        field.to_string(),
        format!(
            "{}:3: field \"title\": longer than max_field_bytes = 10 bytes; raise \
             max_field_bytes in the schema's [source] if the value is genuine, or check the \
             file's delimiter and quoting",
            shown(&path)
        )
    );
    assert!(field.is_row_error());
    assert_eq!(rows[2].as_ref().unwrap().fields, ["3", "ok"]);
    let line = rows[3].as_ref().unwrap_err().to_string();
    assert!(
        line.starts_with(&format!(
            "{}:5: field \"title\": the row passes max_line_bytes = 16 bytes in this field",
            shown(&path)
        )),
        "{line}"
    );
    let last = rows[4].as_ref().unwrap();
    assert_eq!(
        (last.line, last.fields.clone()),
        (6, vec!["5".into(), "fine".into()])
    );
}

#[test]
fn invalid_utf8_is_an_error_naming_the_field_unless_the_schema_says_latin1() {
    let fx = Fixture::new();
    let path = fx.path("titles.csv");
    std::fs::write(&path, b"id,title\n1,Mis\xe9rables\n2,Caf\xc3\xa9\n").unwrap();
    let mut reader = open(&path, Format::Csv, ReadOptions::default());
    let err = reader.next().unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: field \"title\": not valid UTF-8 (0xE9 at byte 4 of the cell); re-encode \
             the file as UTF-8, or set encoding = \"latin1\" in the schema's [source] if it \
             is Latin-1",
            shown(&path)
        )
    );
    assert!(err.is_row_error());
    assert_eq!(reader.next().unwrap().unwrap().fields, ["2", "Café"]);

    let latin1 = ReadOptions {
        encoding: Encoding::Latin1,
        ..ReadOptions::default()
    };
    let rows: Vec<Row> = open(&path, Format::Csv, latin1)
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(rows[0].fields, ["1", "Misérables"]);
    assert_eq!(
        rows[1].fields,
        ["2", "CafÃ©"],
        "a declared encoding applies to every cell: the same bytes always give the same token"
    );
}

#[test]
fn an_invalid_header_is_refused_when_opening() {
    let fx = Fixture::new();
    let path = fx.path("h.csv");
    std::fs::write(&path, b"id,ti\xfftle\n1,2\n").unwrap();
    let err = open_reader_with(&path, Format::Csv, None, true, &ReadOptions::default())
        .err()
        .unwrap();
    assert!(
        err.to_string().starts_with(&format!(
            "{}:1: field \"column_2\": not valid UTF-8 (0xFF at byte 3 of the cell)",
            shown(&path)
        )),
        "{err}"
    );
}

#[test]
fn a_utf8_byte_order_mark_is_not_part_of_the_first_column_name() {
    let fx = Fixture::new();
    let path = fx.path("bom.csv");
    std::fs::write(&path, b"\xef\xbb\xbfid,x\n1,2\n").unwrap();
    let reader = open(&path, Format::Csv, ReadOptions::default());
    assert_eq!(reader.header(), ["id", "x"]);
}

#[test]
fn nul_bytes_are_rejected_with_a_hint_about_binary_and_utf16_files() {
    let fx = Fixture::new();
    let path = fx.path("nul.csv");
    std::fs::write(&path, b"id,name\n1,a\x00b\n2,ok\n").unwrap();
    for encoding in [Encoding::Utf8, Encoding::Latin1] {
        let options = ReadOptions {
            encoding,
            ..ReadOptions::default()
        };
        let mut reader = open(&path, Format::Csv, options);
        let err = reader.next().unwrap().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:2: field \"name\": contains a NUL byte (at byte 2 of the cell); text never \
                 holds one, so the file is probably binary or UTF-16: convert it to UTF-8 text",
                shown(&path)
            )
        );
        assert_eq!(reader.next().unwrap().unwrap().fields, ["2", "ok"]);
    }
    // A UTF-16 file: every other byte is NUL, starting in the header.
    let utf16 = fx.path("utf16.csv");
    let text: Vec<u8> = "id,name\n1,a\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    std::fs::write(&utf16, [&[0xff, 0xfe][..], &text].concat()).unwrap();
    let err = open_reader_with(&utf16, Format::Csv, None, true, &ReadOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("UTF-16"), "{err}");
}

#[test]
fn parquet_cells_keep_the_same_rules() {
    let fx = Fixture::new();
    let path = fx.path("log.parquet");
    let names: ArrayRef = Arc::new(StringArray::from(vec![
        "ok",
        "a\0b",
        "far too long",
        "fine",
    ]));
    let batch = RecordBatch::try_from_iter([("name", names)]).unwrap();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let rows: Vec<_> = open(&path, Format::Parquet, small(8, 8)).collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].as_ref().unwrap().fields, ["ok"]);
    let nul = rows[1].as_ref().unwrap_err();
    assert!(
        nul.to_string().starts_with(&format!(
            "{}:2: field \"name\": contains a NUL byte",
            shown(&path)
        )),
        "{nul}"
    );
    let long = rows[2].as_ref().unwrap_err();
    assert!(
        long.to_string().starts_with(&format!(
            "{}:3: field \"name\": 12 bytes, longer than max_field_bytes = 8",
            shown(&path)
        )),
        "{long}"
    );
    assert!(nul.is_row_error() && long.is_row_error());
    assert_eq!(rows[3].as_ref().unwrap().fields, ["fine"]);
}

const LATIN1_SCHEMA: &str = r#"
    [source]
    path = "log.csv"
    encoding = "latin1"
    [[joins]]
    path = "items.csv"
    on = "item"
    [label]
    column = "click"
    [[features]]
    name = "item"
    kind = "categorical"
    [[features]]
    name = "title"
    kind = "categorical"
"#;

#[test]
fn schema_encoding_applies_to_the_source_and_the_joins_that_set_none() {
    let fx = Fixture::new();
    std::fs::write(
        fx.path("log.csv"),
        b"item,click,where\n1,1,K\xf6ln\n2,0,Z\xfcrich\n",
    )
    .unwrap();
    std::fs::write(
        fx.path("items.csv"),
        b"item,title\n1,Mis\xe9rables\n2,Heat\n",
    )
    .unwrap();
    let schema = fx.schema(LATIN1_SCHEMA);
    let options = schema.source.read_options();
    assert_eq!(options.encoding, Encoding::Latin1);
    assert_eq!(
        (options.max_field_bytes, options.max_line_bytes),
        (1 << 20, 16 << 20),
        "the default limits"
    );
    assert_eq!(
        schema.joins[0].read_options(&schema.source).encoding,
        Encoding::Latin1
    );
    let (ds, report) = prepare(&schema, &fx.options()).expect("latin1 prepares");
    assert_eq!((report.rows_read, ds.meta.rows), (2, 2));

    // Without the key, the same files are refused at the first Latin-1 byte.
    let fx2 = Fixture::new();
    std::fs::write(fx2.path("log.csv"), b"item,click,where\n1,1,K\xf6ln\n").unwrap();
    std::fs::write(fx2.path("items.csv"), b"item,title\n1,Heat\n").unwrap();
    let schema = fx2.schema(&LATIN1_SCHEMA.replace("encoding = \"latin1\"", ""));
    let err = prepare(&schema, &fx2.options()).err().unwrap();
    assert!(
        err.to_string()
            .contains("log.csv:2: field \"where\": not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn a_join_may_declare_its_own_encoding_and_limits_come_from_the_schema() {
    let fx = Fixture::new();
    let text = LATIN1_SCHEMA
        .replace(
            "encoding = \"latin1\"",
            "max_field_bytes = 5\nmax_line_bytes = 64",
        )
        .replace("on = \"item\"", "on = \"item\"\nencoding = \"latin1\"");
    std::fs::write(fx.path("log.csv"), b"item,click\n1,1\n2,0\n").unwrap();
    std::fs::write(fx.path("items.csv"), b"item,title\n1,Mis\xe9r\n2,Heat\n").unwrap();
    let schema = fx.schema(&text);
    assert_eq!(schema.source.read_options().encoding, Encoding::Utf8);
    assert_eq!(schema.source.read_options().max_field_bytes, 5);
    assert_eq!(
        schema.joins[0].read_options(&schema.source).encoding,
        Encoding::Latin1
    );
    prepare(&schema, &fx.options()).expect("the join is read as Latin-1");

    std::fs::write(fx.path("items.csv"), b"item,title\n1,Miserables\n2,Heat\n").unwrap();
    let rebuild = PrepareOptions {
        force: true,
        ..fx.options()
    };
    let err = prepare(&schema, &rebuild).err().unwrap();
    assert!(
        err.to_string().contains(
            "items.csv:2: field \"title\": longer than max_field_bytes = 5 bytes; raise \
             max_field_bytes in the schema's [source]"
        ),
        "{err}"
    );
}

#[test]
fn schema_keys_are_checked() {
    let fx = Fixture::new();
    let bad_encoding = LATIN1_SCHEMA.replace("\"latin1\"", "\"cp1252\"");
    let err = recforge_data::Schema::from_toml_str(&bad_encoding, fx.dir.path())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("cp1252") && err.contains("utf-8") && err.contains("latin1"),
        "{err}"
    );
    let zero = LATIN1_SCHEMA.replace("encoding = \"latin1\"", "max_line_bytes = 0");
    let err = recforge_data::Schema::from_toml_str(&zero, fx.dir.path())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("source.max_line_bytes must be at least 1"),
        "{err}"
    );
    for alias in ["utf8", "utf-8", "latin-1", "iso-8859-1"] {
        let text = LATIN1_SCHEMA.replace("latin1", alias);
        recforge_data::Schema::from_toml_str(&text, fx.dir.path()).expect(alias);
    }
}
