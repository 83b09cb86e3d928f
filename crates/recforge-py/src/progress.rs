//! A [`Progress`] observer that forwards to a Python callable and turns Ctrl-C into a
//! cancellation the library loops honour.
//!
//! The callable gets `(event, label, done, total, unit, note)` with `event` one of `begin`,
//! `update`, `end`; updates are throttled to 10 per second so the GIL is taken rarely. Every
//! check for cancellation (at most 20 per second) runs Python's signal handlers: a
//! `KeyboardInterrupt` is kept, the work stops at its next step, and [`PyProgress::finish`]
//! raises it instead of the library's "interrupted" error.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use recforge_data::{Progress, Unit};

const UPDATE_EVERY: Duration = Duration::from_millis(100);
const SIGNALS_EVERY: Duration = Duration::from_millis(50);

pub struct PyProgress {
    callback: Option<Py<PyAny>>,
    last_update: Mutex<Option<Instant>>,
    last_signals: Mutex<Option<Instant>>,
    interrupted: AtomicBool,
    /// The `KeyboardInterrupt` (or the callback's own exception) to raise.
    error: Mutex<Option<PyErr>>,
}

impl PyProgress {
    pub fn new(callback: Option<Py<PyAny>>) -> PyProgress {
        PyProgress {
            callback,
            last_update: Mutex::new(None),
            last_signals: Mutex::new(None),
            interrupted: AtomicBool::new(false),
            error: Mutex::new(None),
        }
    }

    /// The library call's result as Python sees it: a kept `KeyboardInterrupt` (or callback
    /// exception) wins over the library's own error.
    pub fn finish<T, E: Into<anyhow::Error>>(&self, result: Result<T, E>) -> PyResult<T> {
        if let Some(error) = self.error.lock().ok().and_then(|mut e| e.take()) {
            return Err(error);
        }
        result.map_err(crate::errors::to_py)
    }

    fn call(&self, event: &str, label: &str, done: u64, total: Option<u64>, unit: Option<Unit>, note: &str) {
        let Some(callback) = &self.callback else { return };
        if self.interrupted.load(Ordering::Relaxed) {
            return;
        }
        Python::attach(|py| {
            let unit = unit.map_or("", Unit::label);
            if let Err(error) = callback.call1(py, (event, label, done, total, unit, note)) {
                self.keep(error);
            }
        });
    }

    fn keep(&self, error: PyErr) {
        self.interrupted.store(true, Ordering::Relaxed);
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(error);
        }
    }

    /// Whether `every` has passed since `*last` (and if so, moves `*last` to now).
    fn due(last: &Mutex<Option<Instant>>, every: Duration) -> bool {
        let Ok(mut last) = last.lock() else { return false };
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < every) {
            return false;
        }
        *last = Some(now);
        true
    }
}

impl Progress for PyProgress {
    fn begin(&self, label: &str, total: Option<u64>, unit: Unit) {
        if let Ok(mut last) = self.last_update.lock() {
            *last = None;
        }
        self.call("begin", label, 0, total, Some(unit), "");
    }

    fn update(&self, done: u64, note: &str) {
        if Self::due(&self.last_update, UPDATE_EVERY) {
            self.call("update", "", done, None, None, note);
        }
    }

    fn end(&self) {
        self.call("end", "", 0, None, None, "");
    }

    fn cancelled(&self) -> bool {
        if !self.interrupted.load(Ordering::Relaxed) && Self::due(&self.last_signals, SIGNALS_EVERY) {
            Python::attach(|py| {
                if let Err(error) = py.check_signals() {
                    self.keep(error);
                }
            });
        }
        self.interrupted.load(Ordering::Relaxed)
    }
}
