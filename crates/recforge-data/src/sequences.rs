//! Per-user, time-ordered interaction histories for sequential retrieval.
//!
//! From a prepared dataset's user, item and timestamp columns: iterative k-core filtering
//! (every kept user and item has at least `k` interactions), then each user's items sorted by
//! time (ties by row order) and split leave-one-out — the last item is the test target, the
//! second-to-last the validation target, the rest train — the same convention as
//! [`crate::leave_one_out`]. Item-side features (genres, year, title words...) are gathered
//! once per item from the item's first row.

use std::collections::HashMap;

use crate::dataset::{Column, Dataset, Side};
use crate::error::{DataError, Result};
use crate::vocab::OOV_ID;

/// Interaction histories after k-core filtering. Item ids are the dataset's item vocabulary
/// ids (0 is the OOV id, never present in a history and used as padding by models).
#[derive(Debug, Clone, PartialEq)]
pub struct Sequences {
    /// Rows of the item vocabulary (including the OOV row 0): the size of the item corpus.
    pub num_items: usize,
    /// The user vocabulary id of each kept user.
    pub users: Vec<u32>,
    /// Each kept user's items in time order (at least 3 after k-core with k ≥ 3).
    pub histories: Vec<Vec<u32>>,
    /// Training interactions per item id (validation and test targets excluded).
    pub train_counts: Vec<u64>,
}

/// One training target: user `user` (index into [`Sequences::users`]) at history position
/// `position` (the target is `histories[user][position]`, its context what came before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Example {
    pub user: u32,
    pub position: u32,
}

impl Sequences {
    /// Builds histories from a prepared dataset with `user`, `item` and `timestamp` declared.
    pub fn from_dataset(ds: &Dataset, min_interactions: usize) -> Result<Sequences> {
        let need = |what: &str| {
            DataError::Invalid(format!(
                "{}: sequences need `{what}` in the schema (user and item name categorical features)",
                ds.meta.name
            ))
        };
        let users = ds.user_column().ok_or_else(|| need("user"))?;
        let items = ds.item_column().ok_or_else(|| need("item"))?;
        let timestamps = ds.timestamps.as_deref().ok_or_else(|| need("timestamp"))?;
        let num_items = ds
            .meta
            .item_feature
            .as_deref()
            .and_then(|name| ds.meta.features.iter().find(|f| f.name == name))
            .map_or(0, |f| f.cardinality);
        Sequences::build(users, items, timestamps, num_items, min_interactions)
    }

    /// Builds histories from parallel columns; `num_items` bounds the item ids.
    pub fn build(users: &[u32], items: &[u32], timestamps: &[i64], num_items: usize, min_interactions: usize) -> Result<Sequences> {
        if users.len() != items.len() || users.len() != timestamps.len() {
            return Err(DataError::Invalid("users, items and timestamps must have the same length".into()));
        }
        if let Some(&bad) = items.iter().find(|&&i| i as usize >= num_items) {
            return Err(DataError::Invalid(format!("item id {bad} beyond the item vocabulary ({num_items} rows)")));
        }
        let keep = k_core(users, items, min_interactions.max(3));
        let mut by_user: HashMap<u32, Vec<usize>> = HashMap::new();
        for row in (0..users.len()).filter(|&r| keep[r]) {
            by_user.entry(users[row]).or_default().push(row);
        }
        let mut user_ids: Vec<u32> = by_user.keys().copied().collect();
        user_ids.sort_unstable();
        let mut histories = Vec::with_capacity(user_ids.len());
        let mut train_counts = vec![0u64; num_items];
        for user in &user_ids {
            let mut rows = by_user.remove(user).unwrap_or_default();
            rows.sort_by_key(|&r| (timestamps[r], r));
            let history: Vec<u32> = rows.iter().map(|&r| items[r]).collect();
            for &item in &history[..history.len() - 2] {
                train_counts[item as usize] += 1;
            }
            histories.push(history);
        }
        if histories.is_empty() {
            return Err(DataError::Invalid(format!(
                "no user has {min_interactions} interactions with items that have {min_interactions} interactions; \
                 lower the k-core threshold or use more data"
            )));
        }
        Ok(Sequences { num_items, users: user_ids, histories, train_counts })
    }

    /// Interactions kept after filtering.
    pub fn interactions(&self) -> usize {
        self.histories.iter().map(Vec::len).sum()
    }

    /// Every training target: positions `1..len-2` of each history (position 0 has no context).
    pub fn train_examples(&self) -> Vec<Example> {
        let mut out = Vec::new();
        for (user, history) in self.histories.iter().enumerate() {
            for position in 1..history.len() - 2 {
                out.push(Example { user: user as u32, position: position as u32 });
            }
        }
        out
    }

    /// The validation target of each user (second-to-last item).
    pub fn valid_examples(&self) -> Vec<Example> {
        self.last_examples(2)
    }

    /// The test target of each user (last item).
    pub fn test_examples(&self) -> Vec<Example> {
        self.last_examples(1)
    }

    fn last_examples(&self, from_end: usize) -> Vec<Example> {
        self.histories
            .iter()
            .enumerate()
            .map(|(user, h)| Example { user: user as u32, position: (h.len() - from_end) as u32 })
            .collect()
    }

    /// The target item of `example`.
    pub fn target(&self, example: Example) -> u32 {
        self.histories[example.user as usize][example.position as usize]
    }

    /// The at most `max_len` items before `example`'s target, oldest first.
    pub fn context(&self, example: Example, max_len: usize) -> &[u32] {
        let history = &self.histories[example.user as usize];
        let end = example.position as usize;
        &history[end.saturating_sub(max_len)..end]
    }

    /// Item ids ordered by training frequency, most frequent first (ties by id), OOV excluded.
    pub fn items_by_frequency(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = (1..self.num_items as u32).collect();
        ids.sort_by_key(|&i| (std::cmp::Reverse(self.train_counts[i as usize]), i));
        ids
    }

    /// `true` for head items: the `head_fraction` most frequent training items (by count, ties
    /// by id) among the items seen in training.
    pub fn head_mask(&self, head_fraction: f64) -> Vec<bool> {
        let seen = self.train_counts.iter().filter(|&&c| c > 0).count();
        let n_head = (seen as f64 * head_fraction).round() as usize;
        let mut mask = vec![false; self.num_items];
        for &item in self.items_by_frequency().iter().take(n_head) {
            mask[item as usize] = true;
        }
        mask
    }
}

/// Rows kept by iterative k-core filtering: drop users and items with fewer than `k`
/// interactions until none is left to drop. OOV ids (0) are dropped too.
pub fn k_core(users: &[u32], items: &[u32], k: usize) -> Vec<bool> {
    let mut keep: Vec<bool> = users.iter().zip(items).map(|(&u, &i)| u != OOV_ID && i != OOV_ID).collect();
    loop {
        let mut user_count: HashMap<u32, usize> = HashMap::new();
        let mut item_count: HashMap<u32, usize> = HashMap::new();
        for row in (0..users.len()).filter(|&r| keep[r]) {
            *user_count.entry(users[row]).or_default() += 1;
            *item_count.entry(items[row]).or_default() += 1;
        }
        let mut changed = false;
        for row in 0..users.len() {
            if keep[row] && (user_count[&users[row]] < k || item_count[&items[row]] < k) {
                keep[row] = false;
                changed = true;
            }
        }
        if !changed {
            return keep;
        }
    }
}

/// Per item id, the ids of each item-side multi/categorical feature (the item feature itself
/// excluded): what an item tower embeds beside the item id.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemSideFeatures {
    /// Feature names, cardinalities (embedding rows) and, per item id, that feature's ids.
    pub features: Vec<ItemSideFeature>,
}

/// One item-side feature's values for every item id.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemSideFeature {
    pub name: String,
    pub cardinality: usize,
    /// `values[item]`: the ids of this feature for that item (empty for unseen items).
    pub values: Vec<Vec<u32>>,
}

impl ItemSideFeatures {
    /// Gathers every categorical or multi-categorical feature declared `side = "item"` from
    /// each item's first row. Numeric item features are not used (declare them categorical).
    pub fn from_dataset(ds: &Dataset, num_items: usize) -> Result<ItemSideFeatures> {
        let items = ds
            .item_column()
            .ok_or_else(|| DataError::Invalid(format!("{}: item-side features need `item` in the schema", ds.meta.name)))?;
        let item_name = ds.meta.item_feature.clone().unwrap_or_default();
        let mut first_row = vec![usize::MAX; num_items];
        for (row, &item) in items.iter().enumerate() {
            if (item as usize) < num_items && first_row[item as usize] == usize::MAX {
                first_row[item as usize] = row;
            }
        }
        let mut features = Vec::new();
        for (meta, column) in ds.meta.features.iter().zip(&ds.columns) {
            if meta.side != Some(Side::Item) || meta.name == item_name {
                continue;
            }
            let ids_of = |row: usize| -> Vec<u32> {
                match column {
                    Column::Categorical(ids) => vec![ids[row]],
                    Column::Multi { offsets, values } => values[offsets[row] as usize..offsets[row + 1] as usize].to_vec(),
                    Column::Numeric(_) => Vec::new(),
                }
            };
            if matches!(column, Column::Numeric(_)) {
                continue;
            }
            let values = first_row.iter().map(|&row| if row == usize::MAX { Vec::new() } else { ids_of(row) }).collect();
            features.push(ItemSideFeature { name: meta.name.clone(), cardinality: meta.cardinality, values });
        }
        Ok(ItemSideFeatures { features })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_core_drops_until_stable() {
        // Item 3 has 2 interactions; removing it leaves user 2 with 2 and cascades.
        let users = [1, 1, 1, 2, 2, 2, 1, 2, 3];
        let items = [1, 2, 3, 1, 2, 3, 4, 4, 1];
        let keep = k_core(&users, &items, 3);
        // Item counts: 1→3, 2→2, 3→2, 4→2: items 2,3,4 go; then users have 1 each → all go.
        assert!(keep.iter().all(|&k| !k));
        let keep = k_core(&users, &items, 2);
        assert_eq!(keep, vec![true, true, true, true, true, true, true, true, false]);
    }

    #[test]
    fn leave_one_out_matches_split_module() {
        // Three users, every item seen three times: the 3-core keeps everything.
        let users = [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3];
        let items = [1, 2, 3, 4, 4, 3, 2, 1, 3, 1, 2, 4];
        let ts = [10, 40, 20, 30, 5, 6, 7, 8, 1, 2, 3, 4];
        let seq = Sequences::build(&users, &items, &ts, 5, 3).unwrap();
        assert_eq!(seq.histories, vec![vec![1, 3, 4, 2], vec![4, 3, 2, 1], vec![3, 1, 2, 4]]);
        let split = crate::leave_one_out(&users, &ts);
        assert_eq!(seq.target(seq.test_examples()[0]), items[split.test[0]]);
        assert_eq!(seq.target(seq.valid_examples()[0]), items[split.valid[0]]);
        // Training targets exclude each user's last two items.
        assert_eq!(seq.train_counts, vec![0, 2, 0, 3, 1]);
        let train = seq.train_examples();
        assert_eq!(train, vec![Example { user: 0, position: 1 }, Example { user: 1, position: 1 }, Example { user: 2, position: 1 }]);
        assert_eq!(seq.context(seq.test_examples()[0], 2), &[3, 4]);
        assert_eq!(seq.head_mask(0.34), vec![false, false, false, true, false]);
    }
}
