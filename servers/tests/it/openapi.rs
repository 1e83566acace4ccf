//! `/openapi.json`: each document lists exactly the routes of API.md, is an OpenAPI 3.1
//! document whose references resolve, and is served as `application/json`.
//!
//! **Limitation.** The expected routes below are copied by hand from API.md's tables. These
//! tests catch a document drifting from these lists, not a router drifting from API.md: a route
//! added to a router (or to API.md) but not to the document fails here only once someone adds
//! it to these lists too. Keep them in step with API.md.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use http::{Request, StatusCode, header};
use kisum_servers::openapi;
use serde_json::Value;
use tower::ServiceExt;
use utoipa::openapi::OpenApi;

/// API.md, "Every server".
const EVERY_SERVER: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
];

/// What Auth's public listener mounts of [`EVERY_SERVER`]: not `/metrics`, which Auth serves on
/// its internal listener (operators scrape there; the public one faces browsers).
const EVERY_PUBLIC_LISTENER: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/openapi.json"),
];

/// API.md, "Auth — public listener".
const AUTH_PUBLIC: &[(&str, &str)] = &[
    ("POST", "/v1/auth/register"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/logout"),
    ("POST", "/v1/auth/logout-all"),
    ("GET", "/v1/auth/session"),
    ("GET", "/v1/auth/sessions"),
    ("DELETE", "/v1/auth/sessions/{session_id}"),
    ("GET", "/v1/auth/me"),
    ("GET", "/v1/auth/me/access"),
    ("POST", "/v1/auth/password/forgot"),
    ("POST", "/v1/auth/password/reset"),
    ("POST", "/v1/auth/password/change"),
    ("POST", "/v1/auth/email-otp/request"),
    ("POST", "/v1/auth/email-otp/verify"),
    ("GET", "/.well-known/jwks.json"),
];

/// The routes of [`AUTH_PUBLIC`] marked "—" (no authentication) in API.md.
const AUTH_PUBLIC_ANONYMOUS: &[(&str, &str)] = &[
    ("POST", "/v1/auth/register"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/password/forgot"),
    ("POST", "/v1/auth/password/reset"),
    ("POST", "/v1/auth/email-otp/request"),
    ("POST", "/v1/auth/email-otp/verify"),
    ("GET", "/.well-known/jwks.json"),
];

/// API.md, "Company administration" (public listener, Bearer).
const COMPANY_ADMIN: &[(&str, &str)] = &[
    ("POST", "/v1/companies"),
    ("GET", "/v1/companies/{org}/members"),
    ("POST", "/v1/companies/{org}/members"),
    ("PATCH", "/v1/companies/{org}/members/{membership_id}"),
    ("DELETE", "/v1/companies/{org}/members/{membership_id}"),
    ("GET", "/v1/companies/{org}/roles"),
    ("POST", "/v1/companies/{org}/roles"),
    ("PUT", "/v1/companies/{org}/roles/{key}"),
    ("DELETE", "/v1/companies/{org}/roles/{key}"),
    ("GET", "/v1/companies/{org}/delegations"),
    ("POST", "/v1/companies/{org}/delegations"),
    ("DELETE", "/v1/companies/{org}/delegations/{delegation_id}"),
    ("GET", "/v1/companies/{org}/access/explain"),
];

/// API.md, "Auth — internal listener (service key)".
const AUTH_INTERNAL: &[(&str, &str)] = &[
    ("POST", "/internal/v1/access/resolve"),
    ("GET", "/internal/v1/sessions/{session_id}"),
    ("POST", "/internal/v1/events"),
    ("GET", "/internal/v1/audit"),
];

/// API.md, "Core — internal listener only (service key)".
const CORE_INTERNAL: &[(&str, &str)] = &[
    ("GET", "/internal/v1/modules"),
    ("PUT", "/internal/v1/modules/{key}"),
    ("GET", "/internal/v1/packages"),
    ("PUT", "/internal/v1/packages/{key}"),
    ("GET", "/internal/v1/addons"),
    ("PUT", "/internal/v1/addons/{key}"),
    ("GET", "/internal/v1/companies/{company_id}/entitlements"),
    ("PUT", "/internal/v1/companies/{company_id}/subscription"),
    ("PUT", "/internal/v1/companies/{company_id}/addons/{key}"),
    ("DELETE", "/internal/v1/companies/{company_id}/addons/{key}"),
];

/// API.md, the reference `finance` backend, with `finance` as `{name}`.
const MODULE: &[(&str, &str)] = &[
    ("GET", "/v1/{name}/invoices"),
    ("POST", "/v1/{name}/invoices"),
    ("GET", "/v1/{name}/invoices/{id}"),
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

type Routes = BTreeSet<(String, String)>;

fn json(doc: &OpenApi) -> Value {
    serde_json::to_value(doc).unwrap()
}

fn routes(lists: &[&[(&str, &str)]]) -> Routes {
    lists
        .iter()
        .flat_map(|l| l.iter())
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect()
}

/// Every `(METHOD, path)` of a document, with its operation.
fn operations(doc: &Value) -> BTreeMap<(String, String), &Value> {
    let mut ops = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (key, op) in item.as_object().unwrap() {
            assert!(
                METHODS.contains(&key.as_str()) || key == "parameters",
                "{path}: unexpected member `{key}`"
            );
            if METHODS.contains(&key.as_str()) {
                ops.insert((key.to_uppercase(), path.clone()), op);
            }
        }
    }
    ops
}

fn listed(doc: &Value) -> Routes {
    operations(doc).into_keys().collect()
}

/// The four documents, each with the routes it must list exactly.
fn documents() -> Vec<(&'static str, OpenApi, Routes)> {
    let module = MODULE
        .iter()
        .map(|(m, p)| ((*m).to_owned(), p.replace("{name}", "finance")))
        .chain(routes(&[EVERY_SERVER]))
        .collect();
    vec![
        (
            "auth_public",
            openapi::auth_public(),
            routes(&[AUTH_PUBLIC, COMPANY_ADMIN, EVERY_PUBLIC_LISTENER]),
        ),
        (
            "auth_internal",
            openapi::auth_internal(),
            routes(&[AUTH_INTERNAL, EVERY_SERVER]),
        ),
        (
            "core_internal",
            openapi::core_internal(),
            routes(&[CORE_INTERNAL, EVERY_SERVER]),
        ),
        ("module", openapi::module("finance"), module),
    ]
}

fn assert_lists_exactly(doc: &OpenApi, expected: &Routes) {
    let listed = listed(&json(doc));
    let missing: Vec<_> = expected.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing from the document: {missing:?}; not in API.md: {extra:?}"
    );
}

#[test]
fn auth_public_lists_exactly_the_public_and_company_routes_of_api_md() {
    assert_lists_exactly(
        &openapi::auth_public(),
        &routes(&[AUTH_PUBLIC, COMPANY_ADMIN, EVERY_PUBLIC_LISTENER]),
    );
}

#[test]
fn auth_internal_lists_exactly_the_internal_routes_of_api_md() {
    assert_lists_exactly(
        &openapi::auth_internal(),
        &routes(&[AUTH_INTERNAL, EVERY_SERVER]),
    );
}

#[test]
fn core_internal_lists_exactly_the_core_routes_of_api_md() {
    assert_lists_exactly(
        &openapi::core_internal(),
        &routes(&[CORE_INTERNAL, EVERY_SERVER]),
    );
}

#[test]
fn module_lists_exactly_the_invoice_routes_under_its_name() {
    for name in ["finance", "market"] {
        let expected = MODULE
            .iter()
            .map(|(m, p)| ((*m).to_owned(), p.replace("{name}", name)))
            .chain(routes(&[EVERY_SERVER]))
            .collect();
        assert_lists_exactly(&openapi::module(name), &expected);
    }
}

#[test]
fn every_document_is_an_openapi_3_1_document() {
    for (name, doc, _) in documents() {
        let v = json(&doc);
        assert_eq!(v["openapi"], "3.1.0", "{name}");
        assert!(
            !v["info"]["title"].as_str().unwrap().is_empty(),
            "{name}: info.title"
        );
        assert_eq!(v["info"]["version"], env!("CARGO_PKG_VERSION"), "{name}");
        assert!(
            v["paths"].as_object().is_some_and(|p| !p.is_empty()),
            "{name}"
        );
        for path in v["paths"].as_object().unwrap().keys() {
            assert!(path.starts_with('/'), "{name}: {path}");
        }
        // utoipa's own model reads it back unchanged.
        let back: OpenApi = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(json(&back), v, "{name}: does not round-trip");
    }
}

#[test]
fn operations_have_unique_ids_tags_and_documented_answers() {
    for (name, doc, _) in documents() {
        let v = json(&doc);
        let tags: BTreeSet<&str> = v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        let mut ids = BTreeSet::new();
        for ((method, path), op) in operations(&v) {
            let at = format!("{name}: {method} {path}");
            let id = op["operationId"].as_str().unwrap();
            assert!(
                ids.insert(id.to_owned()),
                "{at}: duplicate operationId `{id}`"
            );
            assert!(!op["summary"].as_str().unwrap().is_empty(), "{at}");
            for tag in op["tags"].as_array().unwrap() {
                assert!(
                    tags.contains(tag.as_str().unwrap()),
                    "{at}: undeclared tag {tag}"
                );
            }
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{at}: no success answer"
            );
            for (status, response) in responses {
                let at = format!("{at} → {status}");
                assert!(
                    response["headers"]["X-Request-Id"].is_object(),
                    "{at}: every response carries X-Request-Id"
                );
                let code: u16 = status.parse().unwrap();
                if code >= 400 && path != "/ready" {
                    assert_eq!(
                        response["content"]["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{at}: errors are problem documents"
                    );
                    assert!(
                        response["description"].as_str().unwrap().contains('`'),
                        "{at}: the description names the codes"
                    );
                }
            }
            let params = op["parameters"].as_array().unwrap();
            assert!(
                params
                    .iter()
                    .any(|p| p["in"] == "header" && p["name"] == "X-Request-Id"),
                "{at}: X-Request-Id may be sent"
            );
        }
    }
}

#[test]
fn path_parameters_match_the_path_templates() {
    for (name, doc, _) in documents() {
        let v = json(&doc);
        for ((method, path), op) in operations(&v) {
            let in_template: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "path")
                .inspect(|p| assert_eq!(p["required"], true, "{name}: {method} {path}"))
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(in_template, declared, "{name}: {method} {path}");
        }
    }
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut BTreeSet<&'a str>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "$ref" {
                    out.insert(x.as_str().unwrap());
                } else {
                    refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves_and_every_schema_is_used() {
    for (name, doc, _) in documents() {
        let v = json(&doc);
        let schemas = v["components"]["schemas"].as_object().unwrap();
        let mut found = BTreeSet::new();
        refs(&v, &mut found);
        let referenced: BTreeSet<&str> = found
            .iter()
            .map(|r| {
                r.strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("{name}: unexpected reference {r}"))
            })
            .collect();
        for r in &referenced {
            assert!(schemas.contains_key(*r), "{name}: `{r}` is not defined");
        }
        for s in schemas.keys() {
            assert!(
                referenced.contains(s.as_str()),
                "{name}: `{s}` is defined but never used"
            );
        }
    }
}

fn security_of(op: &Value) -> BTreeSet<String> {
    op["security"]
        .as_array()
        .map(|a| {
            a.iter()
                .flat_map(|r| r.as_object().unwrap().keys().cloned())
                .collect()
        })
        .unwrap_or_default()
}

fn header_param<'a>(op: &'a Value, name: &str) -> Option<&'a Value> {
    op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["in"] == "header" && p["name"] == name)
}

#[test]
fn public_routes_take_access_tokens_where_api_md_says_so() {
    let v = json(&openapi::auth_public());
    let schemes = v["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(
        schemes.keys().collect::<Vec<_>>(),
        [openapi::BEARER_JWT],
        "one scheme: user access tokens"
    );
    assert_eq!(schemes[openapi::BEARER_JWT]["type"], "http");
    assert_eq!(schemes[openapi::BEARER_JWT]["scheme"], "bearer");
    assert_eq!(schemes[openapi::BEARER_JWT]["bearerFormat"], "JWT");
    let anonymous = routes(&[AUTH_PUBLIC_ANONYMOUS, EVERY_SERVER]);
    for (route, op) in operations(&v) {
        let security = security_of(op);
        if anonymous.contains(&route) {
            assert!(security.is_empty(), "{route:?} takes no token");
        } else {
            assert_eq!(
                security,
                BTreeSet::from([openapi::BEARER_JWT.to_owned()]),
                "{route:?}"
            );
            let unauthorized = op["responses"]["401"]["description"].as_str().unwrap();
            assert!(unauthorized.contains("`unauthenticated`"), "{route:?}");
        }
    }
}

#[test]
fn internal_routes_take_service_keys() {
    for doc in [openapi::auth_internal(), openapi::core_internal()] {
        let v = json(&doc);
        let schemes = v["components"]["securitySchemes"].as_object().unwrap();
        assert_eq!(schemes.keys().collect::<Vec<_>>(), [openapi::SERVICE_KEY]);
        assert_eq!(schemes[openapi::SERVICE_KEY]["scheme"], "bearer");
        let ops = routes(&[EVERY_SERVER]);
        for (route, op) in operations(&v) {
            let expected = if ops.contains(&route) {
                BTreeSet::new()
            } else {
                BTreeSet::from([openapi::SERVICE_KEY.to_owned()])
            };
            assert_eq!(security_of(op), expected, "{route:?}");
        }
    }
}

#[test]
fn guarded_routes_take_x_org_and_the_consistency_token() {
    let public = json(&openapi::auth_public());
    let module = json(&openapi::module("finance"));
    let public_ops = operations(&public);
    let module_ops = operations(&module);
    let me_access = public_ops[&("GET".to_owned(), "/v1/auth/me/access".to_owned())];
    let guarded = MODULE
        .iter()
        .map(|(m, p)| module_ops[&((*m).to_owned(), p.replace("{name}", "finance"))]);
    for op in std::iter::once(me_access).chain(guarded) {
        let id = &op["operationId"];
        assert_eq!(header_param(op, "X-Org").unwrap()["required"], true, "{id}");
        assert_eq!(
            header_param(op, "X-Kisum-Consistency").unwrap()["required"],
            false,
            "{id}"
        );
        for (status, code) in [
            ("400", "`org_required`"),
            ("401", "`unauthenticated`"),
            ("401", "`session_revoked`"),
            ("403", "`not_a_member`"),
            ("404", "`org_unknown`"),
        ] {
            let d = op["responses"][status]["description"].as_str().unwrap();
            assert!(d.contains(code), "{id}: {status} names {code}");
        }
    }
    for (route, op) in &module_ops {
        if route.1.starts_with("/v1/") {
            let denied = op["responses"]["403"]["description"].as_str().unwrap();
            for code in [
                "`module_not_entitled`",
                "`module_not_granted`",
                "`permission_denied`",
            ] {
                assert!(denied.contains(code), "{route:?}: 403 names {code}");
            }
        }
    }
    // The internal resolve takes the consistency token too, not X-Org (`org` is in the body).
    let internal = json(&openapi::auth_internal());
    let internal_ops = operations(&internal);
    let resolve = internal_ops[&("POST".to_owned(), "/internal/v1/access/resolve".to_owned())];
    assert!(header_param(resolve, "X-Kisum-Consistency").is_some());
    assert!(header_param(resolve, "X-Org").is_none());
}

#[test]
fn company_writes_answer_a_consistency_token() {
    let v = json(&openapi::auth_public());
    for ((method, path), op) in operations(&v) {
        if !path.starts_with("/v1/companies") || method == "GET" {
            continue;
        }
        let success = op["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(s, _)| s.starts_with('2'))
            .unwrap()
            .1;
        assert!(
            success["headers"]["X-Kisum-Consistency"].is_object(),
            "{method} {path}"
        );
    }
}

/// The members of a component schema.
fn members(v: &Value, schema: &str) -> BTreeSet<String> {
    v["components"]["schemas"][schema]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no schema {schema}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn schemas_have_the_members_api_md_gives_them() {
    let public = json(&openapi::auth_public());
    let core = json(&openapi::core_internal());
    let module = json(&openapi::module("finance"));
    for (name, doc, _) in documents() {
        assert_eq!(
            members(&json(&doc), "Problem"),
            set(&[
                "type",
                "title",
                "status",
                "code",
                "detail",
                "request_id",
                "errors"
            ]),
            "{name}"
        );
    }
    assert_eq!(
        members(&public, "TokenResponse"),
        set(&[
            "access_token",
            "token_type",
            "expires_in",
            "refresh_token",
            "refresh_expires_in",
            "session_id"
        ])
    );
    // API.md's members, plus what the server adds (`entitled_modules`, `valid_until`).
    let access = members(&public, "AccessContext");
    assert!(access.is_superset(&set(&[
        "user_id",
        "session_id",
        "company_id",
        "membership_id",
        "roles",
        "modules",
        "permissions",
        "core_app_visible",
        "access_version",
        "entitlement_version",
        "computed_at"
    ])));
    let entitlements = members(&core, "Entitlements");
    assert!(entitlements.is_superset(&set(&[
        "company_id",
        "entitlement_version",
        "basic_active",
        "modules",
        "subscription",
        "add_ons"
    ])));
    assert_eq!(
        members(&public, "RegisterRequest"),
        set(&["email", "password", "name", "company_name"])
    );
    assert_eq!(
        members(&core, "SubscriptionRequest"),
        set(&["package", "status", "current_period_end", "grace_until"])
    );
    assert_eq!(
        members(&module, "NewInvoice"),
        set(&["customer", "amount_cents", "currency"])
    );
}

#[tokio::test]
async fn the_router_serves_the_document_as_json() {
    let doc = openapi::core_internal();
    let answer = openapi::router(doc.clone())
        .oneshot(
            Request::get(openapi::OPENAPI_PATH)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()[header::CONTENT_TYPE], "application/json");
    let body = axum::body::to_bytes(answer.into_body(), usize::MAX)
        .await
        .unwrap();
    let served: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(served, json(&doc));
    assert_eq!(served["openapi"], "3.1.0");
}

#[tokio::test]
async fn the_router_answers_only_get_openapi_json() {
    let app = openapi::router(openapi::module("finance"));
    let post = app
        .clone()
        .oneshot(
            Request::post(openapi::OPENAPI_PATH)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    let other = app
        .oneshot(Request::get("/openapi.yaml").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}
