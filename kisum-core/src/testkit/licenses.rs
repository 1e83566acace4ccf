//! The conformance suite every [`LicenseStore`] backend must pass: the store's contract (keys
//! by hash, versioned updates, the seat limit in one transaction, idempotent re-activation,
//! culls that lose to a heartbeat) and, over it, the [`LicenseService`]'s lifecycle with its
//! events, the reaper with a fixed clock, and certificates re-issued on every edit.
//!
//! [`license_store_conformance!`](crate::license_store_conformance) stamps out one
//! `#[tokio::test]` per check for a backend, each with a fresh, empty store:
//!
//! ```text
//! async fn make_store() -> MyStore { MyStore::connect(...).await.unwrap() }
//! kisum_core::license_store_conformance!(make_store);
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use kisum_guard::{CompanyId, ManualClock};
use uuid::Uuid;

use crate::admin::Actor;
use crate::audit::CoreAudit;
use crate::db::StoreErrorKind;
use crate::license::{
    ActivateOutcome, Activation, ActivationCertifier, CertifyError, KeyHash, License,
    LicenseConfig, LicenseError, LicenseEvent, LicenseEventType, LicensePatch, LicenseReaper,
    LicenseService, LicenseStatus, LicenseStore, NewLicense, ReapReport, SeatUsage,
};
use crate::store::MemoryCoreAudit;

/// Stamps out the licence store conformance suite for the store made by the async fn `$make`.
///
/// With `ignore = "reason"`, the tests are `#[ignore]`d with that reason (run them with
/// `--include-ignored`).
#[macro_export]
macro_rules! license_store_conformance {
    ($make:path $(, ignore = $reason:literal)?) => {
        $crate::conformance_tests!($make; [$crate::testkit::licenses]; [$(#[ignore = $reason])?];
            licenses_round_trip_by_id_key_hash_and_company,
            license_updates_are_versioned_and_append_their_event,
            activation_takes_seats_up_to_the_limit_and_reactivation_is_idempotent,
            activation_is_refused_on_an_unusable_licence,
            concurrent_activations_never_exceed_the_seat_limit,
            heartbeat_and_deactivation,
            reaper_queries_and_culls_that_lose_to_a_heartbeat,
            every_lifecycle_transition_appends_its_event,
            the_reaper_expires_and_culls_with_a_fixed_clock,
            the_reaper_records_seat_usage_with_a_fixed_clock,
            expiry_applies_before_the_reaper_runs,
            certificates_are_reissued_on_every_edit,
        );
    };
}

/// A certifier for tests: the "certificate" names the licence id, version and status and the
/// fingerprint (`cert:{license}:v{version}:{status}:{fingerprint}`), so a test sees a new one
/// after every edit. It signs nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestCertifier;

#[async_trait]
impl ActivationCertifier for TestCertifier {
    async fn activation_certificate(
        &self,
        license: &License,
        activation: &Activation,
        license_key: &str,
    ) -> Result<String, CertifyError> {
        if KeyHash::of(license_key) != license.key_hash {
            return Err(CertifyError("key does not match the licence".into()));
        }
        Ok(format!(
            "cert:{}:v{}:{}:{}",
            license.id,
            license.version,
            license.status.as_str(),
            activation.fingerprint
        ))
    }
}

/// The time the checks start at.
#[must_use]
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn at(seconds: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(seconds)
}

/// A licence as the service would create it, with key `key`.
#[must_use]
pub fn license(company_id: CompanyId, key: &str, seats: u32) -> License {
    License {
        id: Uuid::now_v7(),
        company_id,
        name: "Workstations".into(),
        key_hash: KeyHash::of(key),
        max_activations: seats,
        floating: false,
        heartbeat_interval: None,
        expires_at: None,
        modules: None,
        status: LicenseStatus::Active,
        version: 1,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn event(l: &License, kind: LicenseEventType, s: i64) -> LicenseEvent {
    LicenseEvent::new(l.id, kind, at(s), "ops", serde_json::json!({"n": s}))
}

fn seat(l: &License, fingerprint: &str, s: i64) -> Activation {
    Activation {
        id: Uuid::now_v7(),
        license_id: l.id,
        fingerprint: fingerprint.into(),
        name: Some(format!("{fingerprint} machine")),
        created_at: at(s),
        last_heartbeat_at: at(s),
        cull_after: l.floating.then(|| at(s + 100)),
    }
}

async fn stored<S: LicenseStore>(store: &S, seats: u32) -> License {
    let l = license(CompanyId::new(), &crate::license::generate_key(), seats);
    store
        .insert_license(&l, &event(&l, LicenseEventType::Created, 0))
        .await
        .unwrap();
    l
}

async fn activate<S: LicenseStore>(store: &S, l: &License, fp: &str, s: i64) -> ActivateOutcome {
    let a = seat(l, fp, s);
    let e = event(l, LicenseEventType::Activated, s);
    store.activate(&a, at(s), &e).await.unwrap()
}

fn kinds(events: &[LicenseEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

pub async fn licenses_round_trip_by_id_key_hash_and_company<S: LicenseStore>(store: Arc<S>) {
    let company = CompanyId::new();
    let mut a = license(company, "ksl_a", 3);
    a.floating = true;
    a.heartbeat_interval = Some(60);
    a.expires_at = Some(at(3600) + TimeDelta::microseconds(7));
    a.modules = Some(vec!["core".into(), "finance".into()]);
    let mut b = license(company, "ksl_b", 1);
    b.created_at = at(1);
    store
        .insert_license(&a, &event(&a, LicenseEventType::Created, 0))
        .await
        .unwrap();
    store
        .insert_license(&b, &event(&b, LicenseEventType::Created, 1))
        .await
        .unwrap();
    assert_eq!(store.license(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store
            .license_by_key_hash(&KeyHash::of("ksl_b"))
            .await
            .unwrap(),
        Some(b.clone())
    );
    assert_eq!(
        store
            .license_by_key_hash(&KeyHash::of("ksl_c"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.license(Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(
        store.licenses_of_company(company).await.unwrap(),
        [a.clone(), b]
    );
    assert!(
        store
            .licenses_of_company(CompanyId::new())
            .await
            .unwrap()
            .is_empty()
    );
    let mut same_key = license(company, "ksl_a", 1);
    same_key.id = Uuid::now_v7();
    let err = store
        .insert_license(&same_key, &event(&same_key, LicenseEventType::Created, 2))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Conflict);
    assert_eq!(kinds(&store.events(a.id).await.unwrap()), ["created"]);
}

pub async fn license_updates_are_versioned_and_append_their_event<S: LicenseStore>(store: Arc<S>) {
    let l = stored(&*store, 2).await;
    let suspended = License {
        status: LicenseStatus::Suspended,
        version: 2,
        updated_at: at(5),
        name: "Renamed".into(),
        ..l.clone()
    };
    let e = event(&l, LicenseEventType::Suspended, 5);
    store.update_license(&suspended, Some(&e)).await.unwrap();
    assert_eq!(store.license(l.id).await.unwrap(), Some(suspended.clone()));
    // A writer that read version 1 loses, and appends nothing.
    let stale = License {
        version: 2,
        ..l.clone()
    };
    let err = store
        .update_license(&stale, Some(&event(&l, LicenseEventType::Revoked, 6)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Conflict);
    let unknown = License {
        id: Uuid::now_v7(),
        ..suspended.clone()
    };
    assert_eq!(
        store
            .update_license(&unknown, None)
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::NotFound
    );
    // The key hash is never changed by an update.
    let rehashed = License {
        key_hash: KeyHash::of("other"),
        version: 3,
        ..suspended
    };
    store.update_license(&rehashed, None).await.unwrap();
    assert_eq!(
        store.license(l.id).await.unwrap().unwrap().key_hash,
        l.key_hash
    );
    let events = store.events(l.id).await.unwrap();
    assert_eq!(kinds(&events), ["created", "suspended"]);
    assert_eq!(events[1], e);
}

pub async fn activation_takes_seats_up_to_the_limit_and_reactivation_is_idempotent<
    S: LicenseStore,
>(
    store: Arc<S>,
) {
    let l = stored(&*store, 2).await;
    let ActivateOutcome::Activated(first) = activate(&*store, &l, "m1", 1).await else {
        panic!("first seat")
    };
    assert!(matches!(
        activate(&*store, &l, "m2", 2).await,
        ActivateOutcome::Activated(_)
    ));
    assert_eq!(
        activate(&*store, &l, "m3", 3).await,
        ActivateOutcome::LimitReached
    );
    // The same fingerprint again: no new seat, heartbeat refreshed, same activation.
    let ActivateOutcome::AlreadyActive(again) = activate(&*store, &l, "m1", 4).await else {
        panic!("idempotent")
    };
    assert_eq!(again.id, first.id);
    assert_eq!(again.last_heartbeat_at, at(4));
    let seats = store.activations(l.id).await.unwrap();
    assert_eq!(seats.len(), 2);
    assert_eq!(seats[0].fingerprint, "m1");
    assert_eq!(seats[0].name.as_deref(), Some("m1 machine"));
    assert_eq!(
        kinds(&store.events(l.id).await.unwrap()),
        ["created", "activated", "activated"]
    );
    let unknown = License {
        id: Uuid::now_v7(),
        ..l
    };
    assert_eq!(
        activate(&*store, &unknown, "m1", 5).await,
        ActivateOutcome::NotFound
    );
}

pub async fn activation_is_refused_on_an_unusable_licence<S: LicenseStore>(store: Arc<S>) {
    for (status, expires, want) in [
        (LicenseStatus::Suspended, None, LicenseStatus::Suspended),
        (LicenseStatus::Revoked, None, LicenseStatus::Revoked),
        (LicenseStatus::Expired, None, LicenseStatus::Expired),
        // Still stored as active, but past its expiry: expired at once.
        (LicenseStatus::Active, Some(at(10)), LicenseStatus::Expired),
    ] {
        let l = stored(&*store, 5).await;
        let changed = License {
            status,
            expires_at: expires,
            version: 2,
            ..l.clone()
        };
        store.update_license(&changed, None).await.unwrap();
        assert_eq!(
            activate(&*store, &changed, "m1", 10).await,
            ActivateOutcome::Inactive(want)
        );
        assert!(store.activations(l.id).await.unwrap().is_empty());
    }
}

pub async fn concurrent_activations_never_exceed_the_seat_limit<S: LicenseStore>(store: Arc<S>) {
    let l = stored(&*store, 3).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, l) = (Arc::clone(&store), l.clone());
            tokio::spawn(async move { activate(&*store, &l, &format!("m{i}"), 1).await })
        })
        .collect();
    let mut activated = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            ActivateOutcome::Activated(_) => activated += 1,
            ActivateOutcome::LimitReached => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((activated, refused), (3, 17));
    assert_eq!(store.activations(l.id).await.unwrap().len(), 3);
}

pub async fn heartbeat_and_deactivation<S: LicenseStore>(store: Arc<S>) {
    let l = stored(&*store, 1).await;
    activate(&*store, &l, "m1", 1).await;
    let beat = store
        .heartbeat(l.id, "m1", at(50), Some(at(150)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (beat.last_heartbeat_at, beat.cull_after),
        (at(50), Some(at(150)))
    );
    assert_eq!(
        store.heartbeat(l.id, "m2", at(50), None).await.unwrap(),
        None
    );
    let off = event(&l, LicenseEventType::Deactivated, 60);
    assert!(store.deactivate(l.id, "m1", &off).await.unwrap());
    assert!(!store.deactivate(l.id, "m1", &off).await.unwrap());
    // The seat is free again.
    assert!(matches!(
        activate(&*store, &l, "m2", 70).await,
        ActivateOutcome::Activated(_)
    ));
    assert_eq!(
        kinds(&store.events(l.id).await.unwrap()),
        ["created", "activated", "deactivated", "activated"]
    );
}

pub async fn reaper_queries_and_culls_that_lose_to_a_heartbeat<S: LicenseStore>(store: Arc<S>) {
    let mut floating = license(CompanyId::new(), "ksl_f", 3);
    floating.floating = true;
    floating.heartbeat_interval = Some(60);
    floating.expires_at = Some(at(500));
    store
        .insert_license(&floating, &event(&floating, LicenseEventType::Created, 0))
        .await
        .unwrap();
    let fixed = stored(&*store, 3).await;
    activate(&*store, &floating, "f1", 0).await; // cull_after at(100)
    activate(&*store, &floating, "f2", 0).await;
    activate(&*store, &fixed, "x1", 0).await;
    assert!(
        store
            .stale_activations(at(100), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let stale = store.stale_activations(at(101), 10).await.unwrap();
    assert_eq!(stale.len(), 2);
    assert_eq!(store.stale_activations(at(101), 1).await.unwrap().len(), 1);
    // f2 heartbeats after being read: its cull loses.
    let f2 = stale.iter().find(|a| a.fingerprint == "f2").unwrap();
    store
        .heartbeat(floating.id, "f2", at(101), Some(at(201)))
        .await
        .unwrap();
    let culled = event(&floating, LicenseEventType::Culled, 101);
    assert!(!store.cull(f2, &culled).await.unwrap());
    let f1 = stale.iter().find(|a| a.fingerprint == "f1").unwrap();
    assert!(store.cull(f1, &culled).await.unwrap());
    assert!(!store.cull(f1, &culled).await.unwrap());
    let left: Vec<String> = store
        .activations(floating.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.fingerprint)
        .collect();
    assert_eq!(left, ["f2"]);
    // Expiring: active or suspended licences at or past expires_at.
    assert!(store.expiring(at(499), 10).await.unwrap().is_empty());
    let due = store.expiring(at(500), 10).await.unwrap();
    assert_eq!(due.iter().map(|l| l.id).collect::<Vec<_>>(), [floating.id]);
    let revoked = License {
        status: LicenseStatus::Revoked,
        version: 2,
        ..due[0].clone()
    };
    store.update_license(&revoked, None).await.unwrap();
    assert!(store.expiring(at(600), 10).await.unwrap().is_empty());
}

/// A service over `store` with a manual clock at [`t0`], auditing in memory.
pub fn service<S: LicenseStore>(
    store: Arc<S>,
    config: LicenseConfig,
) -> (LicenseService, Arc<ManualClock>, Arc<MemoryCoreAudit>) {
    let clock = Arc::new(ManualClock::new(t0()));
    let audit = Arc::new(MemoryCoreAudit::new());
    let service = LicenseService::with_config(
        store,
        clock.clone(),
        audit.clone(),
        Arc::new(TestCertifier),
        config,
    );
    (service, clock, audit)
}

/// A licence request for a new company.
#[must_use]
pub fn new_license(seats: u32) -> NewLicense {
    NewLicense {
        company_id: CompanyId::new(),
        name: Some("Workstations".into()),
        max_activations: seats,
        floating: false,
        heartbeat_interval: None,
        expires_at: None,
        modules: None,
    }
}

pub async fn every_lifecycle_transition_appends_its_event<S: LicenseStore>(store: Arc<S>) {
    let (svc, clock, audit) = service(store, LicenseConfig::default());
    let ops = Actor::new("ops");
    let mut new = new_license(2);
    new.expires_at = Some(at(1000));
    let (l, key) = svc.create(&ops, new).await.unwrap();
    assert_eq!((l.version, l.status), (1, LicenseStatus::Active));
    svc.activate(&key, "m1", None).await.unwrap();
    svc.deactivate(&key, "m1").await.unwrap();
    let s = svc.suspend(&ops, l.id).await.unwrap();
    assert_eq!((s.status, s.version), (LicenseStatus::Suspended, 2));
    assert!(matches!(
        svc.suspend(&ops, l.id).await,
        Err(LicenseError::Transition { .. })
    ));
    let r = svc.reinstate(&ops, l.id).await.unwrap();
    assert_eq!((r.status, r.version), (LicenseStatus::Active, 3));
    let r = svc.renew(&ops, l.id, Some(at(2000))).await.unwrap();
    assert_eq!((r.expires_at, r.version), (Some(at(2000)), 4));
    clock.set(at(2000));
    assert_eq!(svc.expire_due(10).await.unwrap(), 1);
    assert_eq!(svc.get(l.id).await.unwrap().status, LicenseStatus::Expired);
    let r = svc.renew(&ops, l.id, Some(at(3000))).await.unwrap();
    assert_eq!(
        r.status,
        LicenseStatus::Active,
        "renewing an expired licence"
    );
    let v = svc.revoke(&ops, l.id).await.unwrap();
    assert_eq!(v.status, LicenseStatus::Revoked);
    assert!(matches!(
        svc.renew(&ops, l.id, None).await,
        Err(LicenseError::Transition { .. })
    ));
    // Culled: a floating licence whose activation stops heartbeating.
    let mut f = new_license(1);
    f.floating = true;
    f.heartbeat_interval = Some(30);
    let (fl, fkey) = svc.create(&ops, f).await.unwrap();
    svc.activate(&fkey, "f1", None).await.unwrap();
    clock.advance(TimeDelta::seconds(30 + 61));
    assert_eq!(svc.cull_stale(10).await.unwrap(), 1);

    let events = svc.events(l.id).await.unwrap();
    assert_eq!(
        kinds(&events),
        [
            "created",
            "activated",
            "deactivated",
            "suspended",
            "reinstated",
            "renewed",
            "expired",
            "renewed",
            "revoked"
        ]
    );
    assert_eq!(events[3].actor, "ops");
    assert_eq!(events[1].actor, crate::license::KEY_ACTOR);
    assert_eq!(events[6].actor, crate::license::REAPER_ACTOR);
    assert_eq!(events[1].details["fingerprint"], "m1");
    assert_eq!(
        kinds(&svc.events(fl.id).await.unwrap()),
        ["created", "activated", "culled"]
    );
    assert!(matches!(
        svc.events(Uuid::now_v7()).await,
        Err(LicenseError::NotFound)
    ));
    // Every transition is audited too, naming the company and the licence.
    let actions: Vec<String> = audit
        .list(Some(l.company_id), 100)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions,
        [
            "license.created",
            "license.activated",
            "license.deactivated",
            "license.suspended",
            "license.reinstated",
            "license.renewed",
            "license.expired",
            "license.renewed",
            "license.revoked"
        ]
    );
    let culled = audit.list(Some(fl.company_id), 1).await.unwrap();
    assert_eq!(culled[0].action, "license.culled");
    assert_eq!(culled[0].detail["license_id"], fl.id.to_string());
}

pub async fn the_reaper_expires_and_culls_with_a_fixed_clock<S: LicenseStore>(store: Arc<S>) {
    let config = LicenseConfig {
        heartbeat_drift: TimeDelta::seconds(10),
        ..LicenseConfig::default()
    };
    let (svc, clock, _) = service(store, config);
    let reaper = LicenseReaper::new(svc.clone());
    let ops = Actor::new("ops");
    let mut f = new_license(2);
    f.floating = true;
    f.heartbeat_interval = Some(60);
    f.expires_at = Some(at(1000));
    let (fl, key) = svc.create(&ops, f).await.unwrap();
    svc.activate(&key, "a", None).await.unwrap();
    svc.activate(&key, "b", None).await.unwrap();
    // Interval + drift = 70 s. At 70 s nothing is late yet.
    clock.set(at(70));
    svc.heartbeat(&key, "b").await.unwrap();
    assert_eq!(reaper.run_once().await.unwrap(), ReapReport::default());
    // At 71 s `a` missed it; `b` heartbeat at 70 s and lives until 140 s.
    clock.set(at(71));
    assert_eq!(
        reaper.run_once().await.unwrap(),
        ReapReport {
            expired: 0,
            culled: 1
        }
    );
    let left = svc.activations(fl.id).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].fingerprint, "b");
    // The seat is freed: a new machine takes it.
    svc.activate(&key, "c", None).await.unwrap();
    assert!(matches!(
        svc.activate(&key, "d", None).await,
        Err(LicenseError::LimitReached)
    ));
    // A non-floating licence's activations are never culled.
    let (fixed, fixed_key) = svc.create(&ops, new_license(1)).await.unwrap();
    svc.activate(&fixed_key, "x", None).await.unwrap();
    clock.set(at(1000));
    let report = reaper.run_once().await.unwrap();
    assert_eq!(
        report,
        ReapReport {
            expired: 1,
            culled: 2
        }
    );
    assert_eq!(svc.get(fl.id).await.unwrap().status, LicenseStatus::Expired);
    assert_eq!(svc.activations(fixed.id).await.unwrap().len(), 1);
    assert_eq!(reaper.run_once().await.unwrap(), ReapReport::default());
}

pub async fn the_reaper_records_seat_usage_with_a_fixed_clock<S: LicenseStore>(store: Arc<S>) {
    let (svc, clock, _) = service(store, LicenseConfig::default());
    let reaper = LicenseReaper::new(svc.clone());
    let ops = Actor::new("ops");
    let usage = |in_use, total| SeatUsage { in_use, total };
    assert_eq!(reaper.record_seats().await.unwrap(), usage(0, 0));
    // 3 seats, 2 taken, until 1000 s.
    let mut new = new_license(3);
    new.expires_at = Some(at(1000));
    let (_, a) = svc.create(&ops, new).await.unwrap();
    svc.activate(&a, "m1", None).await.unwrap();
    svc.activate(&a, "m2", None).await.unwrap();
    // 5 seats, 1 taken, no expiry.
    let (_, b) = svc.create(&ops, new_license(5)).await.unwrap();
    svc.activate(&b, "m1", None).await.unwrap();
    // 4 seats, 1 taken, then suspended: counts in neither.
    let (c, c_key) = svc.create(&ops, new_license(4)).await.unwrap();
    svc.activate(&c_key, "m1", None).await.unwrap();
    svc.suspend(&ops, c.id).await.unwrap();
    assert_eq!(reaper.record_seats().await.unwrap(), usage(3, 8));
    // A deactivation frees a seat at once.
    svc.deactivate(&b, "m1").await.unwrap();
    assert_eq!(reaper.record_seats().await.unwrap(), usage(2, 8));
    // At its expiry the first licence leaves both counts, before and after the reaper
    // records the expiry.
    clock.set(at(1000));
    assert_eq!(reaper.record_seats().await.unwrap(), usage(0, 5));
    reaper.run_once().await.unwrap();
    assert_eq!(reaper.record_seats().await.unwrap(), usage(0, 5));
}

pub async fn expiry_applies_before_the_reaper_runs<S: LicenseStore>(store: Arc<S>) {
    let (svc, clock, _) = service(store, LicenseConfig::default());
    let mut new = new_license(2);
    new.expires_at = Some(at(100));
    let (l, key) = svc.create(&Actor::new("ops"), new).await.unwrap();
    svc.activate(&key, "m1", None).await.unwrap();
    clock.set(at(100));
    let expired = |r: Result<_, LicenseError>| {
        matches!(r, Err(LicenseError::Inactive(LicenseStatus::Expired)))
    };
    assert!(expired(svc.activate(&key, "m2", None).await.map(|_| ())));
    assert!(expired(svc.validate(&key, "m1").await.map(|_| ())));
    assert!(expired(svc.heartbeat(&key, "m1").await.map(|_| ())));
    let stored = svc.get(l.id).await.unwrap();
    assert_eq!(
        stored.status,
        LicenseStatus::Active,
        "the reaper has not run"
    );
    assert_eq!(stored.effective_status(at(100)), LicenseStatus::Expired);
}

pub async fn certificates_are_reissued_on_every_edit<S: LicenseStore>(store: Arc<S>) {
    let (svc, _, _) = service(store, LicenseConfig::default());
    let ops = Actor::new("ops");
    let (l, key) = svc.create(&ops, new_license(2)).await.unwrap();
    let (_, first, created) = svc.activate(&key, "m1", None).await.unwrap();
    assert!(created);
    assert_eq!(first, format!("cert:{}:v1:active:m1", l.id));
    let patch = LicensePatch {
        max_activations: Some(3),
        ..LicensePatch::default()
    };
    let patched = svc.patch(&ops, l.id, patch).await.unwrap();
    assert_eq!((patched.version, patched.max_activations), (2, 3));
    let (_, after_patch) = svc.validate(&key, "m1").await.unwrap();
    assert_eq!(after_patch, format!("cert:{}:v2:active:m1", l.id));
    svc.suspend(&ops, l.id).await.unwrap();
    svc.reinstate(&ops, l.id).await.unwrap();
    assert_eq!(
        svc.heartbeat(&key, "m1").await.unwrap(),
        format!("cert:{}:v4:active:m1", l.id)
    );
    let (_, again, created) = svc.activate(&key, "m1", None).await.unwrap();
    assert!(!created, "re-activation takes no seat");
    assert_eq!(again, format!("cert:{}:v4:active:m1", l.id));
    assert_eq!(svc.activations(l.id).await.unwrap().len(), 1);
}
