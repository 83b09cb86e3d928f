//! Task data: recommendation and auxiliary tasks rendered as `{task, prompt, target}` records.
//!
//! Every user is described by the titles of what they watched (never an id). Training
//! examples come from each user's training part of the leave-one-out split (all items but
//! the last two), so no user's validation or test item — in particular no evaluated user's
//! held-out item — appears in its own training data. One seeded RNG drives every choice
//! (target position, phrasing, negatives, masks, order), so a seed gives the same file.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{LlmRecError, Result};
use crate::jsonl::read_jsonl;
use crate::negatives::PopularitySampler;
use crate::rec_data::RecData;
use crate::templates::{Task, TemplateSet};

/// Separator between titles in prompts and multi-title targets.
pub const TITLE_SEPARATOR: &str = "; ";
/// The mask token of MIM and MLM prompts.
pub const MASK: &str = "[MASK]";
/// Share of a MIM window that is masked (at least one item).
const MIM_MASK_RATE: f64 = 0.2;

/// One training or evaluation record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskExample {
    pub task: String,
    pub prompt: String,
    pub target: String,
}

/// Reads task JSONL and checks every `task` names a known task and `prompt`/`target` are
/// non-empty: errors name the file, the line and the field.
pub fn read_task_jsonl(path: &Path) -> Result<Vec<TaskExample>> {
    let examples: Vec<TaskExample> = read_jsonl(path)?;
    // Blank lines are skipped by read_jsonl; recount lines to report the right one.
    let text = std::fs::read_to_string(path).map_err(|e| LlmRecError::io(path, e))?;
    let lines: Vec<usize> = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, _)| i + 1).collect();
    for (example, &line) in examples.iter().zip(&lines) {
        if let Err(e) = Task::parse(&example.task) {
            return Err(LlmRecError::parse(path, line, format!("field `task`: {e}")));
        }
        if example.prompt.trim().is_empty() {
            return Err(LlmRecError::parse(path, line, "field `prompt` is empty"));
        }
        if example.target.trim().is_empty() {
            return Err(LlmRecError::parse(path, line, "field `target` is empty"));
        }
    }
    Ok(examples)
}

/// How `make_examples` samples.
#[derive(Debug, Clone, PartialEq)]
pub struct MakeDataConfig {
    pub tasks: Vec<Task>,
    /// Examples per user per task.
    pub per_user: usize,
    pub seed: u64,
    /// Most recent items shown in a prompt's history.
    pub history: usize,
    /// Candidates of a ranking prompt (the positive included).
    pub candidates: usize,
}

impl Default for MakeDataConfig {
    fn default() -> Self {
        Self { tasks: Task::ALL.to_vec(), per_user: 1, seed: 42, history: 10, candidates: 20 }
    }
}

/// Titles joined for a prompt.
pub fn join_titles<S: AsRef<str>>(titles: &[S]) -> String {
    titles.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(TITLE_SEPARATOR)
}

/// `Title: 4` per item, for rating prompts.
pub fn join_rated<S: AsRef<str>>(titles: &[S], ratings: &[f32]) -> String {
    titles
        .iter()
        .zip(ratings)
        .map(|(t, r)| format!("{}: {}", t.as_ref(), r.round() as i64))
        .collect::<Vec<_>>()
        .join(TITLE_SEPARATOR)
}

/// Retrieval prompt over history titles (oldest first).
pub fn retrieval_prompt<S: AsRef<str>>(templates: &TemplateSet, phrasing: usize, history: &[S]) -> Result<String> {
    templates.get(Task::Retrieval).render(phrasing, &[("history", &join_titles(history))])
}

/// Ranking prompt over history titles and candidate titles (in the order shown).
pub fn ranking_prompt<S: AsRef<str>, C: AsRef<str>>(templates: &TemplateSet, phrasing: usize, history: &[S], candidates: &[C]) -> Result<String> {
    templates
        .get(Task::Ranking)
        .render(phrasing, &[("history", &join_titles(history)), ("candidates", &join_titles(candidates))])
}

/// Rating prompt over rated history titles and the item to rate.
pub fn rating_prompt<S: AsRef<str>>(templates: &TemplateSet, phrasing: usize, history: &[S], ratings: &[f32], item: &str) -> Result<String> {
    templates.get(Task::Rating).render(phrasing, &[("history", &join_rated(history, ratings)), ("item", item)])
}

/// Renders `config.tasks` for every user of `data`, shuffled. Users whose training part is
/// too short for a task are skipped for that task.
pub fn make_examples(data: &RecData, templates: &TemplateSet, config: &MakeDataConfig) -> Result<Vec<TaskExample>> {
    if config.tasks.is_empty() {
        return Err(LlmRecError::Invalid("no task given".into()));
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    let sampler = PopularitySampler::new(&data.sequences.train_counts)?;
    let catalog = &data.catalog;
    let title = |i: u32| catalog.title(i).to_string();
    let mut out = Vec::new();
    for (user, full) in data.sequences.histories.iter().enumerate() {
        let train = &full[..full.len().saturating_sub(2)];
        if train.len() < 2 {
            continue;
        }
        let seen: HashSet<u32> = full.iter().copied().collect();
        let user_id = data.sequences.users[user];
        for &task in &config.tasks {
            let template = templates.get(task);
            for _ in 0..config.per_user {
                let phrasing = rng.random_range(0..template.len());
                // A target position with at least one item before it.
                let t = rng.random_range(1..train.len());
                let context: Vec<String> = train[t.saturating_sub(config.history)..t].iter().map(|&i| title(i)).collect();
                let target = train[t];
                let example = match task {
                    Task::Retrieval => Some((retrieval_prompt(templates, phrasing, &context)?, title(target))),
                    Task::Ranking => {
                        let mut candidates = sampler.sample(&mut rng, &seen, config.candidates.saturating_sub(1));
                        candidates.push(target);
                        candidates.shuffle(&mut rng);
                        let names: Vec<String> = candidates.iter().map(|&i| title(i)).collect();
                        Some((ranking_prompt(templates, phrasing, &context, &names)?, title(target)))
                    }
                    Task::Rating => {
                        let items = &train[t.saturating_sub(config.history)..t];
                        let ratings: Vec<f32> = items.iter().map(|&i| data.ratings.get(user_id, i).unwrap_or(0.0)).collect();
                        data.ratings.get(user_id, target).map(|r| -> Result<_> {
                            Ok((rating_prompt(templates, phrasing, &context, &ratings, catalog.title(target))?, format!("{}", r.round() as i64)))
                        }).transpose()?
                    }
                    Task::Mim => Some(mim_example(templates, phrasing, train, config.history, &title, &mut rng)?),
                    Task::Mlm => {
                        let item = train[rng.random_range(0..train.len())];
                        mlm_example(templates, phrasing, catalog.title(item), catalog.genres_of(item), &mut rng)?
                    }
                    Task::Bpr => sampler.sample(&mut rng, &seen, 1).first().map(|&negative| -> Result<_> {
                        let (a, b) = if rng.random_bool(0.5) { (target, negative) } else { (negative, target) };
                        let prompt = templates.get(Task::Bpr).render(
                            phrasing,
                            &[("history", &join_titles(&context)), ("option_a", catalog.title(a)), ("option_b", catalog.title(b))],
                        )?;
                        Ok((prompt, title(target)))
                    }).transpose()?,
                };
                if let Some((prompt, target)) = example {
                    out.push(TaskExample { task: task.name().to_string(), prompt, target });
                }
            }
        }
    }
    out.shuffle(&mut rng);
    Ok(out)
}

/// A window of the training sequence with about [`MIM_MASK_RATE`] of its items masked.
fn mim_example(
    templates: &TemplateSet,
    phrasing: usize,
    train: &[u32],
    history: usize,
    title: &dyn Fn(u32) -> String,
    rng: &mut StdRng,
) -> Result<(String, String)> {
    let len = history.min(train.len()).max(1);
    let end = rng.random_range(len..=train.len());
    let window = &train[end - len..end];
    let masks = ((len as f64 * MIM_MASK_RATE).round() as usize).clamp(1, len);
    let mut positions: Vec<usize> = (0..len).collect();
    positions.shuffle(rng);
    positions.truncate(masks);
    positions.sort_unstable();
    let shown: Vec<String> = window
        .iter()
        .enumerate()
        .map(|(i, &item)| if positions.contains(&i) { MASK.to_string() } else { title(item) })
        .collect();
    let hidden: Vec<String> = positions.iter().map(|&i| title(window[i])).collect();
    let prompt = templates.get(Task::Mim).render(phrasing, &[("masked_history", &join_titles(&shown))])?;
    Ok((prompt, join_titles(&hidden)))
}

/// One word of the title's name (the trailing `(year)` kept) replaced by [`MASK`]; `None`
/// when no word has a letter.
fn mlm_example(templates: &TemplateSet, phrasing: usize, title: &str, genres: &[String], rng: &mut StdRng) -> Result<Option<(String, String)>> {
    let words: Vec<&str> = title.split(' ').collect();
    let maskable: Vec<usize> = (0..words.len())
        .filter(|&i| !(words[i].starts_with('(') && words[i].ends_with(')')) && words[i].chars().any(char::is_alphabetic))
        .collect();
    let Some(&pick) = maskable.get(rng.random_range(0..maskable.len().max(1))) else {
        return Ok(None);
    };
    let masked: Vec<&str> = words.iter().enumerate().map(|(i, w)| if i == pick { MASK } else { *w }).collect();
    let genres = if genres.is_empty() { "unknown genre".to_string() } else { genres.join(", ") };
    let prompt = templates.get(Task::Mlm).render(phrasing, &[("masked_title", &masked.join(" ")), ("genres", &genres)])?;
    Ok(Some((prompt, words[pick].to_string())))
}

/// Examples per task name.
pub fn count_by_task(examples: &[TaskExample]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for e in examples {
        *counts.entry(e.task.clone()).or_insert(0) += 1;
    }
    counts
}
