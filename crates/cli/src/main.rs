//! The `canopy` binary.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Canopy: identity and access management for organisations that run their own infrastructure.
#[derive(Parser)]
#[command(name = "canopy", version)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Serve the API (not yet: the server is being built).
    Serve {
        /// Start with a demo organisation.
        #[arg(long)]
        demo: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Commands::Serve { .. } => {
            eprintln!(
                "canopy serve: not yet — the server arrives with the storage and API issues; the engine is in crates/core"
            );
            ExitCode::from(2)
        }
    }
}
