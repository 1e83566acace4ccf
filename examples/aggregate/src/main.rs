//! Run with: cargo run -p example-aggregate
//!
//! Builds the demo world of `kisum dev` in the in-memory stores (catalog, company `acme` with
//! `basic` and the `finance` add-on, an owner and a finance viewer), resolves both members'
//! access, and explains why the viewer cannot write invoices.

use std::error::Error;
use std::sync::Arc;

use chrono::TimeDelta;
use kisum_auth::{
    AccessService, DirectoryService, MembershipStatus, MemoryAuthStore, Session, SessionStore,
};
use kisum_core::{
    AddOn, CompanyAddOn, EntitlementService, MemoryCoreStore, Module, ModuleKind, Package,
    Subscription, SubscriptionStatus,
};
use kisum_guard::{
    AddOnKey, Clock, ModuleKey, PackageKey, Permission, PermissionPattern, RoleKey, SystemClock,
    UserId,
};

async fn run() -> Result<(), Box<dyn Error>> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let auth = Arc::new(MemoryAuthStore::new());
    let core = EntitlementService::new(Arc::new(MemoryCoreStore::new()), clock.clone());

    for key in ["core", "finance", "market", "touring", "venue", "ai"] {
        let kind = if key == "core" {
            ModuleKind::Core
        } else {
            ModuleKind::Addon
        };
        core.put_module(Module {
            key: ModuleKey::new(key)?,
            name: key.into(),
            kind,
            permissions: vec![],
        })
        .await?;
        if key != "core" {
            core.put_addon(AddOn {
                key: AddOnKey::new(key)?,
                name: key.into(),
                module: ModuleKey::new(key)?,
            })
            .await?;
        }
    }
    core.put_package(Package {
        key: PackageKey::new("basic")?,
        name: "Basic".into(),
        is_basic: true,
        modules: [ModuleKey::core()].into(),
    })
    .await?;

    let directory = DirectoryService::new(auth.clone(), clock.clone());
    let owner = UserId::new();
    let acme = directory.create_company("Acme", None, owner).await?.company;
    core.set_subscription(Subscription {
        company_id: acme.id,
        package: PackageKey::new("basic")?,
        status: SubscriptionStatus::Active,
        current_period_end: None,
        grace_until: None,
    })
    .await?;
    core.set_company_addon(CompanyAddOn {
        company_id: acme.id,
        addon: AddOnKey::new("finance")?,
        status: SubscriptionStatus::Active,
        current_period_end: None,
    })
    .await?;
    let viewer_role = RoleKey::new("finance-viewer")?;
    directory
        .put_role(
            acme.id,
            viewer_role.clone(),
            "Finance viewer",
            [PermissionPattern::new("finance.invoices.read")?].into(),
        )
        .await?;
    let member = directory
        .add_member(
            acme.id,
            UserId::new(),
            MembershipStatus::Active,
            [viewer_role].into(),
            [ModuleKey::new("finance")?].into(),
        )
        .await?;

    let access = AccessService::new(auth.clone(), auth.clone(), Arc::new(core), clock.clone());
    for (who, user) in [("owner", owner), ("member", member.user_id)] {
        let session = Session::new(user, clock.now(), TimeDelta::hours(1), TimeDelta::days(1));
        auth.create_session(&session).await?;
        let ctx = access.resolve(user, session.id, Some("acme")).await?;
        println!(
            "{who}@acme.test access context:\n{}\n",
            serde_json::to_string_pretty(&ctx)?
        );
    }
    let why = access
        .explain(
            &acme,
            member.id,
            Some(&ModuleKey::new("finance")?),
            Some(&Permission::new("finance.invoices.write")?),
        )
        .await?;
    println!(
        "why can't member@acme.test write invoices?\n{}",
        serde_json::to_string_pretty(&why)?
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    tokio::runtime::Builder::new_current_thread()
        .build()?
        .block_on(run())
}
