//! `recforge data inspect`: a one-pass profile of an unknown file — per column the inferred
//! type, distinct and missing counts, numeric range and mean, example values — and the label
//! rate, printed as an aligned table. Helps write the schema.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Result;
use crate::numeric::parse_number;
use crate::reader::{Format, ReadOptions, Row, open_reader_with};
use crate::schema::Schema;

/// Distinct values are counted exactly up to this many per column.
pub const DISTINCT_LIMIT: usize = 1_000_000;
/// Example values shown per column.
const EXAMPLES: usize = 3;
/// Separator whose presence in most cells marks a multi-valued column.
const MULTI_SEPARATOR: char = '|';
/// Column names taken for a label when no schema says otherwise (if their values are 0/1).
const LABEL_NAMES: [&str; 4] = ["label", "click", "y", "target"];
/// Longest example value shown, in characters.
const EXAMPLE_CHARS: usize = 24;

/// What a column seems to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InferredType {
    Integer,
    Float,
    Categorical,
    /// Several values per cell (the separator in more than half the non-empty cells, or a
    /// RecBole `*_seq` column).
    MultiValued,
    /// No non-empty cell.
    Empty,
}

impl fmt::Display for InferredType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InferredType::Integer => "integer",
            InferredType::Float => "float",
            InferredType::Categorical => "categorical",
            InferredType::MultiValued => "multi-valued",
            InferredType::Empty => "empty",
        })
    }
}

/// The profile of one column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnProfile {
    pub name: String,
    pub inferred: InferredType,
    /// Exact when `distinct_capped` is false, else at least [`DISTINCT_LIMIT`].
    pub distinct: u64,
    pub distinct_capped: bool,
    /// Empty cells.
    pub missing: u64,
    /// Over cells that parse as numbers, for integer and float columns.
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    /// The first distinct non-empty values.
    pub examples: Vec<String>,
}

/// The profile of a file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InspectReport {
    pub path: PathBuf,
    pub format: Format,
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
    /// The label column and the fraction of positive rows, when one was found.
    pub label: Option<(String, f64)>,
}

#[derive(Default)]
struct Profiler {
    missing: u64,
    non_empty: u64,
    all_integer: bool,
    all_number: bool,
    all_binary: bool,
    ones: u64,
    at_or_above_threshold: u64,
    with_separator: u64,
    sum: f64,
    min: f64,
    max: f64,
    numbers: u64,
    distinct: HashSet<String>,
    capped: bool,
    /// Distinct tokens of multi-valued cells (split on `|`, or whitespace for sequences).
    tokens: HashSet<String>,
    tokens_capped: bool,
    sequence_column: bool,
    examples: Vec<String>,
}

impl Profiler {
    fn new(sequence_column: bool) -> Self {
        Profiler {
            sequence_column,
            all_integer: true,
            all_number: true,
            all_binary: true,
            ..Default::default()
        }
    }

    fn add(&mut self, cell: &str, threshold: Option<f64>) {
        let cell = cell.trim();
        if cell.is_empty() {
            self.missing += 1;
            return;
        }
        self.non_empty += 1;
        if cell.contains(MULTI_SEPARATOR) {
            self.with_separator += 1;
        }
        self.all_integer &= cell.parse::<i64>().is_ok();
        match parse_number(cell) {
            Ok(x) => {
                if self.numbers == 0 {
                    (self.min, self.max) = (x, x);
                }
                self.numbers += 1;
                self.sum += x;
                self.min = self.min.min(x);
                self.max = self.max.max(x);
                self.all_binary &= x == 0.0 || x == 1.0;
                self.ones += u64::from(x == 1.0);
                if threshold.is_some_and(|t| x >= t) {
                    self.at_or_above_threshold += 1;
                }
            }
            Err(_) => {
                self.all_number = false;
                self.all_binary = false;
            }
        }
        if !self.tokens_capped {
            let tokens: Vec<&str> = if self.sequence_column {
                cell.split_whitespace().collect()
            } else {
                cell.split(MULTI_SEPARATOR).map(str::trim).filter(|t| !t.is_empty()).collect()
            };
            for token in tokens {
                if self.tokens.len() >= DISTINCT_LIMIT {
                    self.tokens_capped = true;
                    break;
                }
                if !self.tokens.contains(token) {
                    self.tokens.insert(token.to_string());
                }
            }
        }
        if !self.capped && !self.distinct.contains(cell) {
            if self.distinct.len() >= DISTINCT_LIMIT {
                self.capped = true;
            } else {
                if self.examples.len() < EXAMPLES {
                    self.examples.push(cell.to_string());
                }
                self.distinct.insert(cell.to_string());
            }
        }
    }

    fn finish(self, name: &str) -> ColumnProfile {
        let sequence_column = self.sequence_column;
        let inferred = if self.non_empty == 0 {
            InferredType::Empty
        } else if self.all_integer {
            InferredType::Integer
        } else if self.all_number {
            InferredType::Float
        } else if sequence_column || self.with_separator * 2 > self.non_empty {
            InferredType::MultiValued
        } else {
            InferredType::Categorical
        };
        let numeric = matches!(inferred, InferredType::Integer | InferredType::Float);
        // A multi-valued column's cardinality is that of its tokens (genres, tags), not of
        // the cells' combinations.
        let (distinct, distinct_capped) = if inferred == InferredType::MultiValued {
            (self.tokens.len() as u64, self.tokens_capped)
        } else {
            (self.distinct.len() as u64, self.capped)
        };
        ColumnProfile {
            name: name.to_string(),
            inferred,
            distinct,
            distinct_capped,
            missing: self.missing,
            min: numeric.then_some(self.min),
            max: numeric.then_some(self.max),
            mean: numeric.then(|| self.sum / self.numbers as f64),
            examples: self.examples,
        }
    }
}

/// Profiles `path`, reading at most `max_rows` data rows. A `schema` supplies the delimiter,
/// the header switch and the label (column and threshold); without one, a 0/1 column named
/// label, click, y or target is taken as the label.
pub fn inspect(
    path: &Path,
    format: Format,
    schema: Option<&Schema>,
    max_rows: Option<u64>,
) -> Result<InspectReport> {
    let format = format.resolve(path)?;
    let (delimiter, header, options) = schema.map_or((None, true, ReadOptions::default()), |s| {
        (s.source.delimiter, s.source.header, s.source.read_options())
    });
    let mut reader = open_reader_with(path, format, delimiter, header, &options)?;
    let names = reader.header().to_vec();
    let sequence: Vec<bool> = match reader.field_types() {
        Some(types) => types.iter().map(|t| t.is_sequence()).collect(),
        None => vec![false; names.len()],
    };
    let label_spec = schema.and_then(|s| s.label.as_ref());
    let label_index = label_spec.and_then(|l| names.iter().position(|n| *n == l.column));
    let threshold = label_spec.and_then(|l| l.threshold);
    let mut profilers: Vec<Profiler> = sequence.iter().map(|&seq| Profiler::new(seq)).collect();
    let mut row = Row::default();
    let mut rows = 0u64;
    while max_rows.is_none_or(|m| rows < m) {
        let Some(result) = reader.read_into(&mut row) else {
            break;
        };
        result?;
        rows += 1;
        for (i, (profiler, cell)) in profilers.iter_mut().zip(&row.fields).enumerate() {
            profiler.add(
                cell,
                if Some(i) == label_index {
                    threshold
                } else {
                    None
                },
            );
        }
    }
    let label = match (label_index, threshold) {
        (Some(i), Some(_)) => Some((
            names[i].clone(),
            rate(profilers[i].at_or_above_threshold, rows),
        )),
        (Some(i), None) => Some((names[i].clone(), profilers[i].sum / rows.max(1) as f64)),
        (None, _) => names.iter().enumerate().find_map(|(i, n)| {
            let p = &profilers[i];
            let named = LABEL_NAMES.contains(&n.to_ascii_lowercase().as_str());
            (named && p.non_empty > 0 && p.all_binary)
                .then(|| (n.clone(), rate(p.ones, p.non_empty)))
        }),
    };
    let columns = profilers
        .into_iter()
        .zip(&names)
        .map(|(p, name)| p.finish(name))
        .collect();
    Ok(InspectReport {
        path: path.to_path_buf(),
        format,
        rows,
        columns,
        label,
    })
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Short human form of a number: integers as such, others with 4 significant digits.
fn short(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x:.4}")
    }
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ({:?}): {} rows",
            self.path.display(),
            self.format,
            self.rows
        )?;
        match &self.label {
            Some((name, r)) => writeln!(f, "label: {name}, positive rate {r:.4}")?,
            None => writeln!(
                f,
                "label: none found (columns label/click/y/target with 0/1 values)"
            )?,
        }
        let head = [
            "column", "type", "distinct", "missing", "min", "max", "mean", "examples",
        ];
        let mut table: Vec<[String; 8]> = vec![head.map(String::from)];
        for c in &self.columns {
            let distinct = if c.distinct_capped {
                "≥1M".to_string()
            } else {
                c.distinct.to_string()
            };
            let examples: Vec<String> = c
                .examples
                .iter()
                .map(|e| {
                    if e.chars().count() > EXAMPLE_CHARS {
                        format!("{}…", e.chars().take(EXAMPLE_CHARS).collect::<String>())
                    } else {
                        e.clone()
                    }
                })
                .collect();
            table.push([
                c.name.clone(),
                c.inferred.to_string(),
                distinct,
                c.missing.to_string(),
                c.min.map(short).unwrap_or_default(),
                c.max.map(short).unwrap_or_default(),
                c.mean.map(short).unwrap_or_default(),
                examples.join(", "),
            ]);
        }
        let mut widths = [0usize; 8];
        for line in &table {
            for (w, cell) in widths.iter_mut().zip(line) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for line in &table {
            let mut text = String::new();
            for (i, (cell, w)) in line.iter().zip(widths).enumerate() {
                let pad = w - cell.chars().count();
                let numeric_column = (2..=6).contains(&i);
                if numeric_column {
                    text.push_str(&" ".repeat(pad));
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    if i + 1 < line.len() {
                        text.push_str(&" ".repeat(pad));
                    }
                }
                if i + 1 < line.len() {
                    text.push_str("  ");
                }
            }
            writeln!(f, "{}", text.trim_end())?;
        }
        Ok(())
    }
}
