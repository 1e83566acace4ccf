//! The `kisum` binary: reference servers and operator commands.
//!
//! Implemented so far: `kisum migrate` and `kisum keys`. The servers (`auth`, `core`, `module`, `dev`) and the
//! other operator commands (`keys`, `audit`) arrive with their issues.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod keys;
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
    /// Generate and list signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Keys(command) = &cli.command {
        return match keys::run(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kisum keys: {e}");
                ExitCode::FAILURE
            }
        };
    }
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
        Command::Keys(_) => ExitCode::SUCCESS,
    }
}
