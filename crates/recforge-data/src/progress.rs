//! How long-running library work reports progress without knowing who watches.
//!
//! Libraries take a `&dyn Progress` and describe phases of work ("preparing ml-1m", "epoch
//! 2/10") and how far each has come; the caller decides what to show: the CLI draws a bar on
//! a terminal and prints plain lines in a log, the Python package draws a notebook bar, tests
//! pass [`Silent`]. One observer type replaces `show_progress: bool` flags and per-crate
//! callbacks.

/// What a phase counts, so a renderer can say "12.3k ex/s" or "4.1 MiB/s".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Examples,
    Bytes,
    Documents,
    Items,
    Steps,
    Tokens,
}

impl Unit {
    /// Short label for rates and counts ("ex", "docs", ...).
    pub fn label(self) -> &'static str {
        match self {
            Unit::Examples => "ex",
            Unit::Bytes => "B",
            Unit::Documents => "docs",
            Unit::Items => "items",
            Unit::Steps => "steps",
            Unit::Tokens => "tok",
        }
    }
}

/// An observer of long work. Phases do not nest: `begin` starts the next one (ending the
/// previous one implicitly), `update` moves it, `end` closes it.
pub trait Progress: Send + Sync {
    /// A phase begins; `total` is its size in `unit` when known.
    fn begin(&self, label: &str, total: Option<u64>, unit: Unit);
    /// The current phase has done `done` units; `note` is a short status ("loss 0.4132"),
    /// empty when there is none.
    fn update(&self, done: u64, note: &str);
    /// The current phase ended (successfully or not).
    fn end(&self);
    /// Whether the watcher asked the work to stop (e.g. Ctrl-C in a notebook). Long loops check
    /// it between steps and return an error saying they were interrupted; the default never
    /// asks.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Reports nothing: for tests, benchmarks and callers that show their own summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _label: &str, _total: Option<u64>, _unit: Unit) {}
    fn update(&self, _done: u64, _note: &str) {}
    fn end(&self) {}
}

/// Ends the phase it was made for when dropped, so an early `?` return cannot leave a bar
/// drawn on the terminal.
pub struct Phase<'a> {
    progress: &'a dyn Progress,
}

impl<'a> Phase<'a> {
    /// Begins a phase on `progress`.
    pub fn begin(progress: &'a dyn Progress, label: &str, total: Option<u64>, unit: Unit) -> Self {
        progress.begin(label, total, unit);
        Phase { progress }
    }

    /// Moves the phase to `done` units with an optional note.
    pub fn update(&self, done: u64, note: &str) {
        self.progress.update(done, note);
    }
}

impl Drop for Phase<'_> {
    fn drop(&mut self) {
        self.progress.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Progress for Recorder {
        fn begin(&self, label: &str, total: Option<u64>, _unit: Unit) {
            self.0.lock().unwrap().push(format!("begin {label} {total:?}"));
        }
        fn update(&self, done: u64, note: &str) {
            self.0.lock().unwrap().push(format!("update {done} {note}"));
        }
        fn end(&self) {
            self.0.lock().unwrap().push("end".into());
        }
    }

    #[test]
    fn a_phase_ends_when_dropped_even_on_early_return() {
        let recorder = Recorder::default();
        let failing = || -> Result<(), ()> {
            let phase = Phase::begin(&recorder, "work", Some(3), Unit::Items);
            phase.update(1, "one");
            Err(())
        };
        assert!(failing().is_err());
        assert_eq!(*recorder.0.lock().unwrap(), vec!["begin work Some(3)", "update 1 one", "end"]);
    }
}
