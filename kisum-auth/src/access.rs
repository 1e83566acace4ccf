//! Access aggregation: from session, company, membership, roles, delegations and entitlements to
//! one [`AccessContext`] or one [`DenialCode`], and the step-by-step explanation of it.
//!
//! The seven steps (ARCHITECTURE.md):
//! 1. the session exists, belongs to the user, and is neither revoked nor expired;
//! 2. the `X-Org` value (id or slug) names a company;
//! 3. the user is a member, and the membership (and the company) is active;
//! 4. the company's entitlements come from Core;
//! 5. `modules = entitlements ∩ (grants ∪ every module if a role holds "*")`, plus `company`,
//!    plus what active delegations bring (within the delegator's own modules);
//! 6. `permissions = role patterns ∪ delegated patterns (each ∩ what the delegator holds now)`,
//!    keeping only patterns whose module is in `modules`;
//! 7. the [`AccessContext`].

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_core::{EntitlementService, Entitlements};
use kisum_guard::{
    AccessContext, CORE_MODULE, Clock, CompanyId, CompanySlug, DenialCode, MembershipId, ModuleKey,
    OWNER_ROLE, Permission, PermissionPattern, PermissionSet, SessionId, UserId,
};
use serde::{Deserialize, Serialize};

use crate::directory::{
    AccessInputs, Company, CompanyStatus, DirectoryStore, MembershipStatus, Role,
};
use crate::session::SessionStore;

/// Where Auth gets a company's entitlements: Core in process, or Core over HTTP.
#[async_trait]
pub trait EntitlementSource: Send + Sync + 'static {
    /// The company's current entitlements.
    ///
    /// # Errors
    /// `Unavailable` when Core cannot be reached.
    async fn entitlements(&self, company_id: CompanyId) -> Result<Entitlements, StoreError>;
}

/// The in-process source: Core's service in the same binary.
#[async_trait]
impl EntitlementSource for EntitlementService {
    async fn entitlements(&self, company_id: CompanyId) -> Result<Entitlements, StoreError> {
        EntitlementService::entitlements(self, company_id).await
    }
}

/// One step of an explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What was checked (`session`, `company`, `membership`, `membership_status`, `entitlements`,
    /// `modules`, `permissions`, `module`, `permission`).
    pub check: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

/// A decision explained step by step: the "why can't this user access this module?" runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// Whether access is allowed.
    pub allowed: bool,
    /// The denial, when not allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<DenialCode>,
    /// The steps, in order; the last failing one names the denial.
    pub steps: Vec<Step>,
}

/// Records steps only when explaining, so the hot path formats nothing.
struct Trace<'a>(Option<&'a mut Vec<Step>>);

impl Trace<'_> {
    fn step(&mut self, check: &str, ok: bool, detail: impl FnOnce() -> String) {
        if let Some(steps) = self.0.as_mut() {
            steps.push(Step {
                check: check.to_owned(),
                ok,
                detail: detail(),
            });
        }
    }
}

fn join<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.into_iter().collect();
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

/// The patterns a membership's roles grant (the built-in `owner` grants `*`). Only roles whose
/// key the membership holds count, and a stored role named `owner` never does.
fn role_patterns<'a>(
    role_keys: &'a BTreeSet<kisum_guard::RoleKey>,
    roles: &'a [Arc<Role>],
    all: &'a PermissionPattern,
) -> impl Iterator<Item = &'a PermissionPattern> + Clone + 'a {
    let owner = role_keys.contains(OWNER_ROLE).then_some(all);
    let stored = roles
        .iter()
        .filter(|r| r.key.as_str() != OWNER_ROLE && role_keys.contains(&r.key))
        .flat_map(|r| r.permissions.iter());
    owner.into_iter().chain(stored)
}

/// A member's own modules: the entitled ones they were granted (all of them with `*`), plus
/// `company`.
fn own_modules(
    grants: &BTreeSet<ModuleKey>,
    holds_all: bool,
    entitled: &BTreeSet<ModuleKey>,
) -> BTreeSet<ModuleKey> {
    let mut modules: BTreeSet<ModuleKey> = if holds_all {
        entitled.clone()
    } else {
        grants
            .iter()
            .filter(|m| entitled.contains(*m))
            .cloned()
            .collect()
    };
    modules.insert(ModuleKey::company());
    modules
}

fn earliest(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(a.map_or(b, |a| a.min(b)))
}

fn in_modules(pattern: &PermissionPattern, modules: &BTreeSet<ModuleKey>) -> bool {
    pattern.module().is_none_or(|m| modules.contains(m))
}

/// [`in_modules`] remembering its last answer: role patterns come sorted, so consecutive
/// patterns mostly share their module.
struct ModuleFilter<'a> {
    modules: &'a BTreeSet<ModuleKey>,
    last: Option<(&'a str, bool)>,
}

impl<'a> ModuleFilter<'a> {
    fn new(modules: &'a BTreeSet<ModuleKey>) -> Self {
        Self {
            modules,
            last: None,
        }
    }

    fn admits(&mut self, pattern: &'a PermissionPattern) -> bool {
        if let Some((last, ok)) = self.last {
            let s = pattern.as_str();
            if s.len() > last.len()
                && s.starts_with(last)
                && s.as_bytes().get(last.len()) == Some(&b'.')
            {
                return ok;
            }
        }
        let Some(module) = pattern.module() else {
            return true;
        };
        let ok = self.modules.contains(module);
        self.last = Some((module, ok));
        ok
    }
}

/// Steps 3 to 7 for one member, given what the stores hold. `inputs` is `None` for a non-member.
///
/// # Errors
/// `not_a_member` or `membership_inactive`.
pub fn aggregate(
    user_id: UserId,
    session_id: SessionId,
    company: &Company,
    inputs: Option<&AccessInputs>,
    entitlements: &Entitlements,
    now: DateTime<Utc>,
) -> Result<AccessContext, DenialCode> {
    evaluate(
        user_id,
        session_id,
        company,
        inputs,
        entitlements,
        now,
        &mut Trace(None),
    )
}

fn evaluate(
    user_id: UserId,
    session_id: SessionId,
    company: &Company,
    inputs: Option<&AccessInputs>,
    entitlements: &Entitlements,
    now: DateTime<Utc>,
    trace: &mut Trace<'_>,
) -> Result<AccessContext, DenialCode> {
    // Step 3: membership and status.
    let Some(inputs) =
        inputs.filter(|i| i.membership.company_id == company.id && i.membership.user_id == user_id)
    else {
        trace.step("membership", false, || {
            format!("no membership in `{}`", company.slug)
        });
        return Err(DenialCode::NotAMember);
    };
    let membership = &inputs.membership;
    trace.step("membership", true, || {
        format!("membership {} in `{}`", membership.id, company.slug)
    });
    if company.status != CompanyStatus::Active {
        trace.step("membership_status", false, || {
            format!("company `{}` is {}", company.slug, company.status.as_str())
        });
        return Err(DenialCode::MembershipInactive);
    }
    if membership.status != MembershipStatus::Active {
        trace.step("membership_status", false, || {
            format!("membership is {}", membership.status.as_str())
        });
        return Err(DenialCode::MembershipInactive);
    }
    trace.step("membership_status", true, || {
        "membership is active".to_owned()
    });

    // Step 4: entitlements.
    let mut entitled = entitlements.module_keys();
    trace.step("entitlements", true, || {
        format!(
            "company modules: {} (basic {}, entitlement version {})",
            join(entitled.iter().map(ModuleKey::as_str)),
            if entitlements.basic_active {
                "active"
            } else {
                "inactive"
            },
            entitlements.entitlement_version
        )
    });
    entitled.insert(ModuleKey::company());

    // Steps 5 and 6 for the member's own roles and grants.
    let all = PermissionPattern::all();
    let own = role_patterns(&membership.roles, &inputs.roles, &all);
    let holds_all = membership.roles.contains(OWNER_ROLE)
        || inputs
            .roles
            .iter()
            .any(|r| membership.roles.contains(&r.key) && r.permissions.contains(&all));
    let mut modules = own_modules(&membership.module_grants, holds_all, &entitled);
    // What delegations bring is kept apart: a delegated module must not unlock the member's
    // own patterns for it, or the delegation would yield more than the delegator holds.
    let mut delegated: Vec<PermissionPattern> = Vec::new();
    let mut delegated_modules: Vec<ModuleKey> = Vec::new();
    let mut valid_until = entitlements.valid_until;

    // Delegations: each yields at most what the delegator holds now, within the delegated
    // modules; the delegator's own delegations are never passed on.
    for grant in &inputs.delegations {
        let d = &grant.delegation;
        if d.revoked_at.is_some()
            || d.company_id != company.id
            || d.to_membership_id != membership.id
        {
            continue;
        }
        if now < d.starts_at {
            valid_until = earliest(valid_until, d.starts_at);
            continue;
        }
        if now >= d.expires_at {
            continue;
        }
        valid_until = earliest(valid_until, d.expires_at);
        let delegator = &grant.delegator;
        if delegator.status != MembershipStatus::Active || delegator.company_id != company.id {
            trace.step("delegation", false, || {
                format!(
                    "delegation {} ignored: delegator is {}",
                    d.id,
                    delegator.status.as_str()
                )
            });
            continue;
        }
        let held: Vec<&PermissionPattern> =
            role_patterns(&delegator.roles, &grant.delegator_roles, &all).collect();
        let mut delegator_modules = own_modules(
            &delegator.module_grants,
            held.iter().any(|p| p.is_all()),
            &entitled,
        );
        // Delegated permissions never administer: the `company` module is not delegable.
        delegator_modules.remove(ModuleKey::company().as_str());
        let scope: BTreeSet<ModuleKey> = if d.modules.is_empty() {
            d.permissions
                .iter()
                .filter_map(|p| p.module())
                .filter_map(|m| ModuleKey::new(m).ok())
                .collect()
        } else {
            d.modules.clone()
        };
        let scope: BTreeSet<ModuleKey> = scope
            .into_iter()
            .filter(|m| delegator_modules.contains(m))
            .collect();
        let before = delegated.len();
        // Patterns nest or are disjoint, so the pairwise intersections of the wanted and the
        // held patterns are the held patterns some wanted one covers plus the wanted
        // patterns some held one covers: two linear passes over sets, not a product.
        let held: Vec<&PermissionPattern> = held
            .into_iter()
            .filter(|h| in_modules(h, &delegator_modules))
            .collect();
        let held_set: PermissionSet = held.iter().map(|p| (*p).clone()).collect();
        let wanted_set: PermissionSet = d.permissions.iter().cloned().collect();
        let both = held
            .iter()
            .copied()
            .filter(|h| wanted_set.covers(h))
            .chain(d.permissions.iter().filter(|w| held_set.covers(w)));
        for both in both {
            if both.is_all() {
                delegated.extend(scope.iter().map(PermissionPattern::module_wildcard));
            } else if both.module().is_some_and(|m| scope.contains(m)) {
                delegated.push(both.clone());
            }
        }
        trace.step("delegation", true, || {
            format!(
                "delegation {} from membership {}: modules {}, {} pattern(s) within what the delegator holds",
                d.id,
                delegator.id,
                join(scope.iter().map(ModuleKey::as_str)),
                delegated.len().saturating_sub(before)
            )
        });
        delegated_modules.extend(scope);
    }

    let own_count: usize = inputs.roles.iter().map(|r| r.permissions.len()).sum();
    let mut permissions = PermissionSet::with_capacity(own_count + delegated.len());
    let mut filter = ModuleFilter::new(&modules);
    for p in own {
        if filter.admits(p) {
            permissions.insert(p.clone());
        }
    }
    // Delegated patterns are already confined to their delegation's modules.
    for p in delegated {
        permissions.insert(p);
    }
    modules.extend(delegated_modules);
    trace.step("modules", true, || {
        format!(
            "member modules: {}",
            join(modules.iter().map(ModuleKey::as_str))
        )
    });
    trace.step("permissions", true, || {
        format!(
            "member permissions: {}",
            join(permissions.iter().map(PermissionPattern::as_str))
        )
    });

    // Step 7.
    Ok(AccessContext {
        user_id,
        session_id,
        company_id: company.id,
        membership_id: membership.id,
        roles: membership.roles.iter().cloned().collect(),
        core_app_visible: modules.contains(CORE_MODULE),
        modules,
        entitled_modules: entitled,
        permissions,
        access_version: membership.access_version,
        entitlement_version: entitlements.entitlement_version,
        computed_at: now,
        valid_until,
    })
}

/// Why access could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A decision: access is denied with this code.
    #[error("access denied: {0}")]
    Denied(DenialCode),
    /// A store or source could not answer; nothing was decided.
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

impl From<DenialCode> for AccessError {
    fn from(code: DenialCode) -> Self {
        Self::Denied(code)
    }
}

/// Resolves and explains access over the stores and an entitlement source.
#[derive(Clone)]
pub struct AccessService {
    sessions: Arc<dyn SessionStore>,
    directory: Arc<dyn DirectoryStore>,
    entitlements: Arc<dyn EntitlementSource>,
    clock: Arc<dyn Clock>,
}

impl AccessService {
    /// A service over the given stores and source.
    #[must_use]
    pub fn new(
        sessions: Arc<dyn SessionStore>,
        directory: Arc<dyn DirectoryStore>,
        entitlements: Arc<dyn EntitlementSource>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            sessions,
            directory,
            entitlements,
            clock,
        }
    }

    /// Whether `session_id` is active at the clock's now and belongs to `user_id`.
    ///
    /// # Errors
    /// The store failure.
    pub async fn session_is_active(
        &self,
        user_id: UserId,
        session_id: SessionId,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let session = self.sessions.get_session(session_id).await?;
        Ok(session.is_some_and(|s| s.user_id == user_id && s.is_active(now)))
    }

    /// Resolves the `X-Org` value (a company id or slug).
    ///
    /// # Errors
    /// `org_required` when empty or missing, `org_unknown` when it names no company, or the
    /// store failure.
    pub async fn resolve_company(&self, org: Option<&str>) -> Result<Company, AccessError> {
        let org = org
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .ok_or(DenialCode::OrgRequired)?;
        let found = if let Ok(id) = org.parse::<CompanyId>() {
            self.directory.get_company(id).await?
        } else if let Ok(slug) = CompanySlug::new(&if org.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(org.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(org)
        }) {
            self.directory.find_company_by_slug(&slug).await?
        } else {
            None
        };
        Ok(found.ok_or(DenialCode::OrgUnknown)?)
    }

    /// The seven steps for a signed-in user: the access context, or the first denial.
    ///
    /// # Errors
    /// [`AccessError::Denied`] with the denial in order of precedence, or
    /// [`AccessError::Unavailable`] when a store or Core cannot answer.
    pub async fn resolve(
        &self,
        user_id: UserId,
        session_id: SessionId,
        org: Option<&str>,
    ) -> Result<AccessContext, AccessError> {
        let now = self.clock.now();
        // Step 1.
        let session = self.sessions.get_session(session_id).await?;
        if !session.is_some_and(|s| s.user_id == user_id && s.is_active(now)) {
            return Err(DenialCode::SessionRevoked.into());
        }
        // Step 2.
        let company = self.resolve_company(org).await?;
        // Steps 3 to 7.
        let inputs = self.directory.load_access(company.id, user_id).await?;
        if inputs.is_none() {
            return Err(DenialCode::NotAMember.into());
        }
        let entitlements = self.entitlements.entitlements(company.id).await?;
        Ok(aggregate(
            user_id,
            session_id,
            &company,
            inputs.as_ref(),
            &entitlements,
            now,
        )?)
    }

    /// Explains, step by step, whether the membership may use `module` and hold `permission`
    /// (either may be omitted). The session step does not apply: this is an administrator's view.
    ///
    /// # Errors
    /// [`AccessError::Unavailable`] when a store or Core cannot answer.
    pub async fn explain(
        &self,
        company: &Company,
        membership_id: MembershipId,
        module: Option<&ModuleKey>,
        permission: Option<&Permission>,
    ) -> Result<Explanation, AccessError> {
        let now = self.clock.now();
        let mut steps = vec![Step {
            check: "company".to_owned(),
            ok: true,
            detail: format!("company `{}` ({})", company.slug, company.id),
        }];
        let membership = self
            .directory
            .get_membership(membership_id)
            .await?
            .filter(|m| m.company_id == company.id);
        let (user_id, inputs) = match membership {
            Some(m) => (
                m.user_id,
                self.directory.load_access(company.id, m.user_id).await?,
            ),
            None => (UserId::from_uuid(uuid::Uuid::nil()), None),
        };
        let entitlements = if inputs.is_some() {
            self.entitlements.entitlements(company.id).await?
        } else {
            kisum_core::resolve(
                &kisum_core::Catalog::default(),
                &kisum_core::CompanyEntitlementState::empty(company.id),
                now,
            )
        };
        let session_id = SessionId::from_uuid(uuid::Uuid::nil());
        let result = evaluate(
            user_id,
            session_id,
            company,
            inputs.as_ref(),
            &entitlements,
            now,
            &mut Trace(Some(&mut steps)),
        )
        .and_then(|ctx| {
            if let Some(module) = module {
                let r = ctx.check_module(module.as_str());
                steps.push(Step {
                    check: "module".to_owned(),
                    ok: r.is_ok(),
                    detail: match r {
                        Ok(()) => format!("module `{module}` is usable"),
                        Err(DenialCode::ModuleNotGranted) => {
                            format!("company has `{module}` but the member was not granted it")
                        }
                        Err(_) => format!("company is not entitled to `{module}`"),
                    },
                });
                r?;
            }
            if let Some(permission) = permission {
                let r = ctx.check_permission(permission);
                steps.push(Step {
                    check: "permission".to_owned(),
                    ok: r.is_ok(),
                    detail: match r {
                        Ok(()) => format!("`{permission}` is held"),
                        Err(DenialCode::PermissionDenied) => {
                            format!("no pattern grants `{permission}`")
                        }
                        Err(code) => {
                            format!("module `{}` of `{permission}`: {code}", permission.module())
                        }
                    },
                });
                r?;
            }
            Ok(ctx)
        });
        Ok(Explanation {
            allowed: result.is_ok(),
            code: result.err(),
            steps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{Delegation, Membership};
    use kisum_core::{EnabledModule, ModuleSource};
    use kisum_guard::{AddOnKey, DelegationId, RoleKey};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn company() -> Company {
        Company {
            id: CompanyId::new(),
            slug: CompanySlug::new("acme").unwrap(),
            name: "Acme".into(),
            status: CompanyStatus::Active,
            created_at: t(0),
        }
    }

    fn ents(company: &Company, modules: &[&str]) -> Entitlements {
        Entitlements {
            company_id: company.id,
            entitlement_version: 4,
            basic_active: modules.contains(&"core"),
            modules: modules
                .iter()
                .map(|m| EnabledModule {
                    key: ModuleKey::new(m).unwrap(),
                    source: ModuleSource::AddOn(AddOnKey::new(m).unwrap()),
                })
                .collect(),
            subscription: None,
            add_ons: vec![],
            valid_until: None,
        }
    }

    fn member(company: &Company, roles: &[&str], grants: &[&str]) -> Membership {
        Membership::new(
            company.id,
            UserId::new(),
            MembershipStatus::Active,
            roles.iter().map(|r| RoleKey::new(r).unwrap()).collect(),
            grants.iter().map(|m| ModuleKey::new(m).unwrap()).collect(),
            t(0),
        )
    }

    fn role(company: &Company, key: &str, perms: &[&str]) -> Arc<Role> {
        Arc::new(Role {
            company_id: company.id,
            key: RoleKey::new(key).unwrap(),
            name: key.into(),
            permissions: perms
                .iter()
                .map(|p| PermissionPattern::new(p).unwrap())
                .collect(),
        })
    }

    fn perm(s: &str) -> Permission {
        Permission::new(s).unwrap()
    }

    fn run(
        c: &Company,
        inputs: &AccessInputs,
        e: &Entitlements,
        now: DateTime<Utc>,
    ) -> Result<AccessContext, DenialCode> {
        aggregate(
            inputs.membership.user_id,
            SessionId::new(),
            c,
            Some(inputs),
            e,
            now,
        )
    }

    #[test]
    fn owner_gets_every_entitled_module_and_company() {
        let c = company();
        let inputs = AccessInputs {
            membership: member(&c, &["owner"], &[]),
            roles: vec![],
            delegations: vec![],
        };
        let ctx = run(&c, &inputs, &ents(&c, &["core", "finance"]), t(1)).unwrap();
        let mods: Vec<_> = ctx.modules.iter().map(ModuleKey::as_str).collect();
        assert_eq!(mods, ["company", "core", "finance"]);
        assert!(ctx.core_app_visible);
        assert!(ctx.allows(&perm("finance.invoices.write")));
        assert!(ctx.allows(&perm("company.roles.manage")));
        assert_eq!(
            ctx.check("market", &perm("market.a.b")),
            Err(DenialCode::ModuleNotEntitled)
        );
    }

    #[test]
    fn grants_are_cut_to_entitlements_and_permissions_to_modules() {
        let c = company();
        let inputs = AccessInputs {
            membership: member(&c, &["viewer"], &["finance", "market"]),
            roles: vec![role(
                &c,
                "viewer",
                &[
                    "finance.invoices.read",
                    "market.*",
                    "venue.halls.read",
                    "company.members.read",
                ],
            )],
            delegations: vec![],
        };
        let ctx = run(&c, &inputs, &ents(&c, &["finance", "venue"]), t(1)).unwrap();
        let mods: Vec<_> = ctx.modules.iter().map(ModuleKey::as_str).collect();
        assert_eq!(mods, ["company", "finance"]);
        let perms: Vec<_> = ctx
            .permissions
            .iter()
            .map(PermissionPattern::as_str)
            .collect();
        assert_eq!(perms, ["company.members.read", "finance.invoices.read"]);
        assert!(!ctx.core_app_visible);
        assert_eq!(
            ctx.check("venue", &perm("venue.halls.read")),
            Err(DenialCode::ModuleNotGranted)
        );
    }

    #[test]
    fn inactive_membership_or_company_is_denied() {
        let c = company();
        for status in [
            MembershipStatus::Invited,
            MembershipStatus::Suspended,
            MembershipStatus::Revoked,
        ] {
            let mut m = member(&c, &["owner"], &[]);
            m.status = status;
            let inputs = AccessInputs {
                membership: m,
                roles: vec![],
                delegations: vec![],
            };
            assert_eq!(
                run(&c, &inputs, &ents(&c, &[]), t(1)),
                Err(DenialCode::MembershipInactive)
            );
        }
        let mut suspended = company();
        suspended.status = CompanyStatus::Suspended;
        let inputs = AccessInputs {
            membership: member(&suspended, &["owner"], &[]),
            roles: vec![],
            delegations: vec![],
        };
        assert_eq!(
            run(&suspended, &inputs, &ents(&suspended, &[]), t(1)),
            Err(DenialCode::MembershipInactive)
        );
    }

    #[test]
    fn inputs_of_another_company_are_not_membership() {
        let (c, other) = (company(), company());
        let inputs = AccessInputs {
            membership: member(&other, &["owner"], &[]),
            roles: vec![],
            delegations: vec![],
        };
        assert_eq!(
            run(&c, &inputs, &ents(&c, &[]), t(1)),
            Err(DenialCode::NotAMember)
        );
        assert_eq!(
            aggregate(
                UserId::new(),
                SessionId::new(),
                &c,
                None,
                &ents(&c, &[]),
                t(1)
            ),
            Err(DenialCode::NotAMember)
        );
    }

    fn delegation(
        c: &Company,
        from: &Membership,
        to: &Membership,
        perms: &[&str],
        modules: &[&str],
        window: (i64, i64),
    ) -> Delegation {
        Delegation {
            id: DelegationId::new(),
            company_id: c.id,
            from_membership_id: from.id,
            to_membership_id: to.id,
            permissions: perms
                .iter()
                .map(|p| PermissionPattern::new(p).unwrap())
                .collect(),
            modules: modules.iter().map(|m| ModuleKey::new(m).unwrap()).collect(),
            starts_at: t(window.0),
            expires_at: t(window.1),
            revoked_at: None,
            created_at: t(0),
        }
    }

    #[test]
    fn delegation_yields_only_what_the_delegator_holds_within_its_window() {
        let c = company();
        let boss = member(&c, &["accountant"], &["finance"]);
        let boss_roles = vec![role(&c, "accountant", &["finance.invoices.*"])];
        let deputy = member(&c, &[], &[]);
        let d = delegation(&c, &boss, &deputy, &["finance.*"], &["finance"], (10, 20));
        let inputs = AccessInputs {
            membership: deputy.clone(),
            roles: vec![],
            delegations: vec![crate::directory::DelegationGrant {
                delegation: d,
                delegator: boss.clone(),
                delegator_roles: boss_roles,
            }],
        };
        let e = ents(&c, &["finance"]);
        let before = run(&c, &inputs, &e, t(5)).unwrap();
        assert!(!before.allows(&perm("finance.invoices.read")));
        assert_eq!(
            before.valid_until,
            Some(t(10)),
            "cache must not outlive the start"
        );
        let during = run(&c, &inputs, &e, t(10)).unwrap();
        assert!(during.allows(&perm("finance.invoices.approve")));
        assert!(
            !during.allows(&perm("finance.payments.read")),
            "the delegator lacks it"
        );
        assert_eq!(during.valid_until, Some(t(20)));
        let after = run(&c, &inputs, &e, t(20)).unwrap();
        assert!(!after.allows(&perm("finance.invoices.read")));

        let mut suspended = inputs.clone();
        suspended.delegations[0].delegator.status = MembershipStatus::Suspended;
        assert!(
            !run(&c, &suspended, &e, t(15))
                .unwrap()
                .allows(&perm("finance.invoices.read"))
        );

        let mut revoked = inputs;
        revoked.delegations[0].delegation.revoked_at = Some(t(11));
        assert!(
            !run(&c, &revoked, &e, t(15))
                .unwrap()
                .allows(&perm("finance.invoices.read"))
        );
    }

    #[test]
    fn a_delegated_module_does_not_unlock_the_members_own_patterns() {
        // The member's role holds `market.*` but they were never granted `market`; a delegator
        // with a `market` grant and no market permission delegates the module. The member must
        // not gain `market.*`: the delegator does not hold it.
        let c = company();
        let member = member(&c, &["r"], &[]);
        let delegator = super::tests::member(&c, &[], &["market"]);
        let d = delegation(
            &c,
            &delegator,
            &member,
            &["market.*"],
            &["market"],
            (0, 100),
        );
        let inputs = AccessInputs {
            membership: member,
            roles: vec![role(&c, "r", &["market.*"])],
            delegations: vec![crate::directory::DelegationGrant {
                delegation: d,
                delegator,
                delegator_roles: vec![],
            }],
        };
        let ctx = run(&c, &inputs, &ents(&c, &["market"]), t(1)).unwrap();
        assert!(ctx.has_module("market"));
        assert!(!ctx.allows(&perm("market.stalls.read")));
    }

    #[test]
    fn owner_delegating_star_is_confined_to_the_delegated_modules() {
        let c = company();
        let owner = member(&c, &["owner"], &[]);
        let helper = member(&c, &[], &["market"]);
        let d = delegation(&c, &owner, &helper, &["*"], &["finance"], (0, 100));
        let inputs = AccessInputs {
            membership: helper,
            roles: vec![],
            delegations: vec![crate::directory::DelegationGrant {
                delegation: d,
                delegator: owner,
                delegator_roles: vec![],
            }],
        };
        let ctx = run(&c, &inputs, &ents(&c, &["finance", "market"]), t(1)).unwrap();
        assert!(ctx.allows(&perm("finance.invoices.write")));
        assert!(
            !ctx.allows(&perm("market.stalls.write")),
            "`*` was delegated for finance only"
        );
        assert!(!ctx.allows(&perm("company.roles.manage")));
    }

    #[test]
    fn delegated_modules_never_exceed_the_delegators() {
        let c = company();
        let boss = member(&c, &["fin"], &["finance"]);
        let deputy = member(&c, &[], &[]);
        let d = delegation(
            &c,
            &boss,
            &deputy,
            &["market.*", "finance.*"],
            &[],
            (0, 100),
        );
        let inputs = AccessInputs {
            membership: deputy,
            roles: vec![],
            delegations: vec![crate::directory::DelegationGrant {
                delegation: d,
                delegator: boss,
                delegator_roles: vec![role(&c, "fin", &["finance.*", "market.*"])],
            }],
        };
        let ctx = run(&c, &inputs, &ents(&c, &["finance", "market"]), t(1)).unwrap();
        assert!(ctx.has_module("finance"));
        assert!(
            !ctx.has_module("market"),
            "the delegator was never granted market"
        );
        assert!(!ctx.allows(&perm("market.stalls.read")));
    }
}
