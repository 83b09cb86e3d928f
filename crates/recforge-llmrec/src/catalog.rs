//! The catalogue as text and the explicit ratings: what the prompts are made of.
//!
//! Titles are the item vocabulary's tokens (ML-1M item ids are titles with the year, e.g.
//! `Toy Story (1995)`); genres come from the dataset's item-side `genre` feature. Ratings are
//! read from the interaction file itself (the sequence schema is implicit feedback and keeps
//! no rating column), keyed by the same user and item vocabulary ids as [`Sequences`].

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use recforge_data::{Dataset, ItemSideFeatures, Vocab};

use crate::error::{LlmRecError, Result};

/// Per item id (row 0 is the OOV item): its title and genres.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Catalog {
    pub titles: Vec<String>,
    pub genres: Vec<Vec<String>>,
}

impl Catalog {
    /// Titles from the item vocabulary and genres from the item-side feature `genre_feature`
    /// (items without it get no genres) of a prepared dataset.
    pub fn from_dataset(ds: &Dataset, num_items: usize, genre_feature: &str) -> Result<Catalog> {
        let encoder = ds.encoder().ok_or_else(|| LlmRecError::Invalid(format!("{}: the dataset has no fitted vocabularies", ds.meta.name)))?;
        let item_name = ds.meta.item_feature.as_deref().ok_or_else(|| LlmRecError::Invalid(format!("{}: the schema names no item feature", ds.meta.name)))?;
        let items = encoder.vocab(item_name).ok_or_else(|| LlmRecError::Invalid(format!("{}: no vocabulary for `{item_name}`", ds.meta.name)))?;
        let titles = (0..num_items as u32).map(|id| items.token(id).unwrap_or_default().to_string()).collect();
        let mut genres = vec![Vec::new(); num_items];
        if let Some(vocab) = encoder.vocab(genre_feature) {
            let side = ItemSideFeatures::from_dataset(ds, num_items)?;
            if let Some(feature) = side.features.iter().find(|f| f.name == genre_feature) {
                for (item, ids) in feature.values.iter().enumerate().take(num_items) {
                    genres[item] = ids.iter().filter_map(|&id| vocab.token(id)).map(str::to_string).collect();
                }
            }
        }
        Ok(Catalog { titles, genres })
    }

    /// The title of `item` (empty for unknown ids).
    pub fn title(&self, item: u32) -> &str {
        self.titles.get(item as usize).map_or("", String::as_str)
    }

    /// The genres of `item`.
    pub fn genres_of(&self, item: u32) -> &[String] {
        self.genres.get(item as usize).map_or(&[], Vec::as_slice)
    }

    /// Item ids with a non-empty title (the catalogue the LLM may recommend from).
    pub fn item_ids(&self) -> Vec<u32> {
        (1..self.titles.len() as u32).filter(|&i| !self.titles[i as usize].is_empty()).collect()
    }
}

/// Explicit ratings keyed by (user vocabulary id, item vocabulary id).
#[derive(Debug, Clone, Default)]
pub struct Ratings {
    map: HashMap<(u32, u32), f32>,
}

impl Ratings {
    /// Reads a RecBole atomic interaction file (`name:type` header, tab-separated) and keeps
    /// the `rating` of every row whose user and item are in the vocabularies. The latest row
    /// wins when a pair repeats.
    pub fn read_recbole(path: &Path, users: &Vocab, items: &Vocab, user_field: &str, item_field: &str, rating_field: &str) -> Result<Ratings> {
        let file = std::fs::File::open(path).map_err(|e| LlmRecError::io(path, e))?;
        let mut lines = std::io::BufReader::new(file).lines();
        let header = lines
            .next()
            .ok_or_else(|| LlmRecError::parse(path, 1, "empty file: expected a `name:type` header"))?
            .map_err(|e| LlmRecError::io(path, e))?;
        let names: Vec<&str> = header.split('\t').map(|f| f.split(':').next().unwrap_or(f)).collect();
        let column = |field: &str| {
            names
                .iter()
                .position(|n| *n == field)
                .ok_or_else(|| LlmRecError::parse(path, 1, format!("header has no field `{field}` (fields: {})", names.join(", "))))
        };
        let (u, i, r) = (column(user_field)?, column(item_field)?, column(rating_field)?);
        let mut map = HashMap::new();
        for (n, line) in lines.enumerate() {
            let line = line.map_err(|e| LlmRecError::io(path, e))?;
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.trim_end_matches('\r').split('\t').collect();
            let get = |c: usize, name: &str| {
                fields.get(c).copied().ok_or_else(|| LlmRecError::parse(path, n + 2, format!("field `{name}` is missing")))
            };
            let raw = get(r, rating_field)?;
            let rating: f32 = raw
                .trim()
                .parse()
                .map_err(|_| LlmRecError::parse(path, n + 2, format!("field `{rating_field}`: expected a number, found {raw:?}")))?;
            let (user, item) = (users.id(get(u, user_field)?), items.id(get(i, item_field)?));
            if user != 0 && item != 0 {
                map.insert((user, item), rating);
            }
        }
        Ok(Ratings { map })
    }

    /// From explicit triples (tests, other sources).
    pub fn from_triples(triples: impl IntoIterator<Item = (u32, u32, f32)>) -> Ratings {
        Ratings { map: triples.into_iter().map(|(u, i, r)| ((u, i), r)).collect() }
    }

    /// The rating `user` gave `item`, if any.
    pub fn get(&self, user: u32, item: u32) -> Option<f32> {
        self.map.get(&(user, item)).copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
