//! The demo data of `kisum dev`, exactly as API.md describes it: the catalog (modules `core`,
//! `finance`, `market`, `touring`, `venue`, `ai`; package `basic`; an add-on per non-core
//! module), company `acme` with `basic` and the `finance` add-on active, and two users.
//! Seeding is idempotent: a second start finds `owner@acme.test` and changes nothing.

use kisum_auth::identity::Password;
use kisum_auth::identity::Registered;
use kisum_auth::service::{AuthService, ClientInfo};
use kisum_auth::{DirectoryService, Email, MembershipStatus};
use kisum_core::admin::{Actor, CoreAdmin};
use kisum_core::{
    AddOn, CompanyAddOn, Module, ModuleKind, Package, Subscription, SubscriptionStatus,
};
use kisum_guard::{AddOnKey, ModuleKey, PackageKey, Permission, PermissionPattern, RoleKey};

/// The demo password of both users.
pub const DEMO_PASSWORD: &str = "kisum-demo-password";
/// The owner's email.
pub const OWNER_EMAIL: &str = "owner@acme.test";
/// The finance viewer's email.
pub const MEMBER_EMAIL: &str = "member@acme.test";

/// The platform administrator's email (no second factor yet: enrol one to write).
pub const ADMIN_EMAIL: &str = "admin@kisum.test";

/// The demo modules; `core` is the Core App, the others are add-ons.
pub const MODULES: [&str; 6] = ["core", "finance", "market", "touring", "venue", "ai"];

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
#[error("seeding the demo data failed: {0}")]
pub struct SeedError(String);

fn err(e: impl std::fmt::Display) -> SeedError {
    SeedError(e.to_string())
}

/// What seeding did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeded {
    /// The demo data was written now.
    Created,
    /// It was there already.
    AlreadyThere,
}

fn permissions(module: &str) -> Result<Vec<Permission>, SeedError> {
    let keys: &[&str] = match module {
        "core" => &["core.home.view", "core.settings.manage"],
        _ => &["invoices.read", "invoices.write", "reports.read"],
    };
    keys.iter()
        .map(|k| {
            let key = if module == "core" {
                (*k).to_owned()
            } else {
                format!("{module}.{k}")
            };
            Permission::new(&key).map_err(err)
        })
        .collect()
}

/// Seeds the catalog through `core` and the company and users through `auth`.
///
/// # Errors
/// A store failed or the demo data is inconsistent with what is there.
pub async fn seed(
    auth: &AuthService,
    directory: &DirectoryService,
    core: &CoreAdmin,
) -> Result<Seeded, SeedError> {
    let owner_email = Email::parse(OWNER_EMAIL).map_err(err)?;
    if auth
        .user_by_email(&owner_email)
        .await
        .map_err(err)?
        .is_some()
    {
        return Ok(Seeded::AlreadyThere);
    }
    let actor = Actor::new("kisum-dev");
    for key in MODULES {
        let kind = if key == "core" {
            ModuleKind::Core
        } else {
            ModuleKind::Addon
        };
        core.put_module(
            &actor,
            Module {
                key: ModuleKey::new(key).map_err(err)?,
                name: format!(
                    "{}{}",
                    key.get(..1).unwrap_or_default().to_uppercase(),
                    key.get(1..).unwrap_or_default()
                ),
                kind,
                permissions: permissions(key)?,
            },
        )
        .await
        .map_err(err)?;
        if key != "core" {
            core.put_addon(
                &actor,
                AddOn {
                    key: AddOnKey::new(key).map_err(err)?,
                    name: key.to_owned(),
                    module: ModuleKey::new(key).map_err(err)?,
                },
            )
            .await
            .map_err(err)?;
        }
    }
    core.put_package(
        &actor,
        Package {
            key: PackageKey::new("basic").map_err(err)?,
            name: "Basic".into(),
            is_basic: true,
            modules: [ModuleKey::core()].into(),
        },
    )
    .await
    .map_err(err)?;

    let client = ClientInfo::default();
    let Registered {
        user: owner,
        company,
        ..
    } = auth
        .register(
            OWNER_EMAIL,
            Password::new(DEMO_PASSWORD),
            Some("Acme Owner".into()),
            Some("Acme"),
            client.clone(),
        )
        .await
        .map_err(err)?;
    let acme = company.ok_or_else(|| SeedError("registration created no company".into()))?;
    let Registered { user: member, .. } = auth
        .register(
            MEMBER_EMAIL,
            Password::new(DEMO_PASSWORD),
            Some("Acme Member".into()),
            None,
            client.clone(),
        )
        .await
        .map_err(err)?;
    // The demo accounts' addresses are the operator's own: proven, so signing in with an email
    // code keeps the demo password.
    for user in [owner.id, member.id] {
        auth.confirm_email(user, &client).await.map_err(err)?;
    }
    let viewer = RoleKey::new("finance-viewer").map_err(err)?;
    directory
        .put_role(
            acme.id,
            viewer.clone(),
            "Finance viewer",
            [PermissionPattern::new("finance.invoices.read").map_err(err)?].into(),
        )
        .await
        .map_err(err)?;
    directory
        .add_member(
            acme.id,
            member.id,
            MembershipStatus::Active,
            [viewer].into(),
            [ModuleKey::new("finance").map_err(err)?].into(),
        )
        .await
        .map_err(err)?;
    core.set_subscription(
        &actor,
        Subscription {
            company_id: acme.id,
            package: PackageKey::new("basic").map_err(err)?,
            status: SubscriptionStatus::Active,
            current_period_end: None,
            grace_until: None,
        },
    )
    .await
    .map_err(err)?;
    core.set_company_addon(
        &actor,
        CompanyAddOn {
            company_id: acme.id,
            addon: AddOnKey::new("finance").map_err(err)?,
            status: SubscriptionStatus::Active,
            current_period_end: None,
        },
    )
    .await
    .map_err(err)?;
    Ok(Seeded::Created)
}

/// Where `kisum dev` writes the demo licence's key, in its data directory.
pub const DEMO_LICENSE_KEY_FILE: &str = "demo-license-key";

/// The seats of the demo licence.
pub const DEMO_LICENSE_SEATS: u32 = 3;

/// Gives `acme` its demo licence (3 seats) when it has none, and writes the licence key
/// (shown once, stored hashed) to `key_file`, readable by its owner only. A licence already
/// there is kept, and so is its key file.
///
/// # Errors
/// A store failed, `acme` is missing, or the key file cannot be written.
pub async fn seed_license(
    directory: &dyn kisum_auth::DirectoryStore,
    licenses: &kisum_core::LicenseService,
    key_file: &std::path::Path,
) -> Result<(), SeedError> {
    let slug = kisum_guard::CompanySlug::new("acme").map_err(err)?;
    let acme = directory
        .find_company_by_slug(&slug)
        .await
        .map_err(err)?
        .ok_or_else(|| SeedError("the demo company `acme` is missing".into()))?;
    if !licenses.list(acme.id).await.map_err(err)?.is_empty() {
        return Ok(());
    }
    let (_, key) = licenses
        .create(
            &Actor::new("kisum-dev"),
            kisum_core::license::NewLicense {
                company_id: acme.id,
                name: Some("Acme desktop".into()),
                max_activations: DEMO_LICENSE_SEATS,
                floating: false,
                heartbeat_interval: None,
                expires_at: None,
                modules: None,
            },
        )
        .await
        .map_err(err)?;
    crate::run::write_private(key_file, &key).map_err(err)
}

/// Seeds the platform administrator `admin@kisum.test` (password [`DEMO_PASSWORD`], role
/// `platform-admin`), once: an account that exists is left as it is.
///
/// # Errors
/// A store failed.
pub async fn seed_admin(
    auth: &AuthService,
    store: &dyn kisum_auth::AuthStore,
    clock: &dyn kisum_guard::Clock,
) -> Result<(), SeedError> {
    let email = Email::parse(ADMIN_EMAIL).map_err(err)?;
    if auth.user_by_email(&email).await.map_err(err)?.is_some() {
        return Ok(());
    }
    let client = ClientInfo::default();
    let Registered { user, .. } = auth
        .register(
            ADMIN_EMAIL,
            Password::new(DEMO_PASSWORD),
            Some("Platform Admin".into()),
            None,
            client.clone(),
        )
        .await
        .map_err(err)?;
    auth.confirm_email(user.id, &client).await.map_err(err)?;
    crate::admin::grant(store, clock, ADMIN_EMAIL, "platform-admin")
        .await
        .map_err(err)?;
    Ok(())
}
