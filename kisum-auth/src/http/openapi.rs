//! What the public routes' `#[utoipa::path]`s share (feature `openapi`): the problem answers
//! many of them give, as `utoipa::IntoResponses` sets listed in their `responses(...)` next to
//! their own answers, and the schemas of fields holding one constant.
//!
//! Every set's answers are `application/problem+json` [`Problem`] documents whose description
//! names the `code`s; a 429 (and the 503 of a password-hashing route) also carries
//! `Retry-After`. utoipa does not collect schemas from such sets: [`super::public_openapi`]
//! adds the `Problem` schema itself.

use std::collections::BTreeMap;

use kisum_guard::PROBLEM_CONTENT_TYPE;
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, Object, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder,
    Type,
};

/// A problem answer whose description names its `code`s; a 429, and a 503 that may be
/// `overloaded`, carry `Retry-After`.
fn problem(status: u16, codes: &str) -> RefOr<Response> {
    let mut response = ResponseBuilder::new().description(codes).content(
        PROBLEM_CONTENT_TYPE,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
    if status == 429 || codes.contains("`overloaded`") {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                )
                .description(Some("Whole seconds to wait."))
                .build(),
        );
    }
    response.build().into()
}

/// Declares each set: a unit struct whose `IntoResponses` answers its problems.
macro_rules! problems {
    ($($(#[$doc:meta])* $set:ident { $($status:literal => $codes:expr),+ $(,)? })+) => {$(
        $(#[$doc])*
        pub(super) struct $set;

        impl utoipa::IntoResponses for $set {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                BTreeMap::from([$(($status.to_string(), problem($status, $codes))),+])
            }
        }
    )+};
}

/// The 401 of a route behind a user access token.
const SIGNED_OUT: &str = "`unauthenticated` (no valid access token) or `session_revoked` (its \
                          session is revoked, expired or unknown)";
/// The 503 of a route reading a store.
const UNAVAILABLE: &str = "`unavailable`: a store the route needs is unreachable";

problems! {
    /// Behind a user access token: 401 without a usable one.
    SignedIn { 401 => SIGNED_OUT }
    /// A store the route reads may be down.
    Unavailable { 503 => UNAVAILABLE }
    /// A route hashing or verifying a password: a store may be down or the hashing workers
    /// busy.
    Hashing {
        503 => "`unavailable`: a store the route needs is unreachable; `overloaded`: every \
                      password-hashing worker is busy and the queue is full; `Retry-After` says \
                      when to retry",
    }
    /// A JSON request body: unreadable, or over the limit.
    JsonBody {
        400 => "`invalid_request`: malformed JSON or not a JSON content type",
        413 => "`payload_too_large`: the body is over the limit",
    }
    /// A JSON body of plain fields that may be missing or of the wrong type.
    Malformed { 422 => "`validation_failed`: wrong types or missing fields" }
    /// A company administration body, whose values are checked and bounded by policy.
    Bounded {
        422 => "`validation_failed`: wrong types, missing fields or invalid values (per-field \
                `errors`); `limit_exceeded`: over a policy bound (`KISUM_MAX_*`; the field is \
                named)",
    }
    /// A route limited per client address or email.
    RateLimited {
        429 => "`rate_limited`: too many attempts; `Retry-After` says when to retry",
    }
    /// A password change, limited per user.
    ChangesLimited {
        429 => "`rate_limited`: too many password changes by this user; `Retry-After` \
                      says when",
    }
    /// An email code, locked after too many wrong ones.
    CodeLocked {
        429 => "`otp_locked`: too many wrong codes; `Retry-After` says when to retry",
    }
    /// Adding a member, whose invitation emails are limited.
    InvitesLimited {
        429 => "`rate_limited`: too many invitation emails for this company or address",
    }
    /// An email flow, which the deployment may not have configured.
    EmailFlows { 501 => "`not_configured`: email flows are not configured" }
    /// A company administration route (`/v1/companies/{org}/*`): signed in, a member of the
    /// company holding the route's permission, the company known, its stores up.
    Admin {
        401 => SIGNED_OUT,
        403 => "`not_a_member`, `membership_inactive`, or `permission_denied` (the caller lacks \
                the route's permission through its own roles, or the change hands out or touches \
                more than it holds; `detail` says what)",
        404 => "`org_unknown` (no such company) or `not_found`",
        503 => UNAVAILABLE,
    }
}

/// A string schema whose one value is `value` (for `#[schema(schema_with = ...)]`).
pub(super) fn constant(value: &'static str, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some([value]))
        .build()
}
