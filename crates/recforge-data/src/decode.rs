//! Turns one raw (joined) row into typed values by the schema's rules: numbers parsed and
//! checked, fills applied, label, timestamp and example id read, tokens split and truncated.
//! Both prepare passes and `encode_file` go through this one decoder, so a row that fails in
//! one fails identically in the other.

use crate::error::{DataError, Result};
use crate::join::{ColumnRef, Tables};
use crate::numeric::{NumberError, parse_number, pre_transform};
use crate::reader::Row;
use crate::schema::{FeatureKind, LabelRule, Normalize, Schema};
use crate::timestamp::parse_timestamp;

/// Default separator of multi-valued cells in CSV-like files.
pub const DEFAULT_SEPARATOR: &str = "|";
/// Separator of RecBole `token_seq` / `float_seq` cells.
pub const RECBOLE_SEQ_SEPARATOR: &str = " ";

/// One feature's column and parsing rules.
pub(crate) struct Slot {
    pub column: ColumnRef,
    pub column_name: String,
    pub kind: FeatureKind,
    pub separator: String,
    pub max_len: Option<usize>,
    pub fill: Option<String>,
    pub normalize: Normalize,
}

/// A numeric cell after parsing and the pre-transform.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Number {
    pub value: f64,
    /// The cell was empty and `fill` supplied the value.
    pub filled: bool,
}

/// Typed values of one row (reused across rows).
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub matches: Vec<Option<u32>>,
    /// Parallel to the slots; meaningful for numeric slots only.
    pub numbers: Vec<Number>,
    pub label: f32,
    pub timestamp: Option<i64>,
    pub example_id: Option<u64>,
}

struct Special {
    column: ColumnRef,
    name: String,
}

/// The schema bound to concrete columns.
pub(crate) struct Decoder {
    pub tables: Tables,
    pub slots: Vec<Slot>,
    label: Option<(Special, LabelRule)>,
    timestamp: Option<Special>,
    example_id: Option<Special>,
}

impl Decoder {
    /// Resolves every column the schema names; a missing one is an error listing the
    /// available columns.
    pub fn new(schema: &Schema, tables: Tables) -> Result<Decoder> {
        let special = |name: &String| -> Result<Special> {
            Ok(Special {
                column: tables.resolve(name)?,
                name: name.clone(),
            })
        };
        let label = match &schema.label {
            Some(l) => Some((special(&l.column)?, l.rule())),
            None => None,
        };
        let timestamp = schema.timestamp.as_ref().map(special).transpose()?;
        let example_id = schema.example_id.as_ref().map(special).transpose()?;
        let mut slots = Vec::with_capacity(schema.features.len());
        for f in &schema.features {
            let column = tables.resolve(f.source_column())?;
            let is_seq_column = tables.field_type(column).is_some_and(|t| t.is_sequence());
            let separator = match &f.separator {
                Some(s) => s.clone(),
                None if is_seq_column => RECBOLE_SEQ_SEPARATOR.to_string(),
                None => DEFAULT_SEPARATOR.to_string(),
            };
            slots.push(Slot {
                column,
                column_name: f.source_column().to_string(),
                kind: f.kind,
                separator,
                max_len: f.max_len,
                fill: f.fill.clone(),
                normalize: f.normalize,
            });
        }
        Ok(Decoder {
            tables,
            slots,
            label,
            timestamp,
            example_id,
        })
    }

    /// Parses `row` into `out`; the first problem is returned as a row-level error.
    pub fn decode(&self, row: &Row, out: &mut Decoded) -> Result<()> {
        self.tables.match_row(row, &mut out.matches);
        out.numbers.resize(self.slots.len(), Number::default());
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.kind == FeatureKind::Numeric {
                out.numbers[i] = self.number(row, &out.matches, slot)?;
            }
        }
        out.label = match &self.label {
            None => 1.0,
            Some((special, rule)) => self.label(row, &out.matches, special, rule)?,
        };
        out.timestamp = match &self.timestamp {
            None => None,
            Some(special) => Some(self.timestamp(row, &out.matches, special)?),
        };
        out.example_id = match &self.example_id {
            None => None,
            Some(special) => Some(self.example_id(row, &out.matches, special)?),
        };
        Ok(())
    }

    fn number(&self, row: &Row, matches: &[Option<u32>], slot: &Slot) -> Result<Number> {
        let cell = self.tables.cell(row, matches, slot.column);
        let text = cell.text.map(str::trim).unwrap_or("");
        let (raw, filled) = if text.is_empty() {
            match &slot.fill {
                Some(fill) => (fill.as_str(), true),
                None => {
                    let why = match cell.text {
                        None => self.tables.explain_missing(row, slot.column),
                        Some(_) => "the cell is empty".to_string(),
                    };
                    return Err(DataError::value(
                        cell.path,
                        cell.line,
                        &slot.column_name,
                        format!("missing value ({why}); declare `fill` to use a default"),
                    ));
                }
            }
        } else {
            (text, false)
        };
        let x = self.parse(raw, cell.path, cell.line, &slot.column_name)?;
        let value = pre_transform(x, slot.normalize)
            .map_err(|m| DataError::value(cell.path, cell.line, &slot.column_name, m))?;
        Ok(Number { value, filled })
    }

    fn parse(&self, raw: &str, path: &std::path::Path, line: u64, field: &str) -> Result<f64> {
        parse_number(raw).map_err(|e| match e {
            NumberError::NotANumber => DataError::NotANumber {
                path: path.to_path_buf(),
                line,
                field: field.to_string(),
                value: raw.to_string(),
            },
            NumberError::NonFinite => DataError::NonFinite {
                path: path.to_path_buf(),
                line,
                field: field.to_string(),
            },
        })
    }

    /// The trimmed, non-empty text of a special column, or a "missing value" error.
    fn required<'a>(
        &'a self,
        row: &'a Row,
        matches: &[Option<u32>],
        s: &Special,
    ) -> Result<(&'a str, crate::join::Cell<'a>)> {
        let cell = self.tables.cell(row, matches, s.column);
        let text = cell.text.map(str::trim).unwrap_or("");
        if text.is_empty() {
            return Err(DataError::value(
                cell.path,
                cell.line,
                &s.name,
                "missing value",
            ));
        }
        Ok((text, cell))
    }

    fn label(
        &self,
        row: &Row,
        matches: &[Option<u32>],
        s: &Special,
        rule: &LabelRule,
    ) -> Result<f32> {
        let (text, cell) = self.required(row, matches, s)?;
        if let LabelRule::Positive(values) = rule {
            let text = text.trim();
            return Ok(if values.iter().any(|v| v == text) { 1.0 } else { 0.0 });
        }
        let x = self.parse(text, cell.path, cell.line, &s.name)?;
        match rule {
            LabelRule::Threshold(t) => Ok(if x >= *t { 1.0 } else { 0.0 }),
            _ if (0.0..=1.0).contains(&x) => Ok(x as f32),
            _ => Err(DataError::value(
                cell.path,
                cell.line,
                &s.name,
                format!(
                    "label {text} is not 0/1 or a probability in [0, 1]; \
                     set `threshold` under [label] to binarise it, or `positive = [...]` for text labels"
                ),
            )),
        }
    }

    fn timestamp(&self, row: &Row, matches: &[Option<u32>], s: &Special) -> Result<i64> {
        let (text, cell) = self.required(row, matches, s)?;
        parse_timestamp(text).ok_or_else(|| {
            DataError::value(
                cell.path,
                cell.line,
                &s.name,
                format!("expected seconds or an ISO-8601 date-time, found \"{text}\""),
            )
        })
    }

    fn example_id(&self, row: &Row, matches: &[Option<u32>], s: &Special) -> Result<u64> {
        let (text, cell) = self.required(row, matches, s)?;
        text.parse::<u64>().map_err(|_| {
            DataError::value(
                cell.path,
                cell.line,
                &s.name,
                format!("example id must be a non-negative integer, found \"{text}\""),
            )
        })
    }

    /// Calls `f` with each token of token slot `i` after splitting, trimming, dropping empty
    /// tokens, applying `fill` to an empty cell and truncating to `max_len` (the first tokens
    /// of a multi-categorical cell, the last of a sequence). A missing categorical cell calls
    /// `f` zero times.
    pub fn for_each_token<'a>(
        &'a self,
        i: usize,
        row: &'a Row,
        d: &Decoded,
        mut f: impl FnMut(&'a str),
    ) {
        let slot = &self.slots[i];
        let cell = self.tables.cell(row, &d.matches, slot.column);
        let mut text = cell.text.map(str::trim).unwrap_or("");
        if text.is_empty() {
            match &slot.fill {
                Some(fill) => text = fill.as_str(),
                None => return,
            }
        }
        if slot.kind == FeatureKind::Categorical {
            f(text.trim());
            return;
        }
        let tokens = text
            .split(slot.separator.as_str())
            .map(str::trim)
            .filter(|t| !t.is_empty());
        match slot.max_len {
            None => tokens.for_each(f),
            Some(max) if slot.kind == FeatureKind::Sequence => {
                let n = tokens.clone().count();
                tokens.skip(n.saturating_sub(max)).for_each(f);
            }
            Some(max) => tokens.take(max).for_each(f),
        }
    }
}
