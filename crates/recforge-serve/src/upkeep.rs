//! The store's periodic upkeep (expiry, snapshots, WAL compaction) on a thread of its own at a
//! lower CPU priority: a snapshot of half a million live requests is about half a second of
//! serialisation, which on a 2-core server would otherwise take a core from the request
//! threads (wrk's p99 rose from 2 to 14 ms with two snapshots in a 10 s window).

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::BanditStore;

/// How often the upkeep runs.
const EVERY: Duration = Duration::from_secs(1);
/// The upkeep thread's nice value (0 is the request threads'; 19 the lowest priority).
const NICENESS: i32 = 10;

/// The running upkeep thread; dropping it stops the thread and waits for a snapshot in
/// progress to finish.
pub(crate) struct Upkeep {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Upkeep {
    /// Starts calling `store.maintain()` every second.
    pub(crate) fn start(store: Arc<dyn BanditStore>) -> Upkeep {
        Self::start_every(store, EVERY)
    }

    fn start_every(store: Arc<dyn BanditStore>, every: Duration) -> Upkeep {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("recforge-upkeep".into())
            .spawn(move || {
                lower_this_threads_priority();
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if let Err(e) = store.maintain() {
                        tracing::warn!("store upkeep: {e}");
                    }
                }
            })
            .map_err(|e| tracing::warn!("could not start the store upkeep thread (requests will not expire, snapshots will not be taken): {e}"))
            .ok();
        Upkeep { stop: Some(stop), thread }
    }
}

impl Drop for Upkeep {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_this_threads_priority() {
    // SAFETY: gettid and setpriority take no pointers; on Linux a thread id names one thread,
    // so this changes only the upkeep thread's nice value (lowering a priority needs no privilege).
    let changed = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, NICENESS) };
    if changed != 0 {
        tracing::debug!("the upkeep thread keeps the default priority: {}", std::io::Error::last_os_error());
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use recforge_bandit::EdgeMap;

    use super::*;
    use crate::store::{Delta, IssuedRequest, StoreError};

    /// Counts upkeep calls and records the calling thread's nice value.
    #[derive(Default)]
    struct Recorder {
        calls: AtomicUsize,
        nice: Mutex<Option<i64>>,
    }

    impl BanditStore for Recorder {
        fn url(&self) -> &str {
            "recorder"
        }
        fn edges(&self, _: &[u32]) -> Result<EdgeMap, StoreError> {
            Ok(EdgeMap::default())
        }
        fn put_request(&self, _: &str, _: &IssuedRequest) -> Result<(), StoreError> {
            Ok(())
        }
        fn get_request(&self, _: &str) -> Result<Option<IssuedRequest>, StoreError> {
            Ok(None)
        }
        fn apply_feedback(&self, _: &str, _: &[Delta], _: u64) -> Result<bool, StoreError> {
            Ok(true)
        }
        fn maintain(&self) -> Result<(), StoreError> {
            // Field 19 of /proc/thread-self/stat, counted after the parenthesised name.
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
            let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            *self.nice.lock().unwrap() = after_name.split_whitespace().nth(16).and_then(|n| n.parse().ok());
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn upkeep_runs_on_a_lower_priority_thread_and_stops_when_dropped() {
        let store = Arc::new(Recorder::default());
        let upkeep = Upkeep::start_every(store.clone(), Duration::from_millis(5));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while store.calls.load(Ordering::SeqCst) < 3 {
            assert!(std::time::Instant::now() < deadline, "the upkeep never ran");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(upkeep);
        let calls = store.calls.load(Ordering::SeqCst);
        assert_eq!(*store.nice.lock().unwrap(), Some(i64::from(NICENESS)));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(store.calls.load(Ordering::SeqCst), calls, "the upkeep ran after it was dropped");
    }
}
