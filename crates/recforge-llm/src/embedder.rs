//! [`TextEmbedder`]: the one interface for "texts in, vectors out". The BERT
//! [`crate::SentenceEncoder`] implements it, and so do the model-free and test embedders of
//! the crates that use it (data selection's Density and SemDeDup, Rec-SAVER's coherence score,
//! the foundation-model teacher of distillation).

use crate::LlmError;

/// A model that embeds texts into fixed-width vectors.
pub trait TextEmbedder {
    /// Identifies the model and every setting that changes its vectors (part of cache keys).
    fn model_id(&self) -> String;
    /// Width of every vector.
    fn dim(&self) -> usize;
    /// One `dim`-wide vector per text, in order: `[texts.len()][dim]`.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError>;
}

impl<T: TextEmbedder + ?Sized> TextEmbedder for Box<T> {
    fn model_id(&self) -> String {
        (**self).model_id()
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        (**self).embed(texts)
    }
}

impl<T: TextEmbedder + ?Sized> TextEmbedder for &T {
    fn model_id(&self) -> String {
        (**self).model_id()
    }
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        (**self).embed(texts)
    }
}

impl TextEmbedder for crate::SentenceEncoder {
    fn model_id(&self) -> String {
        crate::SentenceEncoder::model_id(self).to_string()
    }
    fn dim(&self) -> usize {
        crate::SentenceEncoder::dim(self)
    }
    /// L2-normalised embeddings (mean-pooled BERT).
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        crate::SentenceEncoder::embed(self, texts)
    }
}
