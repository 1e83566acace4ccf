//! What one delegation yields to its delegatee, now.
//!
//! A delegation yields at most what the delegator holds *now*, within the delegated modules and
//! the delegator's own modules; the delegator's own delegations are never passed on, and the
//! `company` module (administration) is never delegable.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use kisum_guard::{CompanyId, MembershipId, ModuleKey, PermissionPattern, PermissionSet};

use super::aggregate::{all_pattern, held_roles, holds_all, own_modules};
use crate::directory::{DelegationGrant, MembershipStatus};

/// What one delegation brings at an instant.
#[derive(Debug)]
pub(super) enum Yield {
    /// Not for this membership, revoked or over: nothing, now or later.
    Nothing,
    /// Not started: nothing now, but the context changes when it starts.
    Later(DateTime<Utc>),
    /// In its window, but the delegator is no longer active: nothing until it ends.
    DelegatorInactive {
        /// When the window ends.
        until: DateTime<Utc>,
        /// The delegator's status.
        status: MembershipStatus,
    },
    /// In force until `until`.
    Scope {
        /// When the window ends.
        until: DateTime<Utc>,
        /// The delegated modules, within the delegator's own.
        modules: BTreeSet<ModuleKey>,
        /// The delegated patterns, within what the delegator holds and the modules.
        patterns: Vec<PermissionPattern>,
    },
}

/// What `grant` yields at `now` to `delegatee` of `company`, whose company is entitled to
/// `entitled` (with `company`).
pub(super) fn delegated(
    grant: &DelegationGrant,
    company: CompanyId,
    delegatee: MembershipId,
    entitled: &BTreeSet<ModuleKey>,
    now: DateTime<Utc>,
) -> Yield {
    let d = &grant.delegation;
    if d.revoked_at.is_some() || d.company_id != company || d.to_membership_id != delegatee {
        return Yield::Nothing;
    }
    if now < d.starts_at {
        return Yield::Later(d.starts_at);
    }
    if now >= d.expires_at {
        return Yield::Nothing;
    }
    let delegator = &grant.delegator;
    if delegator.status != MembershipStatus::Active || delegator.company_id != company {
        return Yield::DelegatorInactive {
            until: d.expires_at,
            status: delegator.status,
        };
    }
    let roles = held_roles(&delegator.roles, &grant.delegator_roles);
    let all = holds_all(&delegator.roles, &grant.delegator_roles);
    let mut delegator_modules = own_modules(&delegator.module_grants, all, entitled);
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
    // Of what the delegator holds only `*` and the patterns of the scope's modules can count:
    // only patterns of the scope are yielded, and a pattern is covered only by `*` or by a
    // pattern of its own module. Each role's compiled list gives a module's patterns at once.
    let held: Vec<&PermissionPattern> = all
        .then(all_pattern)
        .into_iter()
        .chain(scope.iter().flat_map(|m| {
            roles
                .clone()
                .flat_map(move |r| r.compiled().of_module(m.as_str()))
        }))
        .collect();
    // Patterns nest or are disjoint, so the pairwise intersections of the wanted and the held
    // patterns are the held patterns some wanted one covers plus the wanted patterns some held
    // one covers: two linear passes over sets, not a product. A delegation names few patterns,
    // so while they are few they are compared directly and no set is built.
    // Sets only for a delegation of more than a few patterns.
    let sets = (d.permissions.len() > FEW).then(|| {
        let held_set: PermissionSet = held.iter().map(|p| (*p).clone()).collect();
        let wanted_set: PermissionSet = d.permissions.iter().cloned().collect();
        (held_set, wanted_set)
    });
    let wanted_covers = |h: &PermissionPattern| match &sets {
        Some((_, wanted)) => wanted.covers(h),
        None => d.permissions.iter().any(|w| w.covers(h)),
    };
    let held_covers = |w: &PermissionPattern| match &sets {
        Some((held_set, _)) => held_set.covers(w),
        None => held.iter().any(|h| h.covers(w)),
    };
    let both = held
        .iter()
        .copied()
        .filter(|h| wanted_covers(h))
        .chain(d.permissions.iter().filter(|w| held_covers(w)));
    let mut patterns = Vec::new();
    for both in both {
        if both.is_all() {
            patterns.extend(scope.iter().map(PermissionPattern::module_wildcard));
        } else if both.module().is_some_and(|m| scope.contains(m)) {
            patterns.push(both.clone());
        }
    }
    Yield::Scope {
        until: d.expires_at,
        modules: scope,
        patterns,
    }
}

/// Up to how many delegated patterns [`delegated`] compares them with the held ones directly.
const FEW: usize = 8;
