//! Who the relying party is: its id, its name and the origins allowed to run ceremonies,
//! checked once when Auth is configured.

use std::sync::Arc;

use webauthn_rs::prelude::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// The relying party of passkeys: its id (a domain, e.g. `example.com`), the name
/// authenticators show, and the web origins allowed to run ceremonies.
///
/// ```
/// use kisum_auth::passkey::PasskeyConfig;
///
/// let config = PasskeyConfig::new("example.com", "Example", ["https://login.example.com"]).unwrap();
/// assert_eq!(config.rp_id(), "example.com");
/// // An origin outside the relying party's domain, or plain HTTP beyond localhost, is refused.
/// assert!(PasskeyConfig::new("example.com", "Example", ["https://example.org"]).is_err());
/// assert!(PasskeyConfig::new("example.com", "Example", ["http://example.com"]).is_err());
/// assert!(PasskeyConfig::new("localhost", "Dev", ["http://localhost:8080"]).is_ok());
/// ```
#[derive(Clone)]
pub struct PasskeyConfig {
    rp_id: String,
    rp_name: String,
    origins: Vec<Url>,
    pub(crate) webauthn: Arc<Webauthn>,
}

impl std::fmt::Debug for PasskeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyConfig")
            .field("rp_id", &self.rp_id)
            .field("rp_name", &self.rp_name)
            .field(
                "origins",
                &self.origins.iter().map(Url::as_str).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why a [`PasskeyConfig`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasskeyConfigError {
    /// The relying party id is not a bare lowercase domain name.
    #[error("`{0}` is not a relying party id: a bare domain name such as `example.com`")]
    RpId(String),
    /// No origin was given.
    #[error("at least one origin is required, e.g. `https://login.example.com`")]
    NoOrigin,
    /// An origin is unusable.
    #[error("origin `{origin}`: {reason}")]
    Origin {
        /// The origin as given.
        origin: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Whether `host` is `rp_id` or one of its subdomains.
fn within(host: &str, rp_id: &str) -> bool {
    host == rp_id
        || host
            .strip_suffix(rp_id)
            .is_some_and(|prefix| prefix.ends_with('.'))
}

fn valid_rp_id(rp_id: &str) -> bool {
    !rp_id.is_empty()
        && rp_id.len() <= 253
        && rp_id.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// One origin, checked against the relying party id.
fn origin(raw: &str, rp_id: &str) -> Result<Url, PasskeyConfigError> {
    let refuse = |reason| PasskeyConfigError::Origin {
        origin: raw.chars().take(200).collect(),
        reason,
    };
    let url = Url::parse(raw).map_err(|_| refuse("not a URL"))?;
    let host = url.host_str().ok_or_else(|| refuse("has no host"))?;
    match url.scheme() {
        "https" => {}
        "http" if host == "localhost" => {}
        "http" => return Err(refuse("must be https (plain http only for localhost)")),
        _ => return Err(refuse("must be https (plain http only for localhost)")),
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("must be an origin: scheme, host and port only"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("must be an origin: scheme, host and port only"));
    }
    if !within(host, rp_id) {
        return Err(refuse(
            "its host must be the relying party id or one of its subdomains",
        ));
    }
    Ok(url)
}

impl PasskeyConfig {
    /// The relying party `rp_id` named `rp_name`, accepting ceremonies from `origins`: each an
    /// `https://` origin (or `http://localhost[:port]`) whose host is `rp_id` or a subdomain
    /// of it.
    ///
    /// # Errors
    /// [`PasskeyConfigError`]: the first thing wrong.
    pub fn new<S: AsRef<str>>(
        rp_id: &str,
        rp_name: &str,
        origins: impl IntoIterator<Item = S>,
    ) -> Result<Self, PasskeyConfigError> {
        let rp_id = rp_id.trim();
        if !valid_rp_id(rp_id) {
            return Err(PasskeyConfigError::RpId(rp_id.chars().take(200).collect()));
        }
        let origins = origins
            .into_iter()
            .map(|o| origin(o.as_ref().trim(), rp_id))
            .collect::<Result<Vec<_>, _>>()?;
        let Some((first, rest)) = origins.split_first() else {
            return Err(PasskeyConfigError::NoOrigin);
        };
        let rp_name = match rp_name.trim() {
            "" => rp_id.to_owned(),
            name => name.to_owned(),
        };
        let webauthn = rest
            .iter()
            .fold(
                WebauthnBuilder::new(rp_id, first)
                    .map_err(|_| PasskeyConfigError::RpId(rp_id.to_owned()))?,
                |b, o| b.append_allowed_origin(o),
            )
            .rp_name(&rp_name)
            .build()
            .map_err(|_| PasskeyConfigError::RpId(rp_id.to_owned()))?;
        Ok(Self {
            rp_id: rp_id.to_owned(),
            rp_name,
            origins,
            webauthn: Arc::new(webauthn),
        })
    }

    /// The relying party id.
    #[must_use]
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// The name authenticators show.
    #[must_use]
    pub fn rp_name(&self) -> &str {
        &self.rp_name
    }

    /// The allowed origins.
    #[must_use]
    pub fn origins(&self) -> &[Url] {
        &self.origins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_secure_and_within_the_relying_party() {
        let ok = |rp: &str, o: &str| PasskeyConfig::new(rp, "", [o]).is_ok();
        assert!(ok("example.com", "https://example.com"));
        assert!(ok("example.com", "https://login.example.com:8443"));
        assert!(ok("localhost", "http://localhost:3000"));
        assert!(
            !ok("example.com", "https://badexample.com"),
            "not a subdomain"
        );
        assert!(!ok("login.example.com", "https://example.com"), "a parent");
        assert!(!ok("example.com", "http://example.com"), "plain http");
        assert!(!ok("example.com", "https://example.com/login"), "a path");
        assert!(!ok("Example.com", "https://example.com"), "not lowercase");
        assert!(!ok("https://example.com", "https://example.com"), "a URL");
        assert_eq!(
            PasskeyConfig::new("example.com", "", Vec::<String>::new()).unwrap_err(),
            PasskeyConfigError::NoOrigin
        );
        assert_eq!(
            PasskeyConfig::new("example.com", " ", ["https://example.com"])
                .unwrap()
                .rp_name(),
            "example.com"
        );
    }
}
