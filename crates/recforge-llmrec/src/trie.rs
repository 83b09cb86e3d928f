//! Constrained decoding over the catalogue: a prefix trie of the tokenised titles (each path
//! ends with the end-of-answer token, so a title that is a prefix of another stays
//! distinguishable) and a beam search that only follows trie edges — every hypothesis it
//! returns is a catalogue title, scored by Σ log p of its tokens and the end token.

use std::collections::{BTreeMap, HashSet};

use crate::error::{LlmRecError, Result};

#[derive(Debug, Clone, Default)]
struct Node {
    children: BTreeMap<u32, usize>,
    item: Option<u32>,
}

/// Token paths of the catalogue's titles, each ending at a node holding its item id.
#[derive(Debug, Clone)]
pub struct TitleTrie {
    nodes: Vec<Node>,
    items: usize,
    depth: usize,
}

impl Default for TitleTrie {
    fn default() -> Self {
        Self { nodes: vec![Node::default()], items: 0, depth: 0 }
    }
}

impl TitleTrie {
    pub const ROOT: usize = 0;

    /// Adds `item` under the token path `tokens` (its title's tokens and the end token). A
    /// path already taken keeps its first item; returns whether `item` was added.
    pub fn insert(&mut self, tokens: &[u32], item: u32) -> bool {
        let mut node = Self::ROOT;
        for &t in tokens {
            node = match self.nodes[node].children.get(&t) {
                Some(&child) => child,
                None => {
                    self.nodes.push(Node::default());
                    let child = self.nodes.len() - 1;
                    self.nodes[node].children.insert(t, child);
                    child
                }
            };
        }
        if node == Self::ROOT || self.nodes[node].item.is_some() {
            return false;
        }
        self.nodes[node].item = Some(item);
        self.items += 1;
        self.depth = self.depth.max(tokens.len());
        true
    }

    /// Items stored.
    pub fn len(&self) -> usize {
        self.items
    }

    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// Longest path.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// `(token, child)` edges out of `node`, by token id.
    pub fn children(&self, node: usize) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.nodes[node].children.iter().map(|(&t, &c)| (t, c))
    }

    /// The item whose path ends at `node`.
    pub fn item(&self, node: usize) -> Option<u32> {
        self.nodes[node].item
    }

    /// The item whose full path is `tokens`, if any.
    pub fn lookup(&self, tokens: &[u32]) -> Option<u32> {
        let mut node = Self::ROOT;
        for t in tokens {
            node = *self.nodes[node].children.get(t)?;
        }
        self.item(node)
    }
}

/// A model decoded one token at a time over several live rows (beams).
pub trait BeamModel {
    /// Next-token log-probabilities of each live row.
    fn log_probs(&self) -> &[Vec<f32>];
    /// New rows: row `i` continues old row `parents[i]` with `tokens[i]`.
    fn advance(&mut self, parents: &[u32], tokens: &[u32]) -> Result<()>;
}

impl BeamModel for recforge_llm::Decoder<'_> {
    fn log_probs(&self) -> &[Vec<f32>] {
        recforge_llm::Decoder::log_probs(self)
    }

    fn advance(&mut self, parents: &[u32], tokens: &[u32]) -> Result<()> {
        recforge_llm::Decoder::advance(self, parents, tokens).map_err(Into::into)
    }
}

#[derive(Debug, Clone, Copy)]
struct Beam {
    node: usize,
    score: f64,
    row: u32,
}

/// The `top_k` best catalogue items (best first, with their scores) by beam search of width
/// `beam` over the trie; items in `exclude` are never returned. With `beam` at least the
/// number of titles the search is exhaustive.
pub fn constrained_beam_search<M: BeamModel>(
    model: &mut M,
    trie: &TitleTrie,
    beam: usize,
    top_k: usize,
    exclude: &HashSet<u32>,
) -> Result<Vec<(u32, f64)>> {
    if beam == 0 || top_k == 0 {
        return Err(LlmRecError::Invalid("beam width and top-k must be at least 1".into()));
    }
    let mut beams = vec![Beam { node: TitleTrie::ROOT, score: 0.0, row: 0 }];
    let mut finished: Vec<(u32, f64)> = Vec::new();
    for _ in 0..trie.depth() {
        let rows = model.log_probs();
        let mut candidates: Vec<(f64, usize, u32, usize)> = Vec::new();
        for (b, beam_state) in beams.iter().enumerate() {
            let logp = rows
                .get(beam_state.row as usize)
                .ok_or_else(|| LlmRecError::Invalid("the model returned fewer rows than live beams".into()))?;
            for (token, child) in trie.children(beam_state.node) {
                let lp = *logp.get(token as usize).ok_or_else(|| LlmRecError::Invalid(format!("token {token} beyond the model's vocabulary")))?;
                candidates.push((beam_state.score + lp as f64, b, token, child));
            }
        }
        candidates.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
        let mut next = Vec::new();
        let (mut parents, mut tokens) = (Vec::new(), Vec::new());
        for &(score, b, token, child) in &candidates {
            if next.len() >= beam {
                break;
            }
            if let Some(item) = trie.item(child) {
                if !exclude.contains(&item) {
                    finished.push((item, score));
                }
                if trie.children(child).next().is_none() {
                    continue;
                }
            }
            parents.push(beams[b].row);
            tokens.push(token);
            next.push(Beam { node: child, score, row: (next.len()) as u32 });
        }
        finished.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        let kth = finished.get(top_k - 1).map(|f| f.1);
        let best_live = next.first().map(|b| b.score);
        let settled = match (kth, best_live) {
            (Some(k), Some(b)) => b < k,
            (_, None) => true,
            _ => false,
        };
        if settled {
            break;
        }
        model.advance(&parents, &tokens)?;
        beams = next;
    }
    finished.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut seen = HashSet::new();
    finished.retain(|(item, _)| seen.insert(*item));
    finished.truncate(top_k);
    Ok(finished)
}
