//! Side tables (user profiles, item attributes) held in memory and joined to each streamed
//! main row by a key column, plus the name resolution that finds a column in the main file
//! or in one of the side tables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};
use crate::reader::{FieldType, Row, RowReader, column_index, open_reader_with};
use crate::schema::{Join, Schema, Source};

/// A side table keyed by its `on` column.
pub(crate) struct SideTable {
    pub path: PathBuf,
    pub header: Vec<String>,
    pub types: Option<Vec<FieldType>>,
    /// Index of the key column in the main file's rows.
    pub key_in_main: usize,
    /// The key column's name, for messages.
    pub key: String,
    rows: Vec<Box<[String]>>,
    lines: Vec<u64>,
    index: HashMap<String, u32>,
}

impl SideTable {
    /// Reads the whole table; a ragged row or a repeated key is an error (joins must be
    /// unambiguous).
    pub fn load(
        join: &Join,
        source: &Source,
        main_path: &Path,
        main_header: &[String],
    ) -> Result<SideTable> {
        let key_in_main = column_index(main_path, main_header, &join.on)?;
        let mut reader = open_reader_with(
            &join.path,
            join.format,
            join.delimiter,
            join.header,
            &join.read_options(source),
        )?;
        let key_col = reader.column_index(&join.on)?;
        let header = reader.header().to_vec();
        let types = reader.field_types().map(<[FieldType]>::to_vec);
        let mut table = SideTable {
            path: join.path.clone(),
            header,
            types,
            key_in_main,
            key: join.on.clone(),
            rows: Vec::new(),
            lines: Vec::new(),
            index: HashMap::new(),
        };
        let mut row = Row::default();
        while let Some(result) = reader.read_into(&mut row) {
            result?;
            let key = row.fields[key_col].trim().to_string();
            let id = table.rows.len() as u32;
            if let Some(&first) = table.index.get(&key) {
                return Err(DataError::Malformed {
                    path: table.path.clone(),
                    line: row.line,
                    message: format!(
                        "key {:?} in column \"{}\" repeats the row at line {}",
                        key, join.on, table.lines[first as usize]
                    ),
                });
            }
            table.index.insert(key, id);
            table
                .rows
                .push(std::mem::take(&mut row.fields).into_boxed_slice());
            table.lines.push(row.line);
        }
        Ok(table)
    }

    /// The row whose key equals the main row's key cell.
    pub fn lookup(&self, main_row: &Row) -> Option<u32> {
        let key = main_row.fields.get(self.key_in_main)?.trim();
        self.index.get(key).copied()
    }

    pub fn cell(&self, row: u32, column: usize) -> &str {
        &self.rows[row as usize][column]
    }

    pub fn line(&self, row: u32) -> u64 {
        self.lines[row as usize]
    }
}

/// Where a named column lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnRef {
    Main(usize),
    Side { table: usize, column: usize },
}

/// One cell and where it came from (for error messages).
pub(crate) struct Cell<'a> {
    /// `None` when the row's join key found no row in the side table.
    pub text: Option<&'a str>,
    pub path: &'a Path,
    pub line: u64,
}

/// The main file's header plus the loaded side tables.
pub(crate) struct Tables {
    pub main_path: PathBuf,
    pub main_header: Vec<String>,
    pub main_types: Option<Vec<FieldType>>,
    pub sides: Vec<SideTable>,
}

impl Tables {
    /// Opens the main file at `main_path` (the schema's source, or an evaluation file read
    /// the same way) and loads every side table.
    pub fn open(schema: &Schema, main_path: &Path) -> Result<(Box<dyn RowReader>, Tables)> {
        let source = &schema.source;
        let reader = open_reader_with(
            main_path,
            source.format,
            source.delimiter,
            source.header,
            &source.read_options(),
        )?;
        let tables = Tables::for_reader(schema, reader.as_ref())?;
        Ok((reader, tables))
    }

    /// The tables of `reader` (already open on the main rows: a file or in-memory batches)
    /// and the schema's side tables (read from their paths in the schema).
    pub fn for_reader(schema: &Schema, reader: &dyn RowReader) -> Result<Tables> {
        let source = &schema.source;
        let main_path = reader.path();
        let main_header = reader.header().to_vec();
        let sides = schema
            .joins
            .iter()
            .map(|join| SideTable::load(join, source, main_path, &main_header))
            .collect::<Result<Vec<_>>>()?;
        Ok(Tables {
            main_path: main_path.to_path_buf(),
            main_types: reader.field_types().map(<[FieldType]>::to_vec),
            main_header,
            sides,
        })
    }

    /// Finds `name` in the main file, then in the side tables in schema order.
    pub fn resolve(&self, name: &str) -> Result<ColumnRef> {
        if let Some(i) = self.main_header.iter().position(|h| h == name) {
            return Ok(ColumnRef::Main(i));
        }
        for (t, side) in self.sides.iter().enumerate() {
            if let Some(c) = side.header.iter().position(|h| h == name) {
                return Ok(ColumnRef::Side {
                    table: t,
                    column: c,
                });
            }
        }
        let mut available = self.main_header.clone();
        for side in &self.sides {
            available.extend(side.header.iter().filter(|h| **h != side.key).cloned());
        }
        Err(DataError::MissingColumn {
            path: self.main_path.clone(),
            column: name.to_string(),
            available,
        })
    }

    /// The RecBole type of a column, when its file declares types.
    pub fn field_type(&self, column: ColumnRef) -> Option<FieldType> {
        match column {
            ColumnRef::Main(i) => self.main_types.as_ref()?.get(i).copied(),
            ColumnRef::Side { table, column } => {
                self.sides.get(table)?.types.as_ref()?.get(column).copied()
            }
        }
    }

    /// Side-table matches for one main row, written into `matches`.
    pub fn match_row(&self, row: &Row, matches: &mut Vec<Option<u32>>) {
        matches.clear();
        matches.extend(self.sides.iter().map(|side| side.lookup(row)));
    }

    /// The cell `column` of the (joined) row.
    pub fn cell<'a>(
        &'a self,
        row: &'a Row,
        matches: &[Option<u32>],
        column: ColumnRef,
    ) -> Cell<'a> {
        match column {
            ColumnRef::Main(i) => Cell {
                text: Some(row.fields[i].as_str()),
                path: &self.main_path,
                line: row.line,
            },
            ColumnRef::Side { table, column } => {
                let side = &self.sides[table];
                match matches[table] {
                    Some(r) => Cell {
                        text: Some(side.cell(r, column)),
                        path: &side.path,
                        line: side.line(r),
                    },
                    None => Cell {
                        text: None,
                        path: &self.main_path,
                        line: row.line,
                    },
                }
            }
        }
    }

    /// Explains why a side-table cell is absent, e.g. `no row in ml-1m.user has user_id "7"`.
    pub fn explain_missing(&self, row: &Row, column: ColumnRef) -> String {
        match column {
            ColumnRef::Side { table, .. } => {
                let side = &self.sides[table];
                let key = row
                    .fields
                    .get(side.key_in_main)
                    .map(|s| s.trim())
                    .unwrap_or("");
                format!(
                    "no row in {} has {} {:?}",
                    side.path.display(),
                    side.key,
                    key
                )
            }
            ColumnRef::Main(_) => "the cell is empty".to_string(),
        }
    }
}
