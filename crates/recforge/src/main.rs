//! The recforge command line: a thin layer over the library crates. Each subcommand lives in
//! one file under `cmd/`.

mod cmd;
mod progress;

use clap::{Parser, Subcommand};

/// mimalloc keeps freed buffers for reuse: training and serving allocate tensors and response
/// buffers of the same sizes over and over, which glibc returned to the kernel and faulted back in.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (`mimalloc.h`; the Rust bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the OS after 10 s instead of mimalloc's 10 ms: a training step
/// frees and reallocates the same tensor buffers every second or two, and the default purge
/// made them page faults again (Hiformer training 12-15% faster on 2 cores).
fn keep_freed_memory_warm() {
    // SAFETY: sets a plain integer option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000) }
}

/// recforge: build recommenders the way production teams do — ranking, retrieval,
/// distillation, bandits, data selection and LLMs, on your own logs.
#[derive(Parser)]
#[command(name = "recforge", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log level filter (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info")]
    log: String,
    /// No progress bars or progress lines, and only warnings and errors in the log.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the main job end to end: fetch MovieLens-1M if missing, prepare it as a CTR task,
    /// train, evaluate, and write runs/quickstart/ with metrics.json and report.html.
    Quickstart(cmd::quickstart::Args),
    /// Fetch, inspect, prepare or synthesise datasets.
    #[command(subcommand)]
    Data(cmd::data::DataCommand),
    /// Train a model from a config TOML (data schema + [model] + [train]).
    Train(cmd::train::Args),
    /// Evaluate a trained run on its test split or on a new file.
    Eval(cmd::eval::Args),
    /// Score raw rows (CSV, TSV, Parquet) with a model folder; writes id + score per row.
    Predict(cmd::predict::Args),
    /// Browse run folders: list them, show one, compare several (metrics, config diff, curves).
    #[command(subcommand)]
    Runs(cmd::runs::RunsCommand),
    /// Train several configs over several seeds and print a mean ± std table.
    Table(cmd::table::Args),
    /// Train every ranking model on one dataset (same split, several seeds) and print AUC,
    /// logloss, parameters, training speed and serving latency; writes runs/zoo-<dataset>/.
    Zoo(cmd::zoo::Args),
    /// Export a trained Hiformer for serving: low-rank Q/K/V (truncated SVD) and a last layer
    /// pruned to the task tokens; prints the AUC change and the latency gain.
    Export(cmd::export::Args),
    /// Multi-interest retrieval experiment (popularity, SUR, MUR, inverse frequency, IDW,
    /// IDW + calibration) over seeds: hit-rate tables, report and run directories.
    RetrievalZoo(cmd::retrieval_zoo::Args),
    /// Top-K items for a user (or a history) from a retrieval run directory.
    Retrieve(cmd::retrieve::Args),
    /// Measure speed: prepare throughput and the sparse vs dense training step.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// Bandits: off-policy evaluation on the Open Bandit Dataset, Online Matching simulation.
    #[command(subcommand)]
    Bandit(cmd::bandit::BanditCommand),
    /// Serve the Online Matching bandit (recommend, feedback), retrieval (retrieve) and/or a
    /// ranking model folder (score) over HTTP, with healthz and metrics.
    #[cfg(feature = "serve")]
    Serve(cmd::serve::Args),
    /// Correctness load against a running service (merged-state check, rough p50/p99); not a
    /// throughput tool: measure speed with scripts/bandit-load.sh (wrk).
    #[cfg(feature = "serve")]
    Loadgen(cmd::loadgen::Args),
    /// Knowledge distillation: train or load a teacher, label the student window once into a
    /// label store, train students (no KD / direct / auxiliary head) against the stored labels,
    /// optionally search teachers under a budget; writes runs/<name>/{results.json,report.html}.
    /// `mode = "committee" | "talking" | "levi"` in the config: DiverseDistill committees with a
    /// text-model teacher, Talking Models, LEVI layer-wise ensembles.
    #[cfg(feature = "distill")]
    Distill(cmd::distill::Args),
    /// Teacher-label service: consume events, score them with a teacher, store the labels.
    #[cfg(feature = "distill")]
    Labeler(cmd::labeler::Args),
    /// Label stores: labels per teacher version, missing or duplicated ids, Parquet export.
    #[cfg(feature = "distill")]
    #[command(subcommand)]
    Labels(cmd::labels::LabelsCommand),
    /// Event streams: replay a dataset into an event log; stats, dead letters, verify, repair, trim.
    #[command(subcommand)]
    Events(cmd::events::EventsCommand),
    /// Training-data selection: score a text file (Ask-LLM, Density, perplexity, SemDeDup,
    /// random) and keep a fraction; sharded, resumable; plus the selection experiment.
    #[cfg(feature = "select")]
    Select(cmd::select::Args),
    /// LLM recommendation: task data in natural language, LoRA fine-tuning, evaluation.
    #[command(subcommand)]
    #[cfg(feature = "llm")]
    Llm(cmd::llm::LlmCommand),
    /// Print a shell completion script, e.g. `recforge completions bash > /etc/bash_completion.d/recforge`
    /// or `recforge completions zsh > "${fpath[1]}/_recforge"`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

fn main() {
    keep_freed_memory_warm();
    let cli = Cli::parse();
    progress::set_quiet(cli.quiet);
    init_logging(if cli.quiet { "warn" } else { &cli.log });
    let result = match cli.command {
        Command::Quickstart(args) => cmd::quickstart::run(args),
        Command::Data(command) => cmd::data::run(command),
        Command::Train(args) => cmd::train::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Predict(args) => cmd::predict::run(args),
        Command::Runs(command) => cmd::runs::run(command),
        Command::Table(args) => cmd::table::run(args),
        Command::Zoo(args) => cmd::zoo::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::RetrievalZoo(args) => cmd::retrieval_zoo::run(args),
        Command::Retrieve(args) => cmd::retrieve::run(args),
        Command::Bench(command) => cmd::bench::run(command),
        Command::Bandit(cmd::bandit::BanditCommand::Ope(args)) => cmd::bandit::run_ope(args),
        Command::Bandit(cmd::bandit::BanditCommand::Simulate(args)) => cmd::bandit::run_simulate(args),
        #[cfg(feature = "serve")]
        Command::Serve(args) => cmd::serve::run(args),
        #[cfg(feature = "serve")]
        Command::Loadgen(args) => cmd::loadgen::run(args),
        #[cfg(feature = "distill")]
        Command::Distill(args) => cmd::distill::run(args),
        #[cfg(feature = "distill")]
        Command::Labeler(args) => cmd::labeler::run(args),
        #[cfg(feature = "distill")]
        Command::Labels(command) => cmd::labels::run(command),
        Command::Events(command) => cmd::events::run(command),
        #[cfg(feature = "select")]
        Command::Select(args) => cmd::select::run(args),
        #[cfg(feature = "llm")]
        Command::Llm(command) => cmd::llm::run(command),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "recforge", &mut std::io::stdout());
            Ok(())
        }
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colour codes only on a terminal: logs redirected to a file stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(ansi).with_writer(std::io::stderr).init();
}
