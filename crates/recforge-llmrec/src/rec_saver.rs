//! Rec-SAVER — scoring recommendation reasoning without gold references (arXiv 2408.00802,
//! "Rec-SAVER: Self-Verification of reasoning"):
//! 1. reference generation: the LLM sees history, item and the TRUE rating and writes N
//!    post-hoc explanations, told not to state the rating;
//! 2. self-verification: the LLM predicts the rating from each explanation alone (item title +
//!    explanation, no history); only explanations that recover the true rating are kept;
//! 3. scoring: each candidate reasoning is compared with the kept references by BLEU-4 and
//!    ROUGE-L (faithfulness proxies) and by sentence-embedding cosine (coherence proxy, the
//!    BERTScore-style measure with a MiniLM encoder).
//!
//! Besides the paper's filter, a reference that spells the rating out ("4 out of 5", "4/5",
//! "4 stars") is counted as leaking and dropped before verification (`drop_leaking`). Multiple
//! references: BLEU-4 clips against all of them; ROUGE-L and cosine take the best reference.

use recforge_llm::{GenerationParams, TextEmbedder};
use serde::{Deserialize, Serialize};

use crate::chat_model::{ChatModel, RATING_LEVELS, argmax_rating};
use crate::error::Result;
use crate::generation_cache::GenerationCache;
use crate::reasoning::{Prediction, RatedTitle, cached_distribution, history_lines, RATING_PREFIX};
use crate::text_metrics::{bleu4, cosine, rouge_l};

/// How references are generated and filtered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecSaverConfig {
    /// Explanations generated per example.
    pub references: usize,
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: usize,
    pub seed: u64,
    /// Drop references that state the rating before verification.
    pub drop_leaking: bool,
}

impl Default for RecSaverConfig {
    fn default() -> Self {
        Self { references: 3, temperature: 0.8, top_p: 0.95, max_tokens: 80, seed: 42, drop_leaking: true }
    }
}

/// One generated explanation and what verification made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub text: String,
    /// States the rating outright (dropped when `drop_leaking`).
    pub leaks_rating: bool,
    /// The rating the model recovers from the explanation alone (0 when not verified).
    pub verified_rating: f32,
    pub probabilities: Vec<f64>,
    /// Kept as a reference: not leaking and recovers the true rating.
    pub kept: bool,
}

/// Candidate reasoning scores against the kept references.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub bleu4: f64,
    pub rouge_l: f64,
    /// Best cosine between the candidate's and a reference's sentence embeddings.
    pub embedding: f64,
}

/// One scored example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredExample {
    pub user: String,
    pub history: Vec<RatedTitle>,
    pub item: String,
    pub true_rating: f32,
    pub predicted_rating: f32,
    pub reasoning: String,
    pub references: Vec<Reference>,
    /// `None` when no reference survived verification.
    pub scores: Option<Scores>,
}

/// The user message asking for an explanation of a known rating.
pub fn reference_prompt(prediction: &Prediction) -> String {
    format!(
        "A user rated these movies from 1 (hated it) to 5 (loved it):\n{}\n\nThe user rated \"{}\" {} out of 5. In two or three sentences, explain why the user feels this way about this movie, based on their taste. Do not mention the rating or any number of stars.",
        history_lines(&prediction.history),
        prediction.item,
        prediction.true_rating
    )
}

/// The user message asking for the rating from an explanation alone.
pub fn verification_prompt(item: &str, explanation: &str) -> String {
    format!(
        "Here is an explanation of how a user feels about the movie \"{item}\":\n\"{explanation}\"\n\nFrom this explanation alone, what rating from 1 (hated it) to 5 (loved it) did the user give the movie? Answer with one number."
    )
}

/// Whether `text` states `rating` outright ("4 out of 5", "4/5", "4 stars", "rating of 4").
pub fn leaks_rating(text: &str, rating: f32) -> bool {
    let r = format!("{rating:.0}");
    let lower = text.to_lowercase();
    let words = ["one", "two", "three", "four", "five"];
    let word = words.get((rating.round() as usize).saturating_sub(1)).copied().unwrap_or("");
    [r.as_str(), word].iter().filter(|s| !s.is_empty()).any(|n| {
        [format!("{n} out of"), format!("{n}/5"), format!("{n} / 5"), format!("{n} star"), format!("rating of {n}"), format!("rated it {n}"), format!("rated it a {n}")]
            .iter()
            .any(|p| lower.contains(p.as_str()))
    })
}

/// Step 1: N explanations of the true rating (cached; seeds `seed`, `seed + 1`, ...).
pub fn generate_references(model: &dyn ChatModel, prediction: &Prediction, config: &RecSaverConfig, cache: Option<&GenerationCache>) -> Result<Vec<String>> {
    let prompt = reference_prompt(prediction);
    (0..config.references)
        .map(|j| -> Result<String> {
            let params = GenerationParams {
                temperature: config.temperature,
                top_p: config.top_p,
                max_tokens: config.max_tokens,
                stop: vec!["<|im_end|>".to_string()],
                seed: config.seed + j as u64,
            };
            let generate = || model.complete(&prompt, "", &params).map(|t| t.trim().to_string());
            match cache {
                Some(cache) => {
                    let kind = format!("rec-saver-reference|t={}|p={}|max={}|seed={}", params.temperature, params.top_p, params.max_tokens, params.seed);
                    Ok(cache.get_or_compute(model.model_id(), &kind, &prompt, generate)?.0)
                }
                None => Ok(generate()?),
            }
        })
        .collect()
}

/// Step 2: verify each explanation; keep those from which the model recovers the true rating.
pub fn verify_references(model: &dyn ChatModel, item: &str, true_rating: f32, texts: Vec<String>, config: &RecSaverConfig, cache: Option<&GenerationCache>) -> Result<Vec<Reference>> {
    texts
        .into_iter()
        .map(|text| -> Result<Reference> {
            let leaks = leaks_rating(&text, true_rating);
            if text.is_empty() || (leaks && config.drop_leaking) {
                return Ok(Reference { text, leaks_rating: leaks, verified_rating: 0.0, probabilities: Vec::new(), kept: false });
            }
            let distribution: [f64; RATING_LEVELS] = cached_distribution(model, &verification_prompt(item, &text), RATING_PREFIX, cache)?;
            let verified = argmax_rating(&distribution);
            Ok(Reference { kept: verified == true_rating.round(), text, leaks_rating: leaks, verified_rating: verified, probabilities: distribution.to_vec() })
        })
        .collect()
}

/// Step 3: a candidate's scores against `references` (None without references).
pub fn score_candidate(candidate: &str, references: &[String], embedder: &dyn TextEmbedder) -> Result<Option<Scores>> {
    if references.is_empty() {
        return Ok(None);
    }
    let mut texts = vec![candidate.to_string()];
    texts.extend(references.iter().cloned());
    let vectors = embedder.embed(&texts)?;
    let embedding = vectors[1..].iter().map(|v| cosine(&vectors[0], v)).fold(f64::NEG_INFINITY, f64::max);
    Ok(Some(Scores { bleu4: bleu4(candidate, references), rouge_l: rouge_l(candidate, references), embedding }))
}

/// All three steps for one prediction.
pub fn score_prediction(model: &dyn ChatModel, embedder: &dyn TextEmbedder, prediction: &Prediction, config: &RecSaverConfig, cache: Option<&GenerationCache>) -> Result<ScoredExample> {
    let texts = generate_references(model, prediction, config, cache)?;
    let references = verify_references(model, &prediction.item, prediction.true_rating, texts, config, cache)?;
    let kept: Vec<String> = references.iter().filter(|r| r.kept).map(|r| r.text.clone()).collect();
    let scores = score_candidate(&prediction.reasoning, &kept, embedder)?;
    Ok(ScoredExample {
        user: prediction.user.clone(),
        history: prediction.history.clone(),
        item: prediction.item.clone(),
        true_rating: prediction.true_rating,
        predicted_rating: prediction.predicted_rating,
        reasoning: prediction.reasoning.clone(),
        references,
        scores,
    })
}

/// Mean, standard deviation and quantiles of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub n: usize,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
    pub max: f64,
}

impl Distribution {
    /// Quantiles by linear interpolation between order statistics; NaN for an empty sample.
    pub fn of(values: &[f64]) -> Self {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n == 0 {
            return Distribution { n, mean: f64::NAN, std: f64::NAN, min: f64::NAN, p10: f64::NAN, p50: f64::NAN, p90: f64::NAN, max: f64::NAN };
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let std = if n > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
        let q = |p: f64| {
            let pos = p * (n - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
        };
        Distribution { n, mean, std, min: v[0], p10: q(0.1), p50: q(0.5), p90: q(0.9), max: v[n - 1] }
    }
}

/// What a Rec-SAVER run found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecSaverSummary {
    pub examples: usize,
    pub references: usize,
    pub leaking: usize,
    pub kept: usize,
    /// kept / references.
    pub kept_share: f64,
    /// Examples with at least one kept reference (the scored ones).
    pub scored: usize,
    pub bleu4: Distribution,
    pub rouge_l: Distribution,
    pub embedding: Distribution,
    /// Mean scores of candidates whose predicted rating was exactly right vs wrong: do the scores
    /// track the reasoning's quality?
    pub correct: Option<Scores>,
    pub wrong: Option<Scores>,
    pub correct_examples: usize,
    pub wrong_examples: usize,
    /// Per true rating 1..5: (references, kept).
    pub kept_by_rating: Vec<(usize, usize)>,
}

fn mean_scores(scores: &[Scores]) -> Option<Scores> {
    if scores.is_empty() {
        return None;
    }
    let n = scores.len() as f64;
    Some(Scores {
        bleu4: scores.iter().map(|s| s.bleu4).sum::<f64>() / n,
        rouge_l: scores.iter().map(|s| s.rouge_l).sum::<f64>() / n,
        embedding: scores.iter().map(|s| s.embedding).sum::<f64>() / n,
    })
}

impl RecSaverSummary {
    pub fn of(examples: &[ScoredExample]) -> Self {
        let references = examples.iter().map(|e| e.references.len()).sum::<usize>();
        let kept = examples.iter().map(|e| e.references.iter().filter(|r| r.kept).count()).sum::<usize>();
        let leaking = examples.iter().map(|e| e.references.iter().filter(|r| r.leaks_rating).count()).sum::<usize>();
        let scored: Vec<(Scores, bool)> =
            examples.iter().filter_map(|e| e.scores.map(|s| (s, e.predicted_rating == e.true_rating.round()))).collect();
        let all: Vec<Scores> = scored.iter().map(|s| s.0).collect();
        let correct: Vec<Scores> = scored.iter().filter(|s| s.1).map(|s| s.0).collect();
        let wrong: Vec<Scores> = scored.iter().filter(|s| !s.1).map(|s| s.0).collect();
        let mut kept_by_rating = vec![(0usize, 0usize); RATING_LEVELS];
        for e in examples {
            let r = (e.true_rating.round() as usize).clamp(1, RATING_LEVELS) - 1;
            kept_by_rating[r].0 += e.references.len();
            kept_by_rating[r].1 += e.references.iter().filter(|x| x.kept).count();
        }
        RecSaverSummary {
            examples: examples.len(),
            references,
            leaking,
            kept,
            kept_share: if references == 0 { f64::NAN } else { kept as f64 / references as f64 },
            scored: all.len(),
            bleu4: Distribution::of(&all.iter().map(|s| s.bleu4).collect::<Vec<_>>()),
            rouge_l: Distribution::of(&all.iter().map(|s| s.rouge_l).collect::<Vec<_>>()),
            embedding: Distribution::of(&all.iter().map(|s| s.embedding).collect::<Vec<_>>()),
            correct: mean_scores(&correct),
            wrong: mean_scores(&wrong),
            correct_examples: correct.len(),
            wrong_examples: wrong.len(),
            kept_by_rating,
        }
    }
}
