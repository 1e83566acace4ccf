//! Companies: their status, slugs, and creation with the first owner.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use kisum_core::db::StoreErrorKind;
use kisum_guard::{CompanyId, CompanySlug, RoleKey, UserId};
use serde::{Deserialize, Serialize};

use super::*;
use crate::audit::action::Action;

/// Whether a company operates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CompanyStatus {
    /// Operating.
    Active,
    /// Suspended: every membership is treated as inactive.
    Suspended,
}

impl CompanyStatus {
    /// The storage string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    /// Parses the storage string.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Suspended]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A company (tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Company {
    /// The id.
    pub id: CompanyId,
    /// The unique slug.
    pub slug: CompanySlug,
    /// Display name.
    pub name: String,
    /// Status.
    pub status: CompanyStatus,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A company [`DirectoryService::create_company`] created, and its first membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedCompany {
    /// The company.
    pub company: Company,
    /// Its first member, active and holding the built-in `owner` role.
    pub owner: Membership,
}

/// Derives a slug from a company name: lowercase ASCII letters and digits, other runs folded to
/// `-`, trimmed to 48 bytes.
#[must_use]
pub fn slugify(name: &str) -> Option<CompanySlug> {
    let mut slug = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(48).collect();
    let slug = slug
        .trim_end_matches('-')
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    CompanySlug::new(slug).ok()
}

impl DirectoryService {
    /// Creates a company whose first member, `owner`, holds the built-in `owner` role.
    ///
    /// # Errors
    /// `SlugTaken`, `SlugRequired`, or a store error.
    pub async fn create_company(
        &self,
        name: &str,
        slug: Option<CompanySlug>,
        owner: UserId,
    ) -> Result<CreatedCompany, DirectoryError> {
        let slug = match slug {
            Some(s) => s,
            None => slugify(name).ok_or(DirectoryError::SlugRequired)?,
        };
        let now = self.clock.now();
        let company = Company {
            id: CompanyId::new(),
            slug: slug.clone(),
            name: name.trim().to_owned(),
            status: CompanyStatus::Active,
            created_at: now,
        };
        let membership = Membership::new(
            company.id,
            owner,
            MembershipStatus::Active,
            [RoleKey::owner()].into(),
            BTreeSet::new(),
            now,
        );
        match self.store.create_company(&company, Some(&membership)).await {
            Ok(()) => {
                let created = Action::CompanyCreate {
                    slug: company.slug.clone(),
                    owner_membership_id: membership.id,
                };
                self.after_change(company.id, &[], created).await;
                Ok(CreatedCompany {
                    company,
                    owner: membership,
                })
            }
            Err(e) if e.kind() == StoreErrorKind::Conflict => Err(DirectoryError::SlugTaken(slug)),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names() {
        assert_eq!(slugify("Acme Corp.").unwrap().as_str(), "acme-corp");
        assert_eq!(slugify("  Ünïcode & Co  ").unwrap().as_str(), "n-code-co");
        assert_eq!(slugify("42 Widgets").unwrap().as_str(), "widgets");
        assert!(slugify("!!!").is_none());
        assert!(slugify(&"x".repeat(200)).unwrap().as_str().len() <= 48);
    }
}
