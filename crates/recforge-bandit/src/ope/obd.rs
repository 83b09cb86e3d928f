//! The Open Bandit Dataset (ZOZOTOWN; Saito et al., arXiv 2008.07146): logs of a
//! uniform-random and a Bernoulli-Thompson-sampling policy choosing fashion items for three
//! slots, with the true logging propensities. Read through recforge-data's OBD reader.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use recforge_data::reader::{Format, open_reader};

use super::OpeError;
use crate::ClusterContext;

/// Number of user-feature columns (`user_feature_0..3`).
pub const USER_FEATURES: usize = 4;
/// Slots per impression (positions 1–3).
pub const POSITIONS: usize = 3;

/// One logged impression slot (of the Open Bandit Dataset or of a generic log, see
/// [`super::logged`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ObdRow {
    pub item: u32,
    /// 0-based slot.
    pub position: usize,
    pub click: f64,
    /// The logging policy's probability of this item in this slot.
    pub pscore: f64,
    /// Interned values of the context features (the four hashed user features for OBD).
    pub user: Vec<u32>,
}

/// Interns the context-feature strings, shared by the logs of one experiment.
#[derive(Debug, Clone)]
pub struct FeatureVocab {
    values: Vec<HashMap<String, u32>>,
    positions: usize,
}

impl Default for FeatureVocab {
    /// The Open Bandit Dataset's: four user features, three slots.
    fn default() -> Self {
        FeatureVocab::new(USER_FEATURES, POSITIONS)
    }
}

impl FeatureVocab {
    /// A vocabulary for `features` categorical context columns and `positions` slots.
    pub fn new(features: usize, positions: usize) -> Self {
        FeatureVocab { values: vec![HashMap::new(); features], positions: positions.max(1) }
    }

    /// The interned id of `value` in feature `feature`.
    pub fn intern(&mut self, feature: usize, value: &str) -> u32 {
        let map = &mut self.values[feature];
        let next = map.len() as u32;
        *map.entry(value.to_string()).or_insert(next)
    }

    /// Sets the number of slots (known once a log is read).
    pub fn set_positions(&mut self, positions: usize) {
        self.positions = positions.max(1);
    }

    /// Number of slots.
    pub fn positions(&self) -> usize {
        self.positions
    }

    /// Dimension of [`FeatureVocab::context`]: one slot per feature value and per position.
    pub fn dim(&self) -> usize {
        self.values.iter().map(HashMap::len).sum::<usize>() + self.positions
    }

    /// A row's context: its feature values and its slot, equal weights with unit norm.
    pub fn context(&self, row: &ObdRow) -> ClusterContext {
        let mut offset = 0u32;
        let mut pairs = Vec::with_capacity(row.user.len() + 1);
        for (k, &value) in row.user.iter().enumerate() {
            pairs.push(offset + value);
            offset += self.values.get(k).map_or(0, HashMap::len) as u32;
        }
        pairs.push(offset + row.position as u32);
        let w = 1.0 / (pairs.len() as f64).sqrt();
        ClusterContext::new(pairs.into_iter().map(|c| (c, w)))
    }
}

/// One campaign's log from one logging policy.
#[derive(Debug, Clone)]
pub struct ObdLog {
    pub path: PathBuf,
    pub rows: Vec<ObdRow>,
    /// Items in the campaign (rows of `item_context.csv`).
    pub n_items: u32,
}

impl ObdLog {
    /// The dataset folder a `--data` value names: `obd` is `$RECFORGE_DATA/obd`, anything else
    /// a folder with the same layout (`random/CAMPAIGN/CAMPAIGN.csv`, `bts/...`).
    pub fn locate(data: &str) -> Result<PathBuf, OpeError> {
        let dir = if data == "obd" { recforge_data::paths::data_dir().join("obd") } else { PathBuf::from(data) };
        if !dir.is_dir() {
            return Err(OpeError::Invalid(format!(
                "{}: no Open Bandit Dataset folder here; run `recforge data fetch --only obd` or pass --data DIR",
                dir.display()
            )));
        }
        Ok(dir)
    }

    /// Reads `DIR/{policy}/{campaign}/{campaign}.csv` and its `item_context.csv`.
    pub fn read(obd_dir: &Path, policy: &str, campaign: &str, vocab: &mut FeatureVocab) -> Result<ObdLog, OpeError> {
        let dir = obd_dir.join(policy).join(campaign);
        let path = dir.join(format!("{campaign}.csv"));
        let mut reader = open_reader(&path, Format::Obd, None, true)?;
        let col = |name: &str| reader.column_index(name);
        let (c_item, c_pos, c_click, c_ps) = (col("item_id")?, col("position")?, col("click")?, col("propensity_score")?);
        let c_user: Vec<usize> = (0..USER_FEATURES).map(|k| col(&format!("user_feature_{k}"))).collect::<Result<_, _>>()?;
        let mut rows = Vec::new();
        for row in reader.by_ref() {
            let row = row?;
            let number = |c: usize, field: &str| -> Result<f64, OpeError> {
                row.fields[c].trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                    OpeError::Invalid(format!("{}:{}: field \"{field}\": expected a number, found \"{}\"", path.display(), row.line, row.fields[c]))
                })
            };
            let position = number(c_pos, "position")? as usize;
            if !(1..=POSITIONS).contains(&position) {
                return Err(OpeError::Invalid(format!("{}:{}: field \"position\": expected 1..{POSITIONS}, found {position}", path.display(), row.line)));
            }
            let user: Vec<u32> = c_user.iter().enumerate().map(|(k, &c)| vocab.intern(k, &row.fields[c])).collect();
            rows.push(ObdRow { item: number(c_item, "item_id")? as u32, position: position - 1, click: number(c_click, "click")?, pscore: number(c_ps, "propensity_score")?, user });
        }
        let context_path = dir.join("item_context.csv");
        let n_items = open_reader(&context_path, Format::Obd, None, true)?.count() as u32;
        if let Some(bad) = rows.iter().position(|r| r.item >= n_items) {
            return Err(OpeError::Invalid(format!("{}: row {bad}: item {} is not among the {n_items} items of {}", path.display(), rows[bad].item, context_path.display())));
        }
        if rows.is_empty() {
            return Err(OpeError::Empty);
        }
        Ok(ObdLog { path, rows, n_items })
    }
}

/// Smoothed click rate per (item, slot): `(clicks + m·p̄) / (shows + m)` with p̄ the log's
/// overall rate — the reward model q̂ of the direct method and doubly robust.
#[derive(Debug, Clone)]
pub struct CtrTable {
    rates: Vec<f64>,
    n_items: u32,
    positions: usize,
}

/// Pseudo-impressions at the overall rate added to every (item, slot) cell.
pub const CTR_PRIOR_STRENGTH: f64 = 100.0;

impl CtrTable {
    /// Fits the table on `rows` (the Open Bandit Dataset's three slots).
    pub fn fit(rows: &[ObdRow], n_items: u32) -> CtrTable {
        Self::fit_rows(rows.iter(), n_items, POSITIONS)
    }

    /// Fits the table on `rows` with `positions` slots.
    pub fn fit_rows<'a>(rows: impl Iterator<Item = &'a ObdRow>, n_items: u32, positions: usize) -> CtrTable {
        let cells = n_items as usize * positions;
        let (mut clicks, mut shows) = (vec![0.0; cells], vec![0.0; cells]);
        let (mut total, mut n) = (0.0, 0usize);
        for r in rows {
            if let Some(cell) = (r.position < positions).then(|| r.item as usize * positions + r.position).filter(|&c| c < cells) {
                clicks[cell] += r.click;
                shows[cell] += 1.0;
            }
            total += r.click;
            n += 1;
        }
        let overall = total / n.max(1) as f64;
        let rates = clicks.iter().zip(&shows).map(|(c, n)| (c + CTR_PRIOR_STRENGTH * overall) / (n + CTR_PRIOR_STRENGTH)).collect();
        CtrTable { rates, n_items, positions }
    }

    pub fn rate(&self, item: u32, position: usize) -> f64 {
        if position >= self.positions {
            return 0.0;
        }
        self.rates.get(item as usize * self.positions + position).copied().unwrap_or(0.0)
    }

    pub fn n_items(&self) -> u32 {
        self.n_items
    }
}
