//! `kisum audit prune --older-than`: the real binary against real databases.

use chrono::{DateTime, TimeDelta, Utc};
use kisum_auth::audit::{AuditEvent, AuditOutcome, AuditStore};
use kisum_guard::{Clock, SystemClock};

use super::{err, kisum_env, out};

/// One runtime per test: a pool's connections belong to the runtime that opened them, so the
/// store is opened and used on the same one.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn days_ago(now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    kisum_guard::to_micros(now - TimeDelta::days(days))
}

/// Appends events 100, 40 and 1 days old; prunes at 30 days; checks what is left.
fn prune_keeps_the_recent_events(rt: &tokio::runtime::Runtime, url: &str, store: &dyn AuditStore) {
    let now = SystemClock.now();
    rt.block_on(async {
        for days in [100, 40, 1] {
            let event =
                AuditEvent::new(days_ago(now, days), "login.success", AuditOutcome::Success);
            store.append(&event).await.unwrap();
        }
    });
    let o = kisum_env(
        &[
            "audit",
            "prune",
            "--older-than",
            "30d",
            "--database-url",
            url,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).starts_with("deleted 2 audit event(s) older than "),
        "{}",
        out(&o)
    );
    let left = rt.block_on(store.list(None, None, 10)).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].at, days_ago(now, 1));

    // From the environment, and idempotent.
    let o = kisum_env(
        &["audit", "prune"],
        &[
            ("KISUM_DATABASE_URL", url),
            ("KISUM_AUDIT_OLDER_THAN", "720h"),
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).starts_with("deleted 0 audit event(s)"),
        "{}",
        out(&o)
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_prune_deletes_only_old_events() {
    let url = kisum_core::testkit::db::sqlite_url();
    let rt = runtime();
    let store = rt
        .block_on(kisum_auth::SqliteAuthStore::connect(&url))
        .unwrap();
    prune_keeps_the_recent_events(&rt, &url, &store);
}

#[cfg(feature = "postgres")]
#[test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
fn postgres_prune_deletes_only_old_events() {
    let rt = runtime();
    let url = rt.block_on(kisum_core::testkit::db::postgres_url());
    let store = rt.block_on(kisum_auth::PgAuthStore::connect(&url)).unwrap();
    prune_keeps_the_recent_events(&rt, &url, &store);
}

#[test]
fn bad_arguments_are_all_reported_and_nothing_is_pruned() {
    let o = kisum_env(&["audit", "prune", "--older-than", "soon"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    assert!(
        e.contains("KISUM_DATABASE_URL (--database-url): required"),
        "{e}"
    );
    assert!(
        e.contains("KISUM_AUDIT_OLDER_THAN (--older-than): `soon` is not a duration"),
        "{e}"
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn an_unmigrated_database_is_a_clear_error_and_is_not_migrated() {
    let url = kisum_core::testkit::db::sqlite_url();
    let o = kisum_env(
        &[
            "audit",
            "prune",
            "--older-than",
            "90d",
            "--database-url",
            &url,
        ],
        &[],
    );
    assert!(!o.status.success());
    let e = err(&o);
    assert!(
        e.contains("cannot prune the audit log at `sqlite://"),
        "{e}"
    );
    assert!(e.contains("audit_events"), "{e}");
}

#[test]
fn an_unreachable_database_never_shows_its_password() {
    let o = kisum_env(
        &[
            "audit",
            "prune",
            "--older-than",
            "90d",
            "--database-url",
            "postgres://kisum:hunter2@127.0.0.1:1/auth",
        ],
        &[],
    );
    assert!(!o.status.success());
    let e = err(&o);
    assert!(e.contains("postgres://kisum:***@127.0.0.1:1/auth"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

#[cfg(feature = "sqlite")]
#[test]
fn core_audit_records_are_pruned_with_component_core() {
    use kisum_core::{CoreAudit, CoreAuditRecord};
    let url = kisum_core::testkit::db::sqlite_url();
    let rt = runtime();
    let store = rt
        .block_on(kisum_core::SqliteCoreStore::connect(&url))
        .unwrap();
    let now = SystemClock.now();
    rt.block_on(async {
        for days in [100, 1] {
            store
                .append(&CoreAuditRecord::new(
                    days_ago(now, days),
                    "ops",
                    "subscription.set",
                ))
                .await
                .unwrap();
        }
    });
    let o = kisum_env(
        &[
            "audit",
            "prune",
            "--older-than",
            "30d",
            "--component",
            "core",
            "--database-url",
            &url,
        ],
        &[],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).starts_with("deleted 1 audit event(s)"),
        "{}",
        out(&o)
    );
    let left = rt.block_on(store.list(None, 10)).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].at, days_ago(now, 1));
}
