//! What a refresh costs Auth's process, in a form `valgrind --tool=callgrind` counts
//! repeatably on a busy machine (decision 0030): `count` chained refreshes through
//! `AuthService::refresh` over the in-memory store (no database: the statements a refresh
//! sends PostgreSQL are pinned by `kisum-auth/tests/pg_query_count.rs`), or `count` access
//! tokens signed the way Auth signs them.
//!
//! ```text
//! refresh-cost refresh <count>               chained refreshes of one session (ES256 key)
//! refresh-cost sign <count> [--alg ES256]    access tokens signed with the parsed key
//! refresh-cost sign-reparsed <count> [--alg ES256]
//!                                            the same through `jsonwebtoken::encode`, which
//!                                            parses the key again for every signature
//! ```
//!
//! Instructions per operation: run it twice under callgrind with two counts and divide the
//! difference of the totals by the difference of the counts (the set-up cancels out):
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/refresh-cost refresh 200
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/refresh-cost refresh 400
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use kisum_auth::MemoryAuthStore;
use kisum_auth::identity::{Argon2Params, Password, PasswordHasher, PasswordPolicy};
use kisum_auth::keys::{KeyRing, SigningAlgorithm, SigningKey, generate};
use kisum_auth::service::{AuthService, ClientInfo};
use kisum_auth::session::SessionConfig;
use kisum_auth::tokens::{TokenConfig, TokenService};
use kisum_guard::{Claims, Clock as _, SessionId, SystemClock, UserId};

const USAGE: &str = "usage: refresh-cost (refresh|sign|sign-reparsed) <count> [--alg ES256|EdDSA]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(mode), Some(count)) = (
        args.first(),
        args.get(1).and_then(|c| c.parse::<u32>().ok()),
    ) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let alg = match args.iter().position(|a| a == "--alg") {
        None => SigningAlgorithm::Es256,
        Some(i) => match args.get(i + 1).and_then(|a| SigningAlgorithm::parse(a)) {
            Some(alg) => alg,
            None => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        },
    };
    let result = match mode.as_str() {
        "refresh" => refresh(count, alg),
        "sign" => sign(count, alg, false),
        "sign-reparsed" => sign(count, alg, true),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("refresh-cost: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A token service with one fresh key of `alg`.
fn tokens(alg: SigningAlgorithm) -> Result<TokenService, String> {
    let generated = generate(alg, chrono::NaiveDate::MIN).map_err(|e| e.to_string())?;
    let key = SigningKey::from_pem(&generated.kid, &generated.pem, std::path::Path::new("mem"))
        .map_err(|e| e.to_string())?;
    let ring = KeyRing::new(&generated.kid, [key]).map_err(|e| e.to_string())?;
    Ok(TokenService::new(
        TokenConfig::new("https://auth.example.test", "kisum"),
        ring,
    ))
}

fn refresh(count: u32, alg: SigningAlgorithm) -> Result<String, String> {
    let hasher = PasswordHasher::new(Argon2Params {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    })
    .map_err(|e| e.to_string())?;
    let auth = AuthService::new(
        Arc::new(MemoryAuthStore::new()),
        hasher,
        PasswordPolicy::default(),
        tokens(alg)?,
        SessionConfig::default(),
        Arc::new(SystemClock),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let password = Password::new("correct horse battery staple");
        let registered = auth
            .register("bench@example.test", password, None, None, client())
            .await
            .map_err(|e| e.to_string())?;
        let mut refresh = registered.tokens.refresh;
        for _ in 0..count {
            let pair = auth
                .refresh(refresh.expose(), client())
                .await
                .map_err(|e| e.to_string())?;
            refresh = pair.refresh;
        }
        Ok(format!("{count} chained refreshes ({})", alg.as_str()))
    })
}

/// What the harness's requests carry: an address and a request id.
fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("127.0.0.1".into()),
        request_id: Some("01JEXAMPLEREQUESTID0000000".into()),
        ..ClientInfo::default()
    }
}

fn sign(count: u32, alg: SigningAlgorithm, reparsed: bool) -> Result<String, String> {
    let service = tokens(alg)?;
    let (user, session) = (UserId::new(), SessionId::new());
    let now = SystemClock.now();
    let mut bytes = 0usize;
    for _ in 0..count {
        let token = if reparsed {
            let ring = service.keys();
            let key = ring.active().ok_or("no active key")?;
            let claims = Claims::new(
                "https://auth.example.test",
                "kisum",
                user,
                session,
                now,
                chrono::TimeDelta::minutes(10),
            );
            let mut header = jsonwebtoken::Header::new(key.alg().jwt());
            header.kid = Some(key.kid().to_owned());
            header.typ = Some("at+jwt".to_owned());
            jsonwebtoken::encode(&header, &claims, key.encoding()).map_err(|e| e.to_string())?
        } else {
            service
                .issue(user, session, now)
                .map_err(|e| e.to_string())?
                .token
        };
        bytes += token.len();
    }
    let how = if reparsed {
        "jsonwebtoken::encode, key parsed per signature"
    } else {
        "key parsed once"
    };
    Ok(format!(
        "{count} access tokens signed ({}, {how}; {bytes} bytes)",
        alg.as_str()
    ))
}
