//! Statements per operation on PostgreSQL, counted independently of the store: every statement
//! sqlx runs emits a `sqlx::query` tracing event, and a subscriber installed for this test's
//! thread records them. Aggregation takes a small, fixed number of queries whatever the number
//! of roles and delegations (three reads, in one `REPEATABLE READ` snapshot whose `BEGIN` and
//! `COMMIT` are not counted); a refresh is one statement (every statement counted, `BEGIN` and
//! `COMMIT` included: there are none).
//!
//! A test binary of its own (not a module of `tests/it`): tracing caches per-callsite interest
//! process-wide, and other tests running queries in parallel threads would race the scoped
//! subscriber.
#![cfg(feature = "postgres")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use kisum_auth::access::AccessCaches;
use kisum_auth::audit::AuditStore;
use kisum_auth::identity::{Argon2Params, Password, PasswordHasher, PasswordPolicy};
use kisum_auth::keys::{GeneratedKey, KeyRing, SigningAlgorithm, SigningKey, generate};
use kisum_auth::service::{AuthService, ClientInfo};
use kisum_auth::session::{RefreshError, Session, SessionConfig, SessionStore};
use kisum_auth::tokens::{TokenConfig, TokenService};
use kisum_auth::{
    AccessService, Company, CompanyStatus, Delegation, DirectoryStore, EntitlementSource,
    Membership, MembershipStatus, PgAuthStore, Role,
};
use kisum_core::Entitlements;
use kisum_core::db::StoreError;
use kisum_guard::cache::CacheConfig;
use kisum_guard::{
    AddOnKey, CompanyId, CompanySlug, DelegationId, ManualClock, ModuleKey, PermissionPattern,
    RoleKey, SystemClock, UserId,
};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records the summary of every statement sqlx runs on this thread.
struct QueryCounter(Arc<Mutex<Vec<String>>>);

impl Subscriber for QueryCounter {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "sqlx::query"
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if event.metadata().target() == "sqlx::query" {
            let mut summary = Summary(String::new());
            event.record(&mut summary);
            self.0
                .lock()
                .unwrap()
                .push(summary.0.trim_start().to_ascii_uppercase());
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// The statements recorded so far.
struct Statements(Arc<Mutex<Vec<String>>>);

impl Statements {
    /// How many statements ran so far.
    fn mark(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// The statements run since `mark`, every one.
    fn since(&self, mark: usize) -> Vec<String> {
        self.0.lock().unwrap()[mark..].to_vec()
    }

    /// The reads run since `mark`: a snapshot's `BEGIN` and `COMMIT` are not reads.
    fn reads_since(&self, mark: usize) -> usize {
        self.since(mark)
            .iter()
            .filter(|s| {
                !(s.starts_with("BEGIN") || s.starts_with("COMMIT") || s.starts_with("ROLLBACK"))
            })
            .count()
    }
}

/// Every statement sent, `BEGIN` included: sqlx does not log the `BEGIN` of `Pool::begin`, so
/// each transaction end (`COMMIT` or `ROLLBACK`) without a logged `BEGIN` counts one more.
fn round_trips(statements: &[String]) -> usize {
    let begins = statements.iter().filter(|s| s.starts_with("BEGIN")).count();
    let ends = statements
        .iter()
        .filter(|s| s.starts_with("COMMIT") || s.starts_with("ROLLBACK"))
        .count();
    statements.len() + ends.saturating_sub(begins)
}

/// Runs `test` on a current-thread runtime with a store over a fresh database, every statement
/// recorded.
fn counted<F: AsyncFnOnce(PgAuthStore, Statements)>(test: F) {
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let subscriber = QueryCounter(Arc::clone(&recorded));
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = PgAuthStore::connect_with(kisum_core::testkit::db::postgres().await)
                .await
                .unwrap();
            test(store, Statements(recorded)).await;
        });
    });
}

/// The statement summary of a `sqlx::query` event.
struct Summary(String);

impl tracing::field::Visit for Summary {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "summary" || (self.0.is_empty() && field.name() == "db.statement") {
            value.clone_into(&mut self.0);
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.0 = format!("{value:?}").trim_matches('"').to_owned();
        }
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn member(c: &Company, roles: &[String]) -> Membership {
    Membership::new(
        c.id,
        UserId::new(),
        MembershipStatus::Active,
        roles.iter().map(|r| RoleKey::new(r).unwrap()).collect(),
        [ModuleKey::new("finance").unwrap()].into(),
        t0(),
    )
}

/// A new active company with the roles `keys`: role `i` holds 30 shared permissions and
/// `finance.role{i}.read` of its own.
async fn company_with_roles(store: &PgAuthStore, keys: &[String]) -> Company {
    let company = Company {
        id: CompanyId::new(),
        slug: CompanySlug::new(&format!("co-{}", UserId::new().as_uuid().simple())).unwrap(),
        name: "Counted".into(),
        status: CompanyStatus::Active,
        created_at: t0(),
    };
    store.create_company(&company, None).await.unwrap();
    for (i, key) in keys.iter().enumerate() {
        let role = Role::new(
            company.id,
            RoleKey::new(key).unwrap(),
            key.clone(),
            (0..30)
                .map(|p| format!("finance.r{p}.read"))
                .chain([format!("finance.role{i}.read")])
                .map(|p| PermissionPattern::new(&p).unwrap())
                .collect(),
        );
        store.put_role(&role, t0()).await.unwrap();
    }
    company
}

/// Stores a delegation of `finance.*` in the finance module from `from` to `to`, live for a
/// day from `t0`.
async fn delegate(store: &PgAuthStore, company: &Company, from: &Membership, to: &Membership) {
    let delegation = Delegation {
        id: DelegationId::new(),
        company_id: company.id,
        from_membership_id: from.id,
        to_membership_id: to.id,
        permissions: BTreeSet::from([PermissionPattern::new("finance.*").unwrap()]),
        modules: BTreeSet::from([ModuleKey::new("finance").unwrap()]),
        starts_at: t0(),
        expires_at: t0() + TimeDelta::days(1),
        revoked_at: None,
        created_at: t0(),
    };
    store.create_delegation(&delegation).await.unwrap();
}

/// Queries `load_access` runs for a member holding `roles` roles and receiving `delegations`
/// delegations, each from a different delegator holding its own two roles.
async fn queries_for(
    store: &PgAuthStore,
    counter: &Statements,
    roles: usize,
    delegations: usize,
) -> usize {
    let keys: Vec<String> = (0..roles + 2 * delegations)
        .map(|i| format!("role-{i}"))
        .collect();
    let company = company_with_roles(store, &keys).await;
    let m = member(&company, &keys[..roles]);
    store.create_membership(&m).await.unwrap();
    for d in 0..delegations {
        let delegator = member(&company, &keys[roles + 2 * d..roles + 2 * d + 2]);
        store.create_membership(&delegator).await.unwrap();
        delegate(store, &company, &delegator, &m).await;
    }
    let before = counter.mark();
    let inputs = store
        .load_access(company.id, m.user_id)
        .await
        .unwrap()
        .unwrap();
    let used = counter.reads_since(before);
    assert_eq!(inputs.roles.len(), roles);
    assert_eq!(inputs.delegations.len(), delegations);
    assert!(
        inputs
            .delegations
            .iter()
            .all(|g| g.delegator_roles.len() == 2)
    );
    used
}

#[test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
fn load_access_takes_at_most_three_queries_whatever_the_shape() {
    counted(async |store, counter| {
        let small = queries_for(&store, &counter, 1, 0).await;
        let large = queries_for(&store, &counter, 5, 4).await;
        let huge = queries_for(&store, &counter, 20, 12).await;
        assert!(small >= 1, "the counter must see the queries ({small})");
        assert!(
            large <= 3 && huge <= 3,
            "load_access used {large} and {huge} queries"
        );
        assert_eq!(
            large, huge,
            "the query count must not grow with roles or delegations"
        );
    });
}

fn cheap() -> Argon2Params {
    Argon2Params {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    }
}

/// Auth's service over `store`, with the default session settings (the grace window on).
fn auth_over(store: PgAuthStore) -> AuthService {
    let GeneratedKey { kid, pem } = generate(SigningAlgorithm::Es256, t0().date_naive()).unwrap();
    let key = SigningKey::from_pem(&kid, &pem, std::path::Path::new("mem")).unwrap();
    let tokens = TokenService::new(
        TokenConfig::new("https://auth.example.test", "kisum"),
        KeyRing::new(&kid, [key]).unwrap(),
    );
    AuthService::new(
        Arc::new(store),
        PasswordHasher::new(cheap()).unwrap(),
        PasswordPolicy::default(),
        tokens,
        SessionConfig::default(),
        Arc::new(SystemClock),
    )
}

#[test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
fn a_refresh_is_one_statement() {
    counted(async |store, counter| {
        let auth = auth_over(store.clone());
        let email = format!("u-{}@example.test", UserId::new().as_uuid().simple());
        let first = auth
            .register(
                &email,
                Password::new("correct horse battery staple"),
                None,
                None,
                ClientInfo::default(),
            )
            .await
            .unwrap()
            .tokens;
        let mark = counter.mark();
        let second = auth
            .refresh(first.refresh.expose(), ClientInfo::default())
            .await
            .unwrap();
        let statements = counter.since(mark);
        let total = round_trips(&statements);
        assert_eq!(
            total, 1,
            "a refresh is one statement (spend, successor, audit event, session touch), \
             committed on its own: {statements:?}"
        );
        assert!(
            statements[0].starts_with("WITH SPENT AS"),
            "no BEGIN or COMMIT around it: {statements:?}"
        );
        // Everything a refresh writes is there: the successor is live, the event is stored.
        let third = auth
            .refresh(second.refresh.expose(), ClientInfo::default())
            .await
            .unwrap();
        assert_eq!(third.session_id, first.session_id);
        let events = store.list(None, None, 10).await.unwrap();
        assert_eq!(
            events.iter().filter(|e| e.action == "refresh").count(),
            2,
            "each refresh is audited"
        );
        // Reuse still revokes the session (the step-by-step path explains the refusal).
        assert!(matches!(
            auth.refresh(first.refresh.expose(), ClientInfo::default())
                .await,
            Err(RefreshError::RefreshTokenReused)
        ));
        assert!(matches!(
            auth.refresh(third.refresh.expose(), ClientInfo::default())
                .await,
            Err(RefreshError::SessionRevoked)
        ));
    });
}

/// Core's catalog as Auth caches it: a company's entitlements, with the number of times Auth
/// asked (each would be a request to Core).
struct CountingCore(AtomicUsize);

#[async_trait::async_trait]
impl EntitlementSource for CountingCore {
    async fn entitlements(&self, company_id: CompanyId) -> Result<Entitlements, StoreError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let mut entitlements = kisum_core::resolve(
            &kisum_core::Catalog::default(),
            &kisum_core::CompanyEntitlementState::empty(company_id),
            t0(),
        );
        entitlements.modules.push(kisum_core::EnabledModule {
            key: ModuleKey::new("finance").unwrap(),
            source: kisum_core::ModuleSource::AddOn(AddOnKey::new("finance").unwrap()),
        });
        Ok(entitlements)
    }
}

/// A live session of `user`.
async fn signed_in(store: &PgAuthStore, user: UserId) -> Session {
    let session = Session::new(user, t0(), TimeDelta::hours(1), TimeDelta::days(1));
    store.create_session(&session).await.unwrap();
    session
}

#[test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
fn a_cold_me_access_takes_at_most_three_reads_with_core_cached() {
    counted(async |store, counter| {
        let keys: Vec<String> = (0..6).map(|i| format!("role-{i}")).collect();
        let company = company_with_roles(&store, &keys).await;
        let slug = company.slug.to_string();
        let plain = member(&company, &keys[..2]);
        let delegatee = member(&company, &keys[2..4]);
        let delegator = member(&company, &keys[4..]);
        for m in [&plain, &delegatee, &delegator] {
            store.create_membership(m).await.unwrap();
        }
        delegate(&store, &company, &delegator, &delegatee).await;
        let store = Arc::new(store);
        let core = Arc::new(CountingCore(AtomicUsize::new(0)));
        let access = AccessService::new(
            store.clone(),
            store.clone(),
            core.clone(),
            Arc::new(ManualClock::new(t0() + TimeDelta::minutes(1))),
        )
        .with_caches(Arc::new(AccessCaches::new(&CacheConfig::default())));
        // The delegator's first call fetches the company's entitlements from Core.
        let first = signed_in(&store, delegator.user_id).await;
        access
            .resolve_cached(delegator.user_id, first.id, Some(&slug), None)
            .await
            .unwrap();
        assert_eq!(core.0.load(Ordering::SeqCst), 1);

        // Cold, Core's answer cached: a member without delegations, then one receiving one.
        let mut cold = Vec::new();
        for (m, delegated) in [(&plain, false), (&delegatee, true)] {
            let session = signed_in(&store, m.user_id).await;
            let mark = counter.mark();
            let context = access
                .resolve_cached(m.user_id, session.id, Some(&slug), None)
                .await
                .unwrap();
            assert_eq!(context.membership_id, m.id);
            assert_eq!(
                context
                    .permissions
                    .iter()
                    .any(|p| p.as_str() == "finance.role4.read"),
                delegated,
                "the delegation is resolved: {:?}",
                context.permissions
            );
            let statements = counter.since(mark);
            cold.push((
                counter.reads_since(mark),
                round_trips(&statements),
                statements,
            ));
        }
        assert_eq!(core.0.load(Ordering::SeqCst), 1, "no request to Core");
        let (plain_reads, plain_trips, plain_statements) = &cold[0];
        let (reads, trips, statements) = &cold[1];
        assert!(
            *reads <= 3,
            "a cold resolution with a delegation reads {reads} times: {statements:?}"
        );
        assert_eq!(
            (*plain_reads, *reads),
            (2, 3),
            "the session, then the company, membership and roles (and the delegations): \
             {plain_statements:?} {statements:?}"
        );
        assert_eq!(
            (*plain_trips, *trips),
            (4, 5),
            "with the snapshot's BEGIN and COMMIT: {plain_statements:?} {statements:?}"
        );

        // Warm: from memory.
        let mark = counter.mark();
        access
            .resolve_cached(delegator.user_id, first.id, Some(&slug), None)
            .await
            .unwrap();
        assert_eq!(counter.since(mark), Vec::<String>::new());
    });
}

#[test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
fn a_sign_in_takes_two_statements() {
    counted(async |store, counter| sign_in_in_two_statements(store, counter).await);
}

/// Decision 0051: with asynchronous sign-ins the sign-in's write goes through its own pool,
/// whose connections commit without waiting for the flush, while every other write still
/// waits; it is still two statements, and what it wrote is visible to the main pool at once
/// (the refresh that follows reads and spends the token there).
#[test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
fn an_asynchronous_sign_in_takes_two_statements_and_is_visible_at_once() {
    counted(async |store, counter| {
        let store = store.with_asynchronous_sign_ins();
        assert_eq!(
            store.sign_in_pool().size(),
            0,
            "the sign-in pool opens lazily"
        );
        sign_in_in_two_statements(store.clone(), counter).await;
        assert!(
            store.sign_in_pool().size() >= 1,
            "the sign-in's write went through the sign-in pool"
        );
        assert_eq!(synchronous_commit(store.sign_in_pool()).await, "off");
        assert_eq!(
            synchronous_commit(store.pool()).await,
            "on",
            "every other write waits for the flush"
        );
    });
}

/// The `synchronous_commit` of a connection of `pool`.
async fn synchronous_commit(pool: &sqlx::PgPool) -> String {
    sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Registers a user, signs in (two round trips), refreshes once and finds the sign-in audited.
async fn sign_in_in_two_statements(store: PgAuthStore, counter: Statements) {
    let auth = auth_over(store.clone());
    let email = format!("u-{}@example.test", UserId::new().as_uuid().simple());
    let password = Password::new("correct horse battery staple");
    auth.register(&email, password.clone(), None, None, ClientInfo::default())
        .await
        .unwrap();
    let mark = counter.mark();
    let pair = auth
        .login(&email, password, ClientInfo::default())
        .await
        .unwrap();
    let statements = counter.since(mark);
    let total = round_trips(&statements);
    assert_eq!(
        total, 2,
        "the user by email with whether they have an authenticator app (is a second factor \
         due? decision 0047), and one statement for the session, its first refresh token, \
         the audit event and the per-user limit (decision 0046): {statements:?}"
    );
    // What it wrote works: the refresh token is live, the sign-in audited.
    auth.refresh(pair.refresh.expose(), ClientInfo::default())
        .await
        .unwrap();
    let events = store.list(None, None, 10).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "login.success")
            .count(),
        1,
        "{events:?}"
    );
}

/// The catalog of the tests below: modules `core` and `finance`, the basic package of `core`,
/// the add-on `finance`.
async fn core_catalog(core: &kisum_core::EntitlementService) {
    use kisum_core::{AddOn, Module, ModuleKind, Package};
    for (key, kind) in [("core", ModuleKind::Core), ("finance", ModuleKind::Addon)] {
        core.put_module(Module {
            key: ModuleKey::new(key).unwrap(),
            name: key.into(),
            kind,
            permissions: vec![],
        })
        .await
        .unwrap();
    }
    core.put_package(Package {
        key: kisum_guard::PackageKey::new("basic").unwrap(),
        name: "Basic".into(),
        is_basic: true,
        modules: [ModuleKey::new("core").unwrap()].into(),
    })
    .await
    .unwrap();
    core.put_addon(AddOn {
        key: AddOnKey::new("finance").unwrap(),
        name: "Finance".into(),
        module: ModuleKey::new("finance").unwrap(),
    })
    .await
    .unwrap();
}

/// Core keeps its catalog in memory (decision 0024): resolving a company's entitlements reads
/// the company's state and the catalog's version, nothing else, until a catalog edit — by any
/// replica — changes that version.
#[test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
fn a_cold_entitlement_resolution_costs_core_two_statements() {
    use kisum_core::{EntitlementService, Subscription, SubscriptionStatus};
    counted(async |_, counter| {
        let store = Arc::new(
            kisum_core::PgCoreStore::connect_with(kisum_core::testkit::db::postgres().await)
                .await
                .unwrap(),
        );
        let core = EntitlementService::new(store.clone(), Arc::new(ManualClock::new(t0())));
        let other_replica = EntitlementService::new(store, Arc::new(ManualClock::new(t0())));
        core_catalog(&core).await;
        let companies: Vec<CompanyId> = (0..3).map(|_| CompanyId::new()).collect();
        for &company_id in &companies {
            core.set_subscription(Subscription {
                company_id,
                package: kisum_guard::PackageKey::new("basic").unwrap(),
                status: SubscriptionStatus::Active,
                current_period_end: None,
                grace_until: None,
            })
            .await
            .unwrap();
        }
        let resolve = async |company: CompanyId| {
            let mark = counter.mark();
            let entitlements = core.entitlements(company).await.unwrap();
            (entitlements, counter.since(mark))
        };
        // The first resolution may read the catalog (the seeding's last edit raised its version).
        resolve(companies[0]).await;
        let (e, statements) = resolve(companies[1]).await;
        assert!(e.basic_active && e.has_module("core"));
        assert_eq!(
            round_trips(&statements),
            2,
            "the company's state and the catalog's version: {statements:?}"
        );
        // Another replica edits the catalog: the next resolution reads it again and shows it.
        other_replica
            .put_package(kisum_core::Package {
                key: kisum_guard::PackageKey::new("basic").unwrap(),
                name: "Basic".into(),
                is_basic: true,
                modules: [
                    ModuleKey::new("core").unwrap(),
                    ModuleKey::new("finance").unwrap(),
                ]
                .into(),
            })
            .await
            .unwrap();
        let (e, statements) = resolve(companies[2]).await;
        assert!(e.has_module("finance"), "the edit is seen at once");
        assert!(round_trips(&statements) > 2, "{statements:?}");
        let (e, statements) = resolve(companies[0]).await;
        assert!(e.has_module("finance"));
        assert_eq!(round_trips(&statements), 2, "cached again: {statements:?}");
    });
}
