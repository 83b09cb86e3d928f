//! What every LLM recommendation pipeline reads: a dataset's task data by name (`ml-1m`,
//! `ml-100k`, or a schema TOML), the prompt templates, and the evaluation sample.

use std::path::Path;

use recforge_data::{Progress, TaskOptions};
use recforge_train::retrieval::SequenceDataset;

use crate::error::{LlmRecError, Result};
use crate::eval_set::{EvalSetConfig, EvalUser, read_eval_set, sample_eval_set};
use crate::rec_data::{MIN_INTERACTIONS, RecData};
use crate::templates::TemplateSet;

/// Loads a dataset's sequences, catalogue text and ratings; returns its canonical name too.
pub fn load_rec_data(dataset: &str, progress: &dyn Progress) -> Result<(String, RecData)> {
    let dataset = SequenceDataset::resolve(dataset)?;
    let (prepared, _) = recforge_data::prepare(&dataset.schema, &TaskOptions::default().prepare_options(progress))?;
    let rec = RecData::from_dataset(&prepared, &dataset.schema.source.path, MIN_INTERACTIONS)?;
    Ok((dataset.name, rec))
}

/// Templates from a folder of `<task>.txt`, or the compiled-in ones.
pub fn load_templates(dir: Option<&Path>) -> Result<TemplateSet> {
    match dir {
        Some(dir) => TemplateSet::from_dir(dir),
        None => TemplateSet::builtin(),
    }
}

/// The evaluation users: read from `eval_set`, or the default sample of `users` users drawn
/// with `seed`. A read sample must match `data`'s leave-one-out split.
pub fn load_eval_users(data: &RecData, eval_set: Option<&Path>, users: usize, seed: u64) -> Result<Vec<EvalUser>> {
    let sample = match eval_set {
        Some(path) => read_eval_set(path)?,
        None => sample_eval_set(data, &EvalSetConfig { users, seed, ..EvalSetConfig::default() })?,
    };
    if sample.is_empty() {
        return Err(LlmRecError::Invalid("the evaluation set is empty".into()));
    }
    for (i, user) in sample.iter().enumerate() {
        let history = data.sequences.histories.get(user.user_index as usize);
        if history.and_then(|h| h.last()) != Some(&user.target) {
            return Err(LlmRecError::Invalid(format!(
                "evaluation user {} (row {}) does not match the dataset's leave-one-out split (its held-out item is not the \
                 user's last); was the eval set written from other data?",
                user.user,
                i + 1
            )));
        }
    }
    Ok(sample)
}
