//! The caller's own routes: profile and memberships, access context in a company, password
//! change.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kisum_guard::DenialCode;
use kisum_guard::http::{ApiJson, ProblemResponse};
#[cfg(feature = "openapi")]
use kisum_guard::{AccessContext, Problem};
use serde::{Deserialize, Serialize};

use super::AuthState;
use super::auth::UserView;
use super::extract::{Caller, Client};
#[cfg(feature = "openapi")]
use super::openapi::{ChangesLimited, Hashing, JsonBody, SignedIn, Unavailable};
use crate::identity::Password;

/// One of the caller's memberships.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MembershipSummary))]
pub(super) struct MembershipView {
    /// The membership.
    membership_id: kisum_guard::MembershipId,
    /// The company.
    company_id: kisum_guard::CompanyId,
    /// The company's slug.
    company_slug: String,
    /// The company's name.
    company_name: String,
    /// The membership's status.
    status: crate::directory::MembershipStatus,
    /// Role keys.
    roles: Vec<String>,
}

/// The caller.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Me))]
pub(super) struct MeView {
    /// The user.
    user: UserView,
    /// Every membership.
    memberships: Vec<MembershipView>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/auth/me",
    operation_id = "me",
    tag = "sessions",
    summary = "The caller and their memberships",
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The user and their memberships", body = MeView),
        SignedIn, Unavailable
    )
))]
pub(super) async fn me(
    State(s): State<AuthState>,
    caller: Caller,
) -> Result<Json<MeView>, ProblemResponse> {
    let user = s
        .auth
        .user(caller.claims.sub)
        .await?
        .ok_or_else(|| ProblemResponse::from(DenialCode::Unauthenticated))?;
    let mut memberships = Vec::new();
    for m in s.directory.list_user_memberships(user.id).await? {
        if let Some(c) = s.directory.get_company(m.company_id).await? {
            memberships.push(MembershipView {
                membership_id: m.id,
                company_id: c.id,
                company_slug: c.slug.to_string(),
                company_name: c.name,
                status: m.status,
                roles: m.roles.iter().map(ToString::to_string).collect(),
            });
        }
    }
    Ok(Json(MeView {
        user: UserView {
            id: user.id,
            email: user.email.to_string(),
            name: user.name,
            email_verified: user.email_verified,
        },
        memberships,
    }))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/auth/me/access",
    operation_id = "me_access",
    tag = "access",
    summary = "The caller's access context in a company",
    description = "The company is named by `X-Org`; the denials are those of the guard.",
    params(
        ("X-Org" = String, Header, description = "The company the request is about: its id or slug. Missing or empty → 400 `org_required`; unknown → 404 `org_unknown`."),
        ("X-Kisum-Consistency" = Option<String>, Header, nullable = false, description = "The opaque token of an earlier write's answer: the answer is never computed from a cached view older than that write. Malformed → 400 `invalid_request`.")
    ),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The access context", body = AccessContext),
        (status = 400, description = "`org_required` (no `X-Org`), or `invalid_request` (a malformed `X-Kisum-Consistency`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_a_member` (no membership in the company) or `membership_inactive` (the membership or the company is not active)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`org_unknown`: no company has that id or slug", body = Problem, content_type = "application/problem+json"),
        SignedIn, Unavailable
    )
))]
pub(super) async fn me_access(
    State(s): State<AuthState>,
    headers: HeaderMap,
) -> Result<Response, ProblemResponse> {
    // The token is checked here; the session's liveness by the resolution (step 1), or, for a
    // context from memory, by the revocation events that keep the caches current.
    let token = kisum_guard::http::bearer(&headers)
        .ok_or_else(|| ProblemResponse::from(DenialCode::Unauthenticated))?;
    let claims = s.auth.verify_token(token)?;
    let consistency = super::extract::consistency(&headers)?;
    let org = headers.get("x-org").and_then(|v| v.to_str().ok());
    let context = s
        .access
        .resolve_cached(claims.sub, claims.sid, org, consistency.as_ref())
        .await?;
    Ok(Json(&*context).into_response())
}

/// A password change.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ChangePasswordRequest))]
pub(super) struct ChangePasswordBody {
    /// The current password.
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    current_password: String,
    /// The new password.
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    new_password: String,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/auth/password/change",
    operation_id = "password_change",
    tag = "recovery",
    summary = "Change the caller's password",
    request_body = ChangePasswordBody,
    security(("bearer_jwt" = [])),
    responses(
        (status = 204, description = "The password is changed; the caller's other sessions are revoked"),
        (status = 403, description = "`reauthentication_required`: the session signed in (or reauthenticated) longer ago than the recent-auth window (`KISUM_RECENT_AUTH`, default 10 minutes); `POST /v1/auth/reauthenticate` first", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong types, missing fields or a weak new password", body = Problem, content_type = "application/problem+json"),
        SignedIn, JsonBody, ChangesLimited, Hashing
    )
))]
pub(super) async fn change_password(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
    ApiJson(b): ApiJson<ChangePasswordBody>,
) -> Result<StatusCode, ProblemResponse> {
    s.auth.require_recent_auth(&caller.session)?;
    // Every route that verifies a password is limited: this one per user.
    s.limits
        .check(&[(
            format!("password_change:user:{}", caller.claims.sub),
            s.limits.password_change_per_user,
        )])
        .await?;
    s.auth
        .change_password(
            caller.claims.sub,
            caller.session.id,
            Password::new(b.current_password),
            Password::new(b.new_password),
            client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
