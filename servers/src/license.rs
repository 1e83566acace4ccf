//! `kisum license verify`: an operator's offline check of a signed entitlement certificate,
//! with the same verifier consumers use (`kisum_guard::certificate`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use kisum_guard::certificate::{
    ActivationSecret, CertificateKeys, CertificateVerifier, FileHighWaterMark, HighWaterMark,
    MemoryHighWaterMark,
};

/// `kisum license` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum LicenseCommand {
    /// Verify a certificate offline: prints its payload (JSON), or its failure code
    /// (`bad_signature`, `unknown_key`, `expired`, `not_yet_valid`, `clock_rolled_back`,
    /// `wrong_fingerprint`, `malformed`) with exit status 1.
    Verify(VerifyArgs),
}

/// Arguments of `kisum license verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The certificate file (`-----BEGIN KISUM CERTIFICATE-----` …).
    file: PathBuf,
    /// Core's published keys, as `GET /internal/v1/certificate-keys` answers them.
    #[arg(long)]
    keys: PathBuf,
    /// The licence key, to read an activation certificate (with `--fingerprint`).
    #[arg(long, requires = "fingerprint")]
    license_key: Option<String>,
    /// The machine fingerprint the activation certificate was issued to.
    #[arg(long, requires = "license_key")]
    fingerprint: Option<String>,
    /// A high-water mark file to check the clock against (and raise); without it, no rollback
    /// check spans runs.
    #[arg(long)]
    mark: Option<PathBuf>,
}

/// Runs a `kisum license` command: 0 valid, 1 refused (the code on stdout), 2 unusable input.
pub(crate) fn run(command: &LicenseCommand) -> ExitCode {
    let LicenseCommand::Verify(args) = command;
    match verify(args) {
        Ok(Ok(payload)) => {
            println!("{payload}");
            ExitCode::SUCCESS
        }
        Ok(Err(error)) => {
            println!("{}", error.code());
            eprintln!("kisum license verify: {error}");
            ExitCode::FAILURE
        }
        Err(problem) => {
            eprintln!("kisum license verify: {problem}");
            ExitCode::from(2)
        }
    }
}

/// The verification's outcome (the payload as pretty JSON), or why it could not be attempted.
fn verify(
    args: &VerifyArgs,
) -> Result<Result<String, kisum_guard::certificate::CertificateError>, String> {
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path).map_err(|e| format!("`{}`: {e}", path.display()))
    };
    let certificate = read(&args.file)?;
    let keys: CertificateKeys = serde_json::from_str(&read(&args.keys)?).map_err(|e| {
        format!(
            "`{}` is not a key set {{\"keys\": [...]}}: {e}",
            args.keys.display()
        )
    })?;
    let mark: Arc<dyn HighWaterMark> = match &args.mark {
        Some(path) => Arc::new(
            FileHighWaterMark::open(path).map_err(|e| format!("`{}`: {e}", path.display()))?,
        ),
        None => Arc::new(MemoryHighWaterMark::new()),
    };
    let verifier = CertificateVerifier::new(&keys, mark).map_err(|e| e.to_string())?;
    let verified = match (&args.license_key, &args.fingerprint) {
        (Some(key), Some(fingerprint)) => {
            verifier.verify_activation(&certificate, &ActivationSecret::new(key, fingerprint))
        }
        _ => verifier.verify_company(&certificate),
    };
    Ok(verified.map(|payload| serde_json::to_string_pretty(&payload).unwrap_or_default()))
}
