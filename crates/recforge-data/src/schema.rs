//! The TOML schema that turns a user's own log into a dataset without code: where the log
//! and its side tables live, which column is the label, and how each feature is encoded.
//!
//! ```toml
//! [source]
//! path = "$DATA/ml-1m/ml-1m.inter"      # relative paths: against the schema file's folder
//! encoding = "utf-8"                      # or "latin1"; the joins read the same unless they
//!                                         # set their own `encoding`
//! max_field_bytes = 1048576               # longest cell (default 1 MiB)
//! max_line_bytes = 16777216               # longest record of a text file (default 16 MiB)
//! [[joins]]
//! path = "$DATA/ml-1m/ml-1m.user"
//! on = "user_id"
//! [label]
//! column = "rating"
//! threshold = 4                           # label = rating >= 4
//! [[features]]
//! name = "user_id"
//! kind = "categorical"
//! side = "user"
//! ```
//!
//! Reading never guesses (see [`crate::reader`]): a cell that is not valid in the declared
//! `encoding` (UTF-8 unless `encoding = "latin1"`), a NUL byte, an unterminated quote and a
//! cell or record past `max_field_bytes` / `max_line_bytes` are errors naming the file, the
//! line and the field. The size limits bound the memory one row may take; they apply to the
//! source and every join.
//!
//! `$DATA/` paths must stay inside the data folder: `$DATA/../x` is refused (write an
//! absolute path, or one relative to the schema file, to read a file elsewhere).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{DataError, Result};
use crate::reader::{Encoding, Format, ReadOptions};

/// Environment variable naming the data folder that `$DATA/` paths resolve against.
pub const DATA_ENV: &str = "RECFORGE_DATA";
/// Prefix of schema paths that live in the data folder.
const DATA_PREFIX: &str = "$DATA/";
/// Prefix reserved for the label, id and timestamp columns of the stored dataset.
pub(crate) const RESERVED_PREFIX: &str = "__";

/// A whole dataset declaration. See the module docs for an example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Dataset name, used for cache folders; defaults to the main file's stem.
    #[serde(default)]
    pub name: String,
    /// The main (streamed) log.
    pub source: Source,
    /// Side tables joined into each row by a key column. A column name is looked up in the
    /// main file first, then in the joins in order.
    #[serde(default)]
    pub joins: Vec<Join>,
    /// Where the label comes from; without one every row is a positive (implicit feedback).
    #[serde(default)]
    pub label: Option<LabelSpec>,
    /// Column holding a stable example id; otherwise the 0-based data row number.
    #[serde(default)]
    pub example_id: Option<String>,
    /// Column holding integer or float seconds.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Name of the feature identifying users (leave-one-out, negative sampling).
    #[serde(default)]
    pub user: Option<String>,
    /// Name of the feature identifying items.
    #[serde(default)]
    pub item: Option<String>,
    /// The model's inputs, in order.
    #[serde(default)]
    pub features: Vec<FeatureSpec>,
    /// How to split into train/valid/test.
    #[serde(default)]
    pub split: SplitSpec,
    /// Negative sampling for implicit feedback, applied by the trainer after splitting with
    /// [`crate::sample_negatives_into_split`], so each negative joins its positive's split
    /// (prepare stores only the logged rows).
    #[serde(default)]
    pub negatives: Option<NegativeSpec>,
}

/// The main log file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub path: PathBuf,
    #[serde(default)]
    pub format: Format,
    /// Overrides the format's separator (CSV-like formats only).
    #[serde(default)]
    pub delimiter: Option<char>,
    /// Whether the first line names the columns.
    #[serde(default = "default_true")]
    pub header: bool,
    /// Text encoding (`"utf-8"` when absent, or `"latin1"`); joins inherit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// Longest cell in bytes, for the source and every join (default
    /// [`crate::reader::DEFAULT_MAX_FIELD_BYTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_field_bytes: Option<usize>,
    /// Longest record of a text file in bytes, for the source and every join (default
    /// [`crate::reader::DEFAULT_MAX_LINE_BYTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_line_bytes: Option<usize>,
}

impl Source {
    /// How to read the source file: its encoding and the size limits, defaults filled in.
    pub fn read_options(&self) -> ReadOptions {
        let defaults = ReadOptions::default();
        ReadOptions {
            encoding: self.encoding.unwrap_or(defaults.encoding),
            max_field_bytes: self.max_field_bytes.unwrap_or(defaults.max_field_bytes),
            max_line_bytes: self.max_line_bytes.unwrap_or(defaults.max_line_bytes),
        }
    }
}

/// A side table loaded into memory and joined to every main row on `on`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Join {
    pub path: PathBuf,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub delimiter: Option<char>,
    #[serde(default = "default_true")]
    pub header: bool,
    /// Key column, present in the main file and in this table.
    pub on: String,
    /// Text encoding of this table; the source's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
}

impl Join {
    /// How to read this table: its own encoding (else the source's) and the source's limits.
    pub fn read_options(&self, source: &Source) -> ReadOptions {
        let mut options = source.read_options();
        if let Some(encoding) = self.encoding {
            options.encoding = encoding;
        }
        options
    }
}

/// Where the label comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSpec {
    pub column: String,
    /// `label = (value >= threshold)`; without it the value must lie in [0, 1].
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Text labels: `label = 1` when the cell (trimmed) is one of these values, else 0
    /// (e.g. `positive = [">50K"]`). Exclusive with `threshold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive: Option<Vec<String>>,
}

/// How a label cell becomes a number.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelRule {
    /// The cell is 0/1 or a probability in [0, 1].
    Number,
    /// `value >= threshold`.
    Threshold(f64),
    /// One of these (trimmed) texts.
    Positive(Vec<String>),
}

impl LabelSpec {
    /// The rule this spec declares (validated with the schema: not both keys).
    pub fn rule(&self) -> LabelRule {
        match (&self.positive, self.threshold) {
            (Some(values), _) => LabelRule::Positive(values.iter().map(|v| v.trim().to_string()).collect()),
            (None, Some(t)) => LabelRule::Threshold(t),
            (None, None) => LabelRule::Number,
        }
    }
}

/// How a feature is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// One token per row → one id.
    Categorical,
    /// A set of tokens per row (genres, tags) → a bag of ids.
    MultiCategorical,
    /// A number → one normalised f32.
    Numeric,
    /// An ordered list of tokens (a history) → a bag of ids, truncated to the latest.
    Sequence,
}

impl FeatureKind {
    /// Kinds whose cells are tokens mapped to ids through a vocabulary.
    pub fn is_sparse(self) -> bool {
        !matches!(self, FeatureKind::Numeric)
    }

    /// Kinds with a variable number of ids per row.
    pub fn is_bag(self) -> bool {
        matches!(self, FeatureKind::MultiCategorical | FeatureKind::Sequence)
    }
}

/// Which entity a feature describes; used by negative sampling to know what to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    User,
    Item,
    Context,
}

/// Numeric normalisation, fitted on the prepared (training) file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// `(x - mean) / std` (population std; std 0 counts as 1).
    #[default]
    Zscore,
    /// `(x - min) / (max - min)` (0 when max = min).
    Minmax,
    /// `ln(1 + x)`, then z-score with the statistics of the transformed values.
    Log1p,
    /// The raw value.
    None,
}

/// One model input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub name: String,
    /// Source column (default: `name`); may live in a joined table.
    #[serde(default)]
    pub column: Option<String>,
    pub kind: FeatureKind,
    /// Tokens seen fewer times map to the OOV id 0.
    #[serde(default = "default_min_count")]
    pub min_count: u64,
    /// Hash tokens into this many buckets (ids 1..=buckets) instead of fitting a vocabulary.
    #[serde(default)]
    pub hash_buckets: Option<u32>,
    /// Token separator for multi-valued cells; `|` by default, a space for RecBole
    /// `token_seq` columns.
    #[serde(default)]
    pub separator: Option<String>,
    /// Keep at most this many tokens: the first ones of a multi-categorical cell, the last
    /// (most recent) ones of a sequence.
    #[serde(default)]
    pub max_len: Option<usize>,
    #[serde(default)]
    pub normalize: Normalize,
    /// Value used for an empty cell. Without it an empty numeric cell is an error and an
    /// empty categorical cell maps to id 0.
    #[serde(default, deserialize_with = "string_or_number")]
    pub fill: Option<String>,
    #[serde(default)]
    pub side: Option<Side>,
}

impl FeatureSpec {
    /// The column this feature reads.
    pub fn source_column(&self) -> &str {
        self.column.as_deref().unwrap_or(&self.name)
    }
}

/// Split methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitMethod {
    #[default]
    Random,
    Temporal,
    LeaveOneOut,
}

/// How to split a prepared dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    #[serde(default)]
    pub method: SplitMethod,
    /// Fraction of rows for validation (random and temporal splits).
    #[serde(default = "default_fraction")]
    pub valid: f64,
    /// Fraction of rows for test (random and temporal splits).
    #[serde(default = "default_fraction")]
    pub test: f64,
    #[serde(default = "default_seed")]
    pub seed: u64,
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec {
            method: SplitMethod::Random,
            valid: default_fraction(),
            test: default_fraction(),
            seed: default_seed(),
        }
    }
}

/// Negative sampling for implicit feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegativeSpec {
    pub per_positive: usize,
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_true() -> bool {
    true
}
fn default_min_count() -> u64 {
    1
}
fn default_fraction() -> f64 {
    0.1
}
fn default_seed() -> u64 {
    42
}

/// Accepts `fill = "x"`, `fill = 0` and `fill = 0.5` alike.
fn string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Cell {
        Text(String),
        Int(i64),
        Float(f64),
        Bool(bool),
    }
    Ok(Option::<Cell>::deserialize(d)?.map(|c| match c {
        Cell::Text(s) => s,
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Bool(b) => b.to_string(),
    }))
}

impl Schema {
    /// Reads and validates a schema file; relative paths resolve against its folder.
    pub fn from_toml_file(path: &Path) -> Result<Schema> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Schema::parse(&text, base_dir, path)
    }

    /// Parses and validates schema text; relative paths resolve against `base_dir`.
    pub fn from_toml_str(s: &str, base_dir: &Path) -> Result<Schema> {
        Schema::parse(s, base_dir, Path::new("<schema>"))
    }

    fn parse(text: &str, base_dir: &Path, origin: &Path) -> Result<Schema> {
        let mut schema: Schema = toml::from_str(text).map_err(|e| DataError::Schema {
            path: origin.to_path_buf(),
            line: e.span().map(|span| line_of(text, span.start)),
            message: e.message().replace('`', "\""),
        })?;
        let resolve =
            |path: &Path| resolve_path(path, base_dir).map_err(|e| DataError::schema(origin, e));
        schema.source.path = resolve(&schema.source.path)?;
        for join in &mut schema.joins {
            join.path = resolve(&join.path)?;
        }
        if schema.name.is_empty() {
            schema.name = crate::paths::stem_name(&schema.source.path);
        }
        schema.validate(origin)?;
        Ok(schema)
    }

    /// The feature called `name`.
    pub fn feature(&self, name: &str) -> Option<&FeatureSpec> {
        self.features.iter().find(|f| f.name == name)
    }

    /// Checks everything that can be checked without opening the data files.
    pub fn validate(&self, origin: &Path) -> Result<()> {
        let fail = |message: String| Err(DataError::schema(origin, message));
        if self.features.is_empty() {
            return fail("declares no [[features]]".into());
        }
        let mut names = HashSet::new();
        for f in &self.features {
            if !names.insert(f.name.as_str()) {
                return fail(format!("feature \"{}\" is declared twice", f.name));
            }
            if f.name.is_empty() || f.name.starts_with(RESERVED_PREFIX) {
                return fail(format!(
                    "feature name \"{}\" is empty or starts with the reserved \"{RESERVED_PREFIX}\"",
                    f.name
                ));
            }
            self.validate_feature(f)
                .or_else(|m| fail(format!("feature \"{}\": {m}", f.name)))?;
        }
        for (role, name) in [("user", &self.user), ("item", &self.item)] {
            if let Some(name) = name {
                match self.feature(name) {
                    Some(f) if f.kind == FeatureKind::Categorical => {}
                    Some(_) => {
                        return fail(format!("{role} = \"{name}\" must be a categorical feature"));
                    }
                    None => return fail(format!("{role} = \"{name}\" is not a declared feature")),
                }
            }
        }
        let split = &self.split;
        for (what, v) in [("split.valid", split.valid), ("split.test", split.test)] {
            if !(0.0..1.0).contains(&v) {
                return fail(format!("{what} = {v} must lie in [0, 1)"));
            }
        }
        if split.valid + split.test >= 1.0 {
            return fail(format!(
                "split.valid + split.test = {} leaves no training rows",
                split.valid + split.test
            ));
        }
        if let Some(label) = &self.label
            && let Some(t) = label.threshold
            && !t.is_finite()
        {
            return fail("label.threshold must be a finite number".into());
        }
        if let Some(label) = &self.label
            && let Some(values) = &label.positive
        {
            if label.threshold.is_some() {
                return fail("label: give either `threshold` (numeric labels) or `positive` (text labels), not both".into());
            }
            if values.iter().all(|v| v.trim().is_empty()) {
                return fail("label.positive must list at least one non-empty value".into());
            }
        }
        if let Some(neg) = &self.negatives {
            if neg.per_positive == 0 {
                return fail("negatives.per_positive must be at least 1".into());
            }
            if self.user.is_none() || self.item.is_none() {
                return fail("negatives need `user` and `item` to name features".into());
            }
        }
        for (key, value) in [
            ("source.max_field_bytes", self.source.max_field_bytes),
            ("source.max_line_bytes", self.source.max_line_bytes),
        ] {
            if value == Some(0) {
                return fail(format!("{key} must be at least 1"));
            }
        }
        for join in &self.joins {
            if join.on.is_empty() {
                return fail(format!("join {} has an empty `on`", join.path.display()));
            }
        }
        Ok(())
    }

    fn validate_feature(&self, f: &FeatureSpec) -> std::result::Result<(), String> {
        if f.hash_buckets == Some(0) {
            return Err("hash_buckets must be at least 1".into());
        }
        if f.hash_buckets.is_some() && !f.kind.is_sparse() {
            return Err("hash_buckets applies to token features, not numeric".into());
        }
        if f.max_len == Some(0) {
            return Err("max_len must be at least 1".into());
        }
        if (f.max_len.is_some() || f.separator.is_some()) && !f.kind.is_bag() {
            return Err("max_len and separator apply to multi_categorical and sequence".into());
        }
        if f.separator.as_deref() == Some("") {
            return Err("separator must not be empty".into());
        }
        if f.kind == FeatureKind::Numeric
            && let Some(fill) = &f.fill
        {
            match fill.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => {}
                _ => return Err(format!("fill = \"{fill}\" is not a finite number")),
            }
        }
        Ok(())
    }

    /// Every file the schema reads: the source first, then the joins.
    pub fn files(&self) -> Vec<&Path> {
        std::iter::once(self.source.path.as_path())
            .chain(self.joins.iter().map(|j| j.path.as_path()))
            .collect()
    }
}

/// Resolves `$DATA/...` against [`data_root`] and relative paths against `base_dir`.
///
/// A `$DATA/` path must stay inside the data folder: `..` may not climb above it and the rest
/// may not be absolute. The check is on the written path (symbolic links inside the data
/// folder may point anywhere: that is the data folder's owner's choice, not the schema's).
pub fn resolve_path(path: &Path, base_dir: &Path) -> std::result::Result<PathBuf, String> {
    if let Some(rest) = path.to_str().and_then(|s| s.strip_prefix(DATA_PREFIX)) {
        let root = data_root();
        return inside_data_root(Path::new(rest))
            .map(|inner| root.join(inner))
            .ok_or_else(|| {
                format!(
                    "path \"{}\" leaves the data folder {}: a \"{DATA_PREFIX}\" path must stay \
                     inside it; to read a file elsewhere write its absolute path, or a path \
                     relative to the schema file",
                    path.display(),
                    root.display()
                )
            });
    }
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    })
}

/// `rest` with `.` and `..` folded, or `None` when it climbs above its start or is absolute.
fn inside_data_root(rest: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut inner = PathBuf::new();
    for component in rest.components() {
        match component {
            Component::Normal(part) => inner.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !inner.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(inner)
}

/// The data folder: `$RECFORGE_DATA`, or `data/` under the current directory.
pub fn data_root() -> PathBuf {
    match std::env::var_os(DATA_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("."))
            .join("data"),
    }
}

/// 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> u64 {
    let end = at.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
        + 1
}
