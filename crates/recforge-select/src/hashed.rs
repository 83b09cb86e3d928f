//! A model-free lexical embedder: lower-cased word unigrams and bigrams hashed into `dim`
//! buckets with a random sign (the hashing trick), log-scaled counts, L2-normalised. It lets
//! Density and SemDeDup run with no neural encoder (tests, quick looks); sentence encoders
//! capture meaning it cannot.

use recforge_llm::{LlmError, TextEmbedder};

use crate::random::text_digest;

pub struct HashedEmbedder {
    pub dim: usize,
}

impl Default for HashedEmbedder {
    fn default() -> Self {
        HashedEmbedder { dim: 384 }
    }
}

impl HashedEmbedder {
    fn embed_one(&self, text: &str) -> Vec<f32> {
        let words: Vec<String> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
        let mut v = vec![0f32; self.dim];
        let mut add = |feature: &str| {
            let h = text_digest(feature);
            let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
            v[(h % self.dim as u64) as usize] += sign;
        };
        for (i, w) in words.iter().enumerate() {
            add(w);
            if let Some(next) = words.get(i + 1) {
                add(&format!("{w} {next}"));
            }
        }
        v.iter_mut().for_each(|x| *x = x.signum() * x.abs().ln_1p());
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n > 0.0 {
            v.iter_mut().for_each(|x| *x /= n);
        }
        v
    }
}

impl TextEmbedder for HashedEmbedder {
    fn model_id(&self) -> String {
        format!("hashed-ngrams-{}", self.dim)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_texts_are_closer_than_different_ones() {
        let e = HashedEmbedder::default();
        let v = e.embed(&["the cat sat on the mat".into(), "the cat sat on a mat".into(), "quarterly revenue grew strongly".into()]).unwrap();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-5);
        assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.3);
    }
}
