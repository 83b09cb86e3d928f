//! The shared layer library every model composes (FuxiCTR's idea: models are short files
//! over these blocks).

pub mod attention;
pub mod composite_projection;
pub mod cross_net;
pub mod dense_embedding;
pub mod dropout;
pub mod field_embedding;
pub mod hetero_attention;
pub mod mlp;
pub mod numeric_tokens;
pub mod projection;

pub use attention::{MultiHeadAttention, MultiHeadAttentionConfig, attend};
pub use composite_projection::CompositeProjection;
pub use cross_net::{CrossNet, CrossNetConfig};
pub use dense_embedding::DenseEmbeddingRanker;
pub use dropout::{Dropout, seed_dropout};
pub use field_embedding::{EmbeddedBatch, ModelInput};
pub use hetero_attention::{FeatureAttention, FeatureAttentionConfig, ProjectionKind, QkvProjection};
pub use mlp::{Mlp, MlpConfig};
pub use numeric_tokens::{NumericTokens, feature_tokens, flat_features};
pub use projection::{TokenLinear, TokenProjection};
