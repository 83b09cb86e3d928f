//! Group commit for the file store's WAL: one thread fsyncs for everyone.
//!
//! A writer appends its record under the state lock, asks for sequence `seq` to be made durable
//! ([`GroupCommit::request`]) and waits: a request handler awaits a [`Durability`] without
//! holding a thread, other callers block in [`GroupCommit::wait_blocking`]. The `wal-sync`
//! thread fsyncs the newest WAL for the highest sequence asked so far, so one fsync covers every
//! record appended before it started, and the number of fsyncs grows with the batches, not the
//! requests. A failed fsync fails every waiter it would have covered (their records may not be
//! on disk, whatever a later fsync says).

use std::fs::File;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::watch;

/// What the syncer has done so far: published to async waiters on every change.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Every record up to this sequence is durable.
    synced: u64,
    /// Records up to this sequence (and above `synced` at the time) saw a failed fsync.
    failed_through: u64,
    failure: Option<String>,
}

impl Progress {
    /// `None` while `seq` waits; then whether it is durable.
    fn outcome(&self, seq: u64) -> Option<Result<(), String>> {
        if self.synced >= seq {
            Some(Ok(()))
        } else if self.failed_through >= seq {
            Some(Err(self.failure.clone().unwrap_or_default()))
        } else {
            None
        }
    }
}

#[derive(Default)]
struct Queue {
    /// The highest sequence asked for, and the WAL that holds it.
    requested: u64,
    wal: Option<Arc<File>>,
    progress: Progress,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signals the syncer (work or close) and blocking waiters (progress).
    changed: Condvar,
    published: watch::Sender<Progress>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue holds plain numbers: a panic elsewhere cannot leave it half-updated.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn publish(&self, queue: &Queue) {
        self.published.send_replace(queue.progress.clone());
        self.changed.notify_all();
    }
}

/// The group-commit queue and its `wal-sync` thread (stopped and joined on drop).
pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
    syncer: Option<JoinHandle<()>>,
}

/// A wait for one record to become durable.
pub struct Durability {
    seq: u64,
    progress: Option<watch::Receiver<Progress>>,
}

impl Durability {
    /// Nothing to wait for (the store made the record durable before answering).
    pub fn done() -> Durability {
        Durability { seq: 0, progress: None }
    }

    /// The record's sequence (0 for [`Durability::done`]).
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Resolves once an fsync covers the record; `Err` with the fsync's error if it failed.
    pub async fn wait(self) -> Result<(), String> {
        let Some(mut progress) = self.progress else { return Ok(()) };
        let seq = self.seq;
        let progress = progress.wait_for(|p| p.outcome(seq).is_some()).await.map_err(|_| "the WAL syncer stopped".to_string())?;
        progress.outcome(seq).unwrap_or(Ok(()))
    }
}

impl GroupCommit {
    /// Starts the syncer; `synced` records are durable already (replayed at open).
    pub(crate) fn start(synced: u64) -> std::io::Result<GroupCommit> {
        let progress = Progress { synced, ..Progress::default() };
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { requested: synced, progress: progress.clone(), ..Queue::default() }),
            changed: Condvar::new(),
            published: watch::channel(progress).0,
        });
        let syncer = std::thread::Builder::new().name("wal-sync".into()).spawn({
            let shared = shared.clone();
            move || sync_loop(&shared)
        })?;
        Ok(GroupCommit { shared, syncer: Some(syncer) })
    }

    /// Asks for every record up to `seq` (appended to `wal`) to be made durable. Call it in
    /// append order (under the state lock), so that the newest WAL goes with the highest `seq`.
    pub(crate) fn request(&self, seq: u64, wal: &Arc<File>) -> Durability {
        let mut queue = self.shared.lock();
        if seq > queue.requested {
            queue.requested = seq;
            queue.wal = Some(wal.clone());
            self.shared.changed.notify_all();
        }
        Durability { seq, progress: Some(self.shared.published.subscribe()) }
    }

    /// Records that everything up to `seq` was fsynced by the caller (a WAL rotation).
    pub(crate) fn mark_synced(&self, seq: u64) {
        let mut queue = self.shared.lock();
        if seq > queue.progress.synced {
            queue.progress.synced = seq;
            self.shared.publish(&queue);
        }
    }

    /// Blocks until record `seq` is durable (for callers outside the async runtime).
    pub(crate) fn wait_blocking(&self, seq: u64) -> Result<(), String> {
        let mut queue = self.shared.lock();
        loop {
            if let Some(outcome) = queue.progress.outcome(seq) {
                return outcome;
            }
            if queue.closed {
                return Err("the WAL syncer stopped".into());
            }
            queue = self.shared.changed.wait(queue).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        if let Some(syncer) = self.syncer.take() {
            let _ = syncer.join();
        }
    }
}

/// The `wal-sync` thread: fsync the newest WAL for the highest sequence asked, publish, repeat;
/// on close, finish what was asked first.
fn sync_loop(shared: &Shared) {
    let mut queue = shared.lock();
    loop {
        while queue.requested <= queue.progress.synced.max(queue.progress.failed_through) && !queue.closed {
            queue = shared.changed.wait(queue).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let target = queue.requested;
        let Some(wal) = queue.wal.clone().filter(|_| target > queue.progress.synced.max(queue.progress.failed_through)) else {
            return; // closed with nothing left to sync
        };
        drop(queue);
        let synced = wal.sync_data();
        queue = shared.lock();
        match synced {
            Ok(()) => queue.progress.synced = queue.progress.synced.max(target),
            Err(e) => {
                tracing::warn!("fsync of the WAL failed; the feedback it covered is answered with an error: {e}");
                queue.progress.failed_through = target;
                queue.progress.failure = Some(format!("fsync of the WAL: {e}"));
            }
        }
        shared.publish(&queue);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_are_released_by_the_fsync_that_covers_them() {
        let file = Arc::new(tempfile::tempfile().unwrap());
        let commit = GroupCommit::start(3).unwrap();
        assert_eq!(commit.wait_blocking(3), Ok(()), "records replayed at open are durable");
        let waits: Vec<Durability> = (4..=20).map(|seq| commit.request(seq, &file)).collect();
        commit.wait_blocking(20).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for wait in waits {
            assert_eq!(runtime.block_on(wait.wait()), Ok(()));
        }
        commit.mark_synced(25);
        assert_eq!(commit.wait_blocking(25), Ok(()));
    }

    #[test]
    fn a_failed_fsync_fails_the_waiters_it_covered_and_later_records_sync_again() {
        // fdatasync on /dev/null fails with EINVAL: a stand-in for a disk error.
        let broken = Arc::new(File::open("/dev/null").unwrap());
        let commit = GroupCommit::start(0).unwrap();
        let first = commit.request(1, &broken);
        let err = commit.wait_blocking(1).expect_err("the fsync failed");
        assert!(err.contains("fsync of the WAL"), "{err}");
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert!(runtime.block_on(first.wait()).is_err());
        let good = Arc::new(tempfile::tempfile().unwrap());
        let second = commit.request(2, &good);
        assert_eq!(runtime.block_on(second.wait()), Ok(()));
        drop(commit); // joins the syncer
    }
}
