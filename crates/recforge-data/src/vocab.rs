//! Token → id maps. Id 0 is reserved for out-of-vocabulary and missing tokens; kept tokens
//! get 1..=n in descending count order, ties broken by the token string, so the same data
//! always gives the same ids. Unbounded id spaces use hashing instead: id = 1 + FNV-1a(token)
//! mod buckets, a hash written out here so ids never change with the Rust version or process.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The id every unknown or missing token maps to.
pub const OOV_ID: u32 = 0;

/// Counts tokens during the first prepare pass.
#[derive(Debug, Default, Clone)]
pub struct VocabBuilder {
    counts: HashMap<String, u64>,
}

impl VocabBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one occurrence of `token` (allocates only for a token not seen before).
    pub fn add(&mut self, token: &str) {
        match self.counts.get_mut(token) {
            Some(count) => *count += 1,
            None => {
                self.counts.insert(token.to_string(), 1);
            }
        }
    }

    /// Distinct tokens seen so far.
    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    /// Keeps tokens seen at least `min_count` times.
    pub fn finish(self, min_count: u64) -> Vocab {
        let mut kept: Vec<(String, u64)> = self
            .counts
            .into_iter()
            .filter(|&(_, count)| count >= min_count)
            .collect();
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let (tokens, counts) = kept.into_iter().unzip();
        Vocab::from_parts(tokens, counts)
    }
}

/// A fitted vocabulary or a hashing scheme. Serialises as `{tokens, counts}` or
/// `{hash_buckets}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "VocabFile", into = "VocabFile")]
pub struct Vocab {
    /// `tokens[i]` has id `i + 1`.
    tokens: Vec<String>,
    counts: Vec<u64>,
    index: HashMap<String, u32>,
    hash_buckets: Option<u32>,
}

impl PartialEq for Vocab {
    fn eq(&self, other: &Self) -> bool {
        self.tokens == other.tokens
            && self.counts == other.counts
            && self.hash_buckets == other.hash_buckets
    }
}

#[derive(Serialize, Deserialize)]
struct VocabFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hash_buckets: Option<u32>,
    #[serde(default)]
    tokens: Vec<String>,
    #[serde(default)]
    counts: Vec<u64>,
}

impl From<VocabFile> for Vocab {
    fn from(f: VocabFile) -> Self {
        match f.hash_buckets {
            Some(buckets) => Vocab::hashed(buckets),
            None => Vocab::from_parts(f.tokens, f.counts),
        }
    }
}

impl From<Vocab> for VocabFile {
    fn from(v: Vocab) -> Self {
        VocabFile {
            hash_buckets: v.hash_buckets,
            tokens: v.tokens,
            counts: v.counts,
        }
    }
}

impl Vocab {
    /// A vocabulary with `tokens[i]` at id `i + 1`; `counts` may be empty.
    pub fn from_parts(tokens: Vec<String>, mut counts: Vec<u64>) -> Self {
        counts.resize(tokens.len(), 0);
        let index = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32 + 1))
            .collect();
        Vocab {
            tokens,
            counts,
            index,
            hash_buckets: None,
        }
    }

    /// Hashing into `buckets` ids (1..=buckets); `buckets` must be at least 1.
    pub fn hashed(buckets: u32) -> Self {
        Vocab {
            tokens: Vec::new(),
            counts: Vec::new(),
            index: HashMap::new(),
            hash_buckets: Some(buckets.max(1)),
        }
    }

    /// The id of `token`: its vocabulary id, its hash bucket, or [`OOV_ID`].
    pub fn id(&self, token: &str) -> u32 {
        match self.hash_buckets {
            Some(buckets) => 1 + (fnv1a64(token.as_bytes()) % u64::from(buckets)) as u32,
            None => self.index.get(token).copied().unwrap_or(OOV_ID),
        }
    }

    /// Embedding rows needed: kept tokens (or buckets) plus the OOV row 0.
    pub fn len(&self) -> usize {
        match self.hash_buckets {
            Some(buckets) => buckets as usize + 1,
            None => self.tokens.len() + 1,
        }
    }

    /// `true` when no token has an id of its own (every token maps to OOV).
    pub fn is_empty(&self) -> bool {
        self.len() == 1
    }

    /// The token behind `id`; `None` for OOV, unknown ids and hashed vocabularies.
    pub fn token(&self, id: u32) -> Option<&str> {
        let index = (id as usize).checked_sub(1)?;
        self.tokens.get(index).map(String::as_str)
    }

    /// How often the token behind `id` was seen while fitting.
    pub fn count(&self, id: u32) -> Option<u64> {
        let index = (id as usize).checked_sub(1)?;
        self.counts.get(index).copied()
    }

    /// `Some(buckets)` for a hashing vocabulary.
    pub fn hash_buckets(&self) -> Option<u32> {
        self.hash_buckets
    }
}

/// 64-bit FNV-1a: tiny, fast on short tokens and fixed forever.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(tokens: &[&str], min_count: u64) -> Vocab {
        let mut b = VocabBuilder::new();
        for t in tokens {
            b.add(t);
        }
        b.finish(min_count)
    }

    #[test]
    fn ids_follow_descending_count_then_token() {
        let v = fit(&["b", "a", "c", "c", "b", "c", "d"], 1);
        assert_eq!(v.id("c"), 1);
        assert_eq!(v.id("b"), 2);
        assert_eq!(v.id("a"), 3); // a and d tie at 1: alphabetical
        assert_eq!(v.id("d"), 4);
        assert_eq!(v.len(), 5);
        assert_eq!(v.token(1), Some("c"));
        assert_eq!(v.token(0), None);
        assert_eq!(v.count(2), Some(2));
    }

    #[test]
    fn rare_and_unknown_tokens_are_oov() {
        let v = fit(&["x", "x", "y"], 2);
        assert_eq!(v.id("x"), 1);
        assert_eq!(v.id("y"), OOV_ID);
        assert_eq!(v.id("never"), OOV_ID);
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn same_data_same_ids_whatever_the_order() {
        let a = fit(&["q", "w", "e", "w", "r", "t", "y", "q"], 1);
        let b = fit(&["y", "t", "q", "r", "w", "q", "e", "w"], 1);
        assert_eq!(a, b);
    }

    #[test]
    fn hashing_stays_in_range_and_is_stable() {
        let v = Vocab::hashed(7);
        assert_eq!(v.len(), 8);
        for i in 0..1000 {
            let id = v.id(&format!("token{i}"));
            assert!((1..=7).contains(&id));
        }
        assert_eq!(v.id("abc"), v.id("abc"));
        // FNV-1a reference value for "a".
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn serde_round_trip_rebuilds_the_index() {
        let v = fit(&["a", "b", "b"], 1);
        let json = serde_json::to_string(&v).unwrap();
        let back: Vocab = serde_json::from_str(&json).unwrap();
        assert_eq!(back.id("b"), 1);
        assert_eq!(back, v);
        let h: Vocab =
            serde_json::from_str(&serde_json::to_string(&Vocab::hashed(3)).unwrap()).unwrap();
        assert_eq!(h.hash_buckets(), Some(3));
    }
}
