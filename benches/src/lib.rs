//! Fixtures for the Kisum benches: a synthetic population in the in-memory stores.
//!
//! [`Population::build`] fills a [`MemoryAuthStore`] and a [`MemoryCoreStore`] through the
//! validated services ([`EntitlementService`], [`DirectoryService`]) with, by default,
//! 1,000 companies × 20 members × 5 roles × 30 permission patterns over the six modules
//! [`MODULES`]:
//!
//! - a catalog with a basic package enabling `core` and one add-on for each other module, every
//!   module declaring [`RESOURCES_PER_MODULE`] × [`ACTIONS`] permission keys;
//! - per company: the basic subscription active (with a period end and a grace period), a few
//!   add-ons active and one canceled, and five roles of 30 patterns each (mostly exact keys such
//!   as `finance.invoices.read`, a few `module.resource.*` wildcards);
//! - per member: a user, a session, all the company's roles and module grants for 3 to 6
//!   modules; member 0 is the owner (built-in `owner` role, plus the five roles); the last
//!   members of each company receive a delegation.
//!
//! Time comes from a [`ManualClock`] stopped at [`EPOCH`], so every run sees the same
//! population and nothing expires while a bench runs.
//!
//! ```no_run
//! use kisum_benches::{Population, PopulationConfig, runtime};
//!
//! let rt = runtime()?;
//! let population = rt.block_on(Population::build(&PopulationConfig::default()))?;
//! let probe = population.probes.first().ok_or("no probe")?;
//! let ctx = rt.block_on(population.access.resolve(probe.user_id, probe.session_id, Some(probe.org())))?;
//! assert_eq!(ctx.membership_id, probe.membership_id);
//! # Ok::<(), kisum_benches::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_auth::{
    AccessService, AuthStore, CreatedCompany, DirectoryService, MembershipPatch, MembershipStatus,
    MemoryAuthStore, NewDelegation, Session,
};
use kisum_core::{
    AddOn, CompanyAddOn, CoreStore, EntitlementService, MemoryCoreStore, Module, ModuleKind,
    Package, Subscription, SubscriptionStatus,
};
use kisum_guard::{
    AccessContext, AddOnKey, Clock, CompanyId, CompanySlug, DenialCode, ManualClock, MembershipId,
    ModuleKey, PackageKey, Permission, PermissionPattern, RoleKey, SessionId, UserId,
};

/// Any error while building or probing the population.
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The six modules of the bench catalog; `core` comes with the basic package, the other five
/// with add-ons of the same key.
pub const MODULES: [&str; 6] = ["core", "finance", "market", "touring", "venue", "ai"];

/// The actions of every resource: each module declares `module.resource.action` for each.
pub const ACTIONS: [&str; 5] = ["read", "write", "approve", "export", "delete"];

/// How many resources each module has.
pub const RESOURCES_PER_MODULE: usize = 8;

/// The resources of each module, in the order of [`MODULES`].
const RESOURCES: [[&str; RESOURCES_PER_MODULE]; 6] = [
    [
        "home",
        "calendar",
        "contacts",
        "documents",
        "tasks",
        "notes",
        "files",
        "settings",
    ],
    [
        "invoices", "payments", "budgets", "expenses", "ledgers", "payouts", "taxes", "reports",
    ],
    [
        "stalls", "vendors", "listings", "orders", "fees", "maps", "events", "reports",
    ],
    [
        "tours", "dates", "routes", "crews", "riders", "travel", "budgets", "reports",
    ],
    [
        "halls",
        "bookings",
        "seating",
        "tickets",
        "staff",
        "equipment",
        "catering",
        "reports",
    ],
    [
        "chat",
        "summaries",
        "forecasts",
        "drafts",
        "insights",
        "prompts",
        "models",
        "usage",
    ],
];

/// Names of the per-company roles (further roles are called `role-N`).
const ROLE_NAMES: [&str; 5] = ["admin", "accountant", "promoter", "tour-manager", "analyst"];

/// The key of the basic package.
pub const BASIC_PACKAGE: &str = "basic";

/// The instant the population's [`ManualClock`] is stopped at (2027-01-15T08:00:00Z).
pub const EPOCH: i64 = 1_800_000_000;

/// The shape of the population.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopulationConfig {
    /// Number of companies.
    pub companies: usize,
    /// Members per company, the owner included (at least 1).
    pub members_per_company: usize,
    /// Stored roles per company; every member holds all of them.
    pub roles_per_company: usize,
    /// Patterns per role, wildcards included.
    pub patterns_per_role: usize,
    /// How many of each role's patterns are `module.resource.*` wildcards.
    pub wildcards_per_role: usize,
    /// Active add-ons per company (at most 5); the next add-on in line is held but canceled.
    pub active_add_ons: usize,
    /// Members per company receiving a delegation (needs members beyond the owner and member 1).
    pub delegations_per_company: usize,
    /// Seed of the shuffle of [`Population::probes`].
    pub seed: u64,
}

impl Default for PopulationConfig {
    /// 1,000 companies × 20 members × 5 roles × 30 patterns (3 of them wildcards), 3 active
    /// add-ons, 2 delegations per company.
    fn default() -> Self {
        Self {
            companies: 1_000,
            members_per_company: 20,
            roles_per_company: 5,
            patterns_per_role: 30,
            wildcards_per_role: 3,
            active_add_ons: 3,
            delegations_per_company: 2,
            seed: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

/// What kind of member a probe is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    /// The company's owner (built-in `owner` role, which holds `*`).
    Owner,
    /// A member with stored roles and module grants only.
    Member,
    /// A member who also receives a delegation.
    Delegate,
}

/// One membership to resolve: the inputs of `AccessService::resolve` plus what to expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The user (the token's `sub`).
    pub user_id: UserId,
    /// The user's session (the token's `sid`).
    pub session_id: SessionId,
    /// The company.
    pub company_id: CompanyId,
    /// The company's slug, sent as `X-Org`.
    pub slug: CompanySlug,
    /// The membership the resolution must land on.
    pub membership_id: MembershipId,
    /// What kind of member this is.
    pub kind: MemberKind,
}

impl Probe {
    /// The `X-Org` value: the company slug.
    #[must_use]
    pub fn org(&self) -> &str {
        self.slug.as_str()
    }
}

/// A route requirement to check against one context: `module` with `allowed` passes,
/// `module` with `denied` fails with `permission_denied`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckCase {
    /// The route's module.
    pub module: ModuleKey,
    /// A permission of `module` the member holds through an exact pattern.
    pub allowed: Permission,
    /// A permission of `module` no pattern of the member matches.
    pub denied: Permission,
}

/// The key of a cached [`AccessContext`], as in the design's
/// `access:{companyId}:{membershipId}:{accessVersion}:{entitlementVersion}`.
pub type AccessKey = (CompanyId, MembershipId, u64, u64);

/// The cache key of `ctx`.
#[must_use]
pub fn access_key(ctx: &AccessContext) -> AccessKey {
    (
        ctx.company_id,
        ctx.membership_id,
        ctx.access_version,
        ctx.entitlement_version,
    )
}

/// A current-thread Tokio runtime, for driving the async services from a bench.
///
/// # Errors
/// When the runtime cannot be created.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// A populated set of in-memory stores and the services over them.
pub struct Population {
    /// Access resolution over the stores (the system under test).
    pub access: AccessService,
    /// Company administration over the Auth store.
    pub directory: DirectoryService,
    /// Catalog and company entitlements over the Core store.
    pub entitlements: EntitlementService,
    /// The Auth store (users, sessions, companies, memberships, roles, delegations).
    pub auth: Arc<dyn AuthStore>,
    /// The clock every service reads, stopped at [`EPOCH`].
    pub clock: Arc<ManualClock>,
    /// One probe per membership, shuffled so that consecutive probes hit different companies.
    pub probes: Vec<Probe>,
    /// A typical member: not the owner, no delegation, granted `finance` (when entitled).
    pub typical: Probe,
    /// Every permission key the catalog declares, by module.
    pub permissions: BTreeMap<ModuleKey, Vec<Permission>>,
}

impl Population {
    /// Builds the population described by `config`. Takes a few seconds at the default size.
    ///
    /// # Errors
    /// When `config` is unusable (no company, no member, more exact patterns than catalog
    /// keys, more than five add-ons) or a service refuses a write.
    pub async fn build(config: &PopulationConfig) -> Result<Self, Error> {
        Self::build_on(
            config,
            Arc::new(MemoryAuthStore::new()),
            Arc::new(MemoryCoreStore::new()),
        )
        .await
    }

    /// As [`build`](Self::build), in the given (empty) stores: SQLite, PostgreSQL or any other
    /// backend.
    ///
    /// # Errors
    /// As [`build`](Self::build).
    pub async fn build_on(
        config: &PopulationConfig,
        auth: Arc<dyn AuthStore>,
        core: Arc<dyn CoreStore>,
    ) -> Result<Self, Error> {
        let exact_per_role = config
            .patterns_per_role
            .checked_sub(config.wildcards_per_role)
            .ok_or("wildcards_per_role exceeds patterns_per_role")?;
        if config.companies == 0 || config.members_per_company == 0 {
            return Err("a population needs at least one company and one member".into());
        }
        if exact_per_role > MODULES.len() * RESOURCES_PER_MODULE * ACTIONS.len() {
            return Err("more exact patterns per role than the catalog declares".into());
        }
        if config.active_add_ons > MODULES.len() - 1 {
            return Err("there are only five add-ons".into());
        }

        let now = DateTime::<Utc>::from_timestamp(EPOCH, 0).ok_or("EPOCH out of range")?;
        let clock = Arc::new(ManualClock::new(now));
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let entitlements = EntitlementService::new(core, dyn_clock.clone());
        let directory = DirectoryService::new(auth.clone(), dyn_clock.clone());
        let access = AccessService::new(
            auth.clone(),
            auth.clone(),
            Arc::new(entitlements.clone()),
            dyn_clock,
        );

        let permissions = put_catalog(&entitlements).await?;
        let keys: Vec<&Permission> = permissions.values().flatten().collect();
        let modules = module_keys()?;
        let add_ons: Vec<AddOnKey> = MODULES
            .iter()
            .skip(1)
            .map(|m| AddOnKey::new(m))
            .collect::<Result<_, _>>()?;
        let period_end = now + TimeDelta::days(30);

        let mut probes = Vec::with_capacity(config.companies * config.members_per_company);
        let mut typical = None;
        for c in 0..config.companies {
            let company_probes = populate_company(
                &Ctx {
                    config,
                    directory: &directory,
                    entitlements: &entitlements,
                    auth: &*auth,
                    keys: &keys,
                    modules: &modules,
                    add_ons: &add_ons,
                    now,
                    period_end,
                },
                c,
            )
            .await?;
            if typical.is_none() {
                typical = pick_typical(&company_probes);
            }
            probes.extend(company_probes);
        }
        let typical = typical
            .or_else(|| probes.first().cloned())
            .ok_or("no probe")?;
        shuffle(&mut probes, config.seed);

        Ok(Self {
            access,
            directory,
            entitlements,
            auth,
            clock,
            probes,
            typical,
            permissions,
        })
    }

    /// How long `iters` cold resolutions take, each of the next probe of `probes` (the
    /// measured loop of the aggregation benches: only the resolutions are timed).
    pub async fn time_resolutions<'a>(
        &self,
        probes: &mut impl Iterator<Item = &'a Probe>,
        iters: u64,
    ) -> std::time::Duration {
        let start = std::time::Instant::now();
        for _ in 0..iters {
            if let Some(p) = probes.next() {
                let resolved = self
                    .access
                    .resolve(
                        std::hint::black_box(p.user_id),
                        std::hint::black_box(p.session_id),
                        Some(std::hint::black_box(p.org())),
                    )
                    .await;
                std::hint::black_box(resolved.is_ok());
            }
        }
        start.elapsed()
    }

    /// Resolves one probe, checking that it lands on the probe's membership.
    ///
    /// # Errors
    /// When resolution is denied or lands elsewhere.
    pub async fn resolve(&self, probe: &Probe) -> Result<AccessContext, Error> {
        let ctx = self
            .access
            .resolve(probe.user_id, probe.session_id, Some(probe.org()))
            .await?;
        if ctx.membership_id != probe.membership_id || ctx.company_id != probe.company_id {
            return Err(format!(
                "probe {probe:?} resolved to membership {}",
                ctx.membership_id
            )
            .into());
        }
        Ok(ctx)
    }

    /// The access context of the [typical](Self::typical) member, computed from the stores.
    ///
    /// # Errors
    /// When resolution fails.
    pub async fn typical_context(&self) -> Result<AccessContext, Error> {
        self.resolve(&self.typical).await
    }

    /// An allowed and a denied check for `ctx`, preferring the `finance` module, verified against
    /// `ctx`; `None` when `ctx` has no module with both (an owner holds `*`, so nothing is denied).
    #[must_use]
    pub fn check_case(&self, ctx: &AccessContext) -> Option<CheckCase> {
        let preferred = ctx.modules.iter().filter(|m| m.as_str() == "finance");
        let others = ctx.modules.iter().filter(|m| m.as_str() != "finance");
        preferred.chain(others).find_map(|module| {
            let allowed = ctx
                .permissions
                .iter()
                .filter(|p| p.module() == Some(module.as_str()) && !p.as_str().ends_with('*'))
                .find_map(|p| Permission::new(p.as_str()).ok())?;
            let denied = self
                .permissions
                .get(module)?
                .iter()
                .find(|p| !ctx.permissions.matches(p))?
                .clone();
            let ok = ctx.check(module.as_str(), &allowed).is_ok()
                && ctx.check(module.as_str(), &denied) == Err(DenialCode::PermissionDenied);
            ok.then(|| CheckCase {
                module: module.clone(),
                allowed,
                denied,
            })
        })
    }
}

/// What every company's population step needs.
struct Ctx<'a> {
    config: &'a PopulationConfig,
    directory: &'a DirectoryService,
    entitlements: &'a EntitlementService,
    auth: &'a dyn AuthStore,
    keys: &'a [&'a Permission],
    modules: &'a [ModuleKey],
    add_ons: &'a [AddOnKey],
    now: DateTime<Utc>,
    period_end: DateTime<Utc>,
}

fn module_keys() -> Result<Vec<ModuleKey>, Error> {
    Ok(MODULES
        .iter()
        .map(|m| ModuleKey::new(m))
        .collect::<Result<_, _>>()?)
}

/// Writes the catalog and answers every declared permission key by module.
async fn put_catalog(
    entitlements: &EntitlementService,
) -> Result<BTreeMap<ModuleKey, Vec<Permission>>, Error> {
    let mut all = BTreeMap::new();
    for (module, resources) in MODULES.into_iter().zip(RESOURCES) {
        let key = ModuleKey::new(module)?;
        let mut declared = Vec::with_capacity(resources.len() * ACTIONS.len());
        for resource in resources {
            for action in ACTIONS {
                declared.push(Permission::new(&format!("{module}.{resource}.{action}"))?);
            }
        }
        let kind = if key == ModuleKey::core() {
            ModuleKind::Core
        } else {
            ModuleKind::Addon
        };
        entitlements
            .put_module(Module {
                key: key.clone(),
                name: module.to_owned(),
                kind,
                permissions: declared.clone(),
            })
            .await?;
        if kind == ModuleKind::Addon {
            entitlements
                .put_addon(AddOn {
                    key: AddOnKey::new(module)?,
                    name: module.to_owned(),
                    module: key.clone(),
                })
                .await?;
        }
        all.insert(key, declared);
    }
    entitlements
        .put_package(Package {
            key: PackageKey::new(BASIC_PACKAGE)?,
            name: "Basic".to_owned(),
            is_basic: true,
            modules: [ModuleKey::core()].into(),
        })
        .await?;
    Ok(all)
}

/// The patterns of role `r` of company `c`: wildcards over several modules, then exact keys
/// spread over the whole catalog with a stride coprime to its size (so they never repeat).
fn role_patterns(cx: &Ctx<'_>, c: usize, r: usize) -> Result<BTreeSet<PermissionPattern>, Error> {
    let mut patterns = BTreeSet::new();
    for w in 0..cx.config.wildcards_per_role {
        let m = (r + 2 * w) % MODULES.len();
        let module = MODULES.get(m).ok_or("module index")?;
        let resource = RESOURCES
            .get(m)
            .and_then(|rs| rs.get((r * 3 + w + c) % RESOURCES_PER_MODULE))
            .ok_or("resource index")?;
        patterns.insert(PermissionPattern::new(&format!("{module}.{resource}.*"))?);
    }
    let exact = cx.config.patterns_per_role - cx.config.wildcards_per_role;
    for k in 0..exact {
        let i = (c * 7 + r * 37 + k * 17) % cx.keys.len();
        let key = cx.keys.get(i).ok_or("key index")?;
        patterns.insert(PermissionPattern::from((*key).clone()));
    }
    Ok(patterns)
}

fn role_key(r: usize) -> Result<RoleKey, Error> {
    Ok(match ROLE_NAMES.get(r) {
        Some(name) => RoleKey::new(name)?,
        None => RoleKey::new(&format!("role-{r}"))?,
    })
}

/// Module grants of member `j` of company `c`: 3 to 6 modules, rotating.
fn grants(cx: &Ctx<'_>, c: usize, j: usize) -> BTreeSet<ModuleKey> {
    let count = 3 + j % 4;
    cx.modules
        .iter()
        .cycle()
        .skip((c + j) % MODULES.len())
        .take(count)
        .cloned()
        .collect()
}

/// Creates company `c` with its entitlements, roles, members, sessions and delegations, and
/// answers one probe per member, in member order.
async fn populate_company(cx: &Ctx<'_>, c: usize) -> Result<Vec<Probe>, Error> {
    let config = cx.config;
    let slug = CompanySlug::new(&format!("company-{c:05}"))?;
    let owner = UserId::new();
    let CreatedCompany {
        company,
        owner: owner_membership,
    } = cx
        .directory
        .create_company(&format!("Company {c:05}"), Some(slug.clone()), owner)
        .await?;

    // Entitlements: basic active, a few add-ons active, the next one canceled.
    cx.entitlements
        .set_subscription(Subscription {
            company_id: company.id,
            package: PackageKey::new(BASIC_PACKAGE)?,
            status: SubscriptionStatus::Active,
            current_period_end: Some(cx.period_end),
            grace_until: Some(cx.period_end + TimeDelta::days(7)),
        })
        .await?;
    let held = (config.active_add_ons + 1).min(cx.add_ons.len());
    for (a, addon) in cx
        .add_ons
        .iter()
        .cycle()
        .skip(c % cx.add_ons.len())
        .take(held)
        .enumerate()
    {
        let status = if a < config.active_add_ons {
            SubscriptionStatus::Active
        } else {
            SubscriptionStatus::Canceled
        };
        cx.entitlements
            .set_company_addon(CompanyAddOn {
                company_id: company.id,
                addon: addon.clone(),
                status,
                current_period_end: Some(cx.period_end),
            })
            .await?;
    }

    // Roles, then members holding all of them.
    let mut roles = BTreeSet::new();
    for r in 0..config.roles_per_company {
        let key = role_key(r)?;
        let name = key.to_string();
        cx.directory
            .put_role(company.id, key.clone(), &name, role_patterns(cx, c, r)?)
            .await?;
        roles.insert(key);
    }
    let mut owner_roles = roles.clone();
    owner_roles.insert(RoleKey::owner());
    let patch = MembershipPatch {
        roles: Some(owner_roles),
        module_grants: Some(grants(cx, c, 0)),
        status: None,
    };
    cx.directory
        .update_member(company.id, owner_membership.id, &patch)
        .await?;

    let mut memberships = vec![(owner, owner_membership.id)];
    for j in 1..config.members_per_company {
        let user = UserId::new();
        let m = cx
            .directory
            .add_member(
                company.id,
                user,
                MembershipStatus::Active,
                roles.clone(),
                grants(cx, c, j),
            )
            .await?;
        memberships.push((user, m.id));
    }

    // Delegations to the last members: from the owner (`finance.*`), or from member 1.
    let mut delegates = BTreeSet::new();
    let receivers = memberships
        .iter()
        .skip(2)
        .rev()
        .take(config.delegations_per_company);
    for (d, (_, to)) in receivers.enumerate() {
        let (from, permissions, modules) = if d % 2 == 0 {
            (owner_membership.id, vec!["finance.*"], vec!["finance"])
        } else {
            let from = memberships.get(1).map(|(_, m)| *m).ok_or("member 1")?;
            (from, vec!["market.stalls.*", "touring.tours.read"], vec![])
        };
        cx.directory
            .create_delegation(
                company.id,
                NewDelegation {
                    from_membership_id: from,
                    to_membership_id: *to,
                    permissions: permissions
                        .into_iter()
                        .map(PermissionPattern::new)
                        .collect::<Result<_, _>>()?,
                    modules: modules
                        .into_iter()
                        .map(ModuleKey::new)
                        .collect::<Result<_, _>>()?,
                    starts_at: None,
                    expires_at: cx.period_end,
                },
            )
            .await?;
        delegates.insert(*to);
    }

    // One session per member.
    let mut probes = Vec::with_capacity(memberships.len());
    for (j, (user, membership_id)) in memberships.into_iter().enumerate() {
        let session = Session::new(user, cx.now, TimeDelta::hours(12), TimeDelta::days(30));
        cx.auth.create_session(&session).await?;
        let kind = if j == 0 {
            MemberKind::Owner
        } else if delegates.contains(&membership_id) {
            MemberKind::Delegate
        } else {
            MemberKind::Member
        };
        probes.push(Probe {
            user_id: user,
            session_id: session.id,
            company_id: company.id,
            slug: slug.clone(),
            membership_id,
            kind,
        });
    }
    Ok(probes)
}

/// The typical member of a company: the 6th member when there is one (granted `core`,
/// `finance`, `market` and `ai` in company 0), else the first plain member.
fn pick_typical(probes: &[Probe]) -> Option<Probe> {
    probes
        .get(5)
        .filter(|p| p.kind == MemberKind::Member)
        .or_else(|| probes.iter().find(|p| p.kind == MemberKind::Member))
        .cloned()
}

/// A deterministic Fisher–Yates shuffle (xorshift64).
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = usize::try_from(state % (i as u64 + 1)).unwrap_or(0);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> PopulationConfig {
        PopulationConfig {
            companies: 6,
            ..PopulationConfig::default()
        }
    }

    #[test]
    fn every_probe_resolves_to_its_membership() {
        let rt = runtime().unwrap();
        let p = rt.block_on(Population::build(&small())).unwrap();
        assert_eq!(p.probes.len(), 6 * 20);
        let kinds: Vec<MemberKind> = p.probes.iter().map(|x| x.kind).collect();
        assert_eq!(kinds.iter().filter(|k| **k == MemberKind::Owner).count(), 6);
        assert_eq!(
            kinds.iter().filter(|k| **k == MemberKind::Delegate).count(),
            12
        );
        for probe in &p.probes {
            let ctx = rt.block_on(p.resolve(probe)).unwrap();
            assert!(ctx.core_app_visible || probe.kind != MemberKind::Owner);
            assert!(
                ctx.valid_until.is_some(),
                "the subscription period bounds every context"
            );
            assert_eq!(
                ctx.roles.len(),
                if probe.kind == MemberKind::Owner {
                    6
                } else {
                    5
                }
            );
        }
    }

    #[test]
    fn the_typical_member_has_a_finance_check() {
        let rt = runtime().unwrap();
        let p = rt.block_on(Population::build(&small())).unwrap();
        let ctx = rt.block_on(p.typical_context()).unwrap();
        let modules: Vec<&str> = ctx.modules.iter().map(ModuleKey::as_str).collect();
        assert_eq!(modules, ["company", "core", "finance", "market"]);
        assert!(
            ctx.permissions.len() > 30,
            "five roles of 30 patterns, cut to the modules"
        );
        let case = p.check_case(&ctx).unwrap();
        assert_eq!(case.module.as_str(), "finance");
        assert_eq!(ctx.check("finance", &case.allowed), Ok(()));
        assert_eq!(
            ctx.check("finance", &case.denied),
            Err(DenialCode::PermissionDenied)
        );
    }

    #[test]
    fn delegates_gain_finance_from_the_owner() {
        let rt = runtime().unwrap();
        let p = rt.block_on(Population::build(&small())).unwrap();
        let finance_wildcard = PermissionPattern::new("finance.*").unwrap();
        let gained = p
            .probes
            .iter()
            .filter(|x| x.kind == MemberKind::Delegate)
            .map(|x| rt.block_on(p.resolve(x)).unwrap())
            .filter(|ctx| ctx.permissions.contains(&finance_wildcard))
            .count();
        assert!(gained > 0);
    }

    #[test]
    fn owners_have_no_check_case() {
        let rt = runtime().unwrap();
        let p = rt.block_on(Population::build(&small())).unwrap();
        let owner = p
            .probes
            .iter()
            .find(|x| x.kind == MemberKind::Owner)
            .unwrap();
        let ctx = rt.block_on(p.resolve(owner)).unwrap();
        assert!(p.check_case(&ctx).is_none());
    }
}
