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
}

impl CoreArgs {
    /// The typed configuration, or every problem (see [`AuthArgs::validate`]). Core calls no
    /// one: its events are read from its own stream (`GET /internal/v1/events`, or the Redis
    /// stream when `KISUM_REDIS_URL` is set), decision 0015.
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
        let config = (|| {
            Some(CoreConfig {
                common: common?,
                database_url: database_url?,
                internal_listen: internal_listen?,
                service_keys: service_keys?,
            })
        })();
        p.finish(config)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::*;

    #[test]
    fn core_needs_only_its_database_and_keys() {
        let Cmd::Core(args) = parse(&[
            "core",
            "--database-url",
            "sqlite://core.db",
            "--internal-api-keys",
            KEYS,
        ]) else {
            unreachable!()
        };
        let config = args.validate().unwrap();
        assert_eq!(config.database_url.expose(), "sqlite://core.db");
    }
}
