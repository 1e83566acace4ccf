//! Where the company comes from: the `X-Org` header or a path parameter of the matched route.

use axum::http::StatusCode;

use crate::support::*;

#[tokio::test]
async fn the_company_can_come_from_a_path_parameter() {
    let w = World::new();
    let app = w.app();
    // By slug, in any case, and by id; `X-Org` is not read on these routes.
    for org in ["acme", "ACME", &w.company.to_string()] {
        let a = call(
            &app,
            &format!("/companies/{org}/invoices"),
            Some(&w.token),
            None,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{org}: {}", a.body);
        assert!(a.body.contains(&w.company.to_string()), "{}", a.body);
    }
    let a = call(
        &app,
        "/companies/globex/invoices",
        Some(&w.token),
        Some("acme"),
    )
    .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (StatusCode::NOT_FOUND, "org_unknown"),
        "the path wins over the header"
    );
    // A parameter of another name, and the requirement still checked.
    let a = call_with(
        &app,
        "POST",
        "/companies/acme/invoices/new",
        Some(&w.token),
        None,
        &[],
    )
    .await;
    a.assert_problem(StatusCode::FORBIDDEN, "permission_denied");
    // Identity first: no token is 401 whatever the path says.
    let a = call(&app, "/companies/acme/invoices", None, None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_company_comes_from_x_org_by_default() {
    let w = World::new();
    let app = w.app();
    let a = invoices(&app, &w.token).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = call(&app, "/invoices", Some(&w.token), None).await;
    a.assert_problem(StatusCode::BAD_REQUEST, "org_required");
}
