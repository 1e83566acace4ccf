//! Registration: a new account, and the company it may create.

use kisum_core::db::StoreErrorKind;
use kisum_guard::{CompanySlug, UserId};

use crate::audit::AuditContext;
use crate::audit::action::Action;
use crate::directory::{Company, DirectoryError, slugify};
use crate::identity::PolicyViolation;
use crate::identity::{Email, Password, User};
use crate::service::{AuthService, ClientInfo, Failure, failure_converts};
use crate::session::TokenPair;

/// Why a registration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The email is not an acceptable address.
    #[error("not a valid email address")]
    InvalidEmail,
    /// The password breaks the policy.
    #[error("{0}")]
    WeakPassword(PolicyViolation),
    /// The email is already registered.
    #[error("email already registered")]
    EmailTaken,
    /// Creating the company failed.
    #[error(transparent)]
    Company(#[from] DirectoryError),
    /// Nothing was refused: a store, the token service or hashing failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(RegisterError);

/// A new account: the user, their first token pair, and the company created with it.
#[derive(Debug)]
pub struct Registered {
    /// The user.
    pub user: User,
    /// The signed-in session's tokens.
    pub tokens: TokenPair,
    /// The company, when one was asked for.
    pub company: Option<Company>,
}

impl AuthService {
    /// Registers a user and signs them in; with `company_name`, creates that company with the
    /// user as its `owner`.
    ///
    /// # Errors
    /// `InvalidEmail`, `WeakPassword`, `EmailTaken`, `Company`, `Store`.
    pub async fn register(
        &self,
        email: &str,
        password: Password,
        name: Option<String>,
        company_name: Option<&str>,
        client: ClientInfo,
    ) -> Result<Registered, RegisterError> {
        let email = Email::parse(email).map_err(|_| RegisterError::InvalidEmail)?;
        self.policy
            .check(&password, Some(&email))
            .map_err(RegisterError::WeakPassword)?;
        let company_name = company_name.map(str::trim).filter(|n| !n.is_empty());
        // Refuse a company name that cannot become a slug before the account exists.
        if company_name.is_some_and(|n| slugify(n).is_none()) {
            return Err(DirectoryError::SlugRequired.into());
        }
        // An invitation made an account awaiting sign-up: its owner may still register it.
        // Nothing is claimed by doing so: the email stays unproven, so the invitations stay
        // pending, and a later proof by anyone else clears this password (`email_proven`).
        let existing = self.store.find_user_by_email(&email).await?;
        if existing.as_ref().is_some_and(|u| !u.awaiting_sign_up()) {
            return Err(RegisterError::EmailTaken);
        }
        let hash = self.hash(password).await?;
        let name = name.map(|n| n.trim().chars().take(200).collect());
        let user = match existing {
            Some(mut invited) => {
                invited.password_hash = Some(hash);
                invited.name = name.or(invited.name);
                invited.updated_at = self.clock.now();
                self.store.update_user(&invited).await?;
                invited
            }
            None => {
                let user = User::new(email, name, Some(hash), self.clock.now());
                match self.store.create_user(&user).await {
                    Err(e) if e.kind() == StoreErrorKind::Conflict => {
                        return Err(RegisterError::EmailTaken);
                    }
                    other => other?,
                }
                user
            }
        };
        self.audit(Some(user.id), &client, Action::UserRegister {})
            .await;
        let company = match company_name {
            None => None,
            Some(name) => Some(
                self.create_company(name, user.id, &client.audit_context(Some(user.id)))
                    .await?,
            ),
        };
        let pair = self
            .start_session(
                user.id,
                client,
                kisum_guard::Aal::Aal1,
                &[crate::session::amr::PASSWORD],
            )
            .await?;
        Ok(Registered {
            user,
            tokens: pair,
            company,
        })
    }

    /// Creates a company owned by `owner`, deriving a free slug from the name; audited with
    /// `context`.
    ///
    /// # Errors
    /// `Company` when no slug can be derived; `Store`.
    pub async fn create_company(
        &self,
        name: &str,
        owner: UserId,
        context: &AuditContext,
    ) -> Result<Company, RegisterError> {
        let base = slugify(name).ok_or(DirectoryError::SlugRequired)?;
        let mut slug = base.clone();
        let directory = self.directory.acting_as(context.clone());
        for attempt in 0..5u32 {
            match directory
                .create_company(name, Some(slug.clone()), owner)
                .await
            {
                Ok(created) => return Ok(created.company),
                Err(DirectoryError::SlugTaken(_)) if attempt < 4 => {
                    let mut n = [0u8; 2];
                    aws_lc_rs::rand::fill(&mut n)
                        .map_err(|_| RegisterError::Failed(Failure::Hashing))?;
                    let suffix = format!(
                        "{}-{:04x}",
                        base.as_str().chars().take(43).collect::<String>(),
                        u16::from_be_bytes(n)
                    );
                    slug = CompanySlug::new(&suffix).unwrap_or_else(|_| base.clone());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(DirectoryError::SlugTaken(slug).into())
    }
}
