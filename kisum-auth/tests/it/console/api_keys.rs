//! The console's API keys page over HTTP: the secret shown once, the key resolved by Auth for
//! the guards until the console revokes it, and the API's refusals (permission, escalation,
//! CSRF) shown as the console shows problems.

use std::sync::Arc;

use axum::http::{Method, StatusCode, header};
use kisum_auth::MembershipStatus;
use kisum_auth::access::AccessError;
use kisum_auth::api_key::ApiKeyResolver;
use kisum_guard::{DenialCode, ModuleKey, Permission, PermissionPattern, RoleKey};

use super::{ANA, Console, Jar, OWNER, VIEWER, call, enc, signed_in};

const PAGE: &str = "/console/companies/acme/api-keys";

/// The form creating a key reading invoices in `finance`, with the jar's token.
fn reader(jar: &Jar) -> String {
    format!(
        "csrf={}&name={}&permissions=finance.invoices.read&modules=finance&expires_at=",
        jar.csrf(),
        enc("ledger sync")
    )
}

/// The secret on a created key's page.
fn secret_in(page: &str) -> String {
    let start = page.find("kisum_sk_").expect(page);
    page[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

impl Console {
    /// Auth's resolution of `secret` in `acme`, as the guards ask for it.
    async fn resolve(&self, secret: &str) -> Result<kisum_guard::AccessContext, AccessError> {
        let store = self.world.store.clone();
        self.world
            .access
            .clone()
            .with_api_keys(Arc::new(ApiKeyResolver::new(store.clone(), store)))
            .resolve_api_key(secret, "acme")
            .await
    }
}

/// An owner creates a key: the secret is on the answer, once, with the warning; the list never
/// shows it; the key is accepted within its permissions until it is revoked from the console,
/// then refused (`session_revoked`) and listed as revoked.
#[tokio::test]
async fn an_owner_creates_a_key_sees_its_secret_once_and_revokes_it() {
    let c = Console::new().await;
    let mut jar = signed_in(&c.app, OWNER).await;
    let (status, _, page) = call(&c.app, &mut jar, Method::GET, PAGE, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("No API keys"), "{page}");
    assert!(
        page.contains("aria-current=\"page\">API keys</a>"),
        "{page}"
    );

    let form = reader(&jar);
    let (status, headers, created) = call(&c.app, &mut jar, Method::POST, PAGE, Some(&form)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert!(headers.get(header::LOCATION).is_none(), "no redirect");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert!(created.contains("it will not be shown again"), "{created}");
    let secret = secret_in(&created);
    assert!(secret.len() > 30, "{secret}");

    let (status, _, listed) = call(&c.app, &mut jar, Method::GET, PAGE, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(listed.contains("ledger sync") && listed.contains("finance.invoices.read"));
    assert!(
        !listed.contains(&secret[20..]),
        "the secret is never listed"
    );
    assert!(
        !jar.header().contains(&secret[20..]),
        "nor kept in a cookie"
    );

    let ctx = c.resolve(&secret).await.unwrap();
    let read = Permission::new("finance.invoices.read").unwrap();
    assert!(ctx.check_permission(&read).is_ok());

    let key = c.auth.list_api_keys(c.world.acme.id).await.unwrap()[0].id;
    let form = format!("csrf={}", jar.csrf());
    let (status, headers, _) = call(
        &c.app,
        &mut jar,
        Method::POST,
        &format!("{PAGE}/{key}/revoke"),
        Some(&form),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers[header::LOCATION].to_str().unwrap();
    assert_eq!(location, format!("{PAGE}?notice=api-key-revoked"));
    assert!(matches!(
        c.resolve(&secret).await,
        Err(AccessError::Denied(DenialCode::SessionRevoked))
    ));
    let (_, _, listed) = call(&c.app, &mut jar, Method::GET, location, None).await;
    assert!(listed.contains("The API key was revoked"), "{listed}");
    assert!(!listed.contains("/revoke\""), "nothing left to revoke");
}

/// A member without `company.api_keys.manage` gets the console's 403 page, can create nothing,
/// and is not offered the link.
#[tokio::test]
async fn a_member_without_the_permission_cannot_manage_keys() {
    let c = Console::new().await;
    let mut jar = signed_in(&c.app, VIEWER).await;
    let (status, _, page) = call(&c.app, &mut jar, Method::GET, PAGE, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("permission_denied"), "{page}");
    let form = reader(&jar);
    let (status, _, page) = call(&c.app, &mut jar, Method::POST, PAGE, Some(&form)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(!page.contains("kisum_sk_"));
    assert!(
        c.auth
            .list_api_keys(c.world.acme.id)
            .await
            .unwrap()
            .is_empty()
    );
    let (_, _, page) = call(
        &c.app,
        &mut jar,
        Method::GET,
        "/console/companies/acme/delegations",
        None,
    )
    .await;
    assert!(!page.contains("/api-keys\""), "{page}");
}

/// Creating or revoking without the form's CSRF token is refused and changes nothing.
#[tokio::test]
async fn attack_api_key_posts_without_the_csrf_token_are_refused() {
    let c = Console::new().await;
    let mut jar = signed_in(&c.app, OWNER).await;
    let forged = reader(&jar).replacen(&jar.csrf(), "forged", 1);
    let (status, _, page) = call(&c.app, &mut jar, Method::POST, PAGE, Some(&forged)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!page.contains("kisum_sk_"));
    let keys = c.auth.list_api_keys(c.world.acme.id).await.unwrap();
    assert!(keys.is_empty(), "nothing was created");

    let form = reader(&jar);
    let (_, _, created) = call(&c.app, &mut jar, Method::POST, PAGE, Some(&form)).await;
    let secret = secret_in(&created);
    let key = c.auth.list_api_keys(c.world.acme.id).await.unwrap()[0].id;
    let revoke = format!("{PAGE}/{key}/revoke");
    for form in ["", "csrf=forged"] {
        let (status, _, _) = call(&c.app, &mut jar, Method::POST, &revoke, Some(form)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{form}");
    }
    assert!(c.resolve(&secret).await.is_ok(), "the key still works");
}

/// An administrator whose role holds `company.api_keys.manage` and reading invoices cannot
/// make a key writing them: the API's `permission_denied` and its message are on the form,
/// which keeps what was typed.
#[tokio::test]
async fn attack_a_key_beyond_the_creators_roles_is_refused() {
    let c = Console::new().await;
    let patterns = ["company.api_keys.manage", "finance.invoices.read"]
        .map(|p| PermissionPattern::new(p).unwrap())
        .into();
    let role = RoleKey::new("keys-admin").unwrap();
    c.world
        .directory
        .put_role(c.world.acme.id, role.clone(), "Keys admin", patterns)
        .await
        .unwrap();
    c.world
        .directory
        .add_member(
            c.world.acme.id,
            c.id_of(ANA).await,
            MembershipStatus::Active,
            [role].into(),
            [ModuleKey::new("finance").unwrap()].into(),
        )
        .await
        .unwrap();
    let mut jar = signed_in(&c.app, ANA).await;
    let form = format!(
        "csrf={}&name=writer&permissions=finance.invoices.write&modules=finance",
        jar.csrf()
    );
    let (status, _, page) = call(&c.app, &mut jar, Method::POST, PAGE, Some(&form)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("permission_denied"), "{page}");
    assert!(
        page.contains("you do not hold it through your own roles"),
        "{page}"
    );
    assert!(page.contains("value=\"writer\""), "what was typed stays");
    assert!(!page.contains("kisum_sk_"));
    let keys = c.auth.list_api_keys(c.world.acme.id).await.unwrap();
    assert!(keys.is_empty(), "nothing was created");
}
