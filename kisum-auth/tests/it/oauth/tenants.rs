//! A multi-tenant issuer, as Microsoft's `…/common/v2.0` (decision 0043): its discovery names
//! the template `…/{tenantid}/v2.0`, and each ID token's `iss` must be that template with the
//! token's own `tid`, on the provider's tenant allow-list when it has one.

use serde_json::json;

use super::fake::{CLIENT_ID, Tweaks};
use super::{DONE, Harness, harness_with, memory, person, unique_email};

const TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
const OTHER_TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// The harness with `ms` (any tenant) and `ms-corp` (only [`TENANT`]) on the fake's
/// multi-tenant issuer.
async fn microsoft() -> Harness {
    harness_with(memory().await, |idp| {
        vec![
            json!({"id": "ms", "name": "Microsoft", "kind": "oidc",
                   "issuer": idp.multi_tenant_issuer(), "client_id": CLIENT_ID,
                   "client_secret_env": "UNUSED", "redirect_uris": [DONE]}),
            json!({"id": "ms-corp", "name": "Corp", "kind": "oidc",
                   "issuer": idp.multi_tenant_issuer(), "client_id": CLIENT_ID,
                   "client_secret_env": "UNUSED", "redirect_uris": [DONE],
                   "tenants": [TENANT.to_uppercase()]}),
        ]
    })
    .await
}

impl Harness {
    /// The next ID tokens name `iss_tenant` in `iss` and carry `tid` (and `more`).
    fn tenant_tokens(&self, iss_tenant: &str, tid: Option<&str>, more: Tweaks) {
        self.idp
            .set_user(person(&unique_email("sub"), &unique_email("ms"), true));
        self.idp.tweak(Tweaks {
            issuer: Some(self.idp.tenant_issuer(iss_tenant)),
            tid: tid.map(str::to_owned),
            ..more
        });
    }
}

#[tokio::test]
async fn a_multi_tenant_issuer_accepts_a_token_of_its_own_tenant() {
    let h = microsoft().await;
    h.tenant_tokens(TENANT, Some(TENANT), Tweaks::default());
    let tokens = h.signed_in("ms").await;
    assert!(h.me(&tokens).await["email"].is_string());
    // On the allow-list too.
    h.tenant_tokens(TENANT, Some(TENANT), Tweaks::default());
    h.signed_in("ms-corp").await;
    // Any tenant without a list.
    h.tenant_tokens(OTHER_TENANT, Some(OTHER_TENANT), Tweaks::default());
    h.signed_in("ms").await;
}

#[tokio::test]
async fn attack_a_multi_tenant_token_whose_issuer_is_another_tenant_is_refused() {
    let h = microsoft().await;
    for (iss_tenant, tid) in [
        (OTHER_TENANT, Some(TENANT)),
        (TENANT, None),
        ("{tenantid}", Some(TENANT)),
        ("common", Some("common")),
        ("", Some("")),
    ] {
        h.tenant_tokens(iss_tenant, tid, Tweaks::default());
        assert_eq!(
            h.refused_at("ms").await.as_deref(),
            Some("invalid_id_token"),
            "iss {iss_tenant}, tid {tid:?}"
        );
    }
}

#[tokio::test]
async fn a_tenant_off_the_allow_list_is_refused() {
    let h = microsoft().await;
    h.tenant_tokens(OTHER_TENANT, Some(OTHER_TENANT), Tweaks::default());
    assert_eq!(
        h.refused_at("ms-corp").await.as_deref(),
        Some("invalid_id_token")
    );
}

#[tokio::test]
async fn a_multi_tenant_token_is_checked_as_any_other() {
    let h = microsoft().await;
    for more in [
        Tweaks {
            audience: Some("another-client".into()),
            ..Tweaks::default()
        },
        Tweaks {
            nonce: Some("a-nonce-from-another-sign-in".into()),
            ..Tweaks::default()
        },
        Tweaks {
            expires_in: Some(-60),
            ..Tweaks::default()
        },
        Tweaks {
            foreign_key: true,
            ..Tweaks::default()
        },
    ] {
        h.tenant_tokens(TENANT, Some(TENANT), more);
        assert_eq!(
            h.refused_at("ms").await.as_deref(),
            Some("invalid_id_token")
        );
    }
}
