//! `/openapi.json`: each document lists exactly the routes of API.md, is an OpenAPI 3.1
//! document whose references resolve, and is served as `application/json`.
//!
//! The expected routes are read from `docs/api/routes.md`, API.md's route tables copied
//! verbatim into the repository: a route added to a router but not to API.md, or the other way
//! round, fails here. Routes API.md specifies but that are not built yet are [`NOT_BUILT`].

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use http::{Request, StatusCode, header};
use kisum_servers::openapi;
use serde_json::Value;
use tower::ServiceExt;
use utoipa::openapi::OpenApi;

/// API.md's route tables, copied verbatim.
const ROUTES_MD: &str = include_str!("../../../docs/api/routes.md");

/// Rows of API.md that are specified but not built yet (each fails the tests once built,
/// until it is removed here).
const NOT_BUILT: &[(&str, &str)] = &[];

const VERBS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The text of the section of `routes.md` whose heading starts with `heading`, up to the next
/// heading of any level.
fn section(heading: &str) -> &'static str {
    let start = ROUTES_MD
        .lines()
        .position(|l| l.trim_start_matches('#').trim().starts_with(heading) && l.starts_with('#'))
        .unwrap_or_else(|| panic!("routes.md has no section `{heading}`"));
    let lines: Vec<&str> = ROUTES_MD.lines().collect();
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with('#'))
        .map_or(lines.len(), |n| start + 1 + n);
    let from = lines[..start + 1]
        .iter()
        .map(|l| l.len() + 1)
        .sum::<usize>();
    let to = lines[..end].iter().map(|l| l.len() + 1).sum::<usize>();
    &ROUTES_MD[from..to.min(ROUTES_MD.len())]
}

/// Every `METHOD[/METHOD] /path` in backticks of `text` (`...` continuing the previous path of
/// the same text, a query string dropped), with the text it came from.
fn routes_in(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut previous = String::new();
    for span in text.split('`').skip(1).step_by(2) {
        let Some((methods, path)) = span.split_once(' ') else {
            continue;
        };
        let methods: Vec<&str> = methods.split('/').collect();
        if !methods.iter().all(|m| VERBS.contains(m)) {
            continue;
        }
        let path = path.split('?').next().unwrap();
        let path = match path.strip_prefix("...") {
            Some(rest) => format!("{previous}{rest}"),
            None => path.to_owned(),
        };
        previous = path.clone();
        // `…/{id}/suspend\|reinstate`: one route per alternative of the last segment.
        let paths: Vec<String> = match path.rsplit_once('/') {
            Some((base, last)) if last.contains("\\|") => last
                .split("\\|")
                .map(|alt| format!("{base}/{alt}"))
                .collect(),
            _ => vec![path.clone()],
        };
        for m in methods {
            for p in &paths {
                out.push((m.to_owned(), p.clone()));
            }
        }
    }
    out
}

/// The routes of the table in `heading`'s section (the first cell of each row), each with the
/// row's second cell.
fn table(heading: &str) -> Vec<((String, String), String)> {
    section(heading)
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|row| {
            let cells: Vec<&str> = row.split(" | ").collect();
            let second = cells.get(1).map_or("", |c| c.trim()).to_owned();
            routes_in(cells[0])
                .into_iter()
                .map(move |r| (r, second.clone()))
        })
        .filter(|((m, p), _)| !NOT_BUILT.contains(&(m.as_str(), p.as_str())))
        .collect()
}

fn table_routes(heading: &str) -> Routes {
    table(heading).into_iter().map(|(r, _)| r).collect()
}

/// API.md, "Every server".
fn every_server() -> Routes {
    routes_in(section("Every server")).into_iter().collect()
}

/// What Auth's public listener mounts of [`every_server`]: not `/metrics`, which Auth serves on
/// its internal listener (operators scrape there; the public one faces browsers).
fn every_public_listener() -> Routes {
    every_server()
        .into_iter()
        .filter(|(_, p)| p != "/metrics")
        .collect()
}

/// API.md, "Auth — public listener" and "Stronger sign-in" (same listener).
fn auth_public() -> Routes {
    routes(&[
        table_routes("Auth — public listener"),
        table_routes("Stronger sign-in"),
    ])
}

/// The routes of [`auth_public`] and [`more_ways_in`] marked "—" (no authentication) in API.md.
fn auth_public_anonymous() -> Routes {
    table("Auth — public listener")
        .into_iter()
        .chain(table("Stronger sign-in"))
        .chain(table("More ways in"))
        .filter(|(_, auth)| auth == "—")
        .map(|(r, _)| r)
        .collect()
}

/// API.md, "More ways in" (public listener): provider sign-in and identities.
fn more_ways_in() -> Routes {
    table_routes("More ways in")
}

/// API.md, "Company administration" (public listener, Bearer).
fn company_admin() -> Routes {
    table_routes("Company administration")
}

/// API.md, "Company API keys" (public listener, Bearer).
fn company_api_keys() -> Routes {
    table_routes("Company API keys")
}

/// API.md, "Account data" (public listener, Bearer, recent auth).
fn account_data() -> Routes {
    table_routes("Account data")
}

/// API.md, "Platform administration" (public listener, platform roles).
fn platform_admin() -> Routes {
    table_routes("Platform administration")
}

/// API.md, "Auth — internal listener (service key)".
fn auth_internal() -> Routes {
    table_routes("Auth — internal listener")
}

/// API.md, "Core — internal listener only (service key)".
fn core_internal() -> Routes {
    table_routes("Core — internal listener")
}

/// API.md, "Licences and signed entitlement certificates (Core)": its internal table, served
/// by Core's internal listener.
fn licences_internal() -> Routes {
    table_routes("Licences and signed entitlement certificates")
}

/// API.md, the reference `finance` backend, with `{name}` for `finance`.
fn module_routes() -> Vec<(String, String)> {
    routes_in(section("`kisum dev`"))
        .into_iter()
        .map(|(m, p)| (m, p.replace("/v1/finance/", "/v1/{name}/")))
        .collect()
}

#[test]
fn routes_md_has_the_tables_of_api_md() {
    // The parsing above found what API.md lists (a reformatted table would read as empty).
    assert_eq!(auth_public().len(), 30);
    assert_eq!(auth_public_anonymous().len(), 20);
    assert_eq!(company_admin().len(), 13);
    assert_eq!(more_ways_in().len(), 10);
    assert_eq!(company_api_keys().len(), 3);
    assert_eq!(account_data().len(), 2);
    assert_eq!(auth_internal().len(), 6);
    assert_eq!(platform_admin().len(), 14);
    assert_eq!(core_internal().len(), 11);
    assert_eq!(licences_internal().len(), 11);
    assert_eq!(every_server().len(), 4);
    assert_eq!(module_routes().len(), 3);
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

type Routes = BTreeSet<(String, String)>;

fn json(doc: &OpenApi) -> Value {
    serde_json::to_value(doc).unwrap()
}

fn routes(lists: &[Routes]) -> Routes {
    lists.iter().flatten().cloned().collect()
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
    let module = module_routes()
        .iter()
        .map(|(m, p)| (m.clone(), p.replace("{name}", "finance")))
        .chain(every_server())
        .collect();
    vec![
        (
            "auth_public",
            openapi::auth_public(),
            routes(&[
                auth_public(),
                more_ways_in(),
                company_admin(),
                company_api_keys(),
                account_data(),
                platform_admin(),
                every_public_listener(),
            ]),
        ),
        (
            "auth_internal",
            openapi::auth_internal(),
            routes(&[auth_internal(), every_server()]),
        ),
        (
            "core_internal",
            openapi::core_internal(),
            routes(&[core_internal(), licences_internal(), every_server()]),
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
        &routes(&[
            auth_public(),
            more_ways_in(),
            company_admin(),
            company_api_keys(),
            account_data(),
            platform_admin(),
            every_public_listener(),
        ]),
    );
}

#[test]
fn auth_internal_lists_exactly_the_internal_routes_of_api_md() {
    assert_lists_exactly(
        &openapi::auth_internal(),
        &routes(&[auth_internal(), every_server()]),
    );
}

#[test]
fn core_internal_lists_exactly_the_core_routes_of_api_md() {
    assert_lists_exactly(
        &openapi::core_internal(),
        &routes(&[core_internal(), licences_internal(), every_server()]),
    );
}

#[test]
fn module_lists_exactly_the_invoice_routes_under_its_name() {
    for name in ["finance", "market"] {
        let expected = module_routes()
            .iter()
            .map(|(m, p)| (m.clone(), p.replace("{name}", name)))
            .chain(every_server())
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
            // A redirect is the success of the browser routes (provider sign-in).
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('2') || s.starts_with('3')),
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
    let anonymous = routes(&[auth_public_anonymous(), every_server()]);
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
        let ops = every_server();
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
    let module_routes = module_routes();
    let guarded = module_routes
        .iter()
        .map(|(m, p)| module_ops[&(m.clone(), p.replace("{name}", "finance"))]);
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
        // API keys change no member's access: there is nothing for a token to wait for.
        if !path.starts_with("/v1/companies") || method == "GET" || path.contains("/api-keys") {
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
