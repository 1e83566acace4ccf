//! The commercial catalog: modules, packages and add-ons.

use std::collections::{BTreeMap, BTreeSet};

use kisum_guard::{AddOnKey, ModuleKey, PackageKey, Permission};
use serde::{Deserialize, Serialize};

/// What kind of module this is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleKind {
    /// The Core App: enabled only through an active basic package.
    Core,
    /// Sold as an add-on, independently of the basic package.
    Addon,
    /// Part of packages, neither core nor add-on.
    Standard,
}

impl ModuleKind {
    /// The wire and storage string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Addon => "addon",
            Self::Standard => "standard",
        }
    }

    /// Parses the storage string.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Core, Self::Addon, Self::Standard]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A module of the platform (`core`, `finance`, …) and the permission keys it declares.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Module {
    /// The module key.
    pub key: ModuleKey,
    /// Display name.
    pub name: String,
    /// The kind.
    pub kind: ModuleKind,
    /// The permission keys the module declares (each starts with the module key).
    #[serde(default)]
    pub permissions: Vec<Permission>,
}

/// A package a company subscribes to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// The package key.
    pub key: PackageKey,
    /// Display name.
    pub name: String,
    /// Whether this is a basic package: the only way to the `core` module.
    pub is_basic: bool,
    /// The modules it enables.
    pub modules: BTreeSet<ModuleKey>,
}

/// An add-on: one module a company can buy on its own.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddOn {
    /// The add-on key.
    pub key: AddOnKey,
    /// Display name.
    pub name: String,
    /// The module it enables.
    pub module: ModuleKey,
}

/// A snapshot of the whole catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Modules by key.
    pub modules: BTreeMap<ModuleKey, Module>,
    /// Packages by key.
    pub packages: BTreeMap<PackageKey, Package>,
    /// Add-ons by key.
    pub addons: BTreeMap<AddOnKey, AddOn>,
}

impl Catalog {
    /// The packages that include `module`.
    pub fn packages_with_module<'a>(
        &'a self,
        module: &'a ModuleKey,
    ) -> impl Iterator<Item = &'a Package> + 'a {
        self.packages
            .values()
            .filter(move |p| p.modules.contains(module))
    }

    /// The add-ons that enable `module`.
    pub fn addons_for_module<'a>(
        &'a self,
        module: &'a ModuleKey,
    ) -> impl Iterator<Item = &'a AddOn> + 'a {
        self.addons.values().filter(move |a| &a.module == module)
    }
}
