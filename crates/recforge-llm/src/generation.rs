//! Sampling parameters and the next-token sampler (temperature, nucleus / top-p, seeded).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How `CausalLm::generate` picks tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationParams {
    /// Softmax temperature; 0 means greedy (argmax).
    pub temperature: f64,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `top_p`.
    pub top_p: f64,
    /// At most this many new tokens.
    pub max_tokens: usize,
    /// Generation stops before the first occurrence of any of these strings.
    pub stop: Vec<String>,
    /// Seed of the sampler: the same seed and prompt give the same text.
    pub seed: u64,
}

impl Default for GenerationParams {
    fn default() -> Self {
        Self { temperature: 0.0, top_p: 1.0, max_tokens: 64, stop: Vec::new(), seed: 42 }
    }
}

/// Draws token ids from logits under `GenerationParams`.
pub(crate) struct Sampler {
    rng: StdRng,
    temperature: f64,
    top_p: f64,
}

impl Sampler {
    pub fn new(params: &GenerationParams) -> Self {
        Self { rng: StdRng::seed_from_u64(params.seed), temperature: params.temperature, top_p: params.top_p }
    }

    /// Picks the next token id from `logits` (one row over the vocabulary).
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.temperature <= 0.0 {
            return argmax(logits);
        }
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut probs: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, (((l - max) as f64) / self.temperature).exp()))
            .collect();
        let total: f64 = probs.iter().map(|p| p.1).sum();
        probs.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        let mut kept = 0.0;
        let mut cut = probs.len();
        for (i, p) in probs.iter().enumerate() {
            kept += p.1 / total;
            if kept >= self.top_p {
                cut = i + 1;
                break;
            }
        }
        probs.truncate(cut.max(1));
        let mass: f64 = probs.iter().map(|p| p.1).sum();
        let mut draw = self.rng.random::<f64>() * mass;
        for (id, p) in &probs {
            draw -= p;
            if draw <= 0.0 {
                return *id;
            }
        }
        probs[probs.len() - 1].0
    }
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// Cuts `text` before the first stop string it contains; returns whether one was found.
pub(crate) fn cut_at_stop(text: &str, stop: &[String]) -> Option<usize> {
    stop.iter().filter(|s| !s.is_empty()).filter_map(|s| text.find(s.as_str())).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_argmax() {
        let mut s = Sampler::new(&GenerationParams::default());
        assert_eq!(s.sample(&[0.1, 3.0, -1.0]), 1);
    }

    #[test]
    fn tiny_top_p_is_greedy() {
        let params = GenerationParams { temperature: 1.0, top_p: 1e-6, ..Default::default() };
        let mut s = Sampler::new(&params);
        for _ in 0..20 {
            assert_eq!(s.sample(&[0.0, 2.0, 1.9]), 1);
        }
    }

    #[test]
    fn sampling_follows_probabilities() {
        let params = GenerationParams { temperature: 1.0, top_p: 1.0, seed: 7, ..Default::default() };
        let mut s = Sampler::new(&params);
        // p = softmax([0, ln 3]) = [0.25, 0.75]
        let ones = (0..4000).filter(|_| s.sample(&[0.0, 3f32.ln()]) == 1).count();
        assert!((ones as f64 / 4000.0 - 0.75).abs() < 0.03, "{ones}");
    }

    #[test]
    fn stop_strings_cut_at_the_earliest() {
        let stop = vec!["\n\n".to_string(), "END".to_string()];
        assert_eq!(cut_at_stop("abc END x\n\n", &stop), Some(4));
        assert_eq!(cut_at_stop("abc", &stop), None);
    }
}
