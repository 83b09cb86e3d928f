//! The CLI's one progress style: libraries report through [`recforge_data::Progress`]; here
//! it becomes an indicatif bar when stderr is a terminal, a plain line every
//! [`PLAIN_EVERY`] otherwise (a run under nohup, a CI log), and nothing under `--quiet`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use recforge_data::{Progress, Silent, Unit};

/// How often a plain progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences every progress report (the global `--quiet`).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `--quiet` was given.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// The observer every command hands to the libraries.
pub fn console() -> &'static dyn Progress {
    static CONSOLE: OnceLock<Console> = OnceLock::new();
    if quiet() {
        return &Silent;
    }
    CONSOLE.get_or_init(|| Console { terminal: std::io::stderr().is_terminal(), phase: Mutex::new(None) })
}

struct Console {
    terminal: bool,
    phase: Mutex<Option<PhaseState>>,
}

struct PhaseState {
    label: String,
    total: Option<u64>,
    unit: Unit,
    started: Instant,
    last_line: Instant,
    done: u64,
    bar: Option<ProgressBar>,
}

impl Console {
    fn bar(&self, label: &str, total: Option<u64>, unit: Unit) -> Option<ProgressBar> {
        if !self.terminal {
            return None;
        }
        let (bar, template) = match (total, unit) {
            (Some(total), Unit::Bytes) => {
                (ProgressBar::new(total), "{prefix} [{bar:30}] {bytes}/{total_bytes} · {bytes_per_sec} · ETA {eta} · {msg}".to_string())
            }
            (Some(total), unit) => (
                ProgressBar::new(total),
                format!("{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {} · {{per_sec}} · ETA {{eta}} · {{msg}}", unit.label()),
            ),
            (None, unit) => (ProgressBar::new_spinner(), format!("{{prefix}} {{spinner}} {{pos}} {} · {{per_sec}} · {{msg}}", unit.label())),
        };
        let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        Some(bar)
    }

    fn plain_line(state: &PhaseState, note: &str) {
        let seconds = state.started.elapsed().as_secs_f64().max(1e-9);
        let rate = state.done as f64 / seconds;
        let unit = state.unit.label();
        let of = match state.total {
            Some(total) if total > 0 => format!("/{total} {unit} ({:.0}%)", 100.0 * state.done as f64 / total as f64),
            _ => format!(" {unit}"),
        };
        let note = if note.is_empty() { String::new() } else { format!(" · {note}") };
        eprintln!("{}: {}{of} · {rate:.1} {unit}/s · {seconds:.0}s{note}", state.label, state.done);
    }
}

impl Progress for Console {
    fn begin(&self, label: &str, total: Option<u64>, unit: Unit) {
        let Ok(mut phase) = self.phase.lock() else { return };
        if let Some(previous) = phase.take().and_then(|p| p.bar) {
            previous.finish_and_clear();
        }
        let now = Instant::now();
        *phase = Some(PhaseState {
            label: label.to_string(),
            total,
            unit,
            started: now,
            last_line: now,
            done: 0,
            bar: self.bar(label, total, unit),
        });
    }

    fn update(&self, done: u64, note: &str) {
        let Ok(mut phase) = self.phase.lock() else { return };
        let Some(state) = phase.as_mut() else { return };
        state.done = done;
        match &state.bar {
            Some(bar) => {
                bar.set_position(done);
                if !note.is_empty() {
                    bar.set_message(note.to_string());
                }
            }
            None if state.last_line.elapsed() >= PLAIN_EVERY => {
                state.last_line = Instant::now();
                Console::plain_line(state, note);
            }
            None => {}
        }
    }

    fn end(&self) {
        let Ok(mut phase) = self.phase.lock() else { return };
        if let Some(state) = phase.take() {
            match state.bar {
                Some(bar) => bar.finish_and_clear(),
                // A phase that ran long enough to print lines gets a closing one.
                None if state.started.elapsed() >= PLAIN_EVERY => Console::plain_line(&state, "done"),
                None => {}
            }
        }
    }
}
