//! The plain-text tables of `recforge bench ranking`: a header, one line per round as it
//! finishes, and the summary of medians and ratios.

use super::{BenchReport, RankingBench, Round, TorchMeasured};

impl RankingBench {
    /// The setup line and the per-round column header.
    pub fn header(&self, shape: &str, rows: usize) -> String {
        let w = &self.work;
        format!(
            "recforge bench ranking: {} on {shape} ({rows} rows), batch {}, {} timed steps (+{} warm-up), {} threads, {} rounds\n\
             {:>5} {:>6} {:>5} | {:>10} {:>10} {:>10} {:>10} | {:>10} {:>10} | {:>8} {:>8}",
            self.model.name(),
            w.batch_size,
            w.steps,
            w.warmup_steps,
            self.threads,
            self.rounds,
            "round",
            "first",
            "load",
            "rf train",
            "adam",
            "fused",
            "sparse",
            "rf infer",
            "pt infer",
            "rf b1 ms",
            "pt b1 ms"
        )
    }
}

impl Round {
    /// The round's line under [`RankingBench::header`].
    pub fn line(&self) -> String {
        let pt = |f: &dyn Fn(&TorchMeasured) -> f64| self.pytorch.as_ref().map_or(f64::NAN, f);
        let v = |k: &str| pt(&|p| p.train_examples_per_sec.get(k).copied().unwrap_or(f64::NAN));
        format!(
            "{:>5} {:>6} {:>5.2} | {:>10.0} {:>10.0} {:>10.0} {:>10.0} | {:>10.0} {:>10.0} | {:>8.3} {:>8.3}",
            self.round,
            if self.recforge_first { "rf" } else { "torch" },
            self.load_avg_1m,
            self.recforge.train_examples_per_sec,
            v("adam"),
            v("fused_adam"),
            v("sparse_adam"),
            self.recforge.inference_examples_per_sec,
            pt(&|p| p.inference_examples_per_sec),
            self.recforge.latency_batch1_ms,
            pt(&|p| p.latency_batch1_ms),
        )
    }
}

impl BenchReport {
    /// Machine, model sizes, medians over rounds and the recforge / PyTorch ratios.
    pub fn summary_text(&self) -> String {
        let s = &self.summary;
        let pt = |k: &str| s.pytorch_train_examples_per_sec.get(k).copied().unwrap_or(f64::NAN);
        let mirror = self.rounds.iter().find_map(|r| r.pytorch.as_ref().map(|p| p.dense_parameters));
        let mut out = format!("machine: {}; torch {}\n", self.machine, self.torch_version);
        out += &format!(
            "model: {} embedding weights + {} dense parameters (PyTorch mirror: {})\n",
            self.embedding_weights,
            self.dense_parameters,
            mirror.map_or("not run".to_string(), |n| n.to_string())
        );
        out += &format!("medians over {} rounds:\n", self.rounds.len());
        out += &format!("{:<28} {:>14} {:>16} {:>18}\n", "implementation", "train ex/s", "inference ex/s", "batch-1 latency ms");
        out += &format!(
            "{:<28} {:>14.0} {:>16.0} {:>18.3}\n",
            "recforge", s.recforge.train_examples_per_sec, s.recforge.inference_examples_per_sec, s.recforge.latency_batch1_ms
        );
        out += &format!(
            "{:<28} {:>14.0} {:>16.0} {:>18.3}\n",
            "pytorch, Adam",
            pt("adam"),
            s.pytorch_inference_examples_per_sec,
            s.pytorch_latency_batch1_ms
        );
        out += &format!("{:<28} {:>14.0}\n", "pytorch, fused Adam", pt("fused_adam"));
        out += &format!("{:<28} {:>14.0}\n", "pytorch, SparseAdam + Adam", pt("sparse_adam"));
        out + &format!(
            "ratio recforge / pytorch: train {:.2}x vs best ({}), {:.2}x vs Adam; inference {:.2}x; batch-1 latency {:.2}x faster",
            s.train_ratio_vs_best, s.pytorch_best_variant, s.train_ratio_vs_adam, s.inference_ratio, s.latency_ratio
        )
    }
}
