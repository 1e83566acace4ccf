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
    /// `ES256` (the default for `signing`) or `EdDSA` (also spelled `Ed25519`, the default and
    /// only choice for `certificates`). RS256 keys are loaded but not generated here.
    #[arg(long)]
    alg: Option<String>,
    /// What the key is for: `signing` (Auth's access tokens) or `certificates` (Core's signed
    /// entitlement certificates).
    #[arg(long, value_enum, default_value_t = Purpose::Signing)]
    purpose: Purpose,
    /// The key directory (a mounted secret in production). Default: `KISUM_SIGNING_KEYS_DIR`
    /// for `signing`, `KISUM_CERT_KEYS_DIR` for `certificates`.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// What a generated key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Purpose {
    /// Auth's access-token signing keys.
    Signing,
    /// Core's certificate keys (Ed25519 only).
    Certificates,
}

impl Purpose {
    /// The variable naming this purpose's key directory.
    fn dir_env(self) -> &'static str {
        match self {
            Self::Signing => env::SIGNING_KEYS_DIR,
            Self::Certificates => env::CERT_KEYS_DIR,
        }
    }
}

impl GenerateArgs {
    /// The algorithm to generate, refusing what the purpose cannot use.
    fn alg(&self) -> Result<SigningAlgorithm, String> {
        let given = self.alg.as_deref();
        let alg = match (self.purpose, given) {
            (_, Some(a)) if a.eq_ignore_ascii_case("ed25519") => Some(SigningAlgorithm::EdDsa),
            (Purpose::Signing, None) => Some(SigningAlgorithm::Es256),
            (Purpose::Certificates, None) => Some(SigningAlgorithm::EdDsa),
            (_, Some(a)) => SigningAlgorithm::parse(a),
        };
        match (self.purpose, alg) {
            (Purpose::Signing, Some(a)) if a != SigningAlgorithm::Rs256 => Ok(a),
            (Purpose::Certificates, Some(SigningAlgorithm::EdDsa)) => Ok(SigningAlgorithm::EdDsa),
            (Purpose::Signing, _) => Err(format!(
                "`{}` is not a generatable algorithm: use ES256 or EdDSA",
                given.unwrap_or_default()
            )),
            (Purpose::Certificates, _) => Err(format!(
                "certificate keys are Ed25519: `{}` cannot sign certificates",
                given.unwrap_or_default()
            )),
        }
    }

    /// `--dir`, else the purpose's variable.
    fn dir(&self) -> Result<PathBuf, String> {
        let env = self.purpose.dir_env();
        self.dir
            .clone()
            .or_else(|| std::env::var_os(env).map(PathBuf::from))
            .filter(|d| !d.as_os_str().is_empty())
            .ok_or_else(|| format!("the key directory is required: --dir or {env}"))
    }
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
            let alg = args.alg()?;
            let dir = args.dir()?;
            let KeyFile { kid, path } = generate_into(&dir, alg, SystemClock.now().date_naive())
                .map_err(|e| e.to_string())?;
            println!("{kid}");
            if args.purpose == Purpose::Certificates {
                eprintln!(
                    "wrote {} (Ed25519 certificate key); Core publishes it at its next start and \
                     signs with it as the newest key unless KISUM_ACTIVE_CERT_KID pins another \
                     (publish first, then switch: decision 0019)",
                    path.display()
                );
                return Ok(());
            }
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
