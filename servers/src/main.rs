//! The `kisum` binary: reference servers and operator commands.
//!
//! Servers: `kisum auth`, `kisum core`, `kisum module`, `kisum dev`. Operator commands:
//! `kisum migrate`, `kisum backup`, `kisum restore`, `kisum keys`, `kisum license verify`, `kisum audit prune`, `kisum admin grant|revoke|reset-mfa` and `kisum config` (validate a server's
//! configuration without starting it). Built on the `kisum_servers` library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kisum_guard::SystemClock;
use kisum_servers::audit::{self, AuditCommand};
use kisum_servers::config::{
    AuthArgs, ConfigProblem, ConfigProblems, CoreArgs, LogFormat, ModuleArgs,
};
use kisum_servers::{admin, ops, run};

mod backup;
mod keys;
mod license;
mod migrate;
mod reset_mfa;

/// Kisum: auth and entitlements for Rust backends.
#[derive(Debug, Parser)]
#[command(name = "kisum", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run Auth: the public listener (`/v1/auth/*`, `/v1/companies/*`, JWKS) and the internal
    /// one (`/internal/v1/*`, service keys).
    Auth(Box<AuthArgs>),
    /// Run Core: its internal listener only (service keys).
    Core(Box<CoreArgs>),
    /// Run the reference business backend (guarded invoices of one module).
    Module(Box<ModuleArgs>),
    /// Run everything in one process on SQLite under `--data-dir`, migrated and seeded with a
    /// demo company; prints what to try next.
    Dev(Box<kisum_servers::run::DevArgs>),
    /// Apply the SQL migrations of Auth and/or Core (idempotent; refuses a database migrated by
    /// a newer kisum).
    Migrate(migrate::MigrateArgs),
    /// Copy the data directory of `kisum dev` (SQLite) to a backup directory, online.
    Backup(backup::BackupArgs),
    /// Restore a backup made by `kisum backup` into a data directory (refuses a newer schema,
    /// and a non-empty directory without `--force`).
    Restore(backup::RestoreArgs),
    /// Generate and list signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Signed entitlement certificates: verify one offline.
    #[command(subcommand)]
    License(license::LicenseCommand),
    /// Audit log maintenance.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Operator actions: platform roles (the first platform administrator) and audited
    /// account repairs (`reset-mfa`).
    #[command(subcommand)]
    Admin(AdminCli),
    /// Print the OpenAPI document a server serves at `/openapi.json`.
    Openapi {
        /// Which listener: `auth-public`, `auth-internal`, `core` or `module`.
        #[arg(value_enum)]
        listener: OpenapiListener,
        /// The module's name (for `module`).
        #[arg(long, default_value = "finance")]
        name: String,
    },
    /// Validate a server's configuration (flags, `KISUM_*`, `*_FILE`) without starting it:
    /// prints it with secrets redacted, or every problem (exit status 2).
    #[command(subcommand)]
    Config(Box<ConfigCommand>),
}

/// The listeners with an OpenAPI document.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OpenapiListener {
    /// Auth's public listener.
    AuthPublic,
    /// Auth's internal listener.
    AuthInternal,
    /// Core's internal listener.
    Core,
    /// A module backend.
    Module,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// The configuration of `kisum auth`.
    Auth(Box<AuthArgs>),
    /// The configuration of `kisum core`.
    Core(CoreArgs),
    /// The configuration of `kisum module`.
    Module(ModuleArgs),
}

/// Prints a validated configuration, or its problems with exit status 2.
fn report_config<C: std::fmt::Debug>(
    component: &str,
    result: Result<C, Vec<ConfigProblem>>,
) -> ExitCode {
    match result {
        Ok(config) => {
            use std::io::Write as _;
            // A closed pipe (`kisum config … | head`) is not an error worth a panic.
            let _ = writeln!(
                std::io::stdout(),
                "kisum {component}: the configuration is valid\n{config:#?}"
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("kisum {component}: {}", ConfigProblems(problems));
            ExitCode::from(2)
        }
    }
}

/// Prints every configuration problem and exits with status 2.
fn refuse(component: &str, problems: Vec<ConfigProblem>) -> ExitCode {
    eprintln!(
        "kisum {component}: refusing to start: {}",
        ConfigProblems(problems)
    );
    ExitCode::from(2)
}

/// Starts logging; keep the answer until the server stops (it writes the batched lines).
fn init_logs(format: LogFormat, filter: &str) -> Option<kisum_servers::logging::LogFlush> {
    kisum_servers::logging::init(format, filter)
        .map_err(|e| eprintln!("kisum: logging: {e}"))
        .ok()
}

/// Runs a server until ctrl-c or SIGTERM.
fn serve<F, Fut>(component: &str, runtime: &tokio::runtime::Runtime, run: F) -> ExitCode
where
    F: FnOnce(ops::Shutdown) -> Fut,
    Fut: std::future::Future<Output = Result<(), kisum_servers::app::StartError>>,
{
    let result = runtime.block_on(async {
        let shutdown = ops::Shutdown::on_signal();
        run(shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "kisum {component} stopped");
            eprintln!("kisum {component}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The servers' allocator (decision 0048).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    if let Command::License(command) = &cli.command {
        return license::run(command);
    }
    if let Command::Openapi { listener, name } = &cli.command {
        use kisum_servers::openapi;
        let doc = match listener {
            OpenapiListener::AuthPublic => openapi::auth_public(),
            OpenapiListener::AuthInternal => openapi::auth_internal(),
            OpenapiListener::Core => openapi::core_internal(),
            OpenapiListener::Module => openapi::module(name),
        };
        return match serde_json::to_string_pretty(&doc) {
            Ok(json) => {
                use std::io::Write as _;
                let _ = writeln!(std::io::stdout(), "{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kisum openapi: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Config(command) = &cli.command {
        return match command.as_ref() {
            ConfigCommand::Auth(args) => report_config("auth", args.validate()),
            ConfigCommand::Core(args) => report_config("core", args.validate()),
            ConfigCommand::Module(args) => report_config("module", args.validate()),
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
        Command::Backup(args) => match runtime.block_on(backup::backup(&args, &SystemClock)) {
            Ok(manifest) => {
                backup::print("backed up into", &args.to, &manifest);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kisum backup: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Restore(args) => match runtime.block_on(backup::restore(&args)) {
            Ok(manifest) => {
                backup::print("restored into", &args.data_dir, &manifest);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kisum restore: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Admin(AdminCli::ResetMfa(args)) => {
            match runtime.block_on(reset_mfa::reset_mfa(&args)) {
                Ok(done) => {
                    println!("{done}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("kisum admin reset-mfa: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Audit(AuditCommand::Prune(args)) => {
            let config = match args.validate() {
                Ok(config) => config,
                Err(problems) => {
                    eprintln!("kisum audit prune: {}", ConfigProblems(problems));
                    return ExitCode::from(2);
                }
            };
            match runtime.block_on(audit::prune_component(
                config.component,
                &config.database_url,
                config.older_than,
                &SystemClock,
            )) {
                Ok(report) => {
                    println!(
                        "deleted {} audit event(s) older than {}",
                        report.deleted,
                        report
                            .cutoff
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("kisum audit prune: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Admin(AdminCli::Roles(command)) => runtime.block_on(admin_command(command)),
        Command::Auth(args) => {
            let config = match args.validate() {
                Ok(c) => c,
                Err(problems) => return refuse("auth", problems),
            };
            let _logs = init_logs(config.common.log_format, &config.common.log_filter);
            serve("auth", &runtime, |s| run::auth(config, s))
        }
        Command::Core(args) => {
            let config = match args.validate() {
                Ok(c) => c,
                Err(problems) => return refuse("core", problems),
            };
            let _logs = init_logs(config.common.log_format, &config.common.log_filter);
            serve("core", &runtime, |s| run::core(config, s))
        }
        Command::Module(args) => {
            let config = match args.validate() {
                Ok(c) => c,
                Err(problems) => return refuse("module", problems),
            };
            let _logs = init_logs(config.common.log_format, &config.common.log_filter);
            serve("module", &runtime, |s| run::module(config, s))
        }
        Command::Dev(args) => {
            if let Err(problems) = args.policy.validate() {
                return refuse("dev", problems);
            }
            if let Err(problems) = args.webauthn.for_dev(args.listen) {
                return refuse("dev", problems);
            }
            let format = if args.log_format.eq_ignore_ascii_case("json") {
                LogFormat::Json
            } else {
                LogFormat::Text
            };
            let _logs = init_logs(format, "info");
            serve("dev", &runtime, |s| run::dev(*args, s))
        }
        Command::Keys(_) | Command::License(_) | Command::Config(_) | Command::Openapi { .. } => {
            ExitCode::SUCCESS
        }
    }
}

/// `kisum admin …`: the platform-role commands of the library and `reset-mfa`.
#[derive(Debug, Subcommand)]
enum AdminCli {
    /// `grant` and `revoke`.
    #[command(flatten)]
    Roles(admin::AdminCommand),
    /// Remove a user's second factors and end their sessions (audited as `mfa.admin_reset`).
    ResetMfa(reset_mfa::ResetMfaArgs),
}

/// `kisum admin grant|revoke`.
async fn admin_command(command: admin::AdminCommand) -> ExitCode {
    let (args, verb) = match &command {
        admin::AdminCommand::Grant(a) => (a, "grant"),
        admin::AdminCommand::Revoke(a) => (a, "revoke"),
    };
    let url = match args.database.validate() {
        Ok(url) => url,
        Err(problems) => {
            eprintln!("kisum admin {verb}: {}", ConfigProblems(problems));
            return ExitCode::from(2);
        }
    };
    let store = match kisum_servers::app::open_auth_store(url.expose()).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("kisum admin {verb}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let done = match command {
        admin::AdminCommand::Grant(_) => {
            admin::grant(store.as_ref(), &SystemClock, &args.email, &args.role).await
        }
        admin::AdminCommand::Revoke(_) => {
            admin::revoke(store.as_ref(), &SystemClock, &args.email, &args.role).await
        }
    };
    match done {
        Ok(change) => {
            let what = match (verb, change.changed) {
                ("grant", true) => "granted",
                ("grant", false) => "already held",
                (_, true) => "revoked",
                (_, false) => "was not held",
            };
            println!("{} {}: {what}", args.email, change.role.as_str());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kisum admin {verb}: {e}");
            ExitCode::FAILURE
        }
    }
}
