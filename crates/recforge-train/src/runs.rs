//! Browsing run folders: [`list`] every run under a folder (name, model, dataset, AUC,
//! logloss, date), [`show`] one run's metrics and config, [`compare`] several side by side
//! (metrics table, the config keys whose values differ, validation curves overlaid).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::report::{curve_chart, escape, page};
use crate::run::{RunConfig, RunDir, RunError};
use crate::run_case::RunMetrics;
use crate::trainer::EpochRecord;

/// How deep [`list`] looks for run folders (zoo runs sit at `zoo-<dataset>/<model>/seed-<n>`).
const MAX_DEPTH: usize = 4;

/// One run folder as [`list`] shows it; any field its files do not say is None.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    /// The folder's path relative to the listed folder.
    pub name: String,
    pub path: PathBuf,
    pub model: Option<String>,
    pub dataset: Option<String>,
    pub auc: Option<f64>,
    pub logloss: Option<f64>,
    /// When metrics.json (else config.toml) was last written, UTC `YYYY-MM-DD HH:MM`.
    pub date: Option<String>,
}

/// The few metrics every run folder's metrics.json may hold (trained and exported runs alike).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MetricsHead {
    model: Option<String>,
    variant: Option<String>,
    dataset: Option<String>,
    auc: Option<f64>,
    logloss: Option<f64>,
}

/// Every run folder (one holding config.toml) under `dir`, sorted by name.
pub fn list(dir: &Path) -> Result<Vec<RunEntry>, RunError> {
    if !dir.is_dir() {
        return Err(RunError::Config { path: dir.into(), message: "no such folder; pass the folder that holds your runs".into() });
    }
    let mut found = Vec::new();
    collect(dir, 0, &mut found);
    found.sort();
    Ok(found.into_iter().map(|path| entry(dir, &path)).collect())
}

fn collect(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    if dir.join(RunDir::CONFIG).is_file() {
        found.push(dir.to_path_buf());
    }
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect(&entry.path(), depth + 1, found);
        }
    }
}

fn entry(root: &Path, path: &Path) -> RunEntry {
    let metrics_path = path.join(RunDir::METRICS);
    let head: MetricsHead = std::fs::read(&metrics_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let config_model = || RunConfig::from_file(&path.join(RunDir::CONFIG)).ok().map(|c| c.model.name().to_string());
    let name = path.strip_prefix(root).ok().filter(|p| !p.as_os_str().is_empty()).unwrap_or(path);
    RunEntry {
        name: name.display().to_string(),
        path: path.to_path_buf(),
        model: head.variant.or(head.model).or_else(config_model),
        dataset: head.dataset,
        auc: head.auc,
        logloss: head.logloss,
        date: modified(&metrics_path).or_else(|| modified(&path.join(RunDir::CONFIG))),
    }
}

fn modified(path: &Path) -> Option<String> {
    let seconds = std::fs::metadata(path).ok()?.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(utc_minute(seconds))
}

/// `YYYY-MM-DD HH:MM` (UTC) of Unix time `seconds`.
fn utc_minute(seconds: u64) -> String {
    let [year, month, day, hour, minute, _] = crate::folder::metadata::civil_utc(seconds as i64);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
}

/// One run's files, read.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetails {
    pub path: PathBuf,
    /// None when metrics.json is not a training run's (e.g. an exported serving variant).
    pub metrics: Option<RunMetrics>,
    pub config: RunConfig,
    pub history: Vec<EpochRecord>,
}

/// Read the run in `dir` (no data is loaded).
pub fn show(dir: &Path) -> Result<RunDetails, RunError> {
    let run = RunDir::open(dir)?;
    let read = |name: &str| std::fs::read(run.file(name)).ok();
    let mut config = run.load_config()?;
    // A model folder's own schema copy is shown as written (`schema.toml`), so two runs of
    // the same data compare equal.
    if let Ok(inside) = config.data.schema.strip_prefix(dir) {
        config.data.schema = inside.to_path_buf();
    }
    Ok(RunDetails {
        path: dir.to_path_buf(),
        metrics: read(RunDir::METRICS).and_then(|b| serde_json::from_slice(&b).ok()),
        config,
        history: read(RunDir::HISTORY).and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default(),
    })
}

impl RunDetails {
    /// The config flattened to `table.key = value` lines (TOML values).
    pub fn config_keys(&self) -> BTreeMap<String, String> {
        let mut keys = BTreeMap::new();
        if let Ok(value) = toml::Value::try_from(&self.config) {
            flatten("", &value, &mut keys);
        }
        keys
    }
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, String>) {
    match value {
        toml::Value::Table(table) => {
            for (key, value) in table {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&path, value, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// A row of a side-by-side table: a key and one value per run (None: the run lacks it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub key: String,
    pub values: Vec<Option<String>>,
}

/// Several runs side by side.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub runs: Vec<RunDetails>,
    /// Every metric of any run, one value per run.
    pub metrics: Vec<Row>,
    /// The config keys whose values differ between the runs.
    pub config_diff: Vec<Row>,
}

/// Read `dirs` and line their metrics and configs up.
pub fn compare(dirs: &[PathBuf]) -> Result<Comparison, RunError> {
    let runs: Vec<RunDetails> = dirs.iter().map(|d| show(d)).collect::<Result<_, _>>()?;
    let metric_maps: Vec<BTreeMap<String, String>> =
        runs.iter().map(|r| r.metrics.as_ref().map(|m| m.rows().into_iter().collect()).unwrap_or_default()).collect();
    let config_maps: Vec<BTreeMap<String, String>> = runs.iter().map(RunDetails::config_keys).collect();
    Ok(Comparison { metrics: side_by_side(&metric_maps, false), config_diff: side_by_side(&config_maps, true), runs })
}

/// The union of the maps' keys, one value per map; with `only_differing`, the keys whose
/// values are not all the same.
fn side_by_side(maps: &[BTreeMap<String, String>], only_differing: bool) -> Vec<Row> {
    let mut keys: Vec<&String> = maps.iter().flat_map(|m| m.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| Row { key: key.clone(), values: maps.iter().map(|m| m.get(key).cloned()).collect() })
        .filter(|row| !only_differing || row.values.windows(2).any(|w| w[0] != w[1]))
        .collect()
}

impl Comparison {
    /// Run names for column headers (the folder paths as given).
    pub fn names(&self) -> Vec<String> {
        self.runs.iter().map(|r| r.path.display().to_string()).collect()
    }

    /// The metrics table and the config diff as plain-text tables.
    pub fn text(&self) -> String {
        let names = self.names();
        let mut out = table("metric", &names, &self.metrics);
        out += "\nconfig keys that differ:\n";
        if self.config_diff.is_empty() {
            out += "(none: the configs are identical)\n";
        } else {
            out += &table("key", &names, &self.config_diff);
        }
        out
    }

    /// A page with both tables and the validation AUC and logloss curves of every run overlaid.
    pub fn html(&self) -> String {
        let names = self.names();
        let curve = |f: fn(&EpochRecord) -> f64| -> Vec<(String, Vec<(f64, f64)>)> {
            self.runs.iter().zip(&names).map(|(r, n)| (n.clone(), r.history.iter().map(|e| (e.epoch as f64, f(e))).collect())).collect()
        };
        let mut body = String::from("<h2>Validation curves</h2><div class=\"plots\">");
        body += &curve_chart("Validation AUC per epoch", "epoch", "AUC", &curve(|e| e.valid.auc));
        body += &curve_chart("Validation logloss per epoch", "epoch", "logloss", &curve(|e| e.valid.logloss));
        body += "</div><h2>Metrics</h2>";
        body += &html_table("metric", &names, &self.metrics);
        body += "<h2>Config keys that differ</h2>";
        body += &html_table("key", &names, &self.config_diff);
        page("run comparison", &body)
    }
}

fn table(first: &str, names: &[String], rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.key.len()).chain([first.len()]).max().unwrap_or(0);
    let cell = |v: &Option<String>| v.clone().unwrap_or_else(|| "–".into());
    let widths: Vec<usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| rows.iter().map(|r| cell(&r.values[i]).chars().count()).chain([n.chars().count()]).max().unwrap_or(0))
        .collect();
    let line = |key: &str, values: Vec<String>| {
        let cells: Vec<String> = values.iter().zip(&widths).map(|(v, w)| format!("{v:>w$}")).collect();
        format!("{key:<width$}  {}\n", cells.join("  "))
    };
    let mut out = line(first, names.to_vec());
    for row in rows {
        out += &line(&row.key, row.values.iter().map(cell).collect());
    }
    out
}

fn html_table(first: &str, names: &[String], rows: &[Row]) -> String {
    let mut html = format!("<table><tr><th>{}</th>", escape(first));
    for name in names {
        html += &format!("<th>{}</th>", escape(name));
    }
    html += "</tr>";
    for row in rows {
        html += &format!("<tr><td>{}</td>", escape(&row.key));
        for value in &row.values {
            html += &format!("<td>{}</td>", escape(value.as_deref().unwrap_or("–")));
        }
        html += "</tr>";
    }
    html + "</table>"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_minute_matches_known_dates() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc_minute(1_700_000_000), "2023-11-14 22:13");
    }

    #[test]
    fn side_by_side_keeps_only_differing_keys_when_asked() {
        let a: BTreeMap<String, String> = [("lr".into(), "0.1".into()), ("seed".into(), "1".into())].into();
        let b: BTreeMap<String, String> = [("lr".into(), "0.1".into()), ("seed".into(), "2".into()), ("x".into(), "y".into())].into();
        let diff = side_by_side(&[a.clone(), b.clone()], true);
        assert_eq!(diff.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), vec!["seed", "x"]);
        assert_eq!(diff[1].values, vec![None, Some("y".to_string())]);
        assert_eq!(side_by_side(&[a, b], false).len(), 3);
    }
}
