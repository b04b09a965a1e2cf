//! `canopy-bench`: benchmarks of Canopy on reference workloads, side by side with peer engines.
//!
//! `canopy-bench engine [--json] [--seed N] [--scale max|small]` generates the "flexorgs"
//! workload of DESIGN §7, times Canopy's in-process checks, and runs the same requests on
//! cedar-policy and casbin. `--only check,access` skips the slow parts while iterating.

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
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
enum ScaleArg {
    /// flexorgs-max: 5,000 nodes, 100,000 resources, 10,000 users, 100,000 requests.
    Max,
    /// About a hundredth of max, for quick runs.
    Small,
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
    let Command::Engine(args) = Cli::parse().command;
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
