//! A company's pages: members, roles, delegations and "why can't this member …?".
//!
//! Every read and write calls the API's own handler (`crate::http::companies`) with the
//! signed-in caller: the same access resolution, permission checks, validation, audit events and
//! invalidation events as the JSON API. A refused write shows the page again with the problem's
//! message (and each invalid field), in the problem's status.
//!
//! One file per page: `members` (the list, invitations, a member's roles, module grants and
//! status, removal), `roles`, `delegations`, `explain`. What every company page shares is here
//! (its layout, the members as choices) and in `form`: a form's fields as an API body, and
//! the one way a write ends (to the page with a notice, or the page again with the problem),
//! which the API keys page uses too.

use axum::extract::State;
use kisum_guard::http::ProblemResponse;
use kisum_guard::{AccessContext, Problem};

use super::ConsoleState;
use super::account::signed_layout;
use super::edge::SignedIn;
use super::pages::{CompanyNav, ConsoleError, Layout};
use crate::api_key::API_KEYS_MANAGE;
use crate::http::companies::members::{MemberView, list_members};
use crate::http::companies::{ApiPath, MEMBERS_READ, access_in, holds};

mod delegations;
mod explain;
mod form;
mod members;
mod roles;

pub(super) use delegations::{delegate, delegations, revoke_delegation};
pub(super) use explain::explain;
pub(super) use form::{after, body, joined, keys, utc_input};
pub(super) use members::{invite, members, remove_member, update_member};
pub(super) use roles::{delete_role, roles, save_role};

/// The layout of a company page: the caller's context in `org` and the navigation.
pub(super) async fn company_layout(
    s: &ConsoleState,
    v: &SignedIn,
    org: &str,
    section: &'static str,
    title: &str,
) -> Result<(AccessContext, Layout), ConsoleError> {
    let ctx = access_in(&s.auth, &v.caller, org).await?;
    let company = s
        .auth
        .directory
        .get_company(ctx.company_id)
        .await
        .map_err(ProblemResponse::from)?
        .ok_or_else(|| Problem::not_found("company"))?;
    let mut layout = signed_layout(s, v, &format!("{title} · {}", company.name)).await?;
    layout.company = Some(CompanyNav {
        slug: company.slug.to_string(),
        name: company.name,
        can_read: holds(&ctx, MEMBERS_READ),
        can_keys: holds(&ctx, API_KEYS_MANAGE),
        section,
    });
    Ok((ctx, layout))
}

/// The company's members, as the API lists them.
async fn member_list(
    s: &ConsoleState,
    v: &SignedIn,
    org: &str,
) -> Result<Vec<MemberView>, ConsoleError> {
    Ok(list_members(
        State(s.auth.clone()),
        v.caller.clone(),
        ApiPath(org.to_owned()),
    )
    .await?
    .0)
}

/// A member to choose in a form.
struct Choice {
    id: String,
    label: String,
}

/// The members the caller may see, as choices (none without `company.members.read`).
async fn choices(
    s: &ConsoleState,
    v: &SignedIn,
    org: &str,
    ctx: &AccessContext,
) -> Result<Vec<Choice>, ConsoleError> {
    if !holds(ctx, MEMBERS_READ) {
        return Ok(Vec::new());
    }
    Ok(member_list(s, v, org)
        .await?
        .into_iter()
        .map(|m| Choice {
            id: m.membership_id.to_string(),
            label: format!(
                "{} ({})",
                m.email.unwrap_or_else(|| m.user_id.to_string()),
                m.status.as_str()
            ),
        })
        .collect())
}
