//! The `recforge distill CONFIG.toml` file: data windows, the teacher (trained or loaded, frozen
//! and/or refreshed), the label store URL, the students and an optional teacher search.

use std::path::{Path, PathBuf};

use recforge_models::ModelConfig;
use recforge_train::TrainConfig;
use serde::{Deserialize, Serialize};

use crate::aux_head::KdMode;
use crate::committee::CommitteeOptions;
use crate::foundation::FoundationConfig;
use crate::kd::KdConfig;
use crate::levi::LeviOptions;
use crate::talking::TalkingOptions;
use crate::teacher_search::SearchConfig;

/// A whole distillation config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillConfig {
    /// Run name (default: the config file's stem); output goes to `runs/<name>/`.
    #[serde(default)]
    pub name: Option<String>,
    /// Label store URL (`mem://` keeps labels for this process only).
    #[serde(default = "default_labels")]
    pub labels: String,
    /// Student seeds; every student × mode × teacher variant trains once per seed.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// What `recforge distill` does with this config (default: the label pipeline of `[teacher]`).
    #[serde(default)]
    pub mode: DistillMode,
    pub data: DataWindows,
    /// The label-pipeline teacher (`mode = "labels"` only).
    #[serde(default)]
    pub teacher: TeacherSection,
    #[serde(default)]
    pub students: Vec<StudentSection>,
    #[serde(default)]
    pub search: Option<SearchConfig>,
    /// Zoo teachers of the `committee`, `talking` and `levi` modes (LEVI: the first is the
    /// pre-trained model).
    #[serde(default)]
    pub teachers: Vec<TeacherSpec>,
    /// The frozen text-model teacher (committee and talking modes).
    #[serde(default)]
    pub foundation: Option<FoundationConfig>,
    #[serde(default)]
    pub committee: CommitteeOptions,
    #[serde(default)]
    pub talking: TalkingOptions,
    #[serde(default)]
    pub levi: LeviOptions,
}

/// What `recforge distill` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistillMode {
    /// Label once from a (frozen/refreshed) teacher, train students with no/direct/aux KD.
    #[default]
    Labels,
    /// DiverseDistill against no KD, single-teacher and naive multi-teacher KD.
    Committee,
    /// Talking Models against output KD and hidden-state KD.
    Talking,
    /// LEVI against head-only and full fine-tuning, in and out of distribution.
    Levi,
}

impl DistillMode {
    pub fn name(self) -> &'static str {
        match self {
            DistillMode::Labels => "labels",
            DistillMode::Committee => "committee",
            DistillMode::Talking => "talking",
            DistillMode::Levi => "levi",
        }
    }
}

/// `[[teachers]]`: a zoo model trained on the teacher window, or loaded from `run` when that
/// folder already holds a trained run (then reused by every config naming it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeacherSpec {
    pub name: String,
    /// Run folder to load from, or to save into after training (default `runs/<name>/teacher-<name>`).
    #[serde(default)]
    pub run: Option<PathBuf>,
    pub model: ModelConfig,
    #[serde(default)]
    pub train: TrainConfig,
}


fn default_labels() -> String {
    "mem://".into()
}
fn default_seeds() -> Vec<u64> {
    vec![42]
}

/// `[data]`: the schema and the two windows of its (time-ordered) training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataWindows {
    /// A data schema TOML (relative to the config file); use a temporal split for shift.
    pub schema: PathBuf,
    /// `[from, to)` fractions of the training rows (in split order) the teacher trains on.
    #[serde(default = "default_teacher_window")]
    pub teacher_window: [f64; 2],
    /// `[from, to)` fractions of the training rows the students train on (and get labels for).
    #[serde(default = "default_student_window")]
    pub student_window: [f64; 2],
    /// Keep only the newest this-many rows of the teacher window (sizes runs for the machine).
    #[serde(default)]
    pub max_teacher_rows: Option<usize>,
    /// Keep only the newest this-many rows of the student window.
    #[serde(default)]
    pub max_student_rows: Option<usize>,
}

fn default_teacher_window() -> [f64; 2] {
    [0.0, 0.5]
}
fn default_student_window() -> [f64; 2] {
    [0.5, 1.0]
}

/// Teacher variants: `frozen` is the teacher as trained on its window; `refreshed` continues
/// training it on the student window (the streaming teacher), under the next version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refresh {
    Frozen,
    Refreshed,
}

impl Refresh {
    pub fn name(self) -> &'static str {
        match self {
            Refresh::Frozen => "frozen",
            Refresh::Refreshed => "refreshed",
        }
    }
}

/// `[teacher]`: train one (`model` + `train`) or load a run directory (`run`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeacherSection {
    /// A run directory written by `recforge train` (or `runs/<name>/teacher` written by an earlier
    /// `recforge distill`) on the same schema, relative to the working directory; loaded, not retrained.
    #[serde(default)]
    pub run: Option<PathBuf>,
    #[serde(default)]
    pub model: Option<ModelConfig>,
    #[serde(default)]
    pub train: TrainConfig,
    /// Label version of the frozen teacher; the refreshed one is `version + 1`.
    #[serde(default = "default_version")]
    pub version: u64,
    /// Which variants label the student window.
    #[serde(default = "default_refresh")]
    pub refresh: Vec<Refresh>,
    /// Passes over the student window when refreshing.
    #[serde(default = "default_refresh_epochs")]
    pub refresh_epochs: usize,
}

impl Default for TeacherSection {
    fn default() -> Self {
        TeacherSection {
            run: None,
            model: None,
            train: TrainConfig::default(),
            version: default_version(),
            refresh: default_refresh(),
            refresh_epochs: default_refresh_epochs(),
        }
    }
}

fn default_version() -> u64 {
    1
}
fn default_refresh() -> Vec<Refresh> {
    vec![Refresh::Frozen]
}
fn default_refresh_epochs() -> usize {
    1
}

/// `[[students]]`: one student architecture and the KD modes to train it under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudentSection {
    pub name: String,
    pub model: ModelConfig,
    #[serde(default)]
    pub train: TrainConfig,
    #[serde(default = "default_modes")]
    pub modes: Vec<KdMode>,
    #[serde(default)]
    pub kd: KdConfig,
    /// Hidden widths of the auxiliary head (empty: linear).
    #[serde(default)]
    pub aux_hidden: Vec<usize>,
}

fn default_modes() -> Vec<KdMode> {
    vec![KdMode::Aux]
}

/// Why a config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl DistillConfig {
    /// Read and check a config, resolving relative paths against the config's folder.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        Self::from_file_with_overrides(path, &[])
    }

    /// [`DistillConfig::from_file`] after applying `--set key.path=value` overrides to the TOML
    /// (e.g. `data.max_student_rows=5000`, `seeds=[1,2]`; see [`recforge_data::apply_overrides`]).
    pub fn from_file_with_overrides(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.into(), source })?;
        let invalid = |message: String| ConfigError::Invalid { path: path.into(), message };
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        recforge_data::apply_overrides(&mut table, overrides).map_err(|e| invalid(e.to_string()))?;
        let mut config: DistillConfig = table.try_into().map_err(|e: toml::de::Error| invalid(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        if config.data.schema.is_relative() {
            config.data.schema = base.join(&config.data.schema);
        }
        if let Some(target) = config.levi.target_schema.as_mut().filter(|t| t.is_relative()) {
            *target = base.join(&*target);
        }
        if config.name.is_none() {
            config.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("distill")
    }

    fn validate(&self) -> Result<(), String> {
        for (what, [from, to]) in [("teacher_window", self.data.teacher_window), ("student_window", self.data.student_window)] {
            if !(0.0..=1.0).contains(&from) || !(0.0..=1.0).contains(&to) || from >= to {
                return Err(format!("[data] {what} = [{from}, {to}]: expected 0 <= from < to <= 1"));
            }
        }
        self.committee.validate()?;
        self.talking.validate()?;
        if self.mode != DistillMode::Labels {
            return self.validate_modes();
        }
        if self.teacher.run.is_none() && self.teacher.model.is_none() {
            return Err("[teacher] needs `run` (a trained run directory) or a `[teacher.model]` table".into());
        }
        if self.teacher.refresh.is_empty() {
            return Err("[teacher] refresh is empty; list \"frozen\" and/or \"refreshed\"".into());
        }
        if self.seeds.is_empty() {
            return Err("seeds is empty".into());
        }
        if self.students.is_empty() && self.search.is_none() {
            return Err("no [[students]] and no [search]: nothing to train".into());
        }
        for s in &self.students {
            s.kd.validate().map_err(|e| format!("student {:?}: {e}", s.name))?;
            if s.modes.is_empty() {
                return Err(format!("student {:?}: modes is empty", s.name));
            }
        }
        if let Some(search) = &self.search {
            if !self.students.iter().any(|s| s.name == search.student) {
                return Err(format!("[search] student = {:?} is not one of the [[students]]", search.student));
            }
            search.validate()?;
        }
        Ok(())
    }

    fn validate_modes(&self) -> Result<(), String> {
        let mode = self.mode.name();
        if self.teachers.is_empty() {
            return Err(format!("mode = \"{mode}\" needs at least one [[teachers]] entry"));
        }
        if self.students.is_empty() {
            return Err(format!("mode = \"{mode}\" needs a [[students]] entry (the first one is used)"));
        }
        if self.seeds.is_empty() {
            return Err("seeds is empty".into());
        }
        if self.mode == DistillMode::Levi {
            if !(0.0..0.9).contains(&self.levi.id_holdout) || self.levi.id_holdout <= 0.0 {
                return Err(format!("[levi] id_holdout = {}: expected 0 < share < 0.9", self.levi.id_holdout));
            }
            if self.students[0].train.epochs != 1 {
                return Err("mode = \"levi\": set the student's [students.train] epochs = 1 (the adapters train beside it and \
                            are kept at the last step, so every row of the table trains one epoch)"
                    .into());
            }
        }
        for s in &self.students {
            s.kd.validate().map_err(|e| format!("student {:?}: {e}", s.name))?;
        }
        if let Some(name) = &self.talking.teacher {
            if !self.teachers.iter().any(|t| &t.name == name) && name != "foundation" {
                return Err(format!("[talking] teacher = {name:?} is not one of the [[teachers]]"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "mode = \"talking\"\n[data]\nschema = \"s.toml\"\n[[teachers]]\nname = \"t\"\nmodel = { kind = \"mlp\" }\n\
                          [[students]]\nname = \"s\"\nmodel = { kind = \"mlp\" }\n";

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn overrides_apply_before_parsing_and_are_validated_like_the_file() {
        let (_dir, path) = write(CONFIG);
        let config = DistillConfig::from_file_with_overrides(&path, &["data.max_student_rows=7".into(), "seeds=[4, 5]".into()]).unwrap();
        assert_eq!(config.data.max_student_rows, Some(7));
        assert_eq!(config.seeds, vec![4, 5]);
        let err = DistillConfig::from_file_with_overrides(&path, &["students.kd.temperature=2".into()]).unwrap_err().to_string();
        assert!(err.contains("c.toml"), "{err}");
    }

    #[test]
    fn a_mode_sections_kd_weight_is_rejected_with_the_key_to_use() {
        let (_dir, path) = write(&format!("{CONFIG}[talking]\nkd_weight = 2.0\n"));
        let err = DistillConfig::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("[talking] kd_weight = 2") && err.contains("under [[students]]"), "{err}");
    }
}
