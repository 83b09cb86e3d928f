//! Interaction histories as a RecBole atomic file, so RecBole trains and tests on exactly
//! recforge's leave-one-out split (`recforge data export-split --format recbole`).
//!
//! `<name>.inter` holds `user_id:token`, `item_id:token` and `timestamp:float`, one line per
//! interaction kept by the k-core, each user's items in recforge's order with timestamps
//! 0, 1, 2, …: RecBole's `eval_args: {split: {LS: valid_and_test}, order: TO}` then holds out
//! the same last item (test) and second-to-last (validation) per user, with no ties to break.
//! Tokens are the dataset's raw user and item ids (vocabulary ids when no vocabulary is kept).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::sequences::Sequences;
use crate::vocab::Vocab;

/// What [`export_task`] wrote.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecboleExport {
    /// The `.inter` file.
    pub path: PathBuf,
    /// RecBole's dataset name (the file stem), for its `dataset` setting.
    pub dataset: String,
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
}

/// The leave-one-out histories of `task` (k-core with `min_interactions`, as the retrieval and
/// sequential trainers build them) written as `dir/<name>/<name>.inter`.
pub fn export_task(task: &crate::Task, dir: &Path, name: &str, min_interactions: usize) -> Result<RecboleExport> {
    let sequences = Sequences::from_dataset(&task.dataset, min_interactions)?;
    let path = write_recbole_inter(&sequences, id_vocabs(&task.dataset), &dir.join(name), name)?;
    let mut seen = vec![false; sequences.num_items];
    for &item in sequences.histories.iter().flatten() {
        seen[item as usize] = true;
    }
    let items = seen.iter().filter(|&&s| s).count();
    Ok(RecboleExport { path, dataset: name.to_string(), users: sequences.users.len(), items, interactions: sequences.interactions() })
}

/// The vocabularies of the user and item features of `dataset`, when it keeps them.
pub fn id_vocabs(dataset: &Dataset) -> (Option<&Vocab>, Option<&Vocab>) {
    let vocab = |feature: Option<&str>| feature.and_then(|f| dataset.encoder.as_ref()?.vocab(f));
    (vocab(dataset.meta.user_feature.as_deref()), vocab(dataset.meta.item_feature.as_deref()))
}

/// Writes `dir/<name>.inter` for `sequences`, naming users and items by the tokens of
/// `vocabs` ([`id_vocabs`]); returns its path.
pub fn write_recbole_inter(sequences: &Sequences, vocabs: (Option<&Vocab>, Option<&Vocab>), dir: &Path, name: &str) -> Result<PathBuf> {
    let (users, items) = vocabs;
    let token = |vocab: Option<&Vocab>, id: u32| vocab.and_then(|v| v.token(id)).map_or_else(|| id.to_string(), str::to_string);
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let path = dir.join(format!("{name}.inter"));
    let file = std::fs::File::create(&path).map_err(|e| DataError::io(&path, e))?;
    let mut out = std::io::BufWriter::new(file);
    let mut write = || -> std::io::Result<()> {
        writeln!(out, "user_id:token\titem_id:token\ttimestamp:float")?;
        for (&user, history) in sequences.users.iter().zip(&sequences.histories) {
            let user = token(users, user);
            for (position, &item) in history.iter().enumerate() {
                writeln!(out, "{user}\t{}\t{position}", token(items, item))?;
            }
        }
        out.flush()
    };
    write().map_err(|e| DataError::io(&path, e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histories_become_time_ordered_lines_with_positions_as_timestamps() {
        let users = [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3];
        let items = [1, 2, 3, 4, 4, 3, 2, 1, 3, 1, 2, 4];
        let ts = [10, 40, 20, 30, 5, 6, 7, 8, 1, 2, 3, 4];
        let seq = Sequences::build(&users, &items, &ts, 5, 3).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = write_recbole_inter(&seq, (None, None), dir.path(), "toy").unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "user_id:token\titem_id:token\ttimestamp:float");
        // User 1's items by time: 1 (10), 3 (20), 4 (30), 2 (40); the last is the test target.
        assert_eq!(&lines[1..5], &["1\t1\t0", "1\t3\t1", "1\t4\t2", "1\t2\t3"]);
        assert_eq!(lines.len(), 1 + 12);
    }
}
