//! A small world: the `kisum dev` demo catalog, company `acme`, an owner and a finance viewer.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_auth::events::{EventPublisher, InvalidationEvent};
use kisum_auth::http::{AuthState, AuthStateParts, RateLimits};
use kisum_auth::identity::{Argon2Params, PasswordHasher, PasswordPolicy};
use kisum_auth::keys::{GeneratedKey, KeyRing, SigningAlgorithm, SigningKey, generate};
use kisum_auth::ratelimit::LocalRateLimiter;
use kisum_auth::service::AuthService;
use kisum_auth::session::SessionConfig;
use kisum_auth::tokens::{TokenConfig, TokenService};
use kisum_auth::{
    AccessService, AuthStore, Company, CreatedCompany, DirectoryService, Membership,
    MembershipStatus, MemoryAuthStore, Session,
};
use kisum_core::outbox::{EventFeed, EventLogged};
use kisum_core::{
    AddOn, CompanyAddOn, CoreStore, EntitlementService, MemoryCoreStore, Module, ModuleKind,
    Package, Subscription, SubscriptionStatus,
};
use kisum_guard::{
    AddOnKey, Clock, CompanyId, ManualClock, ModuleKey, PackageKey, PermissionPattern, RoleKey,
    ServiceKeys, UserId,
};

/// An identity service over `store` with cheap password hashing and a fresh ES256 key.
pub(crate) fn auth_service(store: Arc<dyn AuthStore>, clock: Arc<dyn Clock>) -> AuthService {
    auth_service_with(store, clock, SessionConfig::default())
}

/// [`auth_service`] with the session settings `sessions`.
pub(crate) fn auth_service_with(
    store: Arc<dyn AuthStore>,
    clock: Arc<dyn Clock>,
    sessions: SessionConfig,
) -> AuthService {
    let GeneratedKey { kid, pem } = generate(SigningAlgorithm::Es256, t0().date_naive()).unwrap();
    let key = SigningKey::from_pem(&kid, &pem, std::path::Path::new("mem")).unwrap();
    AuthService::new(
        store,
        cheap_hasher(),
        PasswordPolicy::default(),
        TokenService::new(
            TokenConfig::new("https://auth.example.test", "kisum"),
            KeyRing::new(&kid, [key]).unwrap(),
        ),
        sessions,
        clock,
    )
}

/// A password hasher cheap enough for tests (256 KiB, one pass).
pub(crate) fn cheap_hasher() -> PasswordHasher {
    PasswordHasher::new(Argon2Params {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    })
    .unwrap()
}

/// An event publisher that remembers what it was given.
#[derive(Default)]
pub(crate) struct Recorder(std::sync::Mutex<Vec<InvalidationEvent>>);

impl Recorder {
    /// The events published since the last call, oldest first.
    pub(crate) fn take(&self) -> Vec<InvalidationEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[async_trait::async_trait]
impl EventPublisher for Recorder {
    async fn publish(&self, event: &InvalidationEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

/// Puts `modules` in the catalog (`core` as the core module, every other one an add-on of its
/// own name) and the `basic` package of the core module.
pub(crate) async fn seed_catalog(core: &EntitlementService, modules: &[&str]) {
    for &key in modules {
        let kind = if key == "core" {
            ModuleKind::Core
        } else {
            ModuleKind::Addon
        };
        let module = ModuleKey::new(key).unwrap();
        let name = key.to_owned();
        let permissions = vec![];
        let m = Module {
            key: module.clone(),
            name,
            kind,
            permissions,
        };
        core.put_module(m).await.unwrap();
        if key != "core" {
            let addon = AddOn {
                key: AddOnKey::new(key).unwrap(),
                name: key.into(),
                module,
            };
            core.put_addon(addon).await.unwrap();
        }
    }
    core.put_package(Package {
        key: PackageKey::new("basic").unwrap(),
        name: "Basic".into(),
        is_basic: true,
        modules: [ModuleKey::core()].into(),
    })
    .await
    .unwrap();
}

/// A subscription of `company` to the `basic` package in `status`, without period end or grace.
pub(crate) fn basic(company: CompanyId, status: SubscriptionStatus) -> Subscription {
    Subscription {
        company_id: company,
        package: PackageKey::new("basic").unwrap(),
        status,
        current_period_end: None,
        grace_until: None,
    }
}

/// The token of the link in a mail's `text` (its `?token=` parameter).
pub(crate) fn link_token(text: &str) -> String {
    text.split("?token=")
        .nth(1)
        .unwrap_or_else(|| panic!("no link in {text:?}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The six-digit code in a mail's `text`.
pub(crate) fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap()
        .to_owned()
}

/// Where a suite runs its stores: the memory backends, or SQLite and PostgreSQL (each a fresh
/// database of the test kit) when built with their features.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend {
    Memory,
    #[cfg(feature = "sqlite")]
    Sqlite,
    #[cfg(feature = "postgres")]
    Postgres,
}

impl Backend {
    /// A fresh Auth store and Core store on this backend (one database holding both).
    pub(crate) async fn stores(self) -> (Arc<dyn AuthStore>, Arc<dyn CoreStore>) {
        match self {
            Self::Memory => (
                Arc::new(MemoryAuthStore::new()),
                Arc::new(MemoryCoreStore::new()),
            ),
            #[cfg(feature = "sqlite")]
            Self::Sqlite => {
                let url = kisum_core::testkit::db::sqlite_url();
                (
                    Arc::new(kisum_auth::SqliteAuthStore::connect(&url).await.unwrap()),
                    Arc::new(kisum_core::SqliteCoreStore::connect(&url).await.unwrap()),
                )
            }
            #[cfg(feature = "postgres")]
            Self::Postgres => {
                let options = kisum_core::testkit::db::postgres().await;
                (
                    // As `kisum auth` runs it by default (decision 0051): sign-ins commit
                    // without waiting for the flush, through a pool of their own.
                    Arc::new(
                        kisum_auth::PgAuthStore::connect_with(options.clone())
                            .await
                            .unwrap()
                            .with_asynchronous_sign_ins(),
                    ),
                    Arc::new(
                        kisum_core::PgCoreStore::connect_with(options)
                            .await
                            .unwrap(),
                    ),
                )
            }
        }
    }
}

pub(crate) fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

pub(crate) struct World {
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) store: Arc<dyn AuthStore>,
    /// What the directory service published.
    pub(crate) events: Arc<Recorder>,
    pub(crate) core: EntitlementService,
    pub(crate) directory: DirectoryService,
    pub(crate) access: AccessService,
    pub(crate) acme: Company,
    pub(crate) owner: Membership,
    pub(crate) member: Membership,
}

impl World {
    pub(crate) async fn new() -> Self {
        Self::on(
            Arc::new(MemoryAuthStore::new()),
            Arc::new(MemoryCoreStore::new()),
        )
        .await
    }

    /// The same world on the given backends.
    pub(crate) async fn on(store: Arc<dyn AuthStore>, core_store: Arc<dyn CoreStore>) -> Self {
        let clock = Arc::new(ManualClock::new(t0()));
        let core = EntitlementService::new(core_store, clock.clone());
        seed_catalog(
            &core,
            &["core", "finance", "market", "touring", "venue", "ai"],
        )
        .await;
        let events = Arc::new(Recorder::default());
        let directory = DirectoryService::new(store.clone(), clock.clone())
            .with_audit(store.clone())
            .with_events(events.clone());
        let CreatedCompany {
            company: acme,
            owner,
        } = directory
            .create_company("Acme", None, UserId::new())
            .await
            .unwrap();
        core.set_subscription(basic(acme.id, SubscriptionStatus::Active))
            .await
            .unwrap();
        core.set_company_addon(CompanyAddOn {
            company_id: acme.id,
            addon: AddOnKey::new("finance").unwrap(),
            status: SubscriptionStatus::Active,
            current_period_end: None,
        })
        .await
        .unwrap();
        directory
            .put_role(
                acme.id,
                RoleKey::new("finance-viewer").unwrap(),
                "Finance viewer",
                [PermissionPattern::new("finance.invoices.read").unwrap()].into(),
            )
            .await
            .unwrap();
        let member = directory
            .add_member(
                acme.id,
                UserId::new(),
                MembershipStatus::Active,
                [RoleKey::new("finance-viewer").unwrap()].into(),
                [ModuleKey::new("finance").unwrap()].into(),
            )
            .await
            .unwrap();
        let access = AccessService::new(
            store.clone(),
            store.clone(),
            Arc::new(core.clone()),
            clock.clone(),
        );
        Self {
            clock,
            store,
            events,
            core,
            directory,
            access,
            acme,
            owner,
            member,
        }
    }

    /// The routers' state over this world with `auth`: `store` as the directory, the audit
    /// log and the event feed; the world's access and directory services, its event recorder,
    /// a local rate limiter on its clock; no service keys and no refresh cookie (set them with
    /// the state's `DerefMut`). Every HTTP suite builds its app through here.
    pub(crate) fn state_over(&self, auth: AuthService, store: Arc<dyn AuthStore>) -> AuthState {
        AuthState::new(AuthStateParts {
            auth,
            passkeys: None,
            access: self.access.clone(),
            directory: store.clone(),
            admin: self.directory.clone(),
            audit: store.clone(),
            feed: Arc::new(EventFeed::new(EventLogged::event_log(&*store))),
            events: self.events.clone(),
            service_keys: ServiceKeys::default(),
            limits: RateLimits::new(Arc::new(LocalRateLimiter::new(self.clock.clone()))),
            refresh_cookie: None,
            oauth: None,
        })
    }

    /// [`World::state_over`] the world's own store.
    pub(crate) fn state(&self, auth: AuthService) -> AuthState {
        self.state_over(auth, self.store.clone())
    }

    /// Signs `user` in: a session of one hour idle, one day absolute.
    pub(crate) async fn session(&self, user: UserId) -> Session {
        let s = Session::new(user, t0(), TimeDelta::hours(1), TimeDelta::days(1));
        self.store.create_session(&s).await.unwrap();
        s
    }

    /// Signs `user` in ([`World::session`]) and issues `auth`'s access token for that session.
    pub(crate) async fn signed_in(&self, auth: &AuthService, user: UserId) -> (Session, String) {
        let session = self.session(user).await;
        let token = auth.tokens().issue(user, session.id, t0()).unwrap().token;
        (session, token)
    }

    /// An access token of `auth` for `user` in a new session ([`World::signed_in`]).
    pub(crate) async fn token(&self, auth: &AuthService, user: UserId) -> String {
        self.signed_in(auth, user).await.1
    }
}
