//! Providers from configuration: `KISUM_OAUTH_PROVIDERS`, either provider ids, comma-separated,
//! each described by its own variables (API.md's form; [`providers_from_vars`]):
//!
//! ```text
//! KISUM_OAUTH_PROVIDERS=google,github
//! KISUM_OAUTH_GOOGLE_KIND=oidc
//! KISUM_OAUTH_GOOGLE_ISSUER=https://accounts.google.com
//! KISUM_OAUTH_GOOGLE_CLIENT_ID=….apps.googleusercontent.com
//! KISUM_OAUTH_GOOGLE_CLIENT_SECRET_FILE=/run/secrets/google
//! KISUM_OAUTH_GITHUB_KIND=github
//! …
//! KISUM_OAUTH_REDIRECT_URIS=https://app.example.com/signed-in
//! ```
//!
//! or a JSON array with one object per provider (see `docs/configuration.md`):
//!
//! ```json
//! [{"id": "google", "name": "Google", "kind": "oidc",
//!   "issuer": "https://accounts.google.com",
//!   "client_id": "…apps.googleusercontent.com",
//!   "client_secret_file": "/run/secrets/google",
//!   "redirect_uris": ["https://app.example.com/signed-in"]},
//!  {"id": "github", "name": "GitHub", "kind": "github", "client_id": "Iv1.…",
//!   "client_secret_env": "KISUM_OAUTH_GITHUB_SECRET",
//!   "redirect_uris": ["https://app.example.com/signed-in"]}]
//! ```
//!
//! Every problem of the list is reported at once by [`parse_providers`].

use std::fmt;

use serde::Deserialize;

/// What a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenID Connect: discovery from the issuer, an ID token signed by the issuer's keys.
    Oidc,
    /// GitHub's OAuth apps (not OIDC): the user and their verified emails from GitHub's API.
    Github,
}

impl ProviderKind {
    /// `oidc` or `github`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Github => "github",
        }
    }
}

/// One configured provider, its client secret resolved.
#[derive(Clone)]
pub struct ProviderConfig {
    /// The id in URLs and metrics (`[a-z0-9-]`, 1–32 characters).
    pub id: String,
    /// The name shown on the button.
    pub name: String,
    /// What it speaks.
    pub kind: ProviderKind,
    /// The issuer (OIDC; discovery at `{issuer}/.well-known/openid-configuration`).
    pub issuer: Option<String>,
    /// The client id registered with the provider.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// The scopes asked for (default: `openid email profile`; GitHub `read:user user:email`).
    pub scopes: Vec<String>,
    /// Where a finished sign-in may send the browser: exact matches only.
    pub redirect_uris: Vec<String>,
    /// GitHub's authorize URL (default `https://github.com/login/oauth/authorize`).
    pub auth_url: String,
    /// GitHub's token URL (default `https://github.com/login/oauth/access_token`).
    pub token_url: String,
    /// GitHub's API (default `https://api.github.com`).
    pub api_url: String,
    /// The tenants (`tid`, GUIDs) whose accounts may sign in, for a multi-tenant issuer such as
    /// Microsoft's `…/common/v2.0` (decision 0043); empty: any tenant.
    pub tenants: Vec<String>,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uris", &self.redirect_uris)
            .field("tenants", &self.tenants)
            .finish_non_exhaustive()
    }
}

/// A provider as written in `KISUM_OAUTH_PROVIDERS` (JSON) or read from its variables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    id: String,
    name: Option<String>,
    kind: ProviderKind,
    issuer: Option<String>,
    client_id: String,
    client_secret_file: Option<String>,
    client_secret_env: Option<String>,
    scopes: Option<Vec<String>>,
    redirect_uris: Vec<String>,
    auth_url: Option<String>,
    token_url: Option<String>,
    api_url: Option<String>,
    tenants: Option<Vec<String>>,
}

/// One problem of the provider list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProviderConfigError(pub String);

fn http_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.has_host())
}

/// An `https` URL, or `http` to a loopback host (a provider on this machine, a test fake): a
/// provider's endpoints carry client secrets and the tokens that sign people in.
fn provider_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| match (u.scheme(), u.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Domain(d))) => d.eq_ignore_ascii_case("localhost"),
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        _ => false,
    })
}

/// Reads `KISUM_OAUTH_<ID>_*` through `var` for each id of `ids` (comma-separated; `<ID>` is the
/// id upper-cased, `-` as `_`): `_KIND` (`oidc` or `github`), `_ISSUER`, `_CLIENT_ID`,
/// `_CLIENT_SECRET` or `_CLIENT_SECRET_FILE`, `_NAME`, and optionally `_SCOPES`
/// (space-separated), `_AUTH_URL`, `_TOKEN_URL`, `_API_URL` (GitHub Enterprise), `_TENANTS`
/// (comma-separated tenant ids of a multi-tenant issuer such as Microsoft's). Every
/// provider may send the browser to `redirect_uris` (`KISUM_OAUTH_REDIRECT_URIS`). The client
/// secret is read by `read_secret(file, variable name)`.
///
/// # Errors
/// Every problem found, as [`parse_providers`], and for each variable missing or of an unknown
/// value, naming the variable.
pub fn providers_from_vars(
    ids: &str,
    var: impl Fn(&str) -> Option<String>,
    redirect_uris: &[String],
    read_secret: impl Fn(Option<&str>, Option<&str>) -> Result<String, String>,
) -> Result<Vec<ProviderConfig>, Vec<ProviderConfigError>> {
    let mut problems = Vec::new();
    let mut written = Vec::new();
    for id in ids.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        let prefix = format!("KISUM_OAUTH_{}_", id.to_ascii_uppercase().replace('-', "_"));
        let name = |suffix: &str| format!("{prefix}{suffix}");
        let get = |suffix: &str| var(&name(suffix)).filter(|v| !v.trim().is_empty());
        let kind = match get("KIND").as_deref().map(str::trim) {
            Some("oidc") => ProviderKind::Oidc,
            Some("github") => ProviderKind::Github,
            Some(other) => {
                problems.push(ProviderConfigError(format!(
                    "`{id}`: {} `{other}` is neither `oidc` nor `github`",
                    name("KIND")
                )));
                continue;
            }
            None => {
                problems.push(ProviderConfigError(format!(
                    "`{id}`: {} is not set (`oidc` or `github`)",
                    name("KIND")
                )));
                continue;
            }
        };
        let Some(client_id) = get("CLIENT_ID") else {
            problems.push(ProviderConfigError(format!(
                "`{id}`: {} is not set",
                name("CLIENT_ID")
            )));
            continue;
        };
        written.push(Written {
            id: id.to_owned(),
            name: get("NAME"),
            kind,
            issuer: get("ISSUER"),
            client_id,
            client_secret_file: get("CLIENT_SECRET_FILE"),
            client_secret_env: get("CLIENT_SECRET").map(|_| name("CLIENT_SECRET")),
            scopes: get("SCOPES").map(|s| s.split_whitespace().map(str::to_owned).collect()),
            redirect_uris: redirect_uris.to_vec(),
            auth_url: get("AUTH_URL"),
            token_url: get("TOKEN_URL"),
            api_url: get("API_URL"),
            tenants: get("TENANTS").map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
        });
    }
    match validate(written, read_secret) {
        Ok(providers) if problems.is_empty() => Ok(providers),
        Ok(_) => Err(problems),
        Err(more) => Err(problems.into_iter().chain(more).collect()),
    }
}

/// `KISUM_OAUTH_PROVIDERS` in either form: a JSON array ([`parse_providers`]) when it starts
/// with `[`, provider ids otherwise ([`providers_from_vars`]).
///
/// # Errors
/// Every problem of the list.
pub fn providers_setting(
    raw: &str,
    var: impl Fn(&str) -> Option<String>,
    redirect_uris: &[String],
    read_secret: impl Fn(Option<&str>, Option<&str>) -> Result<String, String>,
) -> Result<Vec<ProviderConfig>, Vec<ProviderConfigError>> {
    if raw.trim_start().starts_with('[') {
        parse_providers(raw, read_secret)
    } else {
        providers_from_vars(raw, var, redirect_uris, read_secret)
    }
}

/// Parses `KISUM_OAUTH_PROVIDERS` (a JSON array), reading each client secret through
/// `read_secret(file, env)` (the servers read the file or the environment variable named).
///
/// # Errors
/// Every problem found, each naming the provider: unparsable JSON, an id that is not
/// `[a-z0-9-]{1,32}` or is repeated, an OIDC provider without an issuer, a provider URL
/// (issuer, GitHub endpoints) that is not `https` (`http` only to a loopback host), no client
/// secret (or both a file and an env name), an empty or non-absolute redirect allow-list,
/// `tenants` on a `github` provider or a tenant that is not a GUID.
pub fn parse_providers(
    json: &str,
    read_secret: impl Fn(Option<&str>, Option<&str>) -> Result<String, String>,
) -> Result<Vec<ProviderConfig>, Vec<ProviderConfigError>> {
    let written: Vec<Written> = serde_json::from_str(json).map_err(|e| {
        vec![ProviderConfigError(format!(
            "not a JSON array of providers: {e}"
        ))]
    })?;
    validate(written, read_secret)
}

/// The providers of `written`, or every problem of the list.
fn validate(
    written: Vec<Written>,
    read_secret: impl Fn(Option<&str>, Option<&str>) -> Result<String, String>,
) -> Result<Vec<ProviderConfig>, Vec<ProviderConfigError>> {
    let mut problems = Vec::new();
    let mut out: Vec<ProviderConfig> = Vec::new();
    for w in written {
        let mut problem =
            |m: String| problems.push(ProviderConfigError(format!("`{}`: {m}", w.id)));
        if w.id.is_empty()
            || w.id.len() > 32
            || !w
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            problem("the id must be 1-32 of `a-z`, `0-9`, `-`".into());
        }
        if out.iter().any(|p| p.id == w.id) {
            problem("listed twice".into());
        }
        if w.client_id.is_empty() {
            problem("`client_id` is empty".into());
        }
        match (w.kind, &w.issuer) {
            (ProviderKind::Oidc, None) => problem("an `oidc` provider needs `issuer`".into()),
            (ProviderKind::Oidc, Some(i)) if !provider_url(i) => {
                problem(format!(
                    "`issuer` `{i}` is not an https URL (http only to a loopback host)"
                ));
            }
            (ProviderKind::Github, Some(_)) => {
                problem("a `github` provider has no `issuer`".into());
            }
            _ => {}
        }
        if w.redirect_uris.is_empty() {
            problem(
                "no redirect URI (`redirect_uris`, or KISUM_OAUTH_REDIRECT_URIS): name where a finished sign-in may go"
                    .into(),
            );
        }
        for r in &w.redirect_uris {
            if !http_url(r) {
                problem(format!("redirect URI `{r}` is not an absolute http(s) URL"));
            }
        }
        let tenants = w.tenants.clone().unwrap_or_default();
        if w.kind == ProviderKind::Github && !tenants.is_empty() {
            problem("a `github` provider has no `tenants`".into());
        }
        for t in &tenants {
            if !super::provider::guid_like(t) {
                problem(format!(
                    "tenant `{t}` is not a tenant id (a GUID such as `9188040d-6c67-4c5b-b112-36a304b66dad`)"
                ));
            }
        }
        let default = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_owned());
        let auth_url = default(&w.auth_url, "https://github.com/login/oauth/authorize");
        let token_url = default(&w.token_url, "https://github.com/login/oauth/access_token");
        let api_url = default(&w.api_url, "https://api.github.com");
        for u in [&auth_url, &token_url, &api_url] {
            if !provider_url(u) {
                problem(format!(
                    "`{u}` is not an https URL (http only to a loopback host)"
                ));
            }
        }
        let secret = match (&w.client_secret_file, &w.client_secret_env) {
            (Some(_), Some(_)) => {
                problem("name `client_secret_file` or `client_secret_env`, not both".into());
                None
            }
            (None, None) => {
                problem("no client secret: set `client_secret_file` or `client_secret_env`".into());
                None
            }
            (file, env) => match read_secret(file.as_deref(), env.as_deref()) {
                Ok(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Ok(_) => {
                    problem("the client secret is empty".into());
                    None
                }
                Err(e) => {
                    problem(format!("client secret: {e}"));
                    None
                }
            },
        };
        let scopes = w.scopes.unwrap_or_else(|| match w.kind {
            ProviderKind::Oidc => vec!["openid".into(), "email".into(), "profile".into()],
            ProviderKind::Github => vec!["read:user".into(), "user:email".into()],
        });
        out.push(ProviderConfig {
            name: w.name.unwrap_or_else(|| w.id.clone()),
            id: w.id,
            kind: w.kind,
            issuer: w.issuer,
            client_id: w.client_id,
            client_secret: secret.unwrap_or_default(),
            scopes,
            redirect_uris: w.redirect_uris,
            auth_url,
            token_url,
            api_url,
            tenants,
        });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    fn secret(file: Option<&str>, env: Option<&str>) -> Result<String, String> {
        match (file, env) {
            (Some("/missing"), _) => Err("cannot read `/missing`".into()),
            _ => Ok("s3cret".into()),
        }
    }

    #[test]
    fn a_google_and_a_github_provider_parse_with_defaults() {
        let p = parse_providers(
            r#"[{"id":"google","name":"Google","kind":"oidc","issuer":"https://accounts.google.com",
                "client_id":"c","client_secret_env":"G","redirect_uris":["https://app.test/done"]},
               {"id":"github","kind":"github","client_id":"c","client_secret_file":"/s",
                "redirect_uris":["https://app.test/done"]}]"#,
            secret,
        )
        .unwrap();
        assert_eq!(p[0].scopes, ["openid", "email", "profile"]);
        assert_eq!(p[1].name, "github");
        assert_eq!(p[1].api_url, "https://api.github.com");
        assert_eq!(p[1].client_secret, "s3cret");
        assert!(
            !format!("{:?}", p[1]).contains("s3cret"),
            "the secret is redacted"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = parse_providers(
            r#"[{"id":"Bad Id","kind":"oidc","client_id":"c","client_secret_file":"/missing",
                "redirect_uris":["/relative"]},
               {"id":"gh","kind":"github","client_id":"c","redirect_uris":[]}]"#,
            secret,
        )
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        for needle in [
            "`Bad Id`: the id",
            "`Bad Id`: an `oidc` provider needs `issuer`",
            "`Bad Id`: redirect URI `/relative`",
            "`Bad Id`: client secret: cannot read",
            "`gh`: no redirect URI",
            "`gh`: no client secret",
        ] {
            assert!(
                text.iter().any(|t| t.starts_with(needle)),
                "{needle} in {text:?}"
            );
        }
        assert_eq!(text.len(), 6, "{text:?}");
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn providers_named_by_id_read_their_own_variables() {
        let redirects = vec!["https://app.test/done".to_owned()];
        let p = providers_setting(
            "google, github-ent",
            vars(&[
                ("KISUM_OAUTH_GOOGLE_KIND", "oidc"),
                ("KISUM_OAUTH_GOOGLE_ISSUER", "https://accounts.google.com"),
                ("KISUM_OAUTH_GOOGLE_CLIENT_ID", "g-id"),
                ("KISUM_OAUTH_GOOGLE_CLIENT_SECRET", "s"),
                ("KISUM_OAUTH_GOOGLE_NAME", "Google"),
                ("KISUM_OAUTH_GITHUB_ENT_KIND", "github"),
                ("KISUM_OAUTH_GITHUB_ENT_CLIENT_ID", "gh-id"),
                ("KISUM_OAUTH_GITHUB_ENT_CLIENT_SECRET_FILE", "/s"),
                ("KISUM_OAUTH_GITHUB_ENT_API_URL", "https://ghe.test/api/v3"),
            ]),
            &redirects,
            |file, env| match (file, env) {
                (None, Some("KISUM_OAUTH_GOOGLE_CLIENT_SECRET")) => Ok("google-secret".into()),
                (Some("/s"), None) => Ok("file-secret".into()),
                other => Err(format!("unexpected {other:?}")),
            },
        )
        .unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].id.as_str(), p[0].name.as_str()), ("google", "Google"));
        assert_eq!(p[0].kind, ProviderKind::Oidc);
        assert_eq!(p[0].client_secret, "google-secret");
        assert_eq!(p[0].redirect_uris, redirects);
        assert_eq!(p[1].id, "github-ent");
        assert_eq!(p[1].client_secret, "file-secret");
        assert_eq!(p[1].api_url, "https://ghe.test/api/v3");
    }

    #[test]
    fn missing_or_unknown_variables_are_named() {
        let problems = providers_from_vars(
            "a,b,c",
            vars(&[
                ("KISUM_OAUTH_B_KIND", "saml"),
                ("KISUM_OAUTH_C_KIND", "oidc"),
                ("KISUM_OAUTH_C_CLIENT_ID", "c"),
            ]),
            &[],
            secret,
        )
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        for needle in [
            "`a`: KISUM_OAUTH_A_KIND is not set",
            "`b`: KISUM_OAUTH_B_KIND `saml`",
            "`c`: an `oidc` provider needs `issuer`",
            "`c`: no redirect URI",
            "`c`: no client secret",
        ] {
            assert!(
                text.iter().any(|t| t.starts_with(needle)),
                "{needle} in {text:?}"
            );
        }
    }

    #[test]
    fn issuers_must_be_https_except_on_loopback() {
        let redirects = vec!["https://app.test/done".to_owned()];
        let with_issuer = |issuer: &str| {
            providers_from_vars(
                "idp",
                vars(&[
                    ("KISUM_OAUTH_IDP_KIND", "oidc"),
                    ("KISUM_OAUTH_IDP_ISSUER", issuer),
                    ("KISUM_OAUTH_IDP_CLIENT_ID", "c"),
                    ("KISUM_OAUTH_IDP_CLIENT_SECRET", "s"),
                ]),
                &redirects,
                secret,
            )
        };
        for ok in [
            "https://idp.example.com",
            "http://127.0.0.1:9000",
            "http://[::1]:9000/realm",
            "http://localhost:8080",
        ] {
            assert!(with_issuer(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://idp.example.com",
            "http://10.0.0.1",
            "ftp://idp.example.com",
        ] {
            let problems = with_issuer(refused).unwrap_err();
            assert!(
                problems[0].0.contains("not an https URL"),
                "{refused}: {problems:?}"
            );
        }
        // The JSON form keeps the same rule, and GitHub's endpoints too.
        let problems = parse_providers(
            r#"[{"id":"gh","kind":"github","client_id":"c","client_secret_env":"G",
                "api_url":"http://ghe.example.com/api","redirect_uris":["https://app.test/done"]}]"#,
            secret,
        )
        .unwrap_err();
        assert!(problems[0].0.contains("not an https URL"), "{problems:?}");
    }

    #[test]
    fn tenants_are_read_and_must_be_tenant_ids() {
        let redirects = vec!["https://app.test/done".to_owned()];
        let ms = |tenants: &str| {
            providers_from_vars(
                "microsoft",
                vars(&[
                    ("KISUM_OAUTH_MICROSOFT_KIND", "oidc"),
                    (
                        "KISUM_OAUTH_MICROSOFT_ISSUER",
                        "https://login.microsoftonline.com/organizations/v2.0",
                    ),
                    ("KISUM_OAUTH_MICROSOFT_CLIENT_ID", "c"),
                    ("KISUM_OAUTH_MICROSOFT_CLIENT_SECRET", "s"),
                    ("KISUM_OAUTH_MICROSOFT_TENANTS", tenants),
                ]),
                &redirects,
                secret,
            )
        };
        let p = ms(" 9188040d-6c67-4c5b-b112-36a304b66dad, 72F988BF-86F1-41AF-91AB-2D7CD011DB47 ")
            .unwrap();
        assert_eq!(
            p[0].tenants,
            [
                "9188040d-6c67-4c5b-b112-36a304b66dad",
                "72F988BF-86F1-41AF-91AB-2D7CD011DB47"
            ]
        );
        let problems = ms("contoso.onmicrosoft.com").unwrap_err();
        assert!(
            problems[0]
                .0
                .contains("tenant `contoso.onmicrosoft.com` is not a tenant id"),
            "{problems:?}"
        );
        let problems = parse_providers(
            r#"[{"id":"gh","kind":"github","client_id":"c","client_secret_env":"G",
                "tenants":["9188040d-6c67-4c5b-b112-36a304b66dad"],
                "redirect_uris":["https://app.test/done"]}]"#,
            secret,
        )
        .unwrap_err();
        assert!(problems[0].0.contains("no `tenants`"), "{problems:?}");
    }
}
