//! `kisum keys`: generate and list signing keys in a key directory.

use std::path::PathBuf;

use kisum_servers::config::env;

use clap::{Args, Subcommand};
use kisum_auth::keys::{KeyFile, KeyRing, SigningAlgorithm, SigningKey, generate_into};
use kisum_guard::{Clock, SystemClock};

/// `kisum keys` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Write a new private key `<kid>.pem` (mode 0600) into the key directory and print its kid.
    Generate(GenerateArgs),
    /// List the keys of the key directory: kid, algorithm, and which one is pinned active.
    List(ListArgs),
}

/// Arguments of `kisum keys generate`.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// `ES256` (default) or `EdDSA`. RS256 keys are loaded but not generated here.
    #[arg(long, default_value = "ES256")]
    alg: String,
    /// The key directory (a mounted secret in production).
    #[arg(long, env = env::SIGNING_KEYS_DIR)]
    dir: PathBuf,
}

/// Arguments of `kisum keys list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The key directory.
    #[arg(long, env = env::SIGNING_KEYS_DIR)]
    dir: PathBuf,
    /// The pinned kid (`kisum auth`'s `KISUM_ACTIVE_KID`), marked `active` in the listing.
    #[arg(long, env = env::ACTIVE_KID)]
    active_kid: Option<String>,
}

/// Runs a `kisum keys` command; `Err` carries the message for stderr.
pub(crate) fn run(command: &KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Generate(args) => {
            let alg = SigningAlgorithm::parse(&args.alg)
                .filter(|a| *a != SigningAlgorithm::Rs256)
                .ok_or_else(|| {
                    format!(
                        "`{}` is not a generatable algorithm: use ES256 or EdDSA",
                        args.alg
                    )
                })?;
            let KeyFile { kid, path } =
                generate_into(&args.dir, alg, SystemClock.now().date_naive())
                    .map_err(|e| e.to_string())?;
            println!("{kid}");
            eprintln!(
                "wrote {} ({}); a running Auth publishes it at its next reload (SIGHUP, or \
                 within KISUM_KEYS_RELOAD_INTERVAL) and signs with it after \
                 KISUM_KEYS_PUBLISH_LEAD (or pin it: KISUM_ACTIVE_KID={kid})",
                path.display(),
                alg.as_str()
            );
            Ok(())
        }
        KeysCommand::List(args) => {
            let entries = std::fs::read_dir(&args.dir)
                .map_err(|e| format!("key directory `{}`: {e}", args.dir.display()))?;
            let mut keys = Vec::new();
            for entry in entries {
                let path = entry.map_err(|e| e.to_string())?.path();
                if path.extension().is_some_and(|e| e == "pem")
                    && let Some(kid) = path.file_stem().and_then(|s| s.to_str())
                {
                    let pem = std::fs::read_to_string(&path)
                        .map_err(|e| format!("`{}`: {e}", path.display()))?;
                    keys.push(SigningKey::from_pem(kid, &pem, &path).map_err(|e| e.to_string())?);
                }
            }
            keys.sort_by(|a, b| a.kid().cmp(b.kid()));
            for key in &keys {
                let active = args.active_kid.as_deref() == Some(key.kid());
                println!(
                    "{}\t{}\t{}",
                    key.kid(),
                    key.alg().as_str(),
                    if active { "active" } else { "published" }
                );
            }
            if let Some(active) = &args.active_kid {
                KeyRing::new(active, keys).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
    }
}
