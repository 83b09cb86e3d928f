//! `metadata.json` of a model folder: what the folder holds (format version, model, feature
//! layout) and where it came from (recforge version, git commit, time, host, CPU, build
//! profile).

use std::path::Path;

use recforge_data::FeatureLayout;
use serde::{Deserialize, Serialize};

/// The folder layout this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The `format` value of a ranking model folder.
pub const FORMAT: &str = "recforge-ranker";

/// One embedding table as stored in `model.safetensors` (`embedding.<name>`, `[rows, dim]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableMeta {
    pub name: String,
    /// Ids the encoder produces (vocabulary size incl. the OOV row 0, or hash buckets + 1).
    pub cardinality: usize,
    /// Rows stored; fewer than `cardinality` means ids past the cap are hashed into rows 1..
    pub rows: usize,
    pub dim: usize,
    /// Several ids per example, mean-pooled (multi-categorical and sequence features).
    pub bag: bool,
}

/// Everything `metadata.json` says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    /// Always [`FORMAT`].
    pub format: String,
    pub format_version: u32,
    /// The run name.
    pub name: String,
    /// The model kind (`lr`, `mlp`, `dcn_v2`, ...).
    pub model: String,
    /// Embedding tables in input order, then the numeric features in input order.
    pub tables: Vec<TableMeta>,
    pub dense: Vec<String>,
    pub recforge_version: String,
    /// `git rev-parse HEAD` of the working directory at save time, when it is a checkout.
    pub git_commit: Option<String>,
    /// UTC, RFC 3339.
    pub created: String,
    pub host: Option<String>,
    pub cpu: Option<String>,
    /// `debug` or `release`.
    pub build_profile: String,
}

impl ModelMetadata {
    /// Metadata for a model of `kind` named `name`, stamped now.
    pub fn now(name: &str, kind: &str, layout: &FeatureLayout, tables: Vec<TableMeta>) -> Self {
        ModelMetadata {
            format: FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            name: name.to_string(),
            model: kind.to_string(),
            tables,
            dense: layout.dense.clone(),
            recforge_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: git_commit(),
            created: rfc3339_utc(std::time::SystemTime::now()),
            host: read_trimmed(Path::new("/proc/sys/kernel/hostname")).or_else(|| std::env::var("HOSTNAME").ok()),
            cpu: cpu_model(),
            build_profile: if cfg!(debug_assertions) { "debug" } else { "release" }.to_string(),
        }
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git").args(["rev-parse", "HEAD"]).stderr(std::process::Stdio::null()).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// `time` as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339_utc(time: std::time::SystemTime) -> String {
    let secs = time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let [year, month, day, hour, minute, second] = civil_utc(secs);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// Year, month, day, hour, minute and second (UTC, proleptic Gregorian) of Unix time `secs`
/// (civil-from-days, Howard Hinnant's algorithm).
pub(crate) fn civil_utc(secs: i64) -> [i64; 6] {
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    [year, month, day, rest / 3600, rest % 3600 / 60, rest % 60]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = |s: u64| rfc3339_utc(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_764_722_096), "2025-12-03T00:34:56Z");
    }
}
