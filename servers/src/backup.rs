//! `kisum backup` and `kisum restore`: the data directory of `kisum dev` (embedded SQLite).
//!
//! A backup is a directory: one consistent copy of each SQLite database made with `VACUUM INTO`
//! (online: `kisum dev` may keep running), every other file of the data directory (signing and
//! certificate keys, the service key, the demo licence key) with its mode, and a
//! `manifest.json` naming the kisum version, each database's schema version and the files.
//! Restore refuses a backup whose schema is newer than this binary, and a data directory that
//! is not empty unless `--force`; it assembles the copy next to the data directory and renames
//! it into place.

use std::fmt;
use std::path::{Path, PathBuf};

use clap::Args;
use kisum_core::db::migrate::MigrationSet;
use serde::{Deserialize, Serialize};

/// The name of the manifest in a backup directory.
pub(crate) const MANIFEST: &str = "manifest.json";

/// The manifest format this binary writes and reads.
const FORMAT: u32 = 1;

/// Arguments of `kisum backup`.
#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// The data directory of `kisum dev`.
    #[arg(long)]
    pub(crate) data_dir: PathBuf,
    /// The backup directory to create (absent or empty).
    #[arg(long)]
    pub(crate) to: PathBuf,
}

/// Arguments of `kisum restore`.
#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The backup directory written by `kisum backup`.
    #[arg(long)]
    from: PathBuf,
    /// The data directory to restore into (absent or empty, unless `--force`).
    #[arg(long)]
    pub(crate) data_dir: PathBuf,
    /// Replace a non-empty data directory. Stop `kisum dev` first.
    #[arg(long)]
    force: bool,
}

/// One database of the data directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct DatabaseEntry {
    /// `auth`, `core` or `module`.
    component: String,
    /// Its file name in the data directory.
    file: String,
    /// The highest applied migration (0: none).
    schema_version: i64,
}

/// One other file of the data directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct FileEntry {
    /// Its path relative to the data directory.
    path: String,
    /// Its Unix permission bits.
    mode: u32,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// The manifest format.
    format: u32,
    /// The kisum version that wrote the backup.
    kisum_version: String,
    /// When the backup was taken (RFC 3339, UTC).
    created_at: String,
    /// The databases.
    databases: Vec<DatabaseEntry>,
    /// The other files.
    files: Vec<FileEntry>,
}

/// Why a backup or restore failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A file operation failed.
    Io(String, std::io::Error),
    /// A database could not be copied or read.
    Database(String, String),
    /// The target directory is not empty.
    NotEmpty(PathBuf, &'static str),
    /// The backup is unreadable or of an unknown format.
    Manifest(String),
    /// The backup's schema is newer than this binary knows.
    NewerSchema {
        /// The component.
        component: String,
        /// The backup's version.
        backup: i64,
        /// The newest this binary knows.
        known: i64,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(what, e) => write!(f, "{what}: {e}"),
            Self::Database(file, e) => write!(f, "database {file}: {e}"),
            Self::NotEmpty(dir, hint) => {
                write!(f, "{} is not empty; {hint}", dir.display())
            }
            Self::Manifest(e) => write!(f, "not a kisum backup: {e}"),
            Self::NewerSchema {
                component,
                backup,
                known,
            } => write!(
                f,
                "the backup's {component} schema is version {backup} but this kisum knows only up to {known}: restore it with the kisum that made it (or a newer one)"
            ),
        }
    }
}

fn io(what: impl fmt::Display) -> impl FnOnce(std::io::Error) -> Failure {
    move |e| Failure::Io(what.to_string(), e)
}

/// The databases `kisum dev` keeps, with the migrations that define their schema.
fn databases() -> [(&'static str, MigrationSet); 3] {
    [
        ("auth.db", kisum_auth::store::sqlite::MIGRATIONS),
        ("core.db", kisum_core::store::sqlite::MIGRATIONS),
        ("finance.db", kisum_servers::module::SQLITE_MIGRATIONS),
    ]
}

/// Whether `name` is a database file or one of SQLite's companions (`-wal`, `-shm`,
/// `-journal`), copied through `VACUUM INTO` rather than byte by byte.
fn is_database_file(name: &str) -> bool {
    databases().iter().any(|(file, _)| {
        name == *file
            || name
                .strip_prefix(file)
                .is_some_and(|rest| matches!(rest, "-wal" | "-shm" | "-journal"))
    })
}

fn is_empty_dir(dir: &Path) -> Result<bool, Failure> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Failure::Io(dir.display().to_string(), e)),
    }
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::Metadata) -> u32 {
    0o600
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), Failure> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io(path.display()))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> Result<(), Failure> {
    Ok(())
}

/// Creates `dir` (and its parents) readable by its owner only.
fn create_private_dir(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(io(dir.display()))?;
    set_mode(dir, 0o700)
}

/// Copies `from` to `to` (created with mode 0600 first, so a secret is never readable by others
/// even for an instant) and gives it `mode`.
fn copy_file(from: &Path, to: &Path, mode: u32) -> Result<(), Failure> {
    let mut source = std::fs::File::open(from).map_err(io(from.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut target = options.open(to).map_err(io(to.display()))?;
    std::io::copy(&mut source, &mut target).map_err(io(to.display()))?;
    target.sync_all().map_err(io(to.display()))?;
    set_mode(to, mode)
}

/// Lists the regular files under `root` other than the databases, relative to `root`, sorted.
fn other_files(root: &Path, dir: &Path, found: &mut Vec<FileEntry>) -> Result<(), Failure> {
    let entries = std::fs::read_dir(dir).map_err(io(dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(io(dir.display()))?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(io(path.display()))?;
        let relative = path
            .strip_prefix(root)
            .map_err(|e| Failure::Manifest(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        if meta.is_dir() {
            other_files(root, &path, found)?;
        } else if meta.is_file() && !(dir == root && is_database_file(&relative)) {
            found.push(FileEntry {
                path: relative,
                mode: mode_of(&meta),
            });
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(())
}

/// The highest applied version of `set` in the database at `file` (0 when none).
async fn schema_version(
    conn: &mut sqlx::SqliteConnection,
    set: &MigrationSet,
) -> Result<i64, sqlx::Error> {
    let exists: Option<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(set.table)
            .fetch_optional(&mut *conn)
            .await?;
    if exists.is_none() {
        return Ok(0);
    }
    // The table name is a compile-time constant of the binary, never input.
    let version: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT MAX(version) FROM {} WHERE success",
        set.table
    )))
    .fetch_one(&mut *conn)
    .await?;
    Ok(version.unwrap_or(0))
}

async fn open(file: &Path, create: bool) -> Result<sqlx::SqliteConnection, sqlx::Error> {
    use sqlx::ConnectOptions as _;
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(create)
        .busy_timeout(std::time::Duration::from_secs(10))
        .connect()
        .await
}

/// Copies one database, online, with `VACUUM INTO` and returns its schema version.
async fn backup_database(from: &Path, to: &Path, set: &MigrationSet) -> Result<i64, Failure> {
    use sqlx::Connection as _;
    let shown = from.display().to_string();
    let db = |e: sqlx::Error| Failure::Database(shown.clone(), e.to_string());
    let mut conn = open(from, false).await.map_err(db)?;
    // One read transaction: the version read and the copy see the same snapshot.
    let version = schema_version(&mut conn, set).await.map_err(db)?;
    sqlx::query("VACUUM INTO ?")
        .bind(to.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await
        .map_err(db)?;
    let _ = conn.close().await;
    set_mode(to, 0o600)?;
    // The copy's own version: what was actually written.
    let mut copy = open(to, false).await.map_err(db)?;
    let copied = schema_version(&mut copy, set).await.map_err(db)?;
    let _ = copy.close().await;
    Ok(copied.max(version))
}

/// `kisum backup`: writes the backup and returns its manifest.
pub(crate) async fn backup(
    args: &BackupArgs,
    clock: &dyn kisum_guard::Clock,
) -> Result<Manifest, Failure> {
    if !args.data_dir.is_dir() {
        return Err(Failure::Io(
            args.data_dir.display().to_string(),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such data directory"),
        ));
    }
    if !is_empty_dir(&args.to)? {
        return Err(Failure::NotEmpty(
            args.to.clone(),
            "choose a new directory for each backup",
        ));
    }
    create_private_dir(&args.to)?;
    let mut databases_found = Vec::new();
    for (file, set) in databases() {
        let from = args.data_dir.join(file);
        if !from.is_file() {
            continue;
        }
        let version = backup_database(&from, &args.to.join(file), &set).await?;
        databases_found.push(DatabaseEntry {
            component: set.component.to_owned(),
            file: file.to_owned(),
            schema_version: version,
        });
    }
    let mut files = Vec::new();
    other_files(&args.data_dir, &args.data_dir, &mut files)?;
    for entry in &files {
        let to = args.to.join(&entry.path);
        if let Some(parent) = to.parent() {
            create_private_dir(parent)?;
        }
        copy_file(&args.data_dir.join(&entry.path), &to, entry.mode)?;
    }
    let manifest = Manifest {
        format: FORMAT,
        kisum_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: clock
            .now()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        databases: databases_found,
        files,
    };
    let json =
        serde_json::to_string_pretty(&manifest).map_err(|e| Failure::Manifest(e.to_string()))?;
    let path = args.to.join(MANIFEST);
    std::fs::write(&path, json + "\n").map_err(io(path.display()))?;
    set_mode(&path, 0o600)?;
    Ok(manifest)
}

/// Reads and checks a backup's manifest against this binary.
fn check(from: &Path) -> Result<Manifest, Failure> {
    let path = from.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(io(path.display()))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| Failure::Manifest(format!("{}: {e}", path.display())))?;
    if manifest.format != FORMAT {
        return Err(Failure::Manifest(format!(
            "manifest format {} (this kisum reads {FORMAT})",
            manifest.format
        )));
    }
    for entry in &manifest.databases {
        let Some((_, set)) = databases()
            .into_iter()
            .find(|(file, _)| *file == entry.file)
        else {
            return Err(Failure::Manifest(format!(
                "unknown database `{}`",
                entry.file
            )));
        };
        let known = set.migrations.iter().map(|m| m.version).max().unwrap_or(0);
        if entry.schema_version > known {
            return Err(Failure::NewerSchema {
                component: entry.component.clone(),
                backup: entry.schema_version,
                known,
            });
        }
    }
    for entry in &manifest.files {
        let relative = Path::new(&entry.path);
        let plain = relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain || is_database_file(&entry.path) {
            return Err(Failure::Manifest(format!(
                "the file `{}` is outside the data directory",
                entry.path
            )));
        }
    }
    Ok(manifest)
}

/// `kisum restore`: checks the backup, assembles it next to the data directory, and renames it
/// into place.
pub(crate) async fn restore(args: &RestoreArgs) -> Result<Manifest, Failure> {
    let manifest = check(&args.from)?;
    if !args.force && !is_empty_dir(&args.data_dir)? {
        return Err(Failure::NotEmpty(
            args.data_dir.clone(),
            "stop `kisum dev` and pass `--force` to replace it",
        ));
    }
    let target = std::path::absolute(&args.data_dir).map_err(io(args.data_dir.display()))?;
    let parent = target.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let suffix = uuid::Uuid::now_v7().simple();
    let staging = parent.join(format!(".{name}.restore-{suffix}"));
    std::fs::create_dir_all(&parent).map_err(io(parent.display()))?;
    let assembled = assemble(&args.from, &staging, &manifest).await;
    if let Err(e) = assembled {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    // Move the old directory aside (a rename), the restored one in (a rename), then drop the
    // old one: at no point is the data directory half-written.
    let aside = parent.join(format!(".{name}.replaced-{suffix}"));
    let had_old = target.exists();
    if had_old {
        std::fs::rename(&target, &aside).map_err(io(target.display()))?;
    }
    if let Err(e) = std::fs::rename(&staging, &target) {
        if had_old {
            let _ = std::fs::rename(&aside, &target);
        }
        let _ = std::fs::remove_dir_all(&staging);
        return Err(Failure::Io(target.display().to_string(), e));
    }
    if had_old {
        std::fs::remove_dir_all(&aside).map_err(io(aside.display()))?;
    }
    Ok(manifest)
}

/// Copies the backup's files into `staging` and checks each database's integrity.
async fn assemble(from: &Path, staging: &Path, manifest: &Manifest) -> Result<(), Failure> {
    use sqlx::Connection as _;
    create_private_dir(staging)?;
    for entry in &manifest.databases {
        let to = staging.join(&entry.file);
        copy_file(&from.join(&entry.file), &to, 0o600)?;
        let shown = from.join(&entry.file).display().to_string();
        let db = |e: sqlx::Error| Failure::Database(shown.clone(), e.to_string());
        let mut conn = open(&to, false).await.map_err(db)?;
        let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .map_err(db)?;
        let _ = conn.close().await;
        if verdict != "ok" {
            return Err(Failure::Database(shown, verdict));
        }
    }
    for entry in &manifest.files {
        let to = staging.join(&entry.path);
        if let Some(parent) = to.parent() {
            create_private_dir(parent)?;
        }
        copy_file(&from.join(&entry.path), &to, entry.mode)?;
    }
    Ok(())
}

/// Prints what a backup or restore did.
pub(crate) fn print(verb: &str, dir: &Path, manifest: &Manifest) {
    let dbs: Vec<String> = manifest
        .databases
        .iter()
        .map(|d| format!("{} (schema {})", d.file, d.schema_version))
        .collect();
    println!(
        "{verb} {}: {}; {} other file(s)",
        dir.display(),
        dbs.join(", "),
        manifest.files.len()
    );
}
