//! The caller's account data (decision 0037): `GET /v1/auth/me/export` (everything held about
//! them, as a JSON attachment) and `DELETE /v1/auth/me` (the erasure). Both need a recent
//! sign-in, as changing the password does.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kisum_guard::Problem;
use kisum_guard::http::ProblemResponse;
use serde::Serialize;

use super::AuthState;
use super::extract::{Caller, Client};
#[cfg(feature = "openapi")]
use super::openapi::{SignedIn, Unavailable};
use crate::account::{AccountError, AccountExport};

/// Everything held about the caller (see the `account` module of the library for the fields:
/// `profile`, `identities`, `passkeys`, `totp`, `sessions`, `memberships`, `delegations`,
/// `platform_roles`, `api_keys`, `audit_events`). Never a hash or a secret.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = Object, as = AccountExport))]
#[serde(transparent)]
pub(super) struct ExportDocument(AccountExport);

impl From<AccountError> for ProblemResponse {
    fn from(e: AccountError) -> Self {
        let detail = e.to_string();
        match e {
            AccountError::LastOwner => Problem::new(409, "last_owner", "last owner")
                .with_detail(detail)
                .into(),
            AccountError::NotFound => Problem::not_found("account").into(),
            AccountError::Failed(f) => f.into(),
        }
    }
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    get,
    path = "/v1/auth/me/export",
    operation_id = "account_export",
    tag = "auth",
    summary = "Download everything held about the caller",
    description = "Needs recent auth. A JSON attachment (`Content-Disposition: attachment`, `Cache-Control: no-store`): the profile, linked provider identities, passkeys (names and use), whether an authenticator app is enrolled, sessions, memberships with their companies and roles, delegations given and received, platform roles, the company API keys the caller created, and the audit events of what the caller did. Never a password hash, token, code, key or secret. Audited as `account.export`.",
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The document", body = ExportDocument, headers(("Content-Disposition" = String, description = "`attachment; filename=\"kisum-account.json\"`"), ("Cache-Control" = String, description = "`no-store`"))),
        (status = 403, description = "`reauthentication_required`: signed in longer ago than the recent-auth window; `POST /v1/auth/reauthenticate` first", body = Problem, content_type = "application/problem+json"),
        SignedIn, Unavailable
    )
))]
pub(super) async fn export_account(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
) -> Result<Response, ProblemResponse> {
    s.auth.require_recent_auth(&caller.session)?;
    let export = s.auth.export_account(caller.claims.sub, &client).await?;
    let mut response = Json(ExportDocument(export)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"kisum-account.json\""),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    delete,
    path = "/v1/auth/me",
    operation_id = "account_delete",
    tag = "auth",
    summary = "Delete the caller's account",
    description = "Needs recent auth. Every session ends at every guard; the password, authenticator app, recovery codes, passkeys and provider identities are deleted; the profile is erased (the email can sign up again); every membership is revoked as a removal is (delegations given or received end too). Audit rows stay, naming a pseudonym instead of the account; `account.deleted` is audited under it.",
    security(("bearer_jwt" = [])),
    responses(
        (status = 204, description = "The account is deleted"),
        (status = 403, description = "`reauthentication_required`: signed in longer ago than the recent-auth window; `POST /v1/auth/reauthenticate` first", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_owner`: the caller is the only owner of a company that has other members; make another member an owner first", body = Problem, content_type = "application/problem+json"),
        SignedIn, Unavailable
    )
))]
pub(super) async fn delete_account(
    State(s): State<AuthState>,
    caller: Caller,
    Client(client): Client,
) -> Result<StatusCode, ProblemResponse> {
    s.auth.require_recent_auth(&caller.session)?;
    s.auth.delete_account(caller.claims.sub, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
