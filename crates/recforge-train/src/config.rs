//! The `[train]` table of a training config: optimizers, batch sizes, early stopping, seed.

use recforge_models::SparseOptimizer;
use serde::{Deserialize, Serialize};

/// Optimizer for the dense (burn) parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DenseOptimizer {
    #[default]
    Adam,
    #[serde(rename = "adamw")]
    AdamW,
}

/// How a ranking model's dense part is differentiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TrainEngine {
    /// LR, MLP, DCN-v2, Hiformer and AutoInt without dropout on compiled forward and backward passes
    /// (`recforge_models::ranking::compiled_train`, same gradients), every other model (and
    /// any distillation objective) on burn's autodiff.
    #[default]
    Auto,
    /// burn's autodiff for every model.
    Burn,
}

/// How to train; every field has a default, so `[train]` may be empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Upper bound on passes over the training split.
    pub epochs: usize,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    /// Dense optimizer and its learning rate / weight decay (decoupled for AdamW, L2 for Adam).
    pub optimizer: DenseOptimizer,
    pub lr: f64,
    pub weight_decay: f64,
    /// Row-wise optimizer of the embedding tables.
    pub sparse_optimizer: SparseOptimizer,
    /// Cap on rows per embedding table; larger vocabularies are hashed into the cap.
    pub max_embedding_rows: Option<usize>,
    /// Stop after this many epochs without a better validation AUC (0 = never stop early).
    pub patience: usize,
    pub seed: u64,
    /// `auto` (compiled training where it applies) or `burn`.
    pub engine: TrainEngine,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 2048,
            eval_batch_size: 8192,
            optimizer: DenseOptimizer::Adam,
            lr: 1e-3,
            weight_decay: 0.0,
            sparse_optimizer: SparseOptimizer::default(),
            max_embedding_rows: None,
            patience: 2,
            seed: 42,
            engine: TrainEngine::Auto,
        }
    }
}

/// Fills the `[train]` keys a config leaves out with the defaults of its `[model] kind`, where
/// those differ from [`TrainConfig::default`]. Logistic regression is convex and cheap per
/// step: small batches, larger steps and more epochs with early stopping reach scikit-learn's
/// fully converged optimum on UCI Adult (test AUC 0.9072 against 0.9073;
/// `bench/lr-parity.sh`), where the generic schedule stops at 0.890.
pub fn apply_kind_defaults(config: &mut toml::Table) {
    let kind = config.get("model").and_then(|m| m.get("kind")).and_then(toml::Value::as_str).map(str::to_owned);
    let defaults: &[(&str, toml::Value)] = match kind.as_deref() {
        Some("lr") => &[
            ("epochs", toml::Value::Integer(60)),
            ("batch_size", toml::Value::Integer(512)),
            ("lr", toml::Value::Float(0.01)),
            ("patience", toml::Value::Integer(5)),
        ],
        _ => return,
    };
    let Some(train) = config.entry("train").or_insert_with(|| toml::Value::Table(toml::Table::new())).as_table_mut() else {
        return;
    };
    for (key, value) in defaults {
        train.entry(*key).or_insert_with(|| value.clone());
    }
    if kind.as_deref() == Some("lr") && !train.contains_key("sparse_optimizer") {
        let mut adagrad = toml::Table::new();
        adagrad.insert("kind".into(), toml::Value::String("adagrad".into()));
        adagrad.insert("lr".into(), toml::Value::Float(0.1));
        train.insert("sparse_optimizer".into(), toml::Value::Table(adagrad));
    }
}

#[cfg(test)]
mod kind_default_tests {
    use super::*;

    fn train_of(text: &str) -> TrainConfig {
        let mut table: toml::Table = toml::from_str(text).expect("toml");
        apply_kind_defaults(&mut table);
        table.get("train").cloned().map_or_else(TrainConfig::default, |t| t.try_into().expect("train table"))
    }

    #[test]
    fn lr_gets_its_schedule_where_the_config_is_silent_and_explicit_keys_win() {
        let lr = train_of("[model]\nkind = \"lr\"\n");
        assert_eq!((lr.epochs, lr.batch_size, lr.lr, lr.patience), (60, 512, 0.01, 5));
        assert_eq!(lr.sparse_optimizer.lr(), 0.1);
        let explicit = train_of("[model]\nkind = \"lr\"\n[train]\nepochs = 3\nsparse_optimizer = { kind = \"sgd\", lr = 1.0 }\n");
        assert_eq!((explicit.epochs, explicit.batch_size), (3, 512));
        assert_eq!(explicit.sparse_optimizer.lr(), 1.0);
        let mlp = train_of("[model]\nkind = \"mlp\"\n");
        assert_eq!(mlp, TrainConfig::default());
    }
}
