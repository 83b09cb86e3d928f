//! Reasoning and Rec-SAVER on a scripted fake model (no weights): the self-verification filter
//! keeps exactly the explanations from which the model recovers the true rating; predictions
//! files round-trip and malformed ones get errors naming file, line and field; the generation
//! cache makes reruns free.

use std::cell::Cell;
use std::io::Write;

use recforge_llm::{GenerationParams, LlmError};
use recforge_llmrec::chat_model::{ChatModel, RATING_LEVELS};
use recforge_llm::TextEmbedder;
use recforge_llmrec::rec_saver::{RecSaverConfig, RecSaverSummary, leaks_rating, score_prediction};
use recforge_llmrec::reasoning::{Mode, RatedTitle, RatingCase, RatingMetrics, ReasoningConfig, predict, read_predictions, reasoning_row};
use recforge_llmrec::GenerationCache;

/// Explanations come from a script (one per seed); the rating read from any text is the digit
/// after "MOOD=" in it (3 when absent).
struct FakeModel {
    explanations: Vec<String>,
    calls: Cell<usize>,
}

impl FakeModel {
    fn new(explanations: &[&str]) -> Self {
        Self { explanations: explanations.iter().map(|s| s.to_string()).collect(), calls: Cell::new(0) }
    }
}

fn mood(text: &str) -> usize {
    text.rfind("MOOD=").and_then(|i| text[i + 5..].chars().next()).and_then(|c| c.to_digit(10)).map_or(3, |d| d as usize)
}

impl ChatModel for FakeModel {
    fn model_id(&self) -> &str {
        "fake-model"
    }

    fn complete(&self, user_message: &str, _prefix: &str, params: &GenerationParams) -> Result<String, LlmError> {
        self.calls.set(self.calls.get() + 1);
        if user_message.contains("Will the user like") {
            return Ok("They enjoy comedies, so MOOD=4 fits.".to_string());
        }
        Ok(self.explanations[(params.seed as usize - 42) % self.explanations.len()].clone())
    }

    fn rating_distribution(&self, user_message: &str, prefix: &str) -> Result<[f64; RATING_LEVELS], LlmError> {
        self.calls.set(self.calls.get() + 1);
        let mut p = [0.05; RATING_LEVELS];
        p[mood(&format!("{user_message}{prefix}")) - 1] = 0.8;
        Ok(p)
    }
}

/// Bag-of-letters vectors: enough for cosine to be 1 on equal texts.
struct FakeEmbedder;

impl TextEmbedder for FakeEmbedder {
    fn model_id(&self) -> String {
        "bag-of-letters".into()
    }
    fn dim(&self) -> usize {
        26
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; 26];
                for c in t.to_lowercase().bytes().filter(u8::is_ascii_lowercase) {
                    v[(c - b'a') as usize] += 1.0;
                }
                v
            })
            .collect())
    }
}

fn case(true_rating: f32) -> RatingCase {
    RatingCase {
        user: "u1".into(),
        history: vec![RatedTitle { title: "Toy Story (1995)".into(), rating: 5.0 }, RatedTitle { title: "Heat (1995)".into(), rating: 2.0 }],
        item: "Babe (1995)".into(),
        genres: vec!["Comedy".into()],
        true_rating,
    }
}

#[test]
fn predictions_read_the_rating_distribution_with_and_without_reasoning() {
    let model = FakeModel::new(&["x"]);
    let config = ReasoningConfig::default();
    let direct = predict(&model, &case(4.0), Mode::Direct, &config, None).unwrap();
    assert_eq!(direct.predicted_rating, 3.0); // no MOOD in the direct prompt
    assert!(direct.reasoning.is_empty());
    let cot = predict(&model, &case(4.0), Mode::Cot, &config, None).unwrap();
    assert_eq!(cot.reasoning, "They enjoy comedies, so MOOD=4 fits.");
    assert_eq!(cot.predicted_rating, 4.0);
    // E[r] = 0.05·(1+2+3+5) + 0.8·4
    assert!((cot.expected_rating - (0.05 * 11.0 + 3.2) as f32).abs() < 1e-5);
    let metrics = RatingMetrics::of(&[direct, cot]);
    // errors −1 and 0 → RMSE √(1/2), MAE 1/2, accuracy 1/2
    assert!((metrics.rmse - 0.5f64.sqrt()).abs() < 1e-9 && (metrics.mae - 0.5).abs() < 1e-9);
    assert_eq!(metrics.accuracy, 0.5);
}

#[test]
fn self_verification_keeps_only_explanations_that_recover_the_truth() {
    let explanations = [
        "They adore talking-animal films: MOOD=5",     // recovers 5: kept
        "Mixed feelings about farm stories MOOD=3",    // recovers 3: dropped
        "A perfect match for their taste, MOOD=5 indeed", // kept
        "They would give it 5 out of 5 MOOD=5",        // states the rating: dropped as leaking
    ];
    let model = FakeModel::new(&explanations);
    let mut prediction = predict(&model, &case(5.0), Mode::Cot, &ReasoningConfig::default(), None).unwrap();
    prediction.reasoning = "They adore talking-animal films".into();
    let config = RecSaverConfig { references: 4, ..RecSaverConfig::default() };
    let scored = score_prediction(&model, &FakeEmbedder, &prediction, &config, None).unwrap();
    let kept: Vec<bool> = scored.references.iter().map(|r| r.kept).collect();
    assert_eq!(kept, vec![true, false, true, false]);
    assert!(scored.references[3].leaks_rating);
    assert_eq!(scored.references[1].verified_rating, 3.0);
    let scores = scored.scores.expect("two references kept");
    // The candidate's 5 tokens (they adore talking animal films) open the first reference's 7
    // (+ mood 5): LCS 5, P = 1, R = 5/7 → ROUGE-L = 2·(5/7)/(12/7) = 5/6.
    assert!((scores.rouge_l - 5.0 / 6.0).abs() < 1e-9, "{scores:?}");
    assert!(scores.bleu4 > 0.0 && scores.embedding > 0.5);
    let summary = RecSaverSummary::of(&[scored]);
    assert_eq!((summary.references, summary.kept, summary.leaking, summary.scored), (4, 2, 1, 1));
    assert_eq!(summary.kept_by_rating[4], (4, 2));
}

#[test]
fn examples_without_a_verified_reference_are_not_scored() {
    let model = FakeModel::new(&["Hard to say MOOD=2"]);
    let prediction = predict(&model, &case(5.0), Mode::Cot, &ReasoningConfig::default(), None).unwrap();
    let scored = score_prediction(&model, &FakeEmbedder, &prediction, &RecSaverConfig::default(), None).unwrap();
    assert!(scored.references.iter().all(|r| !r.kept));
    assert_eq!(scored.scores, None);
    let summary = RecSaverSummary::of(&[scored]);
    assert_eq!((summary.kept, summary.scored), (0, 0));
    assert!(summary.bleu4.mean.is_nan());
}

#[test]
fn leak_detection_matches_stated_ratings_only() {
    assert!(leaks_rating("I'd give it 4/5.", 4.0));
    assert!(leaks_rating("Easily four stars", 4.0));
    assert!(!leaks_rating("Released in 1995, it has 4 main characters", 4.0));
    assert!(!leaks_rating("3 out of 5 critics", 4.0));
}

#[test]
fn the_cache_makes_reruns_free() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.jsonl");
    let model = FakeModel::new(&["They adore it MOOD=5"]);
    let config = RecSaverConfig::default();
    let prediction = {
        let cache = GenerationCache::open(&path).unwrap();
        let p = predict(&model, &case(5.0), Mode::Cot, &ReasoningConfig::default(), Some(&cache)).unwrap();
        score_prediction(&model, &FakeEmbedder, &p, &config, Some(&cache)).unwrap();
        p
    };
    let first = model.calls.get();
    assert!(first > 0);
    let cache = GenerationCache::open(&path).unwrap();
    assert!(!cache.is_empty());
    let again = predict(&model, &case(5.0), Mode::Cot, &ReasoningConfig::default(), Some(&cache)).unwrap();
    assert_eq!(again, prediction);
    score_prediction(&model, &FakeEmbedder, &again, &config, Some(&cache)).unwrap();
    assert_eq!(model.calls.get(), first, "a rerun called the model");
    // A torn last line (crash mid-write) is ignored; the rest survives.
    drop(cache);
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"key\": \"abc").unwrap();
    let cache = GenerationCache::open(&path).unwrap();
    predict(&model, &case(5.0), Mode::Cot, &ReasoningConfig::default(), Some(&cache)).unwrap();
    assert_eq!(model.calls.get(), first);
}

#[test]
fn predictions_round_trip_and_malformed_files_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let model = FakeModel::new(&["x"]);
    let p = predict(&model, &case(4.0), Mode::Cot, &ReasoningConfig::default(), None).unwrap();
    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, format!("{}\n\n{}\n", serde_json::to_string(&p).unwrap(), serde_json::to_string(&p).unwrap())).unwrap();
    assert_eq!(read_predictions(&good).unwrap(), vec![p.clone(), p.clone()]);

    let missing_field = dir.path().join("missing.jsonl");
    let mut value = serde_json::to_value(&p).unwrap();
    value.as_object_mut().unwrap().remove("true_rating");
    std::fs::write(&missing_field, format!("{}\n{}\n", serde_json::to_string(&p).unwrap(), value)).unwrap();
    let error = read_predictions(&missing_field).unwrap_err().to_string();
    assert!(error.contains("missing.jsonl:2") && error.contains("true_rating"), "{error}");

    let not_json = dir.path().join("broken.jsonl");
    std::fs::write(&not_json, "{\"user\": \n").unwrap();
    assert!(read_predictions(&not_json).unwrap_err().to_string().contains("broken.jsonl:1"));

    let bad_rating = dir.path().join("rating.jsonl");
    let mut value = serde_json::to_value(&p).unwrap();
    value["predicted_rating"] = serde_json::json!(7.0);
    std::fs::write(&bad_rating, format!("{value}\n")).unwrap();
    let error = read_predictions(&bad_rating).unwrap_err().to_string();
    assert!(error.contains("rating.jsonl:1") && error.contains("predicted_rating"), "{error}");

    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    assert!(read_predictions(&empty).unwrap_err().to_string().contains("empty"));
}

#[test]
fn reasoning_rows_end_with_the_true_rating() {
    let model = FakeModel::new(&["x"]);
    let row = reasoning_row(&model, &case(2.0), &ReasoningConfig::default(), None).unwrap();
    assert_eq!(row.task, "rating_cot");
    assert!(row.prompt.contains("Babe (1995)") && row.prompt.contains("- Heat (1995): 2"));
    assert_eq!(row.target, "They enjoy comedies, so MOOD=4 fits.\nRating: 2");
}
