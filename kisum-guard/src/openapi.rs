//! What the `#[utoipa::path]`s of every Kisum router share (feature `openapi`): problem
//! answers as `utoipa::IntoResponses` sets, listed in a handler's `responses(...)` next to its
//! own answers, so a description every route gives is written once.
//!
//! Every answer of a set is an `application/problem+json` [`Problem`] document whose description
//! names the `code`s; a 429, and a 503 that may be `overloaded`, also carry `Retry-After`.
//! utoipa does not collect schemas from such sets: a document using them adds the `Problem`
//! schema with [`add_problem_schema`].
//!
//! ```
//! use kisum_guard::openapi::{ServiceKeyRequired, Unavailable};
//! use utoipa::IntoResponses as _;
//!
//! kisum_guard::problem_responses! {
//!     /// A route that refuses what is already there.
//!     pub Conflicting { 409 => "`conflict`: it exists already" }
//! }
//! assert!(Conflicting::responses().contains_key("409"));
//! assert!(ServiceKeyRequired::responses().contains_key("401"));
//! assert!(Unavailable::responses().contains_key("503"));
//! ```

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::SchemaType;
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Required, Response,
    ResponseBuilder, Type,
};

use crate::denial::{PROBLEM_CONTENT_TYPE, Problem};

/// A problem answer whose description is `codes` (the `code`s it may carry, in prose); a 429,
/// and a 503 that may be `overloaded`, carry `Retry-After`.
#[must_use]
pub fn problem_response(status: u16, codes: &str) -> RefOr<Response> {
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

/// Every operation `doc` describes, as `(method, path)` with the method in lower case
/// (`("get", "/v1/auth/me")`): what a router built from the same handlers should mount, for a
/// test that no route is mounted without its document or documented without its route.
#[must_use]
pub fn operations(doc: &OpenApi) -> std::collections::BTreeSet<(String, String)> {
    doc.paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            let item = serde_json::to_value(item).unwrap_or_default();
            let methods: Vec<String> = item
                .as_object()
                .map(|o| {
                    o.keys()
                        .filter(|k| {
                            !matches!(
                                k.as_str(),
                                "parameters" | "summary" | "description" | "servers"
                            )
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            methods.into_iter().map(move |m| (m, path.clone()))
        })
        .collect()
}

/// Adds the `Problem` schema (and those it names) to `doc`, which the sets name without
/// utoipa collecting it.
pub fn add_problem_schema(doc: &mut OpenApi) {
    use utoipa::{PartialSchema as _, ToSchema as _};
    let mut schemas = vec![(Problem::name().into_owned(), Problem::schema())];
    Problem::schemas(&mut schemas);
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, schema) in schemas {
        components.schemas.entry(name).or_insert(schema);
    }
}

/// Declares sets of problem answers: each a unit struct (with its visibility and docs) whose
/// `utoipa::IntoResponses` answers `status => codes` through [`problem_response`].
///
/// ```
/// kisum_guard::problem_responses! {
///     /// A JSON body that may be refused.
///     pub(crate) Refused {
///         409 => "`conflict`: it exists already",
///         422 => "`validation_failed`: wrong types or missing fields",
///     }
/// }
/// ```
#[macro_export]
macro_rules! problem_responses {
    ($($(#[$doc:meta])* $vis:vis $set:ident { $($status:literal => $codes:expr),+ $(,)? })+) => {$(
        $(#[$doc])*
        $vis struct $set;

        impl $crate::openapi::__private::IntoResponses for $set {
            fn responses() -> $crate::openapi::__private::BTreeMap<
                ::std::string::String,
                $crate::openapi::__private::RefOr<$crate::openapi::__private::Response>,
            > {
                $crate::openapi::__private::BTreeMap::from([$((
                    ::std::string::ToString::to_string(&$status),
                    $crate::openapi::problem_response($status, $codes),
                )),+])
            }
        }
    )+};
}

/// What [`problem_responses!`] names, for the callers' expansions.
#[doc(hidden)]
pub mod __private {
    pub use std::collections::BTreeMap;
    pub use utoipa::IntoResponses;
    pub use utoipa::openapi::{RefOr, Response};
}

/// The 401 of a route behind a user access token.
pub const SIGNED_OUT: &str = "`unauthenticated` (no valid access token) or `session_revoked` (its \
                              session is revoked, expired or unknown)";
/// The 503 of a route reading a store.
pub const UNAVAILABLE: &str = "`unavailable`: a store the route needs is unreachable";

problem_responses! {
    /// Behind a user access token: 401 without a usable one.
    pub SignedIn { 401 => SIGNED_OUT }
    /// Behind a service key: 401 without one of the accepted keys.
    pub ServiceKeyRequired {
        401 => "`unauthenticated`: no service key, or not one of the accepted keys",
    }
    /// A store the route reads may be down.
    pub Unavailable { 503 => UNAVAILABLE }
    /// A JSON request body: unreadable, or over the limit.
    pub JsonBody {
        400 => "`invalid_request`: malformed JSON or not a JSON content type",
        413 => "`payload_too_large`: the body is over the limit",
    }
}

/// The request headers a route behind the guard reads, for a handler's `params(...)`: `X-Org`
/// (required) and the optional `X-Kisum-Consistency`.
pub struct GuardHeaders;

impl utoipa::IntoParams for GuardHeaders {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let header = |name: &str, required: bool, description: &str, types: SchemaType| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .description(Some(description))
                .required(if required {
                    Required::True
                } else {
                    Required::False
                })
                .schema(Some(ObjectBuilder::new().schema_type(types).build()))
                .build()
        };
        vec![
            header(
                "X-Org",
                true,
                "The company the request is about: its id or slug. Missing or empty → 400 \
                 `org_required`; unknown → 404 `org_unknown`.",
                SchemaType::new(Type::String),
            ),
            header(
                "X-Kisum-Consistency",
                false,
                "The opaque token of an earlier write's answer: the answer is never computed \
                 from a cached view older than that write. Malformed → 400 `invalid_request`.",
                SchemaType::from_iter([Type::String, Type::Null]),
            ),
        ]
    }
}
