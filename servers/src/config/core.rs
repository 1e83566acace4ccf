//! `kisum core`: its internal listener, database and event transport.

#[allow(unused_imports, reason = "the parent's imports, shared by every group")]
use super::*;

/// The settings of `kisum core` (internal listener only).
#[derive(Debug, Clone, Args)]
pub struct CoreArgs {
    /// Settings every server reads.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Core's database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Internal listener (Core has no public one).
    #[arg(long, env = env::INTERNAL_LISTEN, default_value = "127.0.0.1:8082")]
    pub internal_listen: String,
    /// Keys the internal listener accepts.
    #[command(flatten)]
    pub service_keys: ServiceKeysArgs,
    /// The key Core presents to Auth when it posts invalidation events (without Redis).
    #[command(flatten)]
    pub client_key: ClientKeyArgs,
    /// Auth's internal base URL, where events go when Redis is not configured.
    #[arg(long, env = env::AUTH_INTERNAL_URL)]
    pub auth_internal_url: Option<String>,
}

/// A validated configuration of `kisum core`.
#[derive(Debug)]
pub struct CoreConfig {
    /// Shared settings.
    pub common: CommonConfig,
    /// Core's database URL.
    pub database_url: Secret,
    /// Internal listener.
    pub internal_listen: SocketAddr,
    /// Keys the internal listener accepts.
    pub service_keys: ServiceKeys,
    /// The key presented to Auth, when events go over HTTP.
    pub internal_api_key: Option<Secret>,
    /// Auth's internal base URL, when events go over HTTP.
    pub auth_internal_url: Option<String>,
}

impl CoreArgs {
    /// The typed configuration, or every problem (see [`AuthArgs::validate`]); Core also needs
    /// a way to publish invalidation events: Redis, or Auth's internal URL and a key for it.
    ///
    /// # Errors
    /// Every [`ConfigProblem`] found.
    pub fn validate(&self) -> Result<CoreConfig, Vec<ConfigProblem>> {
        let mut p = Problems::default();
        let common = self.common.resolve(&mut p);
        let mode = self.common.mode();
        let database_url = self.database.resolve(&mut p);
        let internal_listen = p.parse(env::INTERNAL_LISTEN, &self.internal_listen, parse_listen);
        let service_keys = self.service_keys.resolve(&mut p, mode, internal_listen);
        let key = self.client_key.resolve(&mut p);
        let auth_internal_url = match present(self.auth_internal_url.as_ref()) {
            Some(u) => p.parse(env::AUTH_INTERNAL_URL, u, parse_base_url).map(Some),
            None => Some(None),
        };
        refuse_plain_http(
            &mut p,
            self.common.internal_url_mode(),
            env::AUTH_INTERNAL_URL,
            auth_internal_url.as_ref().and_then(Option::as_deref),
            "the service key Core presents to Auth",
        );
        let redis = common.as_ref().is_some_and(|c| c.redis.is_some());
        let redis_given = given(
            self.common.redis_url.as_ref(),
            self.common.redis_url_file.as_ref(),
        );
        if !redis_given && present(self.auth_internal_url.as_ref()).is_none() {
            p.add(
                env::AUTH_INTERNAL_URL,
                "required without KISUM_REDIS_URL: Core posts invalidation events to Auth's \
                 internal listener when there is no Redis",
            );
        }
        if !redis && present(self.auth_internal_url.as_ref()).is_some() && !self.client_key.set() {
            p.add(
                env::INTERNAL_API_KEY,
                "required with KISUM_AUTH_INTERNAL_URL: the service key Core presents to Auth",
            );
        }
        let config = (|| {
            Some(CoreConfig {
                common: common?,
                database_url: database_url?,
                internal_listen: internal_listen?,
                service_keys: service_keys?,
                internal_api_key: if self.client_key.set() {
                    Some(key?)
                } else {
                    None
                },
                auth_internal_url: auth_internal_url?,
            })
        })();
        p.finish(config)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::*;

    #[test]
    fn core_needs_a_way_to_publish_events() {
        let Cmd::Core(args) = parse(&[
            "core",
            "--database-url",
            "sqlite://core.db",
            "--internal-api-keys",
            KEYS,
        ]) else {
            unreachable!()
        };
        assert_eq!(
            settings(&args.validate().unwrap_err()),
            ["KISUM_AUTH_INTERNAL_URL"]
        );
        let Cmd::Core(args) = parse(&[
            "core",
            "--database-url",
            "sqlite://core.db",
            "--internal-api-keys",
            KEYS,
            "--auth-internal-url",
            "https://auth:8081",
        ]) else {
            unreachable!()
        };
        assert_eq!(
            settings(&args.validate().unwrap_err()),
            ["KISUM_INTERNAL_API_KEY"]
        );
    }
}
