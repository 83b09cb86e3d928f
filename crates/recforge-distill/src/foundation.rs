//! The foundation-model teacher of a DiverseDistill committee (arXiv 2402.14035): a frozen
//! text model embeds a textual rendering of each user (profile + recently liked titles) and
//! each item (title, genres, year); a small trained head over `[u; i; u ⊙ i]` scores the pair.
//!
//! Cost is kept small [R]: the text model runs once per distinct user text and item text (not
//! per example row), and every embedding is cached on disk by content hash
//! ([`recforge_llm::ScoreCache`]: SHA-256 of model id, kind and text), so no text is ever
//! embedded twice, across runs included. [`CachedEmbedder`] counts model calls and hits.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use recforge_data::{Column, Dataset, Phase, Progress, Side, Unit};
use recforge_models::layers::{Mlp, MlpConfig};
use recforge_train::{Learner, LoopConfig, LoopError, bce_with_logits, run_loop};
use serde::{Deserialize, Serialize};

use crate::frozen::{FrozenTeacher, TeacherAnswer};

/// The text model: any [`TextEmbedder`] (MiniLM through [`recforge_llm::SentenceEncoder`];
/// tests use a small deterministic stand-in).
pub use recforge_llm::TextEmbedder;

/// Why the foundation teacher could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FoundationError {
    #[error(transparent)]
    Llm(#[from] recforge_llm::LlmError),
    #[error("text encoder: {0}")]
    Encoder(String),
    #[error("the dataset has no {0} feature (set `user` / `item` in the schema) or no fitted encoder")]
    Missing(&'static str),
    #[error("the foundation head's training loss became {loss} at epoch {epoch}, step {step}; lower [foundation] lr")]
    Diverged { loss: f64, epoch: usize, step: usize },
    #[error("the foundation head has no rows to train on; widen [data] teacher_window")]
    NoRows,
    #[error(transparent)]
    Loop(LoopError),
}

impl From<LoopError> for FoundationError {
    fn from(error: LoopError) -> Self {
        match error {
            LoopError::Diverged { loss, epoch, step } => FoundationError::Diverged { loss, epoch, step },
            LoopError::NoRows => FoundationError::NoRows,
            interrupted @ LoopError::Interrupted { .. } => FoundationError::Loop(interrupted),
        }
    }
}

/// Texts per call of the text model (also the cache write batch).
const EMBED_CHUNK: usize = 256;

/// A text encoder behind a content-addressed cache, with counters.
pub struct CachedEmbedder<'a> {
    encoder: &'a dyn TextEmbedder,
    cache: &'a recforge_llm::ScoreCache,
    /// Texts the model embedded.
    pub model_calls: AtomicU64,
    /// Texts found in the cache.
    pub cache_hits: AtomicU64,
}

impl<'a> CachedEmbedder<'a> {
    pub fn new(encoder: &'a dyn TextEmbedder, cache: &'a recforge_llm::ScoreCache) -> Self {
        CachedEmbedder { encoder, cache, model_calls: AtomicU64::new(0), cache_hits: AtomicU64::new(0) }
    }

    /// Embeddings of `texts` in order; only texts absent from the cache reach the model.
    pub fn embed(&self, kind: &str, texts: &[String], progress: &dyn Fn(usize)) -> Result<Vec<Vec<f32>>, FoundationError> {
        let id = self.encoder.model_id();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut out = self.cache.get_many_f32s(&id, kind, &refs)?;
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        self.cache_hits.fetch_add((texts.len() - missing.len()) as u64, Ordering::Relaxed);
        for chunk in missing.chunks(EMBED_CHUNK) {
            let batch: Vec<String> = chunk.iter().map(|&i| texts[i].clone()).collect();
            let vectors = self.encoder.embed(&batch)?;
            self.model_calls.fetch_add(batch.len() as u64, Ordering::Relaxed);
            let entries: Vec<(&str, &[f32])> = batch.iter().map(String::as_str).zip(vectors.iter().map(Vec::as_slice)).collect();
            self.cache.put_many_f32s(&id, kind, &entries)?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = Some(v);
            }
            progress(chunk.len());
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }
}

/// `[committee.foundation]`: how to render, embed and head the text-model teacher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FoundationConfig {
    /// Hugging Face folder of a BERT sentence encoder (relative to the working directory).
    pub model_dir: std::path::PathBuf,
    /// The embedding cache (redb), shared across runs.
    pub cache: std::path::PathBuf,
    /// Liked titles (label 1, newest first) in each user's text, from the profile rows.
    pub recent_titles: usize,
    /// Hidden widths of the trained head over `[u; i; u ⊙ i]`.
    pub hidden: Vec<usize>,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
}

impl Default for FoundationConfig {
    fn default() -> Self {
        FoundationConfig {
            model_dir: "data/models/all-minilm-l6-v2".into(),
            cache: "runs/foundation-cache.redb".into(),
            recent_titles: 5,
            hidden: vec![128],
            epochs: 3,
            batch_size: 1024,
            lr: 0.001,
        }
    }
}

/// Texts for every user and item id seen in a dataset, rendered from the schema's user- and
/// item-side features (tokens decoded with the fitted vocabularies).
pub struct Rendered {
    pub users: HashMap<u32, String>,
    pub items: HashMap<u32, String>,
}

/// The decoded tokens of `column` at `row` (several for multi-valued features).
fn tokens(data: &Dataset, feature: usize, row: usize) -> Vec<String> {
    let Some(vocab) = data.encoder().and_then(|e| e.vocab(&data.meta.features[feature].name)) else {
        return Vec::new();
    };
    let ids: Vec<u32> = match &data.columns[feature] {
        Column::Categorical(ids) => vec![ids[row]],
        Column::Multi { offsets, values } => values[offsets[row] as usize..offsets[row + 1] as usize].to_vec(),
        Column::Numeric(_) => Vec::new(),
    };
    ids.iter().filter_map(|&id| vocab.token(id).map(str::to_string)).collect()
}

/// Renders every user and item of `rows`; a user's liked titles come from `profile_rows`
/// (time-ordered, older than anything scored, so no label leaks into the text).
pub fn render(data: &Dataset, rows: &[usize], profile_rows: &[usize], recent_titles: usize) -> Result<Rendered, FoundationError> {
    let user_name = data.meta.user_feature.clone().ok_or(FoundationError::Missing("user"))?;
    let item_name = data.meta.item_feature.clone().ok_or(FoundationError::Missing("item"))?;
    let user_col = data.user_column().ok_or(FoundationError::Missing("user"))?;
    let item_col = data.item_column().ok_or(FoundationError::Missing("item"))?;
    data.encoder().ok_or(FoundationError::Missing("encoder"))?;
    let item_feature = data.feature_index(&item_name).ok_or(FoundationError::Missing("item"))?;
    let side_features = |side: Side, skip: &str| -> Vec<usize> {
        (0..data.meta.features.len()).filter(|&f| data.meta.features[f].side == Some(side) && data.meta.features[f].name != skip).collect()
    };
    let (user_side, item_side) = (side_features(Side::User, &user_name), side_features(Side::Item, &item_name));
    let describe = |features: &[usize], row: usize| -> String {
        features
            .iter()
            .map(|&f| format!("{}: {}", data.meta.features[f].name.replace('_', " "), tokens(data, f, row).join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut liked: HashMap<u32, Vec<usize>> = HashMap::new();
    for &r in profile_rows {
        if data.labels[r] >= 0.5 {
            liked.entry(user_col[r]).or_default().push(r);
        }
    }
    let mut users = HashMap::new();
    let mut items = HashMap::new();
    for &r in rows.iter().chain(profile_rows) {
        users.entry(user_col[r]).or_insert_with(|| {
            let recent: Vec<String> = liked
                .get(&user_col[r])
                .map(|v| v.iter().rev().take(recent_titles).map(|&p| tokens(data, item_feature, p).join(" ")).collect())
                .unwrap_or_default();
            format!("A viewer. {}. Recently liked: {}.", describe(&user_side, r), if recent.is_empty() { "nothing yet".into() } else { recent.join("; ") })
        });
        items.entry(item_col[r]).or_insert_with(|| format!("{}. {}.", tokens(data, item_feature, r).join(" "), describe(&item_side, r)));
    }
    Ok(Rendered { users, items })
}

/// The head over frozen text features: `[batch, 3·dim]` → hidden → logit.
#[derive(Module, Debug)]
pub struct FoundationHead {
    mlp: Mlp,
}

impl FoundationHead {
    /// Logits `[batch]` and the last hidden layer `[batch, width]`.
    pub fn forward_with_hidden(&self, x: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
        let size = x.dims()[0];
        let hidden = self.mlp.forward_hidden(x);
        (self.mlp.head(hidden.clone()).reshape([size]), hidden)
    }

    pub fn head(&self, hidden: Tensor<2>) -> Tensor<1> {
        let size = hidden.dims()[0];
        self.mlp.head(hidden).reshape([size])
    }
}

/// The frozen text model + trained head, as a committee teacher.
pub struct FoundationTeacher {
    dim: usize,
    users: HashMap<u32, Vec<f32>>,
    items: HashMap<u32, Vec<f32>>,
    user_col: Vec<u32>,
    item_col: Vec<u32>,
    head: FoundationHead,
    head_widths: Vec<usize>,
    upper_head: std::sync::OnceLock<FoundationHead>,
    hidden_dim: usize,
    answered: AtomicU64,
    /// Parameters of the text model (frozen) plus the head.
    text_model_parameters: usize,
}

/// Parameters of all-MiniLM-L6-v2 (22.7M; BERT 6 layers × 384): reported, not trained.
pub const MINILM_PARAMETERS: usize = 22_713_216;

impl FoundationTeacher {
    /// Embeds the rendered texts (cached) and trains the head on `train_rows` (hard labels),
    /// reporting both phases to `progress`.
    pub fn build(
        data: &Dataset,
        rendered: &Rendered,
        embedder: &CachedEmbedder,
        config: &FoundationConfig,
        train_rows: &[usize],
        seed: u64,
        progress: &dyn Progress,
    ) -> Result<Self, FoundationError> {
        let mut user_ids: Vec<u32> = rendered.users.keys().copied().collect();
        let mut item_ids: Vec<u32> = rendered.items.keys().copied().collect();
        user_ids.sort_unstable();
        item_ids.sort_unstable();
        let user_texts: Vec<String> = user_ids.iter().map(|u| rendered.users[u].clone()).collect();
        let item_texts: Vec<String> = item_ids.iter().map(|i| rendered.items[i].clone()).collect();
        let phase = Phase::begin(progress, "embedding user and item texts", Some((user_texts.len() + item_texts.len()) as u64), Unit::Documents);
        let done = std::cell::Cell::new(0u64);
        let advance = |n: usize| {
            done.set(done.get() + n as u64);
            phase.update(done.get(), "");
        };
        let user_vecs = embedder.embed("user", &user_texts, &advance)?;
        let item_vecs = embedder.embed("item", &item_texts, &advance)?;
        drop(phase);
        let dim = embedder.encoder.dim();
        let mut teacher = FoundationTeacher {
            dim,
            users: user_ids.into_iter().zip(user_vecs).collect(),
            items: item_ids.into_iter().zip(item_vecs).collect(),
            user_col: data.user_column().ok_or(FoundationError::Missing("user"))?.to_vec(),
            item_col: data.item_column().ok_or(FoundationError::Missing("item"))?.to_vec(),
            head: FoundationHead { mlp: MlpConfig::new(3 * dim, config.hidden.clone(), 1).init(&Device::default()) },
            head_widths: config.hidden.clone(),
            upper_head: std::sync::OnceLock::new(),
            hidden_dim: config.hidden.last().copied().unwrap_or(3 * dim),
            answered: AtomicU64::new(0),
            text_model_parameters: MINILM_PARAMETERS,
        };
        let trained = train_head(&teacher, data, config, train_rows, seed, progress)?;
        // A fresh head on the inference device, loaded with the trained weights.
        teacher.head = FoundationHead { mlp: MlpConfig::new(3 * dim, config.hidden.clone(), 1).init(&Device::default()) }
            .load_record(trained.valid().into_record());
        Ok(teacher)
    }

    /// Sets the reported text-model size (default: MiniLM's).
    pub fn with_text_model_parameters(mut self, n: usize) -> Self {
        self.text_model_parameters = n;
        self
    }

    /// `[n, 3·dim]` features `[u; i; u ⊙ i]` of `rows` (zeros for an unseen user or item).
    fn features(&self, rows: &[usize], device: &Device) -> Tensor<2> {
        let zero = vec![0.0f32; self.dim];
        let mut x = Vec::with_capacity(rows.len() * 3 * self.dim);
        for &r in rows {
            let u = self.users.get(&self.user_col[r]).unwrap_or(&zero);
            let i = self.items.get(&self.item_col[r]).unwrap_or(&zero);
            x.extend_from_slice(u);
            x.extend_from_slice(i);
            x.extend(u.iter().zip(i).map(|(a, b)| a * b));
        }
        Tensor::from_data(TensorData::new(x, [rows.len(), 3 * self.dim]), device)
    }

    /// Trained head parameters.
    pub fn head_parameters(&self) -> usize {
        self.head.num_params()
    }
}

/// The head's training: hard-label BCE over the frozen text features, one
/// [`recforge_train::Learner`] driven by [`run_loop`] (seeded shuffles, divergence check).
struct HeadLearner<'a> {
    teacher: &'a FoundationTeacher,
    data: &'a Dataset,
    head: FoundationHead,
    optimizer: ModuleOptimizer,
    lr: f64,
    device: Device,
}

impl Learner for HeadLearner<'_> {
    type Error = FoundationError;

    fn step(&mut self, rows: &[usize]) -> Result<f64, FoundationError> {
        let labels: Vec<f32> = rows.iter().map(|&r| self.data.labels[r]).collect();
        let labels = Tensor::<1>::from_data(TensorData::new(labels, [rows.len()]), &self.device);
        let (logits, _) = self.head.forward_with_hidden(self.teacher.features(rows, &self.device));
        let loss = bce_with_logits(logits, labels);
        let grads = loss.backward();
        let value = f64::from(loss.into_scalar::<f32>());
        if value.is_finite() {
            let grads = GradientsParams::from_grads(grads, &self.head);
            self.head = self.optimizer.step(self.lr, self.head.clone(), grads);
        }
        Ok(value)
    }

    fn validate(&mut self, _epoch: usize) -> Result<Option<f64>, FoundationError> {
        Ok(None)
    }
}

/// Trains a fresh head (on the autodiff device) for `config.epochs` over `rows`.
fn train_head(
    teacher: &FoundationTeacher,
    data: &Dataset,
    config: &FoundationConfig,
    rows: &[usize],
    seed: u64,
    progress: &dyn Progress,
) -> Result<FoundationHead, FoundationError> {
    let device = Device::default().autodiff();
    let head = FoundationHead { mlp: MlpConfig::new(3 * teacher.dim, config.hidden.clone(), 1).init(&device) };
    let mut learner = HeadLearner { teacher, data, head, optimizer: AdamConfig::new().init(), lr: config.lr, device };
    let loop_config = LoopConfig::new("foundation head", config.epochs, config.batch_size, seed);
    run_loop(&mut learner, rows, &loop_config, progress)?;
    Ok(learner.head)
}

impl FrozenTeacher for FoundationTeacher {
    fn name(&self) -> &str {
        "foundation"
    }

    fn hidden_dim(&self) -> usize {
        self.hidden_dim
    }

    fn parameters(&self) -> usize {
        self.text_model_parameters + self.head_parameters()
    }

    fn answer(&self, _data: &Dataset, rows: &[usize]) -> TeacherAnswer {
        let device = Device::default();
        let (logits, hidden) = self.head.forward_with_hidden(self.features(rows, &device));
        self.answered.fetch_add(rows.len() as u64, Ordering::Relaxed);
        TeacherAnswer {
            hidden: hidden.into_data().try_to_vec::<f32>().unwrap_or_default(),
            logits: logits.into_data().try_to_vec::<f32>().unwrap_or_default(),
        }
    }

    fn examples_answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    fn upper(&self, hidden: Tensor<2>) -> Tensor<1> {
        let device = hidden.device();
        if !device.is_autodiff() {
            return self.head.head(hidden);
        }
        let head = self.upper_head.get_or_init(|| {
            let fresh = FoundationHead { mlp: MlpConfig::new(3 * self.dim, self.head_widths.clone(), 1).init(&device) };
            fresh.load_record(self.head.clone().into_record()).no_grad()
        });
        head.head(hidden)
    }
}

/// Opens the embedding cache and the sentence encoder named by `config`.
pub fn open(config: &FoundationConfig) -> Result<(recforge_llm::SentenceEncoder, recforge_llm::ScoreCache), FoundationError> {
    if let Some(parent) = config.cache.parent() {
        std::fs::create_dir_all(parent).map_err(|e| FoundationError::Encoder(format!("{}: {e}", parent.display())))?;
    }
    let cache = recforge_llm::ScoreCache::open(Path::new(&config.cache))?;
    let encoder = recforge_llm::SentenceEncoder::load(&config.model_dir)?;
    Ok((encoder, cache))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stand-in for the text model: a hashed bag of words, counted per text.
    struct HashEncoder {
        calls: AtomicU64,
    }

    impl TextEmbedder for HashEncoder {
        fn model_id(&self) -> String {
            "hash-encoder-v1".into()
        }
        fn dim(&self) -> usize {
            8
        }
        fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, recforge_llm::LlmError> {
            self.calls.fetch_add(texts.len() as u64, Ordering::Relaxed);
            Ok(texts
                .iter()
                .map(|t| {
                    let mut v = vec![0.0f32; 8];
                    for w in t.split_whitespace() {
                        v[(recforge_data::vocab::fnv1a64(w.as_bytes()) % 8) as usize] += 1.0;
                    }
                    v
                })
                .collect())
        }
    }

    #[test]
    fn cached_features_are_reused_across_calls_and_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.redb");
        let encoder = HashEncoder { calls: AtomicU64::new(0) };
        let texts: Vec<String> = ["Toy Story", "Heat", "Toy Story", "Alien"].iter().map(|s| s.to_string()).collect();
        let first = {
            let cache = recforge_llm::ScoreCache::open(&path).unwrap();
            let embedder = CachedEmbedder::new(&encoder, &cache);
            let first = embedder.embed("item", &texts[..2], &|_| {}).unwrap();
            assert_eq!(embedder.model_calls.load(Ordering::Relaxed), 2);
            // "Toy Story" again and one new text: only "Alien" reaches the model.
            let again = embedder.embed("item", &texts[1..], &|_| {}).unwrap();
            assert_eq!(embedder.model_calls.load(Ordering::Relaxed), 3);
            assert_eq!(embedder.cache_hits.load(Ordering::Relaxed), 2);
            assert_eq!(again[1], first[0]);
            first
        };
        // A new process (reopened cache): nothing is embedded twice.
        let cache = recforge_llm::ScoreCache::open(&path).unwrap();
        let embedder = CachedEmbedder::new(&encoder, &cache);
        let got = embedder.embed("item", &texts, &|_| {}).unwrap();
        assert_eq!(embedder.model_calls.load(Ordering::Relaxed), 0);
        assert_eq!(encoder.calls.load(Ordering::Relaxed), 3);
        assert_eq!(got[0], first[0]);
        // Another kind is another key.
        embedder.embed("user", &texts[..1], &|_| {}).unwrap();
        assert_eq!(embedder.model_calls.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_text_model_runs_once_per_distinct_text_not_per_row() {
        let dir = tempfile::tempdir().unwrap();
        let schema = recforge_data::write_synthetic_ctr(&dir.path().join("synth"), 600, 5).unwrap();
        let schema = recforge_data::Schema::from_toml_file(&schema).unwrap();
        let options = recforge_data::PrepareOptions { cache_dir: dir.path().join("prep"), skip_bad_rows: false, force: false, progress: &recforge_data::Silent };
        let data = recforge_data::prepare(&schema, &options).unwrap().0;
        let rows: Vec<usize> = (300..600).collect();
        let profile: Vec<usize> = (0..300).collect();
        let rendered = render(&data, &rows, &profile, 3).unwrap();
        let encoder = HashEncoder { calls: AtomicU64::new(0) };
        let cache = recforge_llm::ScoreCache::open(&dir.path().join("c.redb")).unwrap();
        let embedder = CachedEmbedder::new(&encoder, &cache);
        let config = FoundationConfig { hidden: vec![4], epochs: 1, batch_size: 64, ..FoundationConfig::default() };
        let teacher = FoundationTeacher::build(&data, &rendered, &embedder, &config, &profile, 1, &recforge_data::Silent).unwrap();
        let distinct = (rendered.users.len() + rendered.items.len()) as u64;
        assert_eq!(encoder.calls.load(Ordering::Relaxed), distinct);
        assert!(distinct < 600, "{distinct} texts for 600 rows");
        let answer = teacher.answer(&data, &rows[..10]);
        assert_eq!(answer.hidden.len(), 10 * 4);
        assert!(answer.logits.iter().all(|x| x.is_finite()));
        assert_eq!(teacher.examples_answered(), 10);
    }
}
