//! The reference a packed `SentenceEncoder` is checked against: candle's `BertModel` on one
//! sentence at a time (no padding, all-ones mask), mean-pooled and L2-normalised.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

pub struct BertReference {
    model: BertModel,
    tokenizer: tokenizers::Tokenizer,
}

impl BertReference {
    pub fn load(dir: &Path) -> Self {
        let config: Config = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
        let model = BertModel::load(VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu), &config).unwrap();
        let mut tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
        tokenizer.with_padding(None);
        tokenizer.with_truncation(None).unwrap();
        BertReference { model, tokenizer }
    }

    pub fn embed(&self, text: &str) -> Vec<f32> {
        let e = self.tokenizer.encode(text, true).unwrap();
        let row = |v: &[u32]| Tensor::new(v, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let ids = row(e.get_ids());
        let hidden = self.model.forward(&ids, &row(e.get_type_ids()), Some(&ids.ones_like().unwrap())).unwrap();
        let mean: Vec<f32> = hidden.mean(1).unwrap().squeeze(0).unwrap().to_vec1().unwrap();
        let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        mean.iter().map(|v| v / norm).collect()
    }
}

/// Largest absolute difference between two vectors.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
