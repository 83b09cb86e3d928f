//! The EmbeddingStore: embedding tables kept outside the autodiff graph.
//!
//! Each step gathers only the rows a batch uses (deduplicated) into small leaf tensors, the
//! dense model runs on them, and the gradients that come back are applied to those rows alone
//! by a row-wise [`SparseOptimizer`]. A dense optimizer would walk every weight of every table
//! each step; on CTR models that walk is most of the step time (see DESIGN.md). This is the
//! role TorchRec's fused embedding kernels play in PyTorch, written by hand because no Rust
//! crate provides it. Ids beyond a table's row count are hashed into it.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use rand::rngs::StdRng;
use rayon::prelude::*;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::sparse_optim::SparseOptimizer;

/// Magic bytes at the head of a saved store.
const MAGIC: &[u8; 8] = b"RFEMBv01";
/// A header (table specs as JSON) larger than this means a corrupt file.
const MAX_HEADER_BYTES: u64 = 64 << 20;

/// Shape of one embedding table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSpec {
    /// Feature the table embeds.
    pub name: String,
    /// Size of the id space the data produces (vocabulary rows incl. the OOV row 0).
    pub cardinality: usize,
    /// Rows actually stored; fewer than `cardinality` means ids are hashed into the table.
    pub rows: usize,
    /// Embedding width.
    pub dim: usize,
}

impl TableSpec {
    /// A table with one row per id.
    pub fn exact(name: impl Into<String>, cardinality: usize, dim: usize) -> Self {
        let cardinality = cardinality.max(1);
        TableSpec { name: name.into(), cardinality, rows: cardinality, dim }
    }

    /// A table capped at `max_rows`: ids past the cap are hashed (row 0 stays the OOV row).
    pub fn capped(name: impl Into<String>, cardinality: usize, dim: usize, max_rows: usize) -> Self {
        let cardinality = cardinality.max(1);
        TableSpec { name: name.into(), cardinality, rows: cardinality.min(max_rows.max(2)), dim }
    }

    /// Whether ids are hashed into fewer rows than the id space.
    pub fn hashed(&self) -> bool {
        self.rows < self.cardinality
    }
}

/// The rows a batch touches in one table, and where each input id points among them.
#[derive(Debug, Clone, PartialEq)]
pub struct RowGather {
    /// Distinct table rows, ascending.
    pub rows: Vec<u32>,
    /// For each input id, the index of its row in `rows`.
    pub inverse: Vec<u32>,
}

impl RowGather {
    /// Deduplicate table rows (already mapped from ids by [`EmbeddingStore::row_index`]).
    pub fn of_rows(mapped: &[u32]) -> RowGather {
        let mut rows = mapped.to_vec();
        rows.sort_unstable();
        rows.dedup();
        let inverse = mapped.iter().map(|row| rows.binary_search(row).map_or(0, |i| i as u32)).collect();
        RowGather { rows, inverse }
    }
}

/// Gradients for distinct rows of one table, summed per row: `grads` is `[rows.len() * dim]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RowGradients {
    pub table: usize,
    pub rows: Vec<u32>,
    pub grads: Vec<f32>,
}

/// Errors reading or writing a saved store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not a recforge embedding store ({reason})")]
    Format { path: String, reason: String },
}

/// Sparse embedding tables with their row-wise optimizer state.
#[derive(Debug, Clone)]
pub struct EmbeddingStore {
    specs: Vec<TableSpec>,
    weights: Vec<Vec<f32>>,
    state: Vec<Vec<f32>>,
    optimizer: SparseOptimizer,
    step: u64,
}

#[derive(Serialize, Deserialize)]
struct Header {
    specs: Vec<TableSpec>,
    optimizer: SparseOptimizer,
    step: u64,
}

impl EmbeddingStore {
    /// Tables initialised uniformly in `[-init_scale, init_scale]` from `seed`.
    pub fn new(specs: Vec<TableSpec>, optimizer: SparseOptimizer, init_scale: f32, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let weights: Vec<Vec<f32>> = specs
            .iter()
            .map(|spec| {
                (0..spec.rows * spec.dim)
                    .map(|_| if init_scale > 0.0 { rng.random_range(-init_scale..=init_scale) } else { 0.0 })
                    .collect()
            })
            .collect();
        let state = specs.iter().map(|s| optimizer.initial_state(s.rows * s.dim)).collect();
        EmbeddingStore { specs, weights, state, optimizer, step: 0 }
    }

    pub fn specs(&self) -> &[TableSpec] {
        &self.specs
    }

    pub fn optimizer(&self) -> SparseOptimizer {
        self.optimizer
    }

    /// Number of embedding weights over all tables.
    pub fn num_parameters(&self) -> usize {
        self.specs.iter().map(|s| s.rows * s.dim).sum()
    }

    /// Table row that holds `id`.
    pub fn row_index(&self, table: usize, id: u32) -> u32 {
        let spec = &self.specs[table];
        if (id as usize) < spec.rows {
            id
        } else if id == 0 || spec.rows <= 1 {
            0
        } else {
            // Row 0 is the OOV row; hash everything else into 1..rows.
            1 + (mix64(id as u64) % (spec.rows as u64 - 1)) as u32
        }
    }

    /// Deduplicate the rows `ids` touch in `table`.
    pub fn gather_rows(&self, table: usize, ids: &[u32]) -> RowGather {
        let mapped: Vec<u32> = ids.iter().map(|&id| self.row_index(table, id)).collect();
        RowGather::of_rows(&mapped)
    }

    /// Copy `rows` of `table` into one row-major buffer `[rows.len() * dim]`.
    pub fn rows_data(&self, table: usize, rows: &[u32]) -> Vec<f32> {
        let dim = self.specs[table].dim;
        let weights = &self.weights[table];
        let mut out = Vec::with_capacity(rows.len() * dim);
        for &row in rows {
            let start = row as usize * dim;
            out.extend_from_slice(&weights[start..start + dim]);
        }
        out
    }

    /// Advance the optimizer's global step; call once per training step before applying.
    pub fn begin_step(&mut self) {
        self.step += 1;
    }

    /// Apply gradients `[rows.len() * dim]` (already summed per row) to `rows` of `table`.
    pub fn apply_row_gradients(&mut self, table: usize, rows: &[u32], grads: &[f32]) {
        let dim = self.specs[table].dim;
        debug_assert_eq!(grads.len(), rows.len() * dim);
        self.optimizer.update_rows(&mut self.weights[table], &mut self.state[table], dim, rows, grads, self.step);
    }

    /// Apply several tables' gradients at once, the tables in parallel (rayon). An update
    /// for a table that already had one in `updates` is applied after it, sequentially.
    pub fn apply_many(&mut self, updates: &[RowGradients]) {
        let (optimizer, step) = (self.optimizer, self.step);
        let mut slots: Vec<Option<(&mut Vec<f32>, &mut Vec<f32>)>> =
            self.weights.iter_mut().zip(self.state.iter_mut()).map(Some).collect();
        let mut parallel = Vec::with_capacity(updates.len());
        let mut repeated = Vec::new();
        for update in updates {
            match slots.get_mut(update.table).and_then(Option::take) {
                Some((weights, state)) => parallel.push((weights, state, self.specs[update.table].dim, update)),
                None => repeated.push(update),
            }
        }
        parallel.into_par_iter().for_each(|(weights, state, dim, update)| {
            optimizer.update_rows(weights, state, dim, &update.rows, &update.grads, step);
        });
        for update in repeated {
            if update.table < self.specs.len() {
                self.apply_row_gradients(update.table, &update.rows, &update.grads);
            }
        }
    }

    /// Write the tables and optimizer state to `path` (atomically: temp file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        let io = |source| StoreError::Io { path: path.display().to_string(), source };
        let tmp = path.with_extension("tmp");
        {
            let mut out = BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
            let header = serde_json::to_vec(&Header {
                specs: self.specs.clone(),
                optimizer: self.optimizer,
                step: self.step,
            })
            .map_err(|e| io(std::io::Error::other(e)))?;
            out.write_all(MAGIC).map_err(io)?;
            out.write_all(&(header.len() as u64).to_le_bytes()).map_err(io)?;
            out.write_all(&header).map_err(io)?;
            for buffer in self.weights.iter().chain(&self.state) {
                write_f32s(&mut out, buffer).map_err(io)?;
            }
            out.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Read a store written by [`EmbeddingStore::save`].
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        let io = |source| StoreError::Io { path: name.clone(), source };
        let format = |reason: String| StoreError::Format { path: name.clone(), reason };
        let mut input = BufReader::new(std::fs::File::open(path).map_err(io)?);
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic).map_err(io)?;
        if &magic != MAGIC {
            return Err(format("bad magic bytes".into()));
        }
        let mut len = [0u8; 8];
        input.read_exact(&mut len).map_err(io)?;
        let len = u64::from_le_bytes(len);
        if len > MAX_HEADER_BYTES {
            return Err(format(format!("header of {len} bytes; the file is corrupt")));
        }
        let mut header = vec![0u8; len as usize];
        input.read_exact(&mut header).map_err(io)?;
        let header: Header = serde_json::from_slice(&header).map_err(|e| format(e.to_string()))?;
        let mut weights = Vec::with_capacity(header.specs.len());
        for spec in &header.specs {
            weights.push(read_f32s(&mut input, spec.rows * spec.dim).map_err(io)?);
        }
        let mut state = Vec::with_capacity(header.specs.len());
        for spec in &header.specs {
            let len = spec.rows * spec.dim * header.optimizer.state_per_weight();
            state.push(read_f32s(&mut input, len).map_err(io)?);
        }
        Ok(EmbeddingStore { specs: header.specs, weights, state, optimizer: header.optimizer, step: header.step })
    }

    /// The weights of one table, row-major `[rows, dim]`.
    pub fn table(&self, table: usize) -> &[f32] {
        &self.weights[table]
    }

    /// Mutable weights of one table (for warm starts, tests and tools).
    pub fn table_mut(&mut self, table: usize) -> &mut [f32] {
        &mut self.weights[table]
    }
}

fn write_f32s(out: &mut impl Write, values: &[f32]) -> std::io::Result<()> {
    for chunk in values.chunks(16 * 1024) {
        let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
        out.write_all(&bytes)?;
    }
    Ok(())
}

fn read_f32s(input: &mut impl Read, len: usize) -> std::io::Result<Vec<f32>> {
    let mut bytes = vec![0u8; len * 4];
    input.read_exact(&mut bytes)?;
    Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// SplitMix64 finaliser: a stable, well-mixed hash for integer ids.
fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> EmbeddingStore {
        EmbeddingStore::new(
            vec![TableSpec::exact("user", 5, 2), TableSpec::capped("item", 1000, 3, 10)],
            SparseOptimizer::Sgd { lr: 1.0 },
            0.1,
            7,
        )
    }

    #[test]
    fn gather_deduplicates_and_inverts() {
        let s = store();
        let g = s.gather_rows(0, &[3, 1, 3, 0]);
        assert_eq!(g.rows, vec![0, 1, 3]);
        assert_eq!(g.inverse, vec![2, 1, 2, 0]);
    }

    #[test]
    fn hashed_ids_stay_in_range_and_oov_stays_zero() {
        let s = store();
        assert!(s.specs()[1].hashed());
        for id in 0..1000u32 {
            let row = s.row_index(1, id);
            assert!(row < 10);
            if id >= 10 {
                assert_ne!(row, 0, "hashed ids never land on the OOV row");
            }
        }
        assert_eq!(s.row_index(1, 0), 0);
    }

    #[test]
    fn updates_touch_only_the_given_rows() {
        let mut s = store();
        let before = s.table(0).to_vec();
        s.begin_step();
        s.apply_row_gradients(0, &[1, 3], &[1.0, 2.0, -1.0, 0.5]);
        let after = s.table(0);
        for row in 0..5 {
            for d in 0..2 {
                let (b, a) = (before[row * 2 + d], after[row * 2 + d]);
                match row {
                    1 => assert!((a - (b - [1.0, 2.0][d])).abs() < 1e-6),
                    3 => assert!((a - (b - [-1.0, 0.5][d])).abs() < 1e-6),
                    _ => assert_eq!(a, b),
                }
            }
        }
    }

    #[test]
    fn apply_many_equals_table_by_table_updates() {
        let optimizer = SparseOptimizer::LazyAdam { lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8 };
        let specs = vec![TableSpec::exact("a", 6, 2), TableSpec::exact("b", 4, 3)];
        let mut many = EmbeddingStore::new(specs.clone(), optimizer, 0.5, 3);
        let mut one_by_one = many.clone();
        let updates = vec![
            RowGradients { table: 1, rows: vec![0, 3], grads: vec![0.1, -0.2, 0.3, 0.4, 0.5, -0.6] },
            RowGradients { table: 0, rows: vec![5], grads: vec![1.0, -1.0] },
            RowGradients { table: 0, rows: vec![5, 1], grads: vec![0.5, 0.5, -0.5, 2.0] },
        ];
        many.begin_step();
        many.apply_many(&updates);
        one_by_one.begin_step();
        for u in &updates {
            one_by_one.apply_row_gradients(u.table, &u.rows, &u.grads);
        }
        assert_eq!(many.weights, one_by_one.weights);
        assert_eq!(many.state, one_by_one.state);
    }

    #[test]
    fn save_load_round_trip() {
        let mut s = EmbeddingStore::new(
            vec![TableSpec::exact("a", 4, 3)],
            SparseOptimizer::LazyAdam { lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8 },
            0.5,
            1,
        );
        s.begin_step();
        s.apply_row_gradients(0, &[2], &[0.1, 0.2, 0.3]);
        let dir = std::env::temp_dir().join(format!("rf-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("emb.bin");
        s.save(&path).unwrap();
        let loaded = EmbeddingStore::load(&path).unwrap();
        assert_eq!(loaded.specs(), s.specs());
        assert_eq!(loaded.table(0), s.table(0));
        assert_eq!(loaded.state, s.state);
        assert_eq!(loaded.step, 1);
        std::fs::write(&path, b"garbage!garbage!").unwrap();
        assert!(matches!(EmbeddingStore::load(&path), Err(StoreError::Format { .. })));
        let mut huge_header = MAGIC.to_vec();
        huge_header.extend_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&path, huge_header).unwrap();
        assert!(matches!(EmbeddingStore::load(&path), Err(StoreError::Format { .. })));
        std::fs::remove_dir_all(dir).ok();
    }
}
