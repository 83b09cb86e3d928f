//! The iterative density weighting loop, then user-tower calibration (arXiv 2308.01563, §9
//! of PAPERS.md): starting from a model trained to convergence with w_j = freq_j/Σfreq, each
//! round re-weights items by inverse embedding density (see
//! [`recforge_models::retrieval::idw`]) and, unless ‖Δw‖_∞ < tolerance, retrains at most
//! `stage_epochs` epochs with early stopping on validation tail HR@200; at most
//! `max_rounds` rounds. Calibration then freezes the item tower, resets Adam at lr/10 and
//! refits the user tower with unweighted examples, early-stopping on overall HR@200.

use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use recforge_data::Progress;
use recforge_models::retrieval::RetrievalModel;
use recforge_models::retrieval::idw::{IdwConfig, density_round, example_weights, initial_weights};
use serde::{Deserialize, Serialize};

use super::RetrievalError;
use super::config::RetrievalTrainConfig;
use super::data::RetrievalData;
use super::fit::{EpochLog, Selection, Stage, train_stage};

/// Offsets from the training seed of the density estimates (and of round r's retraining,
/// `+ r`) and of calibration, so no stage replays another stage's batch order.
const IDW_SEED_OFFSET: u64 = 1000;
const CALIBRATION_SEED_OFFSET: u64 = 2000;

/// One IDW round (round 0 is the starting model).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdwRound {
    pub round: usize,
    /// ‖Δw‖_∞ of this round's weight update (0 for round 0).
    pub delta_inf: f64,
    pub converged: bool,
    /// Validation HR@200 (full corpus) of the model after this round's retraining.
    pub valid_head_hr200: f64,
    pub valid_tail_hr200: f64,
    pub valid_overall_hr200: f64,
}

/// Models after IDW and after calibration, and how they got there.
pub struct IdwOutcome {
    pub idw: RetrievalModel,
    pub calibrated: RetrievalModel,
    pub rounds: Vec<IdwRound>,
    pub history: Vec<EpochLog>,
    /// The final item weights w.
    pub weights: Vec<f64>,
}

/// Runs IDW from `start` (a model trained with uniform example weights, on an autodiff
/// device), then calibration.
pub fn run_idw(
    start: RetrievalModel,
    data: &RetrievalData,
    config: &RetrievalTrainConfig,
    idw: &IdwConfig,
    progress: &dyn Progress,
) -> Result<IdwOutcome, RetrievalError> {
    let plain = Device::default();
    let mut rng = StdRng::seed_from_u64(config.seed.wrapping_add(IDW_SEED_OFFSET));
    let counts = &data.sequences.train_counts;
    let mut weights = initial_weights(counts);
    let mut model = start;
    let mut history = Vec::new();
    let start_valid =
        super::evaluate::evaluate_model(&model.valid(), data, super::evaluate::EvalSplit::Valid, config.seq_len, &plain).full;
    let mut rounds = vec![IdwRound {
        round: 0,
        delta_inf: 0.0,
        converged: false,
        valid_head_hr200: start_valid.get("head", 200),
        valid_tail_hr200: start_valid.get("tail", 200),
        valid_overall_hr200: start_valid.get("overall", 200),
    }];
    for round in 1..=idw.max_rounds {
        let items = model.valid().all_item_vectors(&data.items, &plain);
        let [_, dim] = items.dims();
        let vectors = items.into_data().try_to_vec::<f32>().unwrap_or_default();
        let update = density_round(&vectors, dim, &weights, idw, &mut rng)?;
        weights = update.weights;
        tracing::info!(round, delta_inf = format!("{:.2e}", update.delta_inf), converged = update.converged, "IDW weights updated");
        if update.converged {
            let last = rounds.last().cloned().unwrap_or_else(|| rounds[0].clone());
            rounds.push(IdwRound { round, delta_inf: update.delta_inf, converged: true, ..last });
            break;
        }
        let per_item = example_weights(&weights, counts);
        let stage = Stage {
            name: format!("idw-{round}"),
            example_weights: &per_item,
            lr: config.lr,
            max_epochs: config.stage_epochs,
            freeze_items: false,
            selection: Selection::Tail,
            seed: config.seed.wrapping_add(IDW_SEED_OFFSET + round as u64),
        };
        let (next, logs) = train_stage(model, data, config, &stage, progress)?;
        model = next;
        let valid =
            super::evaluate::evaluate_model(&model.valid(), data, super::evaluate::EvalSplit::Valid, config.seq_len, &plain).full;
        rounds.push(IdwRound {
            round,
            delta_inf: update.delta_inf,
            converged: false,
            valid_head_hr200: valid.get("head", 200),
            valid_tail_hr200: valid.get("tail", 200),
            valid_overall_hr200: valid.get("overall", 200),
        });
        history.extend(logs);
    }
    let uniform = vec![1f32; counts.len()];
    let stage = Stage {
        name: "calibrate".into(),
        example_weights: &uniform,
        lr: config.lr / 10.0,
        max_epochs: config.stage_epochs,
        freeze_items: true,
        selection: Selection::Overall,
        seed: config.seed.wrapping_add(CALIBRATION_SEED_OFFSET),
    };
    let (calibrated, logs) = train_stage(model.clone(), data, config, &stage, progress)?;
    history.extend(logs);
    Ok(IdwOutcome { idw: model, calibrated, rounds, history, weights })
}
