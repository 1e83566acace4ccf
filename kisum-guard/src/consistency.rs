//! Read-your-writes: the opaque `X-Kisum-Consistency` token.
//!
//! Every write that can change access answers with the versions it produced, packed into a
//! [`ConsistencyToken`]. A request presenting the token (to `/v1/auth/me/access`, to the
//! internal resolve, through the guard) is never answered from a state older than that write:
//! a cached context whose versions are lower is bypassed.
//!
//! The wire form is `v1.<company id>.<membership id or ->.<access version>.<entitlement version>`;
//! clients treat it as opaque.

use std::fmt;
use std::str::FromStr;

use crate::context::AccessContext;
use crate::ids::{CompanyId, MembershipId};

/// The header carrying the token, on write answers and on requests.
pub const CONSISTENCY_HEADER: &str = "x-kisum-consistency";

/// The minimum state a reader must observe after a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConsistencyToken {
    /// The company written to.
    pub company_id: CompanyId,
    /// The membership whose access changed, when the write was about one membership.
    pub membership_id: Option<MembershipId>,
    /// The lowest acceptable `access_version` of that membership (0: any).
    pub access_version: u64,
    /// The lowest acceptable `entitlement_version` of the company (0: any).
    pub entitlement_version: u64,
}

impl ConsistencyToken {
    /// A token after a membership write that produced `access_version`.
    #[must_use]
    pub fn membership(
        company_id: CompanyId,
        membership_id: MembershipId,
        access_version: u64,
    ) -> Self {
        Self {
            company_id,
            membership_id: Some(membership_id),
            access_version,
            entitlement_version: 0,
        }
    }

    /// A token after a company write (entitlements, or a role edit touching every holder).
    #[must_use]
    pub fn company(company_id: CompanyId, entitlement_version: u64) -> Self {
        Self {
            company_id,
            membership_id: None,
            access_version: 0,
            entitlement_version,
        }
    }

    /// Whether `context` is at least as new as this token demands. A context of another
    /// company, or of another membership, is unaffected by the write and always satisfies it.
    #[must_use]
    pub fn is_satisfied_by(&self, context: &AccessContext) -> bool {
        if context.company_id != self.company_id {
            return true;
        }
        if context.entitlement_version < self.entitlement_version {
            return false;
        }
        match self.membership_id {
            Some(m) if m == context.membership_id => context.access_version >= self.access_version,
            Some(_) => true,
            None => context.access_version >= self.access_version,
        }
    }
}

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1.{}.", self.company_id)?;
        match self.membership_id {
            Some(m) => write!(f, "{m}")?,
            None => f.write_str("-")?,
        }
        write!(f, ".{}.{}", self.access_version, self.entitlement_version)
    }
}

/// A malformed consistency token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed consistency token")]
pub struct InvalidConsistencyToken;

impl FromStr for ConsistencyToken {
    type Err = InvalidConsistencyToken;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.trim().split('.');
        let mut next = || parts.next().ok_or(InvalidConsistencyToken);
        if next()? != "v1" {
            return Err(InvalidConsistencyToken);
        }
        let company_id = next()?.parse().map_err(|_| InvalidConsistencyToken)?;
        let membership_id = match next()? {
            "-" => None,
            m => Some(m.parse().map_err(|_| InvalidConsistencyToken)?),
        };
        let access_version = next()?.parse().map_err(|_| InvalidConsistencyToken)?;
        let entitlement_version = next()?.parse().map_err(|_| InvalidConsistencyToken)?;
        if parts.next().is_some() {
            return Err(InvalidConsistencyToken);
        }
        Ok(Self {
            company_id,
            membership_id,
            access_version,
            entitlement_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{SessionId, UserId};

    fn ctx(c: CompanyId, m: MembershipId, av: u64, ev: u64) -> AccessContext {
        AccessContext {
            user_id: UserId::new(),
            session_id: SessionId::new(),
            company_id: c,
            membership_id: m,
            roles: vec![],
            modules: Default::default(),
            entitled_modules: Default::default(),
            permissions: Default::default(),
            core_app_visible: false,
            access_version: av,
            entitlement_version: ev,
            computed_at: chrono::DateTime::UNIX_EPOCH,
            valid_until: None,
            entitlement_certificate: None,
            aal: Default::default(),
        }
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = ConsistencyToken::membership(CompanyId::new(), MembershipId::new(), 7);
        assert_eq!(t.to_string().parse::<ConsistencyToken>(), Ok(t));
        let c = ConsistencyToken::company(CompanyId::new(), 3);
        assert_eq!(c.to_string().parse::<ConsistencyToken>(), Ok(c));
        for bad in [
            "",
            "v1",
            "v2.x.-.1.1",
            "v1.nope.-.1.1",
            "v1.{c}.-.1",
            "v1.{c}.-.1.1.1",
            "v1.{c}.-.-1.1",
        ] {
            let bad = bad.replace("{c}", &CompanyId::new().to_string());
            assert_eq!(
                bad.parse::<ConsistencyToken>(),
                Err(InvalidConsistencyToken),
                "{bad}"
            );
        }
    }

    #[test]
    fn older_contexts_of_the_written_membership_or_company_do_not_satisfy() {
        let (c, m) = (CompanyId::new(), MembershipId::new());
        let t = ConsistencyToken::membership(c, m, 5);
        assert!(!t.is_satisfied_by(&ctx(c, m, 4, 9)));
        assert!(t.is_satisfied_by(&ctx(c, m, 5, 0)));
        assert!(t.is_satisfied_by(&ctx(c, MembershipId::new(), 1, 0)));
        assert!(t.is_satisfied_by(&ctx(CompanyId::new(), m, 1, 0)));
        let e = ConsistencyToken::company(c, 3);
        assert!(!e.is_satisfied_by(&ctx(c, m, 9, 2)));
        assert!(e.is_satisfied_by(&ctx(c, m, 0, 3)));
    }
}
