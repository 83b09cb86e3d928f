//! Off-policy evaluation of any logged-bandit file (`recforge bandit ope --log FILE --schema
//! S.toml`), like OBP's `bandit_feedback`: a CSV/TSV/Parquet log with an action, a reward and
//! the logging propensity per row, optional categorical context columns and a slot column, and
//! optionally the evaluated policy's action distribution in a second file. Without that file,
//! the policies named are trained on the first half of the log and evaluated on the second.
//!
//! Schema (TOML):
//!
//! ```toml
//! action = "item_id"              # column of the logged action (any string; interned)
//! reward = "click"                # numeric
//! propensity = "propensity_score" # π_b(a|x) in (0, 1]
//! position = "position"           # optional slot column (any string; interned)
//! context = ["user_feature_0"]    # optional categorical context columns
//! [target]                        # optional: the evaluated policy π_e
//! file = "pi_e.csv"               # columns: round (0-based data row), action, probability
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use recforge_data::reader::{Format, open_reader};
use serde::{Deserialize, Serialize};

use super::obd::{FeatureVocab, ObdLog, ObdRow};
use super::protocol::{BootstrapOptions, Estimate, Evaluation, PolicyEstimates, evaluate_trained};
use super::OpeError;

/// The `--schema` file: which columns hold what.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSchema {
    pub action: String,
    pub reward: String,
    pub propensity: String,
    #[serde(default)]
    pub position: Option<String>,
    #[serde(default)]
    pub context: Vec<String>,
    #[serde(default)]
    pub target: Option<TargetSchema>,
}

/// The `[target]` table: a file with the evaluated policy's probabilities.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSchema {
    /// Relative paths are relative to the schema file.
    pub file: PathBuf,
    #[serde(default = "default_round")]
    pub round: String,
    #[serde(default = "default_action")]
    pub action: String,
    #[serde(default = "default_probability")]
    pub probability: String,
}

fn default_round() -> String {
    "round".into()
}
fn default_action() -> String {
    "action".into()
}
fn default_probability() -> String {
    "probability".into()
}

impl LogSchema {
    /// Reads a schema file; a relative target file is made relative to it.
    pub fn from_file(path: &Path) -> Result<LogSchema, OpeError> {
        let text = std::fs::read_to_string(path).map_err(|e| OpeError::Invalid(format!("{}: {e}", path.display())))?;
        let mut schema: LogSchema = toml::from_str(&text).map_err(|e| OpeError::Invalid(format!("{}: {e}", path.display())))?;
        if let Some(target) = &mut schema.target {
            if target.file.is_relative() {
                target.file = path.parent().unwrap_or(Path::new(".")).join(&target.file);
            }
        }
        Ok(schema)
    }
}

/// What `recforge bandit ope --log` reports.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedReport {
    pub log: String,
    pub rows: usize,
    pub actions: usize,
    pub positions: usize,
    pub confidence: f64,
    pub resamples: usize,
    /// The policy of the `[target]` file, when the schema has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Vec<Estimate>>,
    /// Policies trained on the first half of the log, evaluated on the second (without a
    /// `[target]` file).
    pub policies: Vec<PolicyEstimates>,
}

/// A log read through a schema.
pub struct LoggedData {
    pub log: ObdLog,
    pub vocab: FeatureVocab,
    /// Action name → index.
    pub actions: HashMap<String, u32>,
}

/// Reads `path` with `schema` into rows (actions and slots interned in order of appearance).
pub fn read_log(path: &Path, schema: &LogSchema) -> Result<LoggedData, OpeError> {
    let mut reader = open_reader(path, Format::Auto, None, true)?;
    let (c_action, c_reward, c_ps) = (reader.column_index(&schema.action)?, reader.column_index(&schema.reward)?, reader.column_index(&schema.propensity)?);
    let c_position = schema.position.as_deref().map(|p| reader.column_index(p)).transpose()?;
    let c_context: Vec<usize> = schema.context.iter().map(|c| reader.column_index(c)).collect::<Result<_, _>>()?;
    let mut actions: HashMap<String, u32> = HashMap::new();
    let mut positions: HashMap<String, usize> = HashMap::new();
    let mut contexts = FeatureVocab::new(c_context.len(), 1);
    let mut raw = Vec::new();
    for row in reader.by_ref() {
        let row = row?;
        let number = |c: usize, field: &str| -> Result<f64, OpeError> {
            row.fields[c].trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                OpeError::Invalid(format!("{}:{}: field \"{field}\": expected a number, found \"{}\"", path.display(), row.line, row.fields[c]))
            })
        };
        let next = actions.len() as u32;
        let item = *actions.entry(row.fields[c_action].clone()).or_insert(next);
        let next = positions.len();
        let position = c_position.map_or(0, |c| *positions.entry(row.fields[c].clone()).or_insert(next));
        let user = c_context.iter().enumerate().map(|(k, &c)| contexts.intern(k, &row.fields[c])).collect();
        raw.push(ObdRow { item, position, click: number(c_reward, &schema.reward)?, pscore: number(c_ps, &schema.propensity)?, user });
    }
    if raw.is_empty() {
        return Err(OpeError::Empty);
    }
    let mut vocab = contexts;
    vocab.set_positions(positions.len());
    let n_items = actions.len() as u32;
    Ok(LoggedData { log: ObdLog { path: path.to_path_buf(), rows: raw, n_items }, vocab, actions })
}

/// Reads the `[target]` file: one probability vector (over the log's actions) per log row.
fn read_target(target: &TargetSchema, data: &LoggedData) -> Result<Vec<Vec<f64>>, OpeError> {
    let path = &target.file;
    let mut reader = open_reader(path, Format::Auto, None, true)?;
    let (c_round, c_action, c_p) = (reader.column_index(&target.round)?, reader.column_index(&target.action)?, reader.column_index(&target.probability)?);
    let rows = data.log.rows.len();
    let mut dist = vec![vec![0.0; data.actions.len()]; rows];
    for row in reader.by_ref() {
        let row = row?;
        let at = |what: &str| OpeError::Invalid(format!("{}:{}: {what}", path.display(), row.line));
        let round: usize = row.fields[c_round].trim().parse().map_err(|_| at(&format!("field \"{}\": expected a row number, found \"{}\"", target.round, row.fields[c_round])))?;
        let Some(slot) = dist.get_mut(round) else {
            return Err(at(&format!("round {round} is past the log's {rows} rows")));
        };
        let action = data.actions.get(&row.fields[c_action]).ok_or_else(|| at(&format!("action \"{}\" never appears in the log", row.fields[c_action])))?;
        let p: f64 = row.fields[c_p].trim().parse().ok().filter(|p: &f64| (0.0..=1.0).contains(p)).ok_or_else(|| at(&format!("field \"{}\": expected a probability in [0, 1], found \"{}\"", target.probability, row.fields[c_p])))?;
        slot[*action as usize] += p;
    }
    for (round, p) in dist.iter().enumerate() {
        let total: f64 = p.iter().sum();
        if (total - 1.0).abs() > 1e-6 {
            return Err(OpeError::Invalid(format!("{}: round {round}: the probabilities sum to {total}, expected 1", path.display())));
        }
    }
    Ok(dist)
}

/// Evaluates the `[target]` policy of `schema` on the log at `path`, or, without one, the
/// policies `names` trained on its first half.
pub fn run_logged(path: &Path, schema: &LogSchema, names: &[String], config: &crate::PolicyConfig, options: BootstrapOptions) -> Result<LoggedReport, OpeError> {
    let data = read_log(path, schema)?;
    let positions = data.vocab.positions();
    let (target, policies) = match &schema.target {
        Some(target) => {
            let dist = read_target(target, &data)?;
            let evaluation = Evaluation { rows: &data.log.rows, targets: dist.iter().map(Vec::as_slice).collect(), model_rows: None, n_items: data.log.n_items, positions };
            (Some(evaluation.estimate_all(options)?), Vec::new())
        }
        None => {
            let mut policies: Vec<Box<dyn crate::Policy>> = Vec::with_capacity(names.len());
            for name in names {
                policies.push(crate::make_policy(name, config, data.vocab.dim()).ok_or_else(|| OpeError::Invalid(format!("unknown policy \"{name}\"; known: {}", crate::POLICY_NAMES.join(", "))))?);
            }
            (None, evaluate_trained(&data.log, &data.vocab, policies, options)?)
        }
    };
    Ok(LoggedReport {
        log: path.display().to_string(),
        rows: data.log.rows.len(),
        actions: data.actions.len(),
        positions,
        confidence: options.confidence,
        resamples: options.resamples,
        target,
        policies,
    })
}

impl LoggedReport {
    /// The estimates as Markdown tables.
    pub fn to_markdown(&self) -> String {
        use std::fmt::Write as _;
        let pct = (self.confidence * 100.0).round();
        let mut out = format!("{}: {} rows, {} actions, {} slot(s); {pct}% bootstrap intervals ({} resamples, reward model refit per resample)\n\n", self.log, self.rows, self.actions, self.positions, self.resamples);
        let cell = |e: &Estimate| format!("{:.5} [{:.5}, {:.5}]", e.interval.estimate, e.interval.lower, e.interval.upper);
        let mut warnings = Vec::new();
        if let Some(target) = &self.target {
            out += "| estimator | value [interval] |\n|---|---|\n";
            for e in target {
                let _ = writeln!(out, "| {} | {} |", e.estimator, cell(e));
                warnings.extend(e.warning.clone());
            }
        }
        if let Some(first) = self.policies.first() {
            let names: Vec<&str> = first.estimates.iter().map(|e| e.estimator.as_str()).collect();
            let _ = writeln!(out, "Policies trained on the first {} rows, evaluated on the last {}\n", first.train_rows, first.eval_rows);
            let _ = writeln!(out, "| policy | {} |\n|---|{}", names.join(" | "), "---|".repeat(names.len()));
            for p in &self.policies {
                let _ = writeln!(out, "| {} | {} |", p.policy, p.estimates.iter().map(cell).collect::<Vec<_>>().join(" | "));
                warnings.extend(p.estimates.iter().filter_map(|e| e.warning.clone()));
            }
        }
        for w in warnings {
            let _ = writeln!(out, "\nwarning: {w}");
        }
        out
    }
}
