//! What the public routes' `#[utoipa::path]`s share (feature `openapi`): the problem answers
//! many of them give, as `utoipa::IntoResponses` sets listed in their `responses(...)` next to
//! their own answers, and the schemas of fields holding one constant.
//!
//! Every set's answers are `application/problem+json` [`Problem`] documents whose description
//! names the `code`s (see [`kisum_guard::openapi`], which holds the sets every Kisum router
//! shares and the macro declaring them).

pub(super) use kisum_guard::openapi::{JsonBody, SignedIn, Unavailable};
use kisum_guard::openapi::{SIGNED_OUT, UNAVAILABLE};
use utoipa::openapi::{Object, ObjectBuilder, Type};

kisum_guard::problem_responses! {
    /// A route hashing or verifying a password: a store may be down or the hashing workers
    /// busy.
    pub(super) Hashing {
        503 => "`unavailable`: a store the route needs is unreachable; `overloaded`: every \
                      password-hashing worker is busy and the queue is full; `Retry-After` says \
                      when to retry",
    }
    /// A JSON body of plain fields that may be missing or of the wrong type.
    pub(super) Malformed { 422 => "`validation_failed`: wrong types or missing fields" }
    /// A company administration body, whose values are checked and bounded by policy.
    pub(super) Bounded {
        422 => "`validation_failed`: wrong types, missing fields or invalid values (per-field \
                `errors`); `limit_exceeded`: over a policy bound (`KISUM_MAX_*`; the field is \
                named)",
    }
    /// A route limited per client address or email.
    pub(super) RateLimited {
        429 => "`rate_limited`: too many attempts; `Retry-After` says when to retry",
    }
    /// A password sign-in: limited, and for a user with a second factor locked after too many
    /// wrong codes.
    pub(super) SignInLimited {
        429 => "`rate_limited`: too many attempts; `otp_locked`: the password is right but too \
                many wrong second-factor codes were tried lately; `Retry-After` says when to retry",
    }
    /// A second factor: limited as sign-in, locked after too many wrong codes.
    pub(super) SecondFactorLimited {
        429 => "`rate_limited`: too many sign-in attempts; `otp_locked`: too many wrong codes \
                (5 per `mfa_token`, then the user's second factor waits for the lockout); \
                `Retry-After` says when to retry",
    }
    /// A password change, limited per user.
    pub(super) ChangesLimited {
        429 => "`rate_limited`: too many password changes by this user; `Retry-After` \
                      says when",
    }
    /// An email code, locked after too many wrong ones.
    pub(super) CodeLocked {
        429 => "`otp_locked`: too many wrong codes; `Retry-After` says when to retry",
    }
    /// Adding a member, whose invitation emails are limited.
    pub(super) InvitesLimited {
        429 => "`rate_limited`: too many invitation emails for this company or address",
    }
    /// An email flow, which the deployment may not have configured.
    pub(super) EmailFlows { 501 => "`not_configured`: email flows are not configured" }
    /// A company administration route (`/v1/companies/{org}/*`): signed in, a member of the
    /// company holding the route's permission, the company known, its stores up.
    pub(super) Admin {
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
