//! Steps 1 and 2 over the stores, the entitlement source, and the explanation of a decision.

use std::sync::Arc;

use async_trait::async_trait;
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_core::{EntitlementService, Entitlements};
use kisum_guard::certificate::CertificatePayload;
use kisum_guard::{
    AccessContext, Clock, CompanyId, CompanySlug, ConsistencyToken, DenialCode, MembershipId,
    ModuleKey, Permission, SessionId, UserId,
};

use super::aggregate::{Terms, aggregate_terms, evaluate};
use super::cache::AccessCaches;
use super::explain::{Explanation, Step, Trace};
use crate::directory::{Company, DirectoryStore, OrgAccess, OrgRef};
use crate::session::SessionStore;

/// Where Auth gets a company's entitlements: Core in process, or Core over HTTP.
#[async_trait]
pub trait EntitlementSource: Send + Sync + 'static {
    /// The company's current entitlements.
    ///
    /// # Errors
    /// `Unavailable` when Core cannot be reached.
    async fn entitlements(&self, company_id: CompanyId) -> Result<Entitlements, StoreError>;

    /// The company's entitlements as the latest signed company certificate of Core this source
    /// holds states them, verified now (Core's signature, `nbf`, `exp`): what access is
    /// resolved from when [`entitlements`](Self::entitlements) is `Unavailable` (decision
    /// 0023). `None` when no such certificate is held or it no longer verifies; the default
    /// holds none (Core in process is never unreachable on its own).
    async fn certified(&self, company_id: CompanyId) -> Option<CertifiedEntitlements> {
        let _ = company_id;
        None
    }
}

/// A company's entitlements as stated by Core's signed company certificate, verified.
#[derive(Debug, Clone)]
pub struct CertifiedEntitlements {
    /// The armoured certificate: carried in the access context, for guards to verify it
    /// themselves.
    pub certificate: String,
    /// Its verified payload.
    pub payload: CertificatePayload,
}

/// The in-process source: Core's service in the same binary.
#[async_trait]
impl EntitlementSource for EntitlementService {
    async fn entitlements(&self, company_id: CompanyId) -> Result<Entitlements, StoreError> {
        EntitlementService::entitlements(self, company_id).await
    }
}

/// Why access could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A decision: access is denied with this code.
    #[error("access denied: {0}")]
    Denied(DenialCode),
    /// A store or source could not answer; nothing was decided.
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

impl From<DenialCode> for AccessError {
    fn from(code: DenialCode) -> Self {
        Self::Denied(code)
    }
}

/// The company the `X-Org` value names: an id, or a slug (matched case-insensitively).
///
/// # Errors
/// `org_required` when empty or missing, `org_unknown` when it can name no company.
fn org_ref(org: Option<&str>) -> Result<OrgRef, AccessError> {
    let org = org
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .ok_or(DenialCode::OrgRequired)?;
    if let Ok(id) = org.parse::<CompanyId>() {
        return Ok(OrgRef::Id(id));
    }
    let slug = if org.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(org.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(org)
    };
    Ok(OrgRef::Slug(
        CompanySlug::new(&slug).map_err(|_| DenialCode::OrgUnknown)?,
    ))
}

/// Resolves and explains access over the stores and an entitlement source.
#[derive(Clone)]
pub struct AccessService {
    sessions: Arc<dyn SessionStore>,
    directory: Arc<dyn DirectoryStore>,
    pub(crate) entitlements: Arc<dyn EntitlementSource>,
    pub(crate) clock: Arc<dyn Clock>,
    caches: Option<Arc<AccessCaches>>,
    /// Company API keys (`crate::api_key`); `None`: every key is refused.
    pub(crate) api_keys: Option<Arc<crate::api_key::ApiKeyResolver>>,
}

impl AccessService {
    /// A service over the given stores and source.
    #[must_use]
    pub fn new(
        sessions: Arc<dyn SessionStore>,
        directory: Arc<dyn DirectoryStore>,
        entitlements: Arc<dyn EntitlementSource>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            sessions,
            directory,
            entitlements,
            clock,
            caches: None,
            api_keys: None,
        }
    }

    /// Answers [`resolve_cached`](Self::resolve_cached) from `caches` when it can. The caches
    /// must receive every event of Auth's log (see [`AccessCaches`]).
    #[must_use]
    pub fn with_caches(mut self, caches: Arc<AccessCaches>) -> Self {
        self.caches = Some(caches);
        self
    }

    /// The caches behind [`resolve_cached`](Self::resolve_cached), if any.
    #[must_use]
    pub fn caches(&self) -> Option<&Arc<AccessCaches>> {
        self.caches.as_ref()
    }

    /// [`resolve`](Self::resolve) for `GET /v1/auth/me/access`: from memory when nothing
    /// changed since the context was resolved (no event about its session, membership or
    /// company, within the access TTL, at least as new as `consistency`), otherwise from the
    /// stores, with the company's entitlements from memory under the same rules. Without
    /// caches, exactly [`resolve`](Self::resolve).
    ///
    /// # Errors
    /// As [`resolve`](Self::resolve).
    pub async fn resolve_cached(
        &self,
        user_id: UserId,
        session_id: SessionId,
        org: Option<&str>,
        consistency: Option<&ConsistencyToken>,
    ) -> Result<Arc<AccessContext>, AccessError> {
        let Some(caches) = &self.caches else {
            return Ok(Arc::new(self.resolve(user_id, session_id, org).await?));
        };
        let org = org.map(str::trim).unwrap_or_default();
        let now = self.clock.now();
        if let Some(context) = caches.context(user_id, session_id, org, now, consistency) {
            return Ok(context);
        }
        let ticket = caches.ticket();
        let context = Arc::new(
            self.resolve_with(user_id, session_id, Some(org), |company| async move {
                if let Some(e) = caches.entitlements(company, now, consistency) {
                    return Ok(e);
                }
                let fetched = Arc::new(self.entitlements.entitlements(company).await?);
                caches.put_entitlements(Arc::clone(&fetched), ticket);
                Ok(fetched)
            })
            .await?,
        );
        // A context resolved from a certificate is not kept: the next call asks Core again,
        // and one it answers replaces it at once.
        if context.entitlement_certificate.is_none() {
            caches.put_context(session_id, org, Arc::clone(&context), ticket);
        }
        Ok(context)
    }

    /// Whether `session_id` is active at the clock's now and belongs to `user_id`.
    ///
    /// # Errors
    /// The store failure.
    pub async fn session_is_active(
        &self,
        user_id: UserId,
        session_id: SessionId,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let session = self.sessions.get_session(session_id).await?;
        Ok(session.is_some_and(|s| s.user_id == user_id && s.is_active(now)))
    }

    /// Resolves the `X-Org` value (a company id or slug).
    ///
    /// # Errors
    /// `org_required` when empty or missing, `org_unknown` when it names no company, or the
    /// store failure.
    pub async fn resolve_company(&self, org: Option<&str>) -> Result<Company, AccessError> {
        let found = match org_ref(org)? {
            OrgRef::Id(id) => self.directory.get_company(id).await?,
            OrgRef::Slug(slug) => self.directory.find_company_by_slug(&slug).await?,
        };
        Ok(found.ok_or(DenialCode::OrgUnknown)?)
    }

    /// The seven steps for a signed-in user: the access context, or the first denial.
    ///
    /// # Errors
    /// [`AccessError::Denied`] with the denial in order of precedence, or
    /// [`AccessError::Unavailable`] when a store or Core cannot answer.
    pub async fn resolve(
        &self,
        user_id: UserId,
        session_id: SessionId,
        org: Option<&str>,
    ) -> Result<AccessContext, AccessError> {
        self.resolve_with(user_id, session_id, org, |company| async move {
            Ok(Arc::new(self.entitlements.entitlements(company).await?))
        })
        .await
    }

    /// The seven steps, with the company's entitlements from `entitlements`.
    async fn resolve_with<F, Fut>(
        &self,
        user_id: UserId,
        session_id: SessionId,
        org: Option<&str>,
        entitlements: F,
    ) -> Result<AccessContext, AccessError>
    where
        F: FnOnce(CompanyId) -> Fut,
        Fut: std::future::Future<Output = Result<Arc<Entitlements>, StoreError>>,
    {
        let now = self.clock.now();
        // Step 1.
        let session = self.sessions.get_session(session_id).await?;
        let Some(aal) = session
            .filter(|s| s.user_id == user_id && s.is_active(now))
            .map(|s| s.aal)
        else {
            return Err(DenialCode::SessionRevoked.into());
        };
        // Step 2, and the inputs of steps 3 to 7 in the same read.
        let OrgAccess { company, inputs } = self
            .directory
            .load_org_access(&org_ref(org)?, user_id)
            .await?
            .ok_or(DenialCode::OrgUnknown)?;
        if inputs.is_none() {
            return Err(DenialCode::NotAMember.into());
        }
        let (terms, certificate) = match entitlements(company.id).await {
            Ok(e) => (Terms::from(&*e), None),
            Err(e) if e.kind() == StoreErrorKind::Unavailable => {
                let certified = self
                    .entitlements
                    .certified(company.id)
                    .await
                    .filter(|c| c.payload.company_id == company.id);
                let Some(certified) = certified else {
                    return Err(e.into());
                };
                tracing::warn!(
                    company = %company.id,
                    error = %e,
                    "Core unreachable: entitlements from its signed company certificate"
                );
                (
                    Terms::certified(&certified.payload),
                    Some(certified.certificate),
                )
            }
            Err(e) => return Err(e.into()),
        };
        let mut context =
            aggregate_terms(user_id, session_id, &company, inputs.as_ref(), terms, now)?;
        context.entitlement_certificate = certificate;
        // The session's assurance level (what a step-up route checks). It only rises within a
        // session (`POST /v1/auth/reauthenticate` with a second factor), so a context cached
        // before the rise errs on the side of refusing.
        context.aal = aal;
        Ok(context)
    }

    /// Explains, step by step, whether the membership may use `module` and hold `permission`
    /// (either may be omitted). The session step does not apply: this is an administrator's view.
    ///
    /// # Errors
    /// [`AccessError::Unavailable`] when a store or Core cannot answer.
    pub async fn explain(
        &self,
        company: &Company,
        membership_id: MembershipId,
        module: Option<&ModuleKey>,
        permission: Option<&Permission>,
    ) -> Result<Explanation, AccessError> {
        let now = self.clock.now();
        let mut steps = vec![Step::Company {
            slug: company.slug.clone(),
            id: company.id,
        }];
        let membership = self
            .directory
            .get_membership(membership_id)
            .await?
            .filter(|m| m.company_id == company.id);
        let inputs = match membership {
            Some(m) => self.directory.load_access(company.id, m.user_id).await?,
            None => None,
        };
        let entitlements = if inputs.is_some() {
            self.entitlements.entitlements(company.id).await?
        } else {
            kisum_core::resolve(
                &kisum_core::Catalog::default(),
                &kisum_core::CompanyEntitlementState::empty(company.id),
                now,
            )
        };
        let result = evaluate(
            company,
            inputs.as_ref(),
            Terms::from(&entitlements),
            now,
            &mut Trace(Some(&mut steps)),
        )
        .and_then(|resolved| {
            let grants = resolved.grants();
            if let Some(module) = module {
                let result = grants.check_module(module.as_str());
                steps.push(Step::Module {
                    module: module.clone(),
                    result,
                });
                result?;
            }
            if let Some(permission) = permission {
                let result = grants.check_permission(permission);
                steps.push(Step::Permission {
                    permission: permission.clone(),
                    result,
                });
                result?;
            }
            Ok(())
        });
        Ok(Explanation {
            allowed: result.is_ok(),
            code: result.err(),
            steps,
        })
    }
}
