//! Prompt templates: one versioned text file per task under `configs/prompts/<version>/`,
//! several phrasings per file separated by lines holding only `---`, `#` comment lines at the
//! top, `{name}` placeholders filled in one pass (values are never re-scanned).
//! The `v1` files are compiled in, so the binary renders the same prompts anywhere.

use std::path::Path;

use crate::error::{LlmRecError, Result};

/// The version of the compiled-in templates (recorded in every data folder's `meta.json`).
pub const PROMPT_VERSION: &str = "v1";

/// The recommendation tasks and the auxiliary tasks of arXiv 2404.00245.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Task {
    Retrieval,
    Ranking,
    Rating,
    /// Masked item modelling: predict the items hidden in a sequence.
    Mim,
    /// Masked language modelling on item titles.
    Mlm,
    /// Pairwise preference: held-out positive vs sampled negative.
    Bpr,
}

impl Task {
    pub const ALL: [Task; 6] = [Task::Retrieval, Task::Ranking, Task::Rating, Task::Mim, Task::Mlm, Task::Bpr];

    pub fn name(self) -> &'static str {
        match self {
            Task::Retrieval => "retrieval",
            Task::Ranking => "ranking",
            Task::Rating => "rating",
            Task::Mim => "mim",
            Task::Mlm => "mlm",
            Task::Bpr => "bpr",
        }
    }

    /// Parses a task name; an unknown one is an error listing the known ones.
    pub fn parse(name: &str) -> Result<Task> {
        Task::ALL.into_iter().find(|t| t.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Task::ALL.iter().map(|t| t.name()).collect();
            LlmRecError::Invalid(format!("unknown task {name:?} (expected one of {})", known.join(", ")))
        })
    }

    /// `true` for the auxiliary tasks (MIM, MLM, BPR).
    pub fn is_auxiliary(self) -> bool {
        matches!(self, Task::Mim | Task::Mlm | Task::Bpr)
    }

    fn builtin_text(self) -> &'static str {
        match self {
            Task::Retrieval => include_str!("../../../configs/prompts/v1/retrieval.txt"),
            Task::Ranking => include_str!("../../../configs/prompts/v1/ranking.txt"),
            Task::Rating => include_str!("../../../configs/prompts/v1/rating.txt"),
            Task::Mim => include_str!("../../../configs/prompts/v1/mim.txt"),
            Task::Mlm => include_str!("../../../configs/prompts/v1/mlm.txt"),
            Task::Bpr => include_str!("../../../configs/prompts/v1/bpr.txt"),
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The phrasings of one task.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub phrasings: Vec<String>,
}

impl Template {
    /// Parses a template file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Template> {
        let body: Vec<&str> = text.lines().skip_while(|l| l.starts_with('#')).collect();
        let mut phrasings = Vec::new();
        let mut current: Vec<&str> = Vec::new();
        for line in body.iter().chain(std::iter::once(&"---")) {
            if line.trim() == "---" {
                let phrasing = current.join("\n").trim().to_string();
                if !phrasing.is_empty() {
                    phrasings.push(phrasing);
                }
                current.clear();
            } else {
                current.push(*line);
            }
        }
        if phrasings.is_empty() {
            return Err(LlmRecError::Invalid(format!("{origin}: no phrasing (phrasings are separated by `---` lines)")));
        }
        Ok(Template { phrasings })
    }

    /// Renders phrasing `index` (modulo the count) with `vars`. A placeholder without a value
    /// or an unclosed `{` is an error.
    pub fn render(&self, index: usize, vars: &[(&str, &str)]) -> Result<String> {
        let text = &self.phrasings[index % self.phrasings.len()];
        let mut out = String::with_capacity(text.len() + 256);
        let mut rest = text.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| LlmRecError::Invalid(format!("template {text:?}: unclosed `{{`")))?;
            let name = &after[..close];
            let value = vars
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| LlmRecError::Invalid(format!("template {text:?}: no value for placeholder `{{{name}}}`")))?;
            out.push_str(value);
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    pub fn len(&self) -> usize {
        self.phrasings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.phrasings.is_empty()
    }
}

/// One template per task.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSet {
    templates: Vec<(Task, Template)>,
}

impl TemplateSet {
    /// The compiled-in `configs/prompts/v1` templates.
    pub fn builtin() -> Result<TemplateSet> {
        let templates = Task::ALL
            .into_iter()
            .map(|t| Ok((t, Template::parse(t.builtin_text(), &format!("configs/prompts/{PROMPT_VERSION}/{t}.txt"))?)))
            .collect::<Result<_>>()?;
        Ok(TemplateSet { templates })
    }

    /// Reads `<dir>/<task>.txt` for every task.
    pub fn from_dir(dir: &Path) -> Result<TemplateSet> {
        let templates = Task::ALL
            .into_iter()
            .map(|t| {
                let path = dir.join(format!("{t}.txt"));
                let text = std::fs::read_to_string(&path).map_err(|e| LlmRecError::io(&path, e))?;
                Ok((t, Template::parse(&text, &path.display().to_string())?))
            })
            .collect::<Result<_>>()?;
        Ok(TemplateSet { templates })
    }

    pub fn get(&self, task: Task) -> &Template {
        // Every constructor fills all tasks.
        &self.templates.iter().find(|(t, _)| *t == task).expect("every task has a template").1
    }
}
