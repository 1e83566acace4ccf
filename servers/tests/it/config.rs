//! Configuration through the real binary (`kisum config …`), where the environment can be set:
//! `KISUM_*` variables, `*_FILE` secrets, precedence and conflicts, every problem at once, and
//! secrets kept out of every output.

use super::{err, kisum_env, out, temp_dir};

const DB: &str = "postgres://kisum:db-password-123@db:5432/core";
const KEYS: &str = "auth:service-secret-0123456789";

#[test]
fn env_vars_configure_a_server_and_secrets_stay_hidden() {
    let o = kisum_env(
        &["config", "core"],
        &[
            ("KISUM_DATABASE_URL", DB),
            ("KISUM_INTERNAL_API_KEYS", KEYS),
            ("KISUM_REDIS_URL", "redis://:redis-password-1@cache:6379"),
            ("KISUM_INTERNAL_LISTEN", "0.0.0.0:9082"),
            ("KISUM_BODY_LIMIT", "64KiB"),
            ("KISUM_LOG_FORMAT", "json"),
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(text.contains("internal_listen: 0.0.0.0:9082"), "{text}");
    assert!(text.contains("body_limit: 65536"), "{text}");
    assert!(text.contains("log_format: Json"), "{text}");
    assert!(text.contains("\"auth\""), "key names are shown: {text}");
    for secret in ["db-password-123", "service-secret", "redis-password"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[test]
fn a_flag_wins_over_its_variable() {
    let o = kisum_env(
        &["config", "core", "--internal-listen", "127.0.0.1:9001"],
        &[
            ("KISUM_DATABASE_URL", DB),
            ("KISUM_INTERNAL_API_KEYS", KEYS),
            ("KISUM_REDIS_URL", "redis://cache"),
            ("KISUM_INTERNAL_LISTEN", "127.0.0.1:9000"),
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("internal_listen: 127.0.0.1:9001"),
        "{}",
        out(&o)
    );
}

#[test]
fn secrets_come_from_files_and_a_value_with_a_file_is_a_conflict() {
    let dir = temp_dir("config-files");
    let db_file = dir.join("database-url");
    let keys_file = dir.join("service-keys");
    std::fs::write(&db_file, format!("{DB}\n")).unwrap();
    std::fs::write(&keys_file, format!("{KEYS}\r\n")).unwrap();
    let db_path = db_file.to_str().unwrap();
    let keys_path = keys_file.to_str().unwrap();

    let o = kisum_env(
        &["config", "core"],
        &[
            ("KISUM_DATABASE_URL_FILE", db_path),
            ("KISUM_INTERNAL_API_KEYS_FILE", keys_path),
            ("KISUM_REDIS_URL", "redis://cache"),
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("\"auth\""), "{}", out(&o));

    // Both the value and the file, of two secrets: both conflicts at once, exit status 2.
    let o = kisum_env(
        &["config", "core"],
        &[
            ("KISUM_DATABASE_URL", DB),
            ("KISUM_DATABASE_URL_FILE", db_path),
            ("KISUM_INTERNAL_API_KEYS", KEYS),
            ("KISUM_INTERNAL_API_KEYS_FILE", keys_path),
            ("KISUM_REDIS_URL", "redis://cache"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    assert!(
        e.contains("KISUM_DATABASE_URL (--database-url): set either KISUM_DATABASE_URL or KISUM_DATABASE_URL_FILE, not both"),
        "{e}"
    );
    assert!(
        e.contains("set either KISUM_INTERNAL_API_KEYS or KISUM_INTERNAL_API_KEYS_FILE, not both"),
        "{e}"
    );
    assert!(
        !e.contains("db-password") && !e.contains("service-secret"),
        "{e}"
    );

    // A flag value and a file from the environment conflict the same way.
    let o = kisum_env(
        &["config", "core", "--database-url", DB],
        &[
            ("KISUM_DATABASE_URL_FILE", db_path),
            ("KISUM_INTERNAL_API_KEYS", KEYS),
            ("KISUM_REDIS_URL", "redis://cache"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("not both"), "{}", err(&o));

    let o = kisum_env(
        &["config", "core"],
        &[
            (
                "KISUM_DATABASE_URL_FILE",
                dir.join("absent").to_str().unwrap(),
            ),
            ("KISUM_INTERNAL_API_KEYS", KEYS),
            ("KISUM_REDIS_URL", "redis://cache"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("KISUM_DATABASE_URL_FILE (--database-url-file): cannot read"),
        "{}",
        err(&o)
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let o = kisum_env(
        &["config", "auth"],
        &[
            ("KISUM_PUBLIC_URL", "http://auth.example.com"),
            ("KISUM_LOG_FORMAT", "yaml"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    assert!(e.contains("the configuration has 9 problem(s):"), "{e}");
    for setting in [
        "KISUM_LOG_FORMAT",
        "KISUM_PUBLIC_URL",
        "KISUM_DATABASE_URL",
        "KISUM_INTERNAL_API_KEYS",
        "KISUM_INTERNAL_API_KEY",
        "KISUM_SIGNING_KEYS_DIR",
        "KISUM_ISSUER",
        "KISUM_AUDIENCE",
        "KISUM_CORE_URL",
    ] {
        assert!(
            e.contains(&format!("  - {setting} (")),
            "{setting} missing from:\n{e}"
        );
    }
}

#[test]
fn help_never_shows_a_secret_from_the_environment() {
    let o = kisum_env(
        &["config", "core", "--help"],
        &[
            ("KISUM_DATABASE_URL", DB),
            ("KISUM_INTERNAL_API_KEYS", KEYS),
        ],
    );
    assert!(o.status.success());
    let help = out(&o);
    assert!(help.contains("KISUM_DATABASE_URL"), "{help}");
    assert!(
        !help.contains("db-password") && !help.contains("service-secret"),
        "{help}"
    );
}

#[test]
fn bounds_from_the_environment_are_checked_for_auth_and_dev() {
    let o = kisum_env(
        &["config", "auth"],
        &[
            ("KISUM_ACCESS_CACHE_TTL", "10m"),
            ("KISUM_REQUEST_TIMEOUT", "1h"),
            ("KISUM_MAX_CONCURRENT_REQUESTS", "0"),
            ("KISUM_MAX_ROLE_PATTERNS", "0"),
            ("KISUM_MAX_DELEGATION_LIFETIME", "100y"),
            ("KISUM_INVITE_LIMIT_PER_EMAIL", "3/2d"),
            ("KISUM_CORE_URL", "http://core:8082"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    for setting in [
        "KISUM_ACCESS_CACHE_TTL (--access-cache-ttl): `10m` is longer than 5m",
        "KISUM_REQUEST_TIMEOUT (--request-timeout): must be between 1s and 10m",
        "KISUM_MAX_CONCURRENT_REQUESTS (--max-concurrent-requests): must be between 1 and",
        "KISUM_MAX_ROLE_PATTERNS (--max-role-patterns): must be between 1 and 10000",
        "KISUM_MAX_DELEGATION_LIFETIME (--max-delegation-lifetime): must be between 1m and 10y",
        "KISUM_INVITE_LIMIT_PER_EMAIL (--invite-limit-per-email): the window must be",
        "KISUM_CORE_URL (--core-url): an `http://` URL to another host is refused in production",
    ] {
        assert!(e.contains(setting), "{setting} missing from:\n{e}");
    }

    // `kisum dev` refuses a bad bound before it touches its data directory.
    let dir = temp_dir("dev-bounds").join("data");
    let o = kisum_env(
        &["dev"],
        &[
            ("KISUM_DATA_DIR", dir.to_str().unwrap()),
            ("KISUM_MAX_MODULE_GRANTS", "1001"),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(
        err(&o)
            .contains("KISUM_MAX_MODULE_GRANTS (--max-module-grants): must be between 1 and 1000"),
        "{}",
        err(&o)
    );
    assert!(!dir.exists());
}

#[test]
fn the_secret_keyring_is_checked_at_start_up_and_never_shown() {
    let short = "k1:c2hvcnQta2V5";
    let o = kisum_env(&["config", "auth"], &[("KISUM_SECRET_KEY", short)]);
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    assert!(
        e.contains("  - KISUM_SECRET_KEY (--secret-key): secret key `k1` is 9 bytes: expected 32"),
        "{e}"
    );
    assert!(!e.contains("c2hvcnQ"), "{e}");
    let o = kisum_env(
        &["config", "auth", "--help"],
        &[("KISUM_SECRET_KEY", short)],
    );
    assert!(o.status.success());
    let help = out(&o);
    assert!(help.contains("KISUM_SECRET_KEY_FILE"), "{help}");
    assert!(!help.contains("c2hvcnQ"), "{help}");
}

#[test]
fn the_webhook_listener_is_configured_from_the_environment_and_its_secrets_stay_hidden() {
    let dir = temp_dir("config-webhooks");
    let secrets_file = dir.join("stripe-webhook-secrets");
    std::fs::write(
        &secrets_file,
        "whsec_new_0123456789abcdef,whsec_old_0123456789abcdef\n",
    )
    .unwrap();
    let o = kisum_env(
        &["config", "core"],
        &[
            ("KISUM_DATABASE_URL", DB),
            ("KISUM_INTERNAL_API_KEYS", KEYS),
            ("KISUM_WEBHOOK_LISTEN", "0.0.0.0:8084"),
            (
                "KISUM_STRIPE_WEBHOOK_SECRETS_FILE",
                secrets_file.to_str().unwrap(),
            ),
            (
                "KISUM_STRIPE_PRICE_MAP",
                "price_basic=package:basic,price_fin=addon:finance",
            ),
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(text.contains("listen: 0.0.0.0:8084"), "{text}");
    assert!(text.contains("WebhookSecrets(2 secret(s), ***)"), "{text}");
    assert!(text.contains("price_fin"), "{text}");
    assert!(!text.contains("whsec_"), "a secret leaked: {text}");

    // Every problem at once, none repeating a secret; --help hides the value too.
    let o = kisum_env(
        &["config", "core"],
        &[
            ("KISUM_DATABASE_URL", DB),
            ("KISUM_INTERNAL_API_KEYS", KEYS),
            ("KISUM_WEBHOOK_LISTEN", "somewhere"),
            (
                "KISUM_STRIPE_WEBHOOK_SECRETS",
                "whsec_ok_0123456789abcdef,whsec_tiny",
            ),
            ("KISUM_STRIPE_PRICE_MAP", "price_basic=plan:gold"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    assert!(e.contains("the configuration has 3 problem(s):"), "{e}");
    for problem in [
        "KISUM_WEBHOOK_LISTEN (--webhook-listen):",
        "KISUM_STRIPE_WEBHOOK_SECRETS (--stripe-webhook-secrets): secret 2 is shorter than 16",
        "KISUM_STRIPE_PRICE_MAP (--stripe-price-map): `price_basic=plan:gold`",
    ] {
        assert!(e.contains(problem), "{problem} missing from:\n{e}");
    }
    assert!(!e.contains("whsec_"), "{e}");
    let o = kisum_env(
        &["config", "core"],
        &[
            ("KISUM_DATABASE_URL", DB),
            ("KISUM_INTERNAL_API_KEYS", KEYS),
            ("KISUM_STRIPE_WEBHOOK_SECRETS", "whsec_ok_0123456789abcdef"),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains(
            "KISUM_STRIPE_WEBHOOK_SECRETS (--stripe-webhook-secrets): has no effect without KISUM_WEBHOOK_LISTEN"
        ),
        "{}",
        err(&o)
    );
    let o = kisum_env(
        &["config", "core", "--help"],
        &[("KISUM_STRIPE_WEBHOOK_SECRETS", "whsec_ok_0123456789abcdef")],
    );
    assert!(o.status.success());
    let help = out(&o);
    assert!(help.contains("KISUM_STRIPE_WEBHOOK_SECRETS_FILE"), "{help}");
    assert!(!help.contains("whsec_ok"), "{help}");
}

#[test]
fn the_webauthn_relying_party_is_checked_at_start_up() {
    let o = kisum_env(
        &["config", "auth"],
        &[
            ("KISUM_WEBAUTHN_RP_ID", "example.com"),
            (
                "KISUM_WEBAUTHN_ORIGINS",
                "https://login.example.com,http://example.com,https://example.org",
            ),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    for problem in [
        "  - KISUM_WEBAUTHN_ORIGINS (--webauthn-origins): origin `http://example.com`: must be https (plain http only for localhost)",
        "  - KISUM_WEBAUTHN_ORIGINS (--webauthn-origins): origin `https://example.org`: its host must be the relying party id or one of its subdomains",
    ] {
        assert!(e.contains(problem), "{problem} missing from:\n{e}");
    }
    assert!(
        !e.contains("login.example.com"),
        "a good origin is no problem:\n{e}"
    );

    // Origins without a relying party id, and an id that is a URL.
    let o = kisum_env(
        &["config", "auth"],
        &[("KISUM_WEBAUTHN_ORIGINS", "https://login.example.com")],
    );
    assert!(
        err(&o).contains(
            "  - KISUM_WEBAUTHN_RP_ID (--webauthn-rp-id): required with KISUM_WEBAUTHN_ORIGINS"
        ),
        "{}",
        err(&o)
    );
    let o = kisum_env(
        &["config", "auth"],
        &[
            ("KISUM_WEBAUTHN_RP_ID", "https://example.com"),
            ("KISUM_WEBAUTHN_ORIGINS", "https://example.com"),
        ],
    );
    assert!(
        err(&o).contains("  - KISUM_WEBAUTHN_RP_ID (--webauthn-rp-id): `https://example.com` is not a relying party id"),
        "{}",
        err(&o)
    );

    // `kisum dev` refuses a bad relying party before it touches its data directory.
    let dir = temp_dir("dev-webauthn").join("data");
    let o = kisum_env(
        &["dev"],
        &[
            ("KISUM_DATA_DIR", dir.to_str().unwrap()),
            ("KISUM_WEBAUTHN_RP_ID", "localhost"),
            ("KISUM_WEBAUTHN_ORIGINS", "http://127.0.0.1:8080"),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("KISUM_WEBAUTHN_ORIGINS"), "{}", err(&o));
    assert!(!dir.exists());
}
