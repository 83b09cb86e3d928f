//! Everything the LLM tasks read about a dataset, in one value: the leave-one-out sequences
//! (k-core filtered, as issue 6's retrieval uses them), the catalogue text, the explicit
//! ratings and the users' dataset tokens (for joins only: prompts never name users).

use std::path::Path;

use recforge_data::{Dataset, Sequences};

use crate::catalog::{Catalog, Ratings};
use crate::error::{LlmRecError, Result};

/// Minimum interactions per user and per item, as issue 6's retrieval experiments use.
pub const MIN_INTERACTIONS: usize = 5;

/// Sequences, catalogue, ratings and user tokens of one dataset.
#[derive(Debug, Clone)]
pub struct RecData {
    pub sequences: Sequences,
    pub catalog: Catalog,
    pub ratings: Ratings,
    /// Per user index (parallel to `sequences.users`), the user's token in the raw data.
    pub user_tokens: Vec<String>,
}

impl RecData {
    /// Builds everything from a prepared dataset (user, item, timestamp and an item-side
    /// `genre` feature declared) and the RecBole interaction file holding `rating`.
    pub fn from_dataset(ds: &Dataset, interactions: &Path, min_interactions: usize) -> Result<RecData> {
        let sequences = Sequences::from_dataset(ds, min_interactions)?;
        let catalog = Catalog::from_dataset(ds, sequences.num_items, "genre")?;
        let encoder = ds.encoder().ok_or_else(|| LlmRecError::Invalid(format!("{}: the dataset has no fitted vocabularies", ds.meta.name)))?;
        let (user_name, item_name) = match (ds.meta.user_feature.as_deref(), ds.meta.item_feature.as_deref()) {
            (Some(u), Some(i)) => (u, i),
            _ => return Err(LlmRecError::Invalid(format!("{}: the schema must name `user` and `item`", ds.meta.name))),
        };
        let missing = |name: &str| LlmRecError::Invalid(format!("{}: no vocabulary for `{name}`", ds.meta.name));
        let users = encoder.vocab(user_name).ok_or_else(|| missing(user_name))?;
        let items = encoder.vocab(item_name).ok_or_else(|| missing(item_name))?;
        let ratings = Ratings::read_recbole(interactions, users, items, user_name, item_name, "rating")?;
        let user_tokens = sequences.users.iter().map(|&u| users.token(u).unwrap_or_default().to_string()).collect();
        Ok(RecData { sequences, catalog, ratings, user_tokens })
    }
}
