//! `canopy-bench`: benchmarks of Canopy on reference workloads, side by side with peer engines.
//!
//! `canopy-bench engine [--json] [--seed N] [--scale max|small]` generates the "flexorgs"
//! workload of DESIGN §7, times Canopy's in-process checks, and runs the same requests on
//! cedar-policy and casbin (`--only check,access` skips the slow parts while iterating).
//! `canopy-bench store [--json]` measures the store: commands per second on SQLite and
//! PostgreSQL, engine load of a large organisation, replica lag.
//! `canopy-bench backup [--json] [--postgres]` times `backup create` and `backup verify` of the
//! workload in a SQLite store and reports the file's size.

use canopy_bench::engine::{self, Options, Parts};
use canopy_bench::workload::Scale;
use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "canopy-bench",
    about = "Benchmarks of Canopy on reference workloads"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The in-process engine: index build, check latency and throughput, memory; and the same
    /// workload on cedar-policy and casbin.
    Engine(EngineArgs),
    /// The store with production durability: write throughput, engine load, replica lag.
    Store(StoreArgs),
    /// Checks over HTTP through the real router: single and batched, closed loop.
    Http(HttpArgs),
    /// Backups of the workload in a SQLite store: `backup create` and `backup verify` timed,
    /// the file's size, restores timed.
    Backup(BackupArgs),
    /// (Used by `store`.) Loads a store's engines in this process and reports time and memory.
    StoreLoad {
        /// A data directory.
        #[arg(long)]
        data: Option<std::path::PathBuf>,
        /// A PostgreSQL URL.
        #[arg(long)]
        database: Option<String>,
    },
}

#[derive(clap::Args)]
struct StoreArgs {
    /// Print one JSON object instead of lines.
    #[arg(long)]
    json: bool,
    /// Seconds each throughput run lasts.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Concurrent writers.
    #[arg(long, default_value_t = 8)]
    writers: usize,
    /// Skip PostgreSQL (and the replica lag).
    #[arg(long)]
    no_postgres: bool,
    /// Resources and bindings (each) of the organisation whose load is timed; 0 skips it.
    #[arg(long, default_value_t = 1_000_000)]
    load_objects: usize,
}

#[derive(clap::Args)]
struct BackupArgs {
    /// Print one JSON object instead of lines.
    #[arg(long)]
    json: bool,
    /// The workload's seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The workload.
    #[arg(long, value_enum, default_value_t = ScaleArg::Max)]
    scale: ScaleArg,
    /// Also time a restore into PostgreSQL (starts a throwaway cluster).
    #[arg(long)]
    postgres: bool,
}

fn run_backup(args: BackupArgs) -> ExitCode {
    let opts = canopy_bench::backup::BackupOptions {
        seed: args.seed,
        scale: args.scale.scale(),
        postgres: args.postgres,
    };
    let report = runtime().and_then(|rt| rt.block_on(canopy_bench::backup::run(&opts)));
    print_report(report, args.json)
}

#[derive(clap::Args)]
struct HttpArgs {
    /// Print one JSON object instead of lines.
    #[arg(long)]
    json: bool,
    /// The workload's seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The workload.
    #[arg(long, value_enum, default_value_t = ScaleArg::Max)]
    scale: ScaleArg,
    /// Requests in flight, one connection each.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of warm-up before each run.
    #[arg(long, default_value_t = 5.0)]
    warmup: f64,
    /// Seconds each run is measured.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Checks per batch request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
}

fn run_http(args: HttpArgs) -> ExitCode {
    let opts = canopy_bench::http::HttpOptions {
        seed: args.seed,
        scale: args.scale.scale(),
        connections: args.connections.max(1),
        warmup_secs: args.warmup,
        seconds: args.seconds,
        batch_size: args.batch.max(2),
    };
    let report = runtime().and_then(|rt| rt.block_on(canopy_bench::http::run(&opts)));
    print_report(report, args.json)
}

/// Prints a report (JSON or debug lines); a failure as one line, exit 1.
fn print_report<T: serde::Serialize + std::fmt::Debug>(
    report: Result<T, String>,
    json: bool,
) -> ExitCode {
    let text = report.and_then(|r| {
        if json {
            serde_json::to_string_pretty(&r).map_err(|e| e.to_string())
        } else {
            Ok(format!("{r:#?}"))
        }
    });
    match text {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("canopy-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

fn run_store(args: StoreArgs) -> ExitCode {
    let opts = canopy_bench::store::StoreOptions {
        seconds: args.seconds,
        writers: args.writers,
        postgres: !args.no_postgres,
        load_objects: args.load_objects,
    };
    let report = runtime().and_then(|rt| rt.block_on(canopy_bench::store::run(&opts)));
    print_report(report, args.json)
}

fn run_store_load(data: Option<std::path::PathBuf>, database: Option<String>) -> ExitCode {
    let result = canopy_bench::store::location(data, database).and_then(|l| {
        runtime().and_then(|rt| rt.block_on(canopy_bench::store::load_in_this_process(&l)))
    });
    match result.and_then(|r| serde_json::to_string(&r).map_err(|e| e.to_string())) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("canopy-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
enum ScaleArg {
    /// flexorgs-max: 5,000 nodes, 100,000 resources, 10,000 users, 100,000 requests.
    Max,
    /// About a hundredth of max, for quick runs.
    Small,
}

impl ScaleArg {
    fn scale(self) -> Scale {
        match self {
            ScaleArg::Max => Scale::MAX,
            ScaleArg::Small => Scale::SMALL,
        }
    }
}

#[derive(clap::Args)]
struct EngineArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Seed of the workload generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Workload size.
    #[arg(long, value_enum, default_value_t = ScaleArg::Max)]
    scale: ScaleArg,
    /// Requests to time on cedar-policy (default: all).
    #[arg(long)]
    cedar_requests: Option<usize>,
    /// Requests to time on casbin (default: 200 at max scale, where a check takes tens of
    /// milliseconds; all at small scale).
    #[arg(long)]
    casbin_requests: Option<usize>,
    /// Run only these parts: check, batch, cedar, casbin, access, changes (binding, membership,
    /// subtree move), diff. Default: all. Canopy's single checks always run (the peers are
    /// compared with their answers), so `check` alone skips everything else.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Option<Vec<PartArg>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
enum PartArg {
    Check,
    Batch,
    Cedar,
    Casbin,
    Access,
    Changes,
    Diff,
}

fn parts(only: Option<&[PartArg]>) -> Parts {
    let Some(only) = only else {
        return Parts::ALL;
    };
    let has = |p: PartArg| only.contains(&p);
    Parts {
        batch: has(PartArg::Batch),
        cedar: has(PartArg::Cedar),
        casbin: has(PartArg::Casbin),
        access: has(PartArg::Access),
        changes: has(PartArg::Changes),
        diff: has(PartArg::Diff),
    }
}

fn main() -> ExitCode {
    let args = match Cli::parse().command {
        Command::Engine(args) => args,
        Command::Store(args) => return run_store(args),
        Command::Http(args) => return run_http(args),
        Command::Backup(args) => return run_backup(args),
        Command::StoreLoad { data, database } => return run_store_load(data, database),
    };
    let (scale_name, scale, casbin_default) = match args.scale {
        ScaleArg::Max => ("max", Scale::MAX, 200),
        ScaleArg::Small => ("small", Scale::SMALL, Scale::SMALL.requests),
    };
    let opts = Options {
        seed: args.seed,
        scale_name,
        scale,
        cedar_requests: args.cedar_requests.unwrap_or(scale.requests),
        casbin_requests: args.casbin_requests.unwrap_or(casbin_default),
        parts: parts(args.only.as_deref()),
    };
    let report = match engine::run(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("canopy-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("canopy-bench: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", engine::table(&report));
    }
    if report.peers_agree() {
        ExitCode::SUCCESS
    } else {
        eprintln!("canopy-bench: a peer disagrees with Canopy (see `disagreement_examples`)");
        ExitCode::from(2)
    }
}
