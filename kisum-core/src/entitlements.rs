//! Entitlement resolution: from a company's subscription and add-ons to its enabled modules.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use kisum_guard::{AddOnKey, CompanyId, ModuleKey, PackageKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::catalog::{Catalog, ModuleKind};
use crate::subscription::{CompanyAddOn, Subscription};

/// Why a module is enabled.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModuleSource {
    /// Through the company's subscription to this package.
    Package(PackageKey),
    /// Through this company add-on.
    AddOn(AddOnKey),
}

impl fmt::Display for ModuleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Package(k) => write!(f, "package:{k}"),
            Self::AddOn(k) => write!(f, "addon:{k}"),
        }
    }
}

impl Serialize for ModuleSource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ModuleSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let s = String::deserialize(deserializer)?;
        match s.split_once(':') {
            Some(("package", k)) => PackageKey::new(k)
                .map(Self::Package)
                .map_err(D::Error::custom),
            Some(("addon", k)) => AddOnKey::new(k).map(Self::AddOn).map_err(D::Error::custom),
            _ => Err(D::Error::custom(format!("`{s}` is not a module source"))),
        }
    }
}

/// One enabled module and where it comes from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnabledModule {
    /// The module.
    pub key: ModuleKey,
    /// Its source (the package first, when both a package and an add-on enable it).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "package:basic"))]
    pub source: ModuleSource,
}

/// What a company is entitled to, resolved at one instant.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlements {
    /// The company.
    pub company_id: CompanyId,
    /// The company's entitlement version this view was resolved from.
    pub entitlement_version: u64,
    /// Whether a basic package subscription entitles now (the Core App is visible).
    pub basic_active: bool,
    /// The enabled modules, sorted by key.
    pub modules: Vec<EnabledModule>,
    /// The subscription, if any, entitling or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<Subscription>,
    /// Every company add-on, entitling or not.
    #[serde(default)]
    pub add_ons: Vec<CompanyAddOn>,
    /// The next instant at which the clock alone changes this view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
}

impl Entitlements {
    /// Whether `module` is enabled.
    #[must_use]
    pub fn has_module(&self, module: &str) -> bool {
        self.modules.iter().any(|m| m.key.as_str() == module)
    }

    /// The enabled module keys.
    #[must_use]
    pub fn module_keys(&self) -> BTreeSet<ModuleKey> {
        self.modules.iter().map(|m| m.key.clone()).collect()
    }
}

/// A company's stored entitlement state: what the store keeps, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyEntitlementState {
    /// The company.
    pub company_id: CompanyId,
    /// Its entitlement version (0 before any change).
    pub entitlement_version: u64,
    /// Its subscription, if any.
    pub subscription: Option<Subscription>,
    /// Its add-ons, sorted by add-on key.
    pub add_ons: Vec<CompanyAddOn>,
}

impl CompanyEntitlementState {
    /// The state of a company that never had a subscription or add-on.
    #[must_use]
    pub fn empty(company_id: CompanyId) -> Self {
        Self {
            company_id,
            entitlement_version: 0,
            subscription: None,
            add_ons: Vec::new(),
        }
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Resolves a company's entitlements at `now`.
///
/// - The subscribed package's modules are enabled while the subscription entitles; a module of
///   kind `core` only when the package is basic.
/// - Each entitling add-on enables its module, whatever the subscription's state; an add-on can
///   never enable a `core` module.
/// - Keys missing from the catalog enable nothing.
#[must_use]
pub fn resolve(
    catalog: &Catalog,
    state: &CompanyEntitlementState,
    now: DateTime<Utc>,
) -> Entitlements {
    let mut modules: Vec<EnabledModule> = Vec::new();
    let mut basic_active = false;
    let mut valid_until = None;
    let enable = |key: &ModuleKey, source: ModuleSource, modules: &mut Vec<EnabledModule>| {
        if !modules.iter().any(|m| &m.key == key) {
            modules.push(EnabledModule {
                key: key.clone(),
                source,
            });
        }
    };

    if let Some(sub) = &state.subscription {
        valid_until = earliest(valid_until, sub.next_change(now));
        if let Some(package) = catalog
            .packages
            .get(&sub.package)
            .filter(|_| sub.is_entitling(now))
        {
            basic_active = package.is_basic;
            for key in &package.modules {
                match catalog.modules.get(key) {
                    Some(m) if m.kind != ModuleKind::Core || package.is_basic => {
                        enable(
                            key,
                            ModuleSource::Package(package.key.clone()),
                            &mut modules,
                        );
                    }
                    _ => {}
                }
            }
        }
    }
    for company_addon in &state.add_ons {
        valid_until = earliest(valid_until, company_addon.next_change(now));
        if !company_addon.is_entitling(now) {
            continue;
        }
        let Some(addon) = catalog.addons.get(&company_addon.addon) else {
            continue;
        };
        match catalog.modules.get(&addon.module) {
            Some(m) if m.kind != ModuleKind::Core => {
                enable(
                    &addon.module,
                    ModuleSource::AddOn(addon.key.clone()),
                    &mut modules,
                );
            }
            _ => {}
        }
    }
    modules.sort_by(|a, b| a.key.cmp(&b.key));
    Entitlements {
        company_id: state.company_id,
        entitlement_version: state.entitlement_version,
        basic_active,
        modules,
        subscription: state.subscription.clone(),
        add_ons: state.add_ons.clone(),
        valid_until,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{AddOn, Module, Package};
    use crate::subscription::SubscriptionStatus;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        for (key, kind) in [
            ("core", ModuleKind::Core),
            ("finance", ModuleKind::Addon),
            ("market", ModuleKind::Addon),
            ("reports", ModuleKind::Standard),
        ] {
            let key = ModuleKey::new(key).unwrap();
            c.modules.insert(
                key.clone(),
                Module {
                    key,
                    name: "m".into(),
                    kind,
                    permissions: vec![],
                },
            );
        }
        let basic = Package {
            key: PackageKey::new("basic").unwrap(),
            name: "Basic".into(),
            is_basic: true,
            modules: [ModuleKey::core(), ModuleKey::new("reports").unwrap()]
                .into_iter()
                .collect(),
        };
        let pro = Package {
            key: PackageKey::new("pro").unwrap(),
            name: "Pro".into(),
            is_basic: false,
            modules: [ModuleKey::core(), ModuleKey::new("finance").unwrap()]
                .into_iter()
                .collect(),
        };
        c.packages.insert(basic.key.clone(), basic);
        c.packages.insert(pro.key.clone(), pro);
        for (key, module) in [
            ("finance", "finance"),
            ("market", "market"),
            ("sneaky", "core"),
        ] {
            let key = AddOnKey::new(key).unwrap();
            c.addons.insert(
                key.clone(),
                AddOn {
                    key,
                    name: "a".into(),
                    module: ModuleKey::new(module).unwrap(),
                },
            );
        }
        c
    }

    fn state(
        package: Option<(&str, SubscriptionStatus)>,
        addons: &[(&str, SubscriptionStatus)],
    ) -> CompanyEntitlementState {
        let company_id = CompanyId::new();
        CompanyEntitlementState {
            company_id,
            entitlement_version: 5,
            subscription: package.map(|(p, status)| Subscription {
                company_id,
                package: PackageKey::new(p).unwrap(),
                status,
                current_period_end: Some(t(100)),
                grace_until: None,
            }),
            add_ons: addons
                .iter()
                .map(|(a, status)| CompanyAddOn {
                    company_id,
                    addon: AddOnKey::new(a).unwrap(),
                    status: *status,
                    current_period_end: None,
                })
                .collect(),
        }
    }

    fn keys(e: &Entitlements) -> Vec<&str> {
        e.modules.iter().map(|m| m.key.as_str()).collect()
    }

    use SubscriptionStatus::*;

    #[test]
    fn active_basic_enables_core() {
        let e = resolve(&catalog(), &state(Some(("basic", Active)), &[]), t(0));
        assert!(e.basic_active);
        assert_eq!(keys(&e), ["core", "reports"]);
        assert_eq!(e.modules[0].source.to_string(), "package:basic");
        assert_eq!(e.valid_until, Some(t(100)));
        assert_eq!(e.entitlement_version, 5);
    }

    #[test]
    fn lapsed_basic_hides_core_but_keeps_addons() {
        let e = resolve(
            &catalog(),
            &state(Some(("basic", Active)), &[("finance", Active)]),
            t(100),
        );
        assert!(!e.basic_active);
        assert_eq!(keys(&e), ["finance"]);
        assert_eq!(
            e.modules[0].source,
            ModuleSource::AddOn(AddOnKey::new("finance").unwrap())
        );
    }

    #[test]
    fn addons_work_without_any_subscription() {
        let e = resolve(
            &catalog(),
            &state(None, &[("market", Trialing), ("finance", Canceled)]),
            t(0),
        );
        assert_eq!(keys(&e), ["market"]);
        assert!(!e.basic_active);
    }

    #[test]
    fn core_only_through_a_basic_package() {
        let e = resolve(
            &catalog(),
            &state(Some(("pro", Active)), &[("sneaky", Active)]),
            t(0),
        );
        assert_eq!(keys(&e), ["finance"]);
        assert!(!e.basic_active);
    }

    #[test]
    fn package_wins_the_source_when_both_enable_a_module() {
        let e = resolve(
            &catalog(),
            &state(Some(("pro", Active)), &[("finance", Active)]),
            t(0),
        );
        assert_eq!(e.modules[0].source.to_string(), "package:pro");
    }

    #[test]
    fn unknown_keys_enable_nothing() {
        let e = resolve(
            &catalog(),
            &state(Some(("gone", Active)), &[("gone", Active)]),
            t(0),
        );
        assert!(e.modules.is_empty());
    }

    #[test]
    fn json_shape() {
        let e = resolve(
            &catalog(),
            &state(Some(("basic", Active)), &[("finance", Active)]),
            t(0),
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v["modules"][0],
            serde_json::json!({"key": "core", "source": "package:basic"})
        );
        assert_eq!(v["subscription"]["status"], "active");
        assert_eq!(v["add_ons"][0]["addon"], "finance");
        let back: Entitlements = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
        assert!(serde_json::from_str::<ModuleSource>("\"plan:x\"").is_err());
    }
}
