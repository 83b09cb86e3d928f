//! The random sampler: every document gets a uniform score from (seed, its text), so the
//! kept set is a uniform random subset that does not depend on sharding or file order.

use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::sampler::{Sampler, Scoring};
use crate::selection::Selection;
use crate::stats::unit_uniform;

pub struct RandomSampler {
    pub seed: u64,
}

/// A stable 64-bit digest of a text.
pub fn text_digest(text: &str) -> u64 {
    let d = Sha256::digest(text.as_bytes());
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

impl Sampler for RandomSampler {
    fn name(&self) -> &str {
        "random"
    }
    fn cache_id(&self) -> String {
        format!("random/seed={}", self.seed)
    }
    fn features(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| vec![unit_uniform(self.seed, text_digest(t)) as f32]).collect())
    }
    fn scoring(&self) -> Scoring {
        Scoring::Direct
    }
    fn default_selection(&self) -> Selection {
        Selection::TopK
    }
}
