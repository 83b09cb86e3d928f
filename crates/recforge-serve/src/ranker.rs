//! The ranking model behind `POST /v1/score`: a self-contained model folder
//! (`recforge_train::ScoringModel`), hot-reloaded when the folder's `CURRENT` pointer changes.
//!
//! `--ranker DIR` names either a model folder itself, or a folder whose `CURRENT` file holds
//! the name of the sub-folder to serve (`DIR/CURRENT` = `v2` serves `DIR/v2/`). Publish a new
//! version by writing its folder, then replacing `CURRENT` atomically (write a temp file,
//! rename). Requests look at the pointer at most every `reload_check_ms`; a change loads the
//! new folder on a blocking thread while requests keep scoring with the old model, then swaps
//! it in. A folder that fails to load is logged and the old model stays.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use recforge_train::ScoringModel;

use crate::ServeError;
use crate::config::RankerServeConfig;
use crate::store::now_ms;

/// A loaded model and the version it is served as.
#[derive(Debug)]
pub struct LoadedRanker {
    pub model: ScoringModel,
    /// The `CURRENT` pointer's value, or the folder's `metadata.json` time without a pointer.
    pub version: String,
}

/// The served model, swappable while requests run.
#[derive(Debug)]
pub struct RankerService {
    pub config: RankerServeConfig,
    current: RwLock<Arc<LoadedRanker>>,
    last_check_ms: AtomicU64,
    reloading: AtomicBool,
    reloads: AtomicU64,
    failed_reloads: AtomicU64,
}

impl RankerService {
    /// Load the model `config.dir` (or its `CURRENT` sub-folder) names.
    pub fn load(config: &RankerServeConfig) -> Result<RankerService, ServeError> {
        let model_error = |message: String| ServeError::Model { path: config.dir.display().to_string(), message };
        let pointer = read_pointer(&config.dir).map_err(model_error)?;
        let loaded = load_version(&config.dir, pointer.as_deref()).map_err(model_error)?;
        Ok(RankerService {
            config: config.clone(),
            current: RwLock::new(Arc::new(loaded)),
            last_check_ms: AtomicU64::new(now_ms()),
            reloading: AtomicBool::new(false),
            reloads: AtomicU64::new(0),
            failed_reloads: AtomicU64::new(0),
        })
    }

    /// The model requests score with now.
    pub fn current(&self) -> Arc<LoadedRanker> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Successful and failed reloads so far.
    pub fn reload_counts(&self) -> (u64, u64) {
        (self.reloads.load(Ordering::Relaxed), self.failed_reloads.load(Ordering::Relaxed))
    }

    /// Read the pointer and, when it names another version, load it and swap it in
    /// (blocking). Returns whether the model changed.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let Some(pointer) = read_pointer(&self.config.dir)? else {
            return Ok(false);
        };
        if pointer == self.current().version {
            return Ok(false);
        }
        match load_version(&self.config.dir, Some(&pointer)) {
            Ok(loaded) => {
                tracing::info!(version = %loaded.version, dir = %self.config.dir.display(), "ranker reloaded");
                let fresh = Arc::new(loaded);
                match self.current.write() {
                    Ok(mut guard) => *guard = fresh,
                    Err(poisoned) => *poisoned.into_inner() = fresh,
                }
                self.reloads.fetch_add(1, Ordering::Relaxed);
                Ok(true)
            }
            Err(message) => {
                self.failed_reloads.fetch_add(1, Ordering::Relaxed);
                Err(message)
            }
        }
    }

    /// Called by each request: at most every `reload_check_ms`, one request starts a
    /// background check of the pointer; no request waits for it.
    pub fn maybe_reload(self: &Arc<Self>) {
        let now = now_ms();
        let last = self.last_check_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < self.config.reload_check_ms
            || self.last_check_ms.compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed).is_err()
            || self.reloading.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let service = self.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(message) = service.reload_if_changed() {
                tracing::error!(dir = %service.config.dir.display(), "ranker reload failed, still serving the old model: {message}");
            }
            service.reloading.store(false, Ordering::Release);
        });
    }
}

/// `DIR/CURRENT`'s sub-folder name, or None when there is no pointer.
fn read_pointer(dir: &Path) -> Result<Option<String>, String> {
    let path = dir.join(recforge_train::folder::Files::CURRENT);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let name = text.trim();
            if name.is_empty() || name.contains(['/', '\\']) || name == ".." {
                return Err(format!("{}: must hold the name of a sub-folder, found {name:?}", path.display()));
            }
            Ok(Some(name.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn load_version(dir: &Path, pointer: Option<&str>) -> Result<LoadedRanker, String> {
    let folder: PathBuf = pointer.map_or_else(|| dir.to_path_buf(), |name| dir.join(name));
    let model = ScoringModel::load(&folder).map_err(|e| e.to_string())?;
    let version = pointer.map_or_else(|| model.metadata.created.clone(), str::to_string);
    Ok(LoadedRanker { model, version })
}
