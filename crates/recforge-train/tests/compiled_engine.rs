//! `[train] engine`: the compiled path (`auto`) and burn's autodiff (`burn`) train the same
//! model from the same seed (the same initial weights whichever engine reads them first) to the
//! same place — per-epoch training loss and validation AUC
//! agree to float rounding, and early stopping keeps the same epoch — for MLP, DCN-v2,
//! Hiformer and AutoInt+ through `fit`, the whole loop (weights written back before each validation, the
//! best epoch kept and returned).

use recforge_data::{Silent, Split};
use recforge_models::ModelConfig;
use recforge_models::ranking::{AutoIntConfig, DcnStructure, DcnV2Config, HiformerConfig, MlpRankerConfig};
use recforge_train::bench::synthetic_dataset;
use recforge_train::trainer::fit;
use recforge_train::{TrainConfig, TrainEngine};

/// burn draws initial weights from one process-wide generator that `fit` seeds: tests that
/// ran `fit` at once could interleave their draws.
static FIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn both_engines_agree(model: &ModelConfig) {
    let _fit = FIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let data = synthetic_dataset(3000, 4, 40, 3, 7);
    let rows: Vec<usize> = (0..data.len()).collect();
    let split = Split { train: rows[..2400].to_vec(), valid: rows[2400..].to_vec(), test: Vec::new() };
    let train = TrainConfig { epochs: 3, batch_size: 256, patience: 3, ..TrainConfig::default() };
    let compiled = fit(model, &TrainConfig { engine: TrainEngine::Auto, ..train.clone() }, &data, &split, &Silent).unwrap();
    let burn = fit(model, &TrainConfig { engine: TrainEngine::Burn, ..train }, &data, &split, &Silent).unwrap();
    assert_eq!(compiled.history.len(), burn.history.len());
    for (c, b) in compiled.history.iter().zip(&burn.history) {
        let what = format!("{} epoch {}", model.name(), c.epoch);
        assert!((c.train_loss - b.train_loss).abs() < 2e-3, "{what}: train loss {} vs burn {}", c.train_loss, b.train_loss);
        assert!((c.valid.auc - b.valid.auc).abs() < 5e-3, "{what}: valid AUC {} vs burn {}", c.valid.auc, b.valid.auc);
    }
    assert_eq!(compiled.best_epoch, burn.best_epoch);
    // It learned: the validation loss fell and the planted signal shows.
    let (first, last) = (&compiled.history[0].valid, &compiled.history.last().unwrap().valid);
    assert!(last.logloss < first.logloss && last.auc > 0.55, "{}: {first:?} → {last:?}", model.name());
}

#[test]
fn mlp_trains_alike_on_both_engines() {
    both_engines_agree(&ModelConfig::Mlp(MlpRankerConfig { embedding_dim: 8, hidden: vec![32, 16], dropout: 0.0 }));
}

#[test]
fn dcn_v2_trains_alike_on_both_engines() {
    let config = DcnV2Config { embedding_dim: 8, cross_layers: 2, low_rank: Some(4), structure: DcnStructure::Parallel, hidden: vec![32], dropout: 0.0 };
    both_engines_agree(&ModelConfig::DcnV2(config));
}

#[test]
fn hiformer_trains_alike_on_both_engines() {
    let config = HiformerConfig { embedding_dim: 8, layers: 2, heads: 2, d_head: 4, d_ff: 16, task_tokens: 2, hidden: vec![16], ..Default::default() };
    both_engines_agree(&ModelConfig::Hiformer(config));
}

#[test]
fn autoint_trains_alike_on_both_engines() {
    let config = AutoIntConfig { embedding_dim: 8, layers: 2, heads: 2, d_head: 4, hidden: vec![16], dropout: 0.0 };
    both_engines_agree(&ModelConfig::AutoInt(config));
}
