//! `kisum auth`'s (and `kisum dev`'s) WebAuthn relying party: who passkeys are registered
//! with, and which web origins may run the ceremonies.

#[allow(unused_imports, reason = "the parent's imports, shared by every group")]
use super::*;
use kisum_auth::passkey::{PasskeyConfig, PasskeyConfigError};

/// The WebAuthn relying party of passkeys. Unset: passkeys are off and their routes answer
/// 503 `passkeys_unavailable` (`kisum dev`: `localhost`, at its public listener).
#[derive(Debug, Clone, Default, Args)]
pub struct WebauthnArgs {
    /// The relying party id: the domain passkeys belong to, e.g. `example.com` (a passkey
    /// registered for it works on that domain and its subdomains, and cannot be moved).
    #[arg(long, env = env::WEBAUTHN_RP_ID)]
    pub webauthn_rp_id: Option<String>,
    /// The name authenticators show for the relying party (default: its id).
    #[arg(long, env = env::WEBAUTHN_RP_NAME)]
    pub webauthn_rp_name: Option<String>,
    /// The web origins allowed to run passkey ceremonies, comma-separated: `https://` (or
    /// `http://localhost[:port]`), each on the relying party id or one of its subdomains, e.g.
    /// `https://app.example.com,https://example.com`.
    #[arg(long, env = env::WEBAUTHN_ORIGINS)]
    pub webauthn_origins: Option<String>,
}

impl WebauthnArgs {
    /// The relying party (`None`: passkeys off), or `None` with every problem recorded.
    pub(super) fn resolve(&self, p: &mut Problems) -> Option<Option<PasskeyConfig>> {
        let rp_id = present(self.webauthn_rp_id.as_ref());
        let origins = present(self.webauthn_origins.as_ref());
        let name = present(self.webauthn_rp_name.as_ref()).unwrap_or_default();
        match (rp_id, origins) {
            (None, None) => {
                if !name.is_empty() {
                    p.add(
                        env::WEBAUTHN_RP_ID,
                        "required with KISUM_WEBAUTHN_RP_NAME: the relying party id",
                    );
                    return None;
                }
                Some(None)
            }
            (None, Some(_)) => {
                p.add(
                    env::WEBAUTHN_RP_ID,
                    "required with KISUM_WEBAUTHN_ORIGINS: the relying party id, e.g. `example.com`",
                );
                None
            }
            (Some(_), None) => {
                p.add(
                    env::WEBAUTHN_ORIGINS,
                    "required with KISUM_WEBAUTHN_RP_ID: the web origins of the sign-in pages, e.g. `https://login.example.com`",
                );
                None
            }
            (Some(rp_id), Some(origins)) => relying_party(p, rp_id, name, origins).map(Some),
        }
    }

    /// `resolve` for `kisum dev`: unset, the relying party is `localhost`
    /// and its origin `http://localhost:{port of listen}`.
    ///
    /// # Errors
    /// Every [`ConfigProblem`] of the settings given.
    pub fn for_dev(&self, listen: SocketAddr) -> Result<PasskeyConfig, Vec<ConfigProblem>> {
        let mut p = Problems::default();
        let config = match self.resolve(&mut p) {
            Some(Some(config)) => Some(config),
            Some(None) => {
                let origin = format!("http://localhost:{}", listen.port());
                relying_party(&mut p, "localhost", "Kisum (dev)", &origin)
            }
            None => None,
        };
        p.finish(config)
    }
}

/// The relying party `rp_id` with the comma-separated `origins`, each origin's problem
/// recorded.
fn relying_party(
    p: &mut Problems,
    rp_id: &str,
    name: &str,
    origins: &str,
) -> Option<PasskeyConfig> {
    let origins: Vec<&str> = origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    // Each origin alone, so that every bad one is reported.
    let mut ok = true;
    for origin in &origins {
        match PasskeyConfig::new(rp_id, name, [origin]) {
            Ok(_) => {}
            Err(PasskeyConfigError::RpId(_)) => {}
            Err(e) => {
                ok = false;
                p.add(env::WEBAUTHN_ORIGINS, e.to_string());
            }
        }
    }
    match PasskeyConfig::new(rp_id, name, origins) {
        Ok(config) if ok => Some(config),
        Ok(_) => None,
        Err(e @ PasskeyConfigError::RpId(_)) => {
            p.add(env::WEBAUTHN_RP_ID, e.to_string());
            None
        }
        Err(e) => {
            if ok {
                p.add(env::WEBAUTHN_ORIGINS, e.to_string());
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(rp: Option<&str>, origins: Option<&str>) -> WebauthnArgs {
        WebauthnArgs {
            webauthn_rp_id: rp.map(str::to_owned),
            webauthn_rp_name: None,
            webauthn_origins: origins.map(str::to_owned),
        }
    }

    fn problems(a: &WebauthnArgs) -> Vec<ConfigProblem> {
        let mut p = Problems::default();
        assert!(a.resolve(&mut p).is_none());
        p.0
    }

    #[test]
    fn unset_is_off_and_half_set_is_a_problem() {
        let mut p = Problems::default();
        assert!(matches!(args(None, None).resolve(&mut p), Some(None)));
        assert!(p.0.is_empty());
        let only_id = problems(&args(Some("example.com"), None));
        assert_eq!(only_id[0].setting, env::WEBAUTHN_ORIGINS);
        let only_origins = problems(&args(None, Some("https://example.com")));
        assert_eq!(only_origins[0].setting, env::WEBAUTHN_RP_ID);
    }

    #[test]
    fn every_bad_origin_is_reported() {
        let found = problems(&args(
            Some("example.com"),
            Some("https://example.com, http://example.com,https://example.org"),
        ));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|p| p.setting == env::WEBAUTHN_ORIGINS));
        assert!(found[0].message.contains("http://example.com"), "{found:?}");
        assert!(
            found[1].message.contains("https://example.org"),
            "{found:?}"
        );
    }

    #[test]
    fn dev_defaults_to_localhost_at_its_listener() {
        let config = args(None, None)
            .for_dev("127.0.0.1:8080".parse().unwrap())
            .unwrap();
        assert_eq!(config.rp_id(), "localhost");
        assert_eq!(config.origins()[0].as_str(), "http://localhost:8080/");
    }
}
