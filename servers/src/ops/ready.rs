//! `/ready`: named checks, required or not, and the report they add up to.

use async_trait::async_trait;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// What one readiness check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckStatus {
    /// The dependency works.
    Ok,
    /// It works partly, or an optional dependency is down: still ready.
    Degraded(String),
    /// It does not work: not ready when the check is required.
    Failed(String),
}

/// A named dependency check behind `GET /ready`.
///
/// Messages are shown to whoever can reach `/ready`: they must never hold a secret.
#[async_trait]
pub trait ReadyCheck: Send + Sync + 'static {
    /// The name in the `checks` object, e.g. `database`.
    fn name(&self) -> &str;

    /// Whether a failure makes the server unready (503). A failed optional check (Redis, say)
    /// is reported as `degraded`.
    fn required(&self) -> bool {
        true
    }

    /// Checks the dependency now. [`Readiness`] bounds it with a timeout.
    async fn check(&self) -> CheckStatus;
}

type CheckFuture = Pin<Box<dyn Future<Output = CheckStatus> + Send>>;

/// A [`ReadyCheck`] from a closure; see [`check_fn`].
pub struct FnCheck {
    name: String,
    required: bool,
    check: Box<dyn Fn() -> CheckFuture + Send + Sync>,
}

/// A check named `name` running `check` (a closure returning a future of [`CheckStatus`]).
///
/// ```
/// use kisum_servers::ops::{CheckStatus, check_fn};
/// let check = check_fn("database", true, || async { CheckStatus::Ok });
/// # let _ = check;
/// ```
pub fn check_fn<F, Fut>(name: impl Into<String>, required: bool, check: F) -> FnCheck
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = CheckStatus> + Send + 'static,
{
    FnCheck {
        name: name.into(),
        required,
        check: Box::new(move || Box::pin(check())),
    }
}

#[async_trait]
impl ReadyCheck for FnCheck {
    fn name(&self) -> &str {
        &self.name
    }

    fn required(&self) -> bool {
        self.required
    }

    async fn check(&self) -> CheckStatus {
        (self.check)().await
    }
}

/// The checks of `GET /ready`, run concurrently, each within a timeout.
#[derive(Clone)]
pub struct Readiness {
    checks: Vec<Arc<dyn ReadyCheck>>,
    timeout: Duration,
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

/// One check's line of the `/ready` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// `ok`, `degraded` or `failed`.
    pub status: &'static str,
    /// Whether a failure makes the server unready.
    pub required: bool,
    /// What went wrong, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The `/ready` answer: `{status: "ready" | "unavailable", checks: {name: CheckReport}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadyReport {
    /// `ready` (200) or `unavailable` (503).
    pub status: &'static str,
    /// Each check by name.
    pub checks: std::collections::BTreeMap<String, CheckReport>,
}

impl ReadyReport {
    /// Whether every required check passed.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

impl Readiness {
    /// No checks (always ready), with a 2 s timeout per check.
    #[must_use]
    pub fn new() -> Self {
        Self {
            checks: Vec::new(),
            timeout: Duration::from_secs(2),
        }
    }

    /// Adds a check.
    #[must_use]
    pub fn with(mut self, check: impl ReadyCheck) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    /// Sets how long one check may take before it counts as failed.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs every check concurrently and reports.
    pub async fn report(&self) -> ReadyReport {
        let mut set = tokio::task::JoinSet::new();
        for check in &self.checks {
            let check = Arc::clone(check);
            let timeout = self.timeout;
            set.spawn(async move {
                let status = match tokio::time::timeout(timeout, check.check()).await {
                    Ok(s) => s,
                    Err(_) => {
                        CheckStatus::Failed(format!("no answer within {} ms", timeout.as_millis()))
                    }
                };
                (check.name().to_owned(), check.required(), status)
            });
        }
        let mut checks = std::collections::BTreeMap::new();
        let mut ready = true;
        while let Some(joined) = set.join_next().await {
            let (name, required, status) = match joined {
                Ok(r) => r,
                Err(e) => ("check".to_owned(), true, CheckStatus::Failed(e.to_string())),
            };
            let report = match status {
                CheckStatus::Ok => CheckReport {
                    status: "ok",
                    required,
                    error: None,
                },
                CheckStatus::Degraded(e) => CheckReport {
                    status: "degraded",
                    required,
                    error: Some(e),
                },
                CheckStatus::Failed(e) if required => {
                    ready = false;
                    CheckReport {
                        status: "failed",
                        required,
                        error: Some(e),
                    }
                }
                CheckStatus::Failed(e) => CheckReport {
                    status: "degraded",
                    required,
                    error: Some(e),
                },
            };
            checks.insert(name, report);
        }
        ReadyReport {
            status: if ready { "ready" } else { "unavailable" },
            checks,
        }
    }
}
