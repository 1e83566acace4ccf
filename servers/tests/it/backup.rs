//! `kisum backup` and `kisum restore` end to end: the real binary on a SQLite data directory.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::{block_on, err, kisum_env, out};

fn temp_dir(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kisum-{what}-{}", uuid::Uuid::now_v7().simple()))
}

/// Runs `statement` on the data directory's Core database.
fn execute_on_core(data: &Path, statement: &'static str) {
    block_on(async {
        let pool = core_pool(data).await;
        sqlx::query(statement).execute(&pool).await.unwrap();
        pool.close().await;
    });
}

async fn core_pool(data: &Path) -> sqlx::SqlitePool {
    kisum_core::db::open_sqlite_pool(&format!("sqlite://{}", data.join("core.db").display()))
        .await
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A data directory as `kisum dev` leaves it: migrated Auth and Core databases with a row of
/// our own, a signing key and a service key readable by their owner only.
fn data_dir() -> PathBuf {
    let dir = temp_dir("data");
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    for (file, component) in [("auth.db", "auth"), ("core.db", "core")] {
        let url = format!("sqlite://{}", dir.join(file).display());
        let o = kisum_env(
            &["migrate", "--database-url", &url, "--component", component],
            &[],
        );
        assert!(o.status.success(), "{}", err(&o));
    }
    execute_on_core(&dir, "CREATE TABLE drill (note TEXT NOT NULL)");
    execute_on_core(&dir, "INSERT INTO drill (note) VALUES ('kept')");
    let key = dir.join("keys/es256-20261206-abcdef.pem");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let service = dir.join("internal-api-key");
    std::fs::write(&service, "0123456789abcdef0123456789abcdef").unwrap();
    std::fs::set_permissions(&service, std::fs::Permissions::from_mode(0o600)).unwrap();
    let public = dir.join("notes.txt");
    std::fs::write(&public, "public").unwrap();
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644)).unwrap();
    dir
}

fn backup(data: &Path) -> PathBuf {
    let to = temp_dir("backup");
    let o = kisum_env(
        &[
            "backup",
            "--data-dir",
            data.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("auth.db (schema "), "{}", out(&o));
    to
}

fn restore(from: &Path, data: &Path, force: bool) -> std::process::Output {
    let mut args = vec![
        "restore",
        "--from",
        from.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    if force {
        args.push("--force");
    }
    kisum_env(&args, &[])
}

fn drill_rows(data: &Path) -> Vec<String> {
    block_on(async {
        let pool = core_pool(data).await;
        let rows = sqlx::query_scalar("SELECT note FROM drill")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows
    })
}

#[test]
fn backup_then_restore_round_trips_rows_files_and_modes() {
    let data = data_dir();
    let saved = backup(&data);
    assert_eq!(mode(&saved.join("internal-api-key")), 0o600);
    assert_eq!(mode(&saved.join("core.db")), 0o600);
    std::fs::remove_dir_all(&data).unwrap();

    let o = restore(&saved, &data, false);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(drill_rows(&data), ["kept"]);
    assert_eq!(
        std::fs::read_to_string(data.join("internal-api-key")).unwrap(),
        "0123456789abcdef0123456789abcdef"
    );
    assert_eq!(mode(&data.join("internal-api-key")), 0o600);
    assert_eq!(mode(&data.join("keys/es256-20261206-abcdef.pem")), 0o600);
    assert_eq!(
        mode(&data.join("notes.txt")),
        0o644,
        "modes are kept, not forced"
    );
    assert_eq!(mode(&data), 0o700);
    // The restored databases are still Kisum's: migrate finds them up to date.
    let url = format!("sqlite://{}", data.join("auth.db").display());
    let o = kisum_env(
        &["migrate", "--database-url", &url, "--component", "auth"],
        &[],
    );
    assert!(out(&o).starts_with("auth: up to date"), "{}", out(&o));
}

#[test]
fn restore_refuses_a_backup_with_a_newer_schema() {
    let data = data_dir();
    let saved = backup(&data);
    let manifest = saved.join("manifest.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    json["databases"][0]["schema_version"] = serde_json::json!(9999);
    std::fs::write(&manifest, json.to_string()).unwrap();
    let target = temp_dir("restored");

    let o = restore(&saved, &target, false);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("schema is version 9999 but this kisum knows only up to"),
        "{}",
        err(&o)
    );
    assert!(!target.exists(), "nothing written");
}

#[test]
fn restore_refuses_a_non_empty_data_dir_without_force() {
    let data = data_dir();
    let saved = backup(&data);
    execute_on_core(
        &data,
        "INSERT INTO drill (note) VALUES ('after the backup')",
    );

    let o = restore(&saved, &data, false);
    assert!(!o.status.success());
    assert!(err(&o).contains("is not empty"), "{}", err(&o));
    assert_eq!(drill_rows(&data), ["kept", "after the backup"], "untouched");

    let o = restore(&saved, &data, true);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(drill_rows(&data), ["kept"]);
    let parent = data.parent().unwrap();
    let name = data.file_name().unwrap().to_string_lossy().into_owned();
    let leftovers = std::fs::read_dir(parent)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(&format!(".{name}."))
        })
        .count();
    assert_eq!(leftovers, 0, "no staging or replaced directory left behind");
}

#[test]
fn backup_refuses_a_non_empty_target() {
    let data = data_dir();
    let saved = backup(&data);
    let o = kisum_env(
        &[
            "backup",
            "--data-dir",
            data.to_str().unwrap(),
            "--to",
            saved.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!o.status.success());
    assert!(err(&o).contains("is not empty"), "{}", err(&o));
}
