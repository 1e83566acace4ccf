//! Sign-in providers (`KISUM_OAUTH_PROVIDERS` and each provider's `KISUM_OAUTH_<ID>_*`) and the
//! app pages a finished sign-in or a magic link may open (`KISUM_OAUTH_REDIRECT_URIS`).

#[allow(unused_imports, reason = "the parent's imports, shared by every group")]
use super::*;

/// The pages of `KISUM_OAUTH_REDIRECT_URIS` (comma-separated; none when unset): each an
/// absolute `http(s)` URL without a fragment, compared exactly.
pub(super) fn redirect_uris(p: &mut Problems, raw: Option<&str>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut ok = true;
    for uri in raw
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        let parsed = parse_base_url(uri.split('?').next().unwrap_or_default());
        if parsed.is_err() || uri.contains('#') {
            p.add(
                env::OAUTH_REDIRECT_URIS,
                format!("`{uri}` is not an absolute http(s) URL without a fragment"),
            );
            ok = false;
        } else if !out.iter().any(|u: &String| u == uri) {
            out.push(uri.to_owned());
        }
    }
    ok.then_some(out)
}

/// The providers of `KISUM_OAUTH_PROVIDERS` (none when unset or blank): provider ids, each
/// described by its `KISUM_OAUTH_<ID>_*` variables and sending the browser to `redirect_uris`,
/// or a JSON array. Each client secret is read from the file or the environment variable named;
/// every problem of the list is recorded.
pub(super) fn oauth_providers(
    p: &mut Problems,
    raw: Option<&str>,
    redirect_uris: &[String],
) -> Option<Vec<kisum_auth::oauth::ProviderConfig>> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Some(Vec::new());
    };
    let read = |file: Option<&str>, var: Option<&str>| match (file, var) {
        (Some(file), _) => {
            std::fs::read_to_string(file).map_err(|e| format!("cannot read `{file}`: {e}"))
        }
        (None, Some(var)) => std::env::var(var).map_err(|_| format!("`{var}` is not set")),
        (None, None) => Err("no client secret named".to_owned()),
    };
    let var = |name: &str| std::env::var(name).ok();
    match kisum_auth::oauth::providers_setting(raw, var, redirect_uris, read) {
        Ok(providers) => Some(providers),
        Err(problems) => {
            for problem in problems {
                p.add(env::OAUTH_PROVIDERS, problem.to_string());
            }
            None
        }
    }
}

/// The providers and redirect pages of `providers` and `pages` (as `kisum dev` reads
/// `KISUM_OAUTH_PROVIDERS` and `KISUM_OAUTH_REDIRECT_URIS`).
///
/// # Errors
/// Every problem of either.
pub fn parse_oauth_providers(
    providers: Option<&str>,
    pages: Option<&str>,
) -> Result<(Vec<kisum_auth::oauth::ProviderConfig>, Vec<String>), ConfigProblems> {
    let mut p = Problems::default();
    let uris = redirect_uris(&mut p, pages);
    let providers = oauth_providers(&mut p, providers, uris.as_deref().unwrap_or_default());
    p.finish(providers.zip(uris)).map_err(ConfigProblems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::*;

    #[test]
    fn redirect_uris_are_absolute_and_listed_once() {
        let config = auth_with(&[
            "--oauth-redirect-uris",
            "https://app.test/in, https://app.test/in,http://127.0.0.1:3000/cb?x=1",
        ])
        .unwrap();
        assert_eq!(
            config.redirect_uris,
            ["https://app.test/in", "http://127.0.0.1:3000/cb?x=1"]
        );
        assert!(auth_with(&[]).unwrap().redirect_uris.is_empty());
        let problems =
            auth_with(&["--oauth-redirect-uris", "/relative,https://a.test/#frag"]).unwrap_err();
        assert_eq!(
            settings(&problems),
            [env::OAUTH_REDIRECT_URIS, env::OAUTH_REDIRECT_URIS]
        );
    }

    #[test]
    fn an_http_issuer_is_refused_unless_loopback() {
        let json = |issuer: &str| {
            format!(
                r#"[{{"id":"idp","kind":"oidc","issuer":"{issuer}","client_id":"c",
                   "client_secret_env":"PATH","redirect_uris":["https://app.test/in"]}}]"#
            )
        };
        let problems =
            auth_with(&["--oauth-providers", &json("http://idp.example.com")]).unwrap_err();
        assert_eq!(settings(&problems), [env::OAUTH_PROVIDERS]);
        assert!(
            problems[0].message.contains("not an https URL"),
            "{problems:?}"
        );
        let config = auth_with(&["--oauth-providers", &json("http://127.0.0.1:9999")]).unwrap();
        assert_eq!(config.oauth_providers.len(), 1);
    }
}
