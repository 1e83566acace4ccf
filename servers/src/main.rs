//! The `kisum` binary: reference servers and operator commands.
//!
//! Implemented so far: `kisum migrate`. The servers (`auth`, `core`, `module`, `dev`) and the
//! other operator commands (`keys`, `audit`) arrive with their issues.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod migrate;

/// Kisum: auth and entitlements for Rust backends.
#[derive(Debug, Parser)]
#[command(name = "kisum", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the SQL migrations of Auth and/or Core (idempotent; refuses a database migrated by
    /// a newer kisum).
    Migrate(migrate::MigrateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kisum: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Migrate(args) => match runtime.block_on(migrate::run(&args)) {
            Ok(reports) => {
                migrate::print(&reports);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kisum migrate: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
