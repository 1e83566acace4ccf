//! The resolving side of the test kit: the access contexts Auth would answer, driven by the
//! test (grant, change, revoke, take down) and counting how often the guard asks.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::clock::{Clock, SystemClock};
use crate::context::AccessContext;
use crate::denial::DenialCode;
use crate::ids::{CompanyId, InvalidId, MembershipId, ModuleKey, SessionId, UserId};
use crate::permission::{PermissionPattern, PermissionSet};
use crate::source::{AccessSource, SourceError};

/// The access contexts Auth would resolve, by company and session: a company is known by its
/// slug (any case) or its id; a session without a context there is `not_a_member`. Can be
/// taken down (every call is `Unavailable`) and counts its calls.
pub struct FakeSource {
    companies: Mutex<HashMap<String, CompanyId>>,
    contexts: Mutex<HashMap<(CompanyId, SessionId), AccessContext>>,
    revoked: Mutex<HashSet<SessionId>>,
    down: AtomicBool,
    calls: AtomicU64,
    clock: Arc<dyn Clock>,
    sealer: Option<super::TestKey>,
}

impl std::fmt::Debug for FakeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSource")
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

impl Default for FakeSource {
    fn default() -> Self {
        Self {
            companies: Mutex::default(),
            contexts: Mutex::default(),
            revoked: Mutex::default(),
            down: AtomicBool::new(false),
            calls: AtomicU64::new(0),
            clock: Arc::new(SystemClock),
            sealer: None,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeSource {
    /// An empty source (every company unknown).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Stamps resolved contexts with `clock` (default the system clock).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Seals every context it answers with `key` for [`TEST_ISSUER`](super::TEST_ISSUER), as
    /// Auth does, so guards share them through a shared tier.
    #[must_use]
    pub fn sealing_with(mut self, key: super::TestKey) -> Self {
        self.sealer = Some(key);
        self
    }

    /// Makes `context` the answer for its session in the company `slug` (registering the
    /// company under `slug` and its id).
    pub fn grant(&self, slug: &str, context: AccessContext) {
        lock(&self.companies).insert(slug.to_ascii_lowercase(), context.company_id);
        lock(&self.contexts).insert((context.company_id, context.session_id), context);
    }

    /// Changes every context of `session`.
    pub fn update(&self, session: SessionId, mut f: impl FnMut(&mut AccessContext)) {
        for ((_, s), c) in lock(&self.contexts).iter_mut() {
            if *s == session {
                f(c);
            }
        }
    }

    /// The context of `session` (in any company), as granted or updated.
    #[must_use]
    pub fn context(&self, session: SessionId) -> Option<AccessContext> {
        lock(&self.contexts)
            .iter()
            .find(|((_, s), _)| *s == session)
            .map(|(_, c)| c.clone())
    }

    /// Revokes `session`: resolving is `session_revoked`, the session is inactive.
    pub fn revoke(&self, session: SessionId) {
        lock(&self.revoked).insert(session);
    }

    /// Takes the source down (every call `Unavailable`) or back up.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// How many calls were made (resolves and session checks).
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    pub(super) fn company(&self, org: &str) -> Option<CompanyId> {
        let companies = lock(&self.companies);
        companies
            .get(&org.to_ascii_lowercase())
            .copied()
            .or_else(|| {
                companies
                    .values()
                    .find(|id| id.to_string().eq_ignore_ascii_case(org))
                    .copied()
            })
    }

    fn answer(&self) -> Result<(), SourceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(SourceError::Unavailable("auth unreachable".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl AccessSource for FakeSource {
    async fn resolve(
        &self,
        user_id: UserId,
        session_id: SessionId,
        org: &str,
    ) -> Result<AccessContext, SourceError> {
        self.answer()?;
        if lock(&self.revoked).contains(&session_id) {
            return Err(SourceError::Denied(DenialCode::SessionRevoked));
        }
        let company = self
            .company(org)
            .ok_or(SourceError::Denied(DenialCode::OrgUnknown))?;
        let context = lock(&self.contexts).get(&(company, session_id)).cloned();
        match context {
            Some(c) if c.user_id == user_id => Ok(AccessContext {
                computed_at: self.clock.now(),
                ..c
            }),
            _ => Err(SourceError::Denied(DenialCode::NotAMember)),
        }
    }

    async fn resolve_sealed(
        &self,
        user_id: UserId,
        session_id: SessionId,
        org: &str,
    ) -> Result<crate::seal::Sealed, SourceError> {
        let context = self.resolve(user_id, session_id, org).await?;
        let seal = self
            .sealer
            .as_ref()
            .and_then(|k| k.seal(&context, super::TEST_ISSUER).ok());
        Ok(crate::seal::Sealed { context, seal })
    }

    async fn session_active(&self, _user: UserId, session: SessionId) -> Result<bool, SourceError> {
        self.answer()?;
        Ok(!lock(&self.revoked).contains(&session))
    }
}

/// The access context of `user`'s `session` as a member of `company` who may use `modules`
/// (of the company's `entitled` modules) with `permissions` (patterns).
///
/// # Errors
/// A malformed module key or permission pattern.
pub fn member_context(
    user: UserId,
    session: SessionId,
    company: CompanyId,
    modules: &[&str],
    entitled: &[&str],
    permissions: &[&str],
) -> Result<AccessContext, InvalidId> {
    let set = |m: &[&str]| -> Result<BTreeSet<ModuleKey>, InvalidId> {
        m.iter().map(|m| ModuleKey::new(m)).collect()
    };
    let mut perms = PermissionSet::new();
    for p in permissions {
        perms.insert(PermissionPattern::new(p)?);
    }
    Ok(AccessContext {
        user_id: user,
        session_id: session,
        company_id: company,
        membership_id: MembershipId::new(),
        roles: vec![],
        modules: set(modules)?,
        entitled_modules: set(entitled)?,
        permissions: perms,
        core_app_visible: false,
        access_version: 1,
        entitlement_version: 1,
        computed_at: SystemClock.now(),
        valid_until: None,
        entitlement_certificate: None,
        aal: Default::default(),
    })
}
