//! Writes that change what the member may do, and the watch of the guarded route until the
//! change shows: how long it took (propagation) and how long after the write the old answer
//! was still given (staleness, which the access TTL bounds).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::separate::Deployment;

/// A write that changes the member's answer on the guarded route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    /// The role `finance-viewer` loses `finance.invoices.read` (at an Auth replica): 403.
    RoleOff,
    /// The role gets it back: 200.
    RoleOn,
    /// The finance add-on is canceled at Core: 403.
    AddonOff,
    /// The add-on is active again: 200.
    AddonOn,
    /// The member signs out (at an Auth replica): 401.
    Logout,
}

impl Write {
    /// The status the guarded route answers once the write shows.
    pub(crate) fn answer(self) -> u16 {
        match self {
            Self::RoleOff | Self::AddonOff => 403,
            Self::RoleOn | Self::AddonOn => 200,
            Self::Logout => 401,
        }
    }
}

/// What one write's watch found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    /// From the write's answer to the first answer showing it.
    pub(crate) propagation: Duration,
    /// From the write's answer to the last request sent that still got the old answer (zero
    /// when none did): the served state was at least that old.
    pub(crate) staleness: Duration,
}

/// Does `w` with the member's `token`, at Auth replica `replica` (role edits, logouts);
/// returns when its answer arrived.
pub(crate) async fn write(d: &Deployment, w: Write, token: &str, replica: usize) -> Instant {
    let auth = &d.auth_urls[replica];
    let role = |perms: Vec<&str>| {
        Some(json!({"key":"finance-viewer","name":"Finance viewer","permissions":perms}))
    };
    let addon = format!("/internal/v1/companies/{}/addons/finance", d.company);
    let roles = format!("{auth}/v1/companies/acme/roles/finance-viewer");
    let (status, body) = match w {
        Write::RoleOff | Write::RoleOn => {
            let perms = if w == Write::RoleOn {
                vec!["finance.invoices.read"]
            } else {
                vec![]
            };
            let a = d
                .call(Method::PUT, &roles, Some(&d.owner), role(perms))
                .await;
            (a.status, a.body)
        }
        Write::AddonOff | Write::AddonOn => {
            let status = if w == Write::AddonOn {
                "active"
            } else {
                "canceled"
            };
            let a = d.core_put(&addon, json!({ "status": status })).await;
            (a.status, a.body)
        }
        Write::Logout => {
            let a = d
                .call(
                    Method::POST,
                    &format!("{auth}/v1/auth/logout"),
                    Some(token),
                    None,
                )
                .await;
            (a.status, a.body)
        }
    };
    assert!(
        (200..300).contains(&status),
        "{w:?} at replica {replica} answered {status}: {body}"
    );
    Instant::now()
}

/// Polls the guarded route at `base` with `token` until it answers `new` (the old answer
/// being `old`), from the write answered at `done`; any other answer, or no change within
/// `limit`, fails the test.
pub(crate) async fn watch(
    d: &Deployment,
    base: &str,
    token: &str,
    (old, new): (u16, u16),
    done: Instant,
    limit: Duration,
) -> Seen {
    let mut last_old: Option<Instant> = None;
    loop {
        let sent = Instant::now();
        let a = d.guarded_at(base, token).await;
        if a.status == new {
            return Seen {
                propagation: Instant::now().duration_since(done),
                staleness: last_old.map_or(Duration::ZERO, |t| t.saturating_duration_since(done)),
            };
        }
        assert_eq!(
            a.status, old,
            "the guard answered neither the old ({old}) nor the new ({new}) state: {}",
            a.body
        );
        last_old = Some(sent);
        assert!(
            sent.duration_since(done) < limit,
            "the change did not show within {limit:?}\n{}",
            d.logs()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Polls until `base` answers `want` for `token` within `limit` (not a measured write: a new
/// session's first answer, a component back).
pub(crate) async fn until(d: &Deployment, base: &str, token: &str, want: u16, limit: Duration) {
    let start = Instant::now();
    loop {
        let a = d.guarded_at(base, token).await;
        if a.status == want {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{base} still answers {} ({}) after {limit:?}, want {want}\n{}",
            a.status,
            a.body,
            d.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Percentiles of durations, in milliseconds.
pub(crate) struct Figures {
    pub(crate) n: usize,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

impl Figures {
    pub(crate) fn of(all: &[Duration]) -> Self {
        let mut ms: Vec<f64> = all.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if ms.is_empty() {
                return 0.0;
            }
            let i = ((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1;
            ms[i]
        };
        Self {
            n: ms.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: ms.last().copied().unwrap_or(0.0),
        }
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
            self.n, self.p50, self.p99, self.max
        )
    }
}

/// A small seeded generator (xorshift64*): the same seed replays the same schedule.
pub(crate) struct Rng(u64);

impl Rng {
    /// From `KISUM_FRESHNESS_SEED`, or the clock (printed, to replay a failure).
    pub(crate) fn seeded() -> Self {
        let seed = std::env::var("KISUM_FRESHNESS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                kisum_guard::Clock::now(&kisum_guard::SystemClock)
                    .timestamp_nanos_opt()
                    .unwrap_or_default()
                    .unsigned_abs()
            });
        println!("freshness seed = {seed} (replay with KISUM_FRESHNESS_SEED={seed})");
        Self::from_seed(seed)
    }

    /// From `seed`.
    pub(crate) fn from_seed(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[lo, hi)` milliseconds.
    pub(crate) fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }

    /// True with probability `1/n`.
    pub(crate) fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}
