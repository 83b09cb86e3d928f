//! Bad input gets an error naming the file, the line and the field.

use std::path::PathBuf;

use recforge_select::input::read_documents;

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn error_of(path: &PathBuf, field: &str) -> String {
    read_documents(path, field).unwrap_err().to_string()
}

#[test]
fn missing_field_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "a.jsonl", b"{\"text\": \"ok\"}\n{\"body\": \"no text\"}\n");
    let e = error_of(&p, "text");
    assert!(e.contains("a.jsonl:2:") && e.contains("field \"text\"") && e.contains("body"), "{e}");
}

#[test]
fn non_utf8_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "b.jsonl", b"{\"text\": \"ok\"}\n{\"text\": \"caf\xe9\"}\n");
    let e = error_of(&p, "text");
    assert!(e.contains("b.jsonl:2:") && e.contains("UTF-8"), "{e}");
}

#[test]
fn empty_lines_and_empty_texts_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "c.jsonl", b"{\"text\": \"ok\"}\n\n{\"text\": \"x\"}\n");
    let e = error_of(&p, "text");
    assert!(e.contains("c.jsonl:2:") && e.contains("empty line"), "{e}");
    let p = write(&dir, "d.jsonl", b"{\"text\": \"ok\"}\n{\"text\": \"  \"}\n");
    let e = error_of(&p, "text");
    assert!(e.contains("d.jsonl:2:") && e.contains("field \"text\"") && e.contains("empty text"), "{e}");
    let p = write(&dir, "e.jsonl", b"{\"text\": 5}\n");
    assert!(error_of(&p, "text").contains("expected a string"));
}

#[test]
fn csv_missing_column_and_empty_cell() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "f.csv", b"id,body\n1,hello\n");
    let e = error_of(&p, "text");
    assert!(e.contains("f.csv") && e.contains("\"text\"") && e.contains("body"), "{e}");
    let p = write(&dir, "g.csv", b"id,text\n1,hello\n2,\n");
    let e = error_of(&p, "text");
    assert!(e.contains("g.csv:3:") && e.contains("empty text"), "{e}");
    let ok = read_documents(&write(&dir, "h.csv", b"id,text\n1,hello\n2,world\n"), "text").unwrap();
    assert_eq!(ok.iter().map(|d| d.text.as_str()).collect::<Vec<_>>(), ["hello", "world"]);
    assert_eq!(ok[1].record["id"], "2");
}

#[test]
fn unknown_extension_and_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    assert!(error_of(&write(&dir, "x.xml", b"<a/>"), "text").contains("extension"));
    assert!(error_of(&write(&dir, "y.jsonl", b""), "text").contains("no records"));
}
