//! Permission keys, permission patterns and the compiled [`PermissionSet`].
//!
//! A permission key names one action: `module.resource.action` (two or more dot-separated
//! segments of `[a-z0-9_-]`; the first segment is always the module). A pattern is a key, a
//! prefix ending in `.*` (`finance.*`, `finance.invoices.*`) or `*` (everything). Patterns form a
//! tree: two patterns either nest or are disjoint, which keeps intersection exact.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::InvalidId;

const MAX_LEN: usize = 128;

fn is_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'))
}

fn is_valid_permission(s: &str) -> bool {
    s.len() <= MAX_LEN && s.split('.').count() >= 2 && s.split('.').all(is_segment)
}

fn is_valid_pattern(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    if s.len() > MAX_LEN {
        return false;
    }
    match s.strip_suffix(".*") {
        Some(prefix) => prefix.split('.').all(is_segment),
        None => is_valid_permission(s),
    }
}

#[inline]
fn module_of(s: &str) -> &str {
    // A plain byte scan: the module is a few bytes long, and `str::find` sets up a searcher on
    // every call (this runs once per pattern of every aggregation).
    s.bytes()
        .position(|b| b == b'.')
        .and_then(|i| s.get(..i))
        .unwrap_or(s)
}

/// A concrete permission key such as `finance.invoices.read`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
pub struct Permission(Arc<str>);

impl Permission {
    /// Validates and wraps a permission key.
    ///
    /// # Errors
    /// [`InvalidId`] unless `s` has two or more non-empty `[a-z0-9_-]` segments.
    pub fn new(s: &str) -> Result<Self, InvalidId> {
        if is_valid_permission(s) {
            Ok(Self(Arc::from(s)))
        } else {
            Err(InvalidId::new("permission", s))
        }
    }

    /// The key as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The module this permission belongs to (its first segment).
    #[must_use]
    pub fn module(&self) -> &str {
        module_of(&self.0)
    }
}

/// A permission pattern: a key, a `prefix.*` wildcard, or `*`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
pub struct PermissionPattern(Arc<str>);

impl PermissionPattern {
    /// Validates and wraps a pattern.
    ///
    /// # Errors
    /// [`InvalidId`] when `s` is neither `*`, a permission key, nor segments followed by `.*`.
    pub fn new(s: &str) -> Result<Self, InvalidId> {
        if is_valid_pattern(s) {
            Ok(Self(Arc::from(s)))
        } else {
            Err(InvalidId::new("permission pattern", s))
        }
    }

    /// The pattern `*`, which matches every permission.
    #[must_use]
    pub fn all() -> Self {
        Self(Arc::from("*"))
    }

    /// The pattern `module.*`.
    #[must_use]
    pub fn module_wildcard(module: &crate::ModuleKey) -> Self {
        Self(Arc::from(format!("{module}.*")))
    }

    /// The pattern as a string slice.
    #[must_use]
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `*`.
    #[must_use]
    #[inline]
    pub fn is_all(&self) -> bool {
        &*self.0 == "*"
    }

    /// The module the pattern is confined to, or `None` for `*`.
    #[must_use]
    #[inline]
    pub fn module(&self) -> Option<&str> {
        if self.is_all() {
            None
        } else {
            Some(module_of(&self.0))
        }
    }

    /// For a `prefix.*` pattern, the prefix including its trailing dot (`finance.`).
    #[inline]
    fn wildcard_prefix(&self) -> Option<&str> {
        if self.is_all() {
            return Some("");
        }
        self.0.strip_suffix('*')
    }

    /// Whether the pattern matches the permission key `permission`.
    #[must_use]
    pub fn matches_str(&self, permission: &str) -> bool {
        match self.wildcard_prefix() {
            Some(prefix) => permission.starts_with(prefix),
            None => *self.0 == *permission,
        }
    }

    /// Whether the pattern matches `permission`.
    #[must_use]
    pub fn matches(&self, permission: &Permission) -> bool {
        self.matches_str(permission.as_str())
    }

    /// Whether every permission matched by `other` is also matched by `self`.
    #[must_use]
    #[inline]
    pub fn covers(&self, other: &PermissionPattern) -> bool {
        match (self.wildcard_prefix(), other.wildcard_prefix()) {
            (Some(mine), Some(theirs)) => theirs.starts_with(mine),
            (Some(mine), None) => other.0.starts_with(mine),
            (None, Some(_)) => false,
            (None, None) => self.0 == other.0,
        }
    }

    /// The permissions matched by both patterns, as one pattern, or `None` when disjoint.
    ///
    /// Exact because patterns either nest or are disjoint.
    #[must_use]
    pub fn intersect(&self, other: &PermissionPattern) -> Option<PermissionPattern> {
        if self.covers(other) {
            Some(other.clone())
        } else if other.covers(self) {
            Some(self.clone())
        } else {
            None
        }
    }
}

macro_rules! string_impls {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), &*self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
string_impls!(Permission);
string_impls!(PermissionPattern);

impl Borrow<str> for PermissionPattern {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<Permission> for PermissionPattern {
    fn from(p: Permission) -> Self {
        Self(p.0)
    }
}

/// The text a pattern is filed under in a [`PermissionSet`]: a key itself, a `prefix.*`
/// wildcard its prefix with the trailing dot (`finance.invoices.`), so the set can be probed with
/// slices of the key being checked.
#[inline]
fn filed_text(pattern: &PermissionPattern) -> &str {
    let s = pattern.as_str();
    s.strip_suffix('*').unwrap_or(s)
}

/// The hash a [`PermissionSet`] files `text` under: the same function for every set and every
/// [`CompiledPatterns`], so hashes computed once when a role is compiled stay valid.
#[inline]
fn filed_hash(text: &str) -> u64 {
    use std::hash::BuildHasher as _;
    rustc_hash::FxBuildHasher.hash_one(text)
}

/// The hash a [`PermissionSet`] files a pattern under: [`filed_hash`] of its filed text, with
/// the top bit saying which table (1: the `prefix.*` wildcards), so that a compiled pattern
/// costs 8 bytes.
#[inline]
fn slot_hash(text: &str, wildcard: bool) -> u64 {
    (filed_hash(text) & !(1 << 63)) | (u64::from(wildcard) << 63)
}

/// Every prefix of `key` that ends in a dot (`a.`, `a.b.` for `a.b.c`), shortest first: the
/// prefixes a `prefix.*` pattern matching `key` can have.
fn dotted_prefixes(key: &str) -> impl Iterator<Item = &str> {
    key.match_indices('.').filter_map(|(i, _)| key.get(..=i))
}

/// Patterns compiled once for building many [`PermissionSet`]s from, as a role's patterns are
/// for every aggregation of its holders: sorted, grouped by module, each with the hash a set
/// files it under.
///
/// [`PermissionSet::extend_compiled`] takes the patterns of the admitted modules without
/// reading their text, cloning them or hashing them: the set shares the list (one reference
/// count for the whole list) and files each pattern by its precomputed hash.
#[derive(Clone, Default)]
pub struct CompiledPatterns(Arc<Compiled>);

#[derive(Default)]
struct Compiled {
    patterns: Box<[PermissionPattern]>,
    /// Per pattern: its [`slot_hash`] (whose top bit says whether it is a wildcard).
    filed: Box<[u64]>,
    /// Consecutive patterns of one module.
    runs: Box<[Run]>,
    /// The runs' modules, one after the other (one allocation, read with the runs).
    modules: Box<str>,
}

/// Patterns `start..end` of a [`Compiled`], all of the module at `module` in its `modules`
/// (`None`: the run of `*`), whose text hashes to `hash`.
struct Run {
    module: Option<(u32, u32)>,
    hash: u64,
    start: usize,
    end: usize,
}

impl Compiled {
    fn module(&self, run: &Run) -> Option<&str> {
        let (at, len) = run.module?;
        let (at, len) = (usize::try_from(at).ok()?, usize::try_from(len).ok()?);
        self.modules.get(at..at.checked_add(len)?)
    }
}

impl CompiledPatterns {
    /// Compiles `patterns` (duplicates are kept once).
    #[must_use]
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a PermissionPattern>) -> Self {
        let mut patterns: Vec<PermissionPattern> = patterns.into_iter().cloned().collect();
        patterns.sort_unstable();
        patterns.dedup();
        let filed = patterns
            .iter()
            .map(|p| slot_hash(filed_text(p), !p.is_all() && p.as_str().ends_with('*')))
            .collect();
        let mut runs: Vec<Run> = Vec::new();
        let mut modules = String::new();
        let mut last: Option<&str> = None;
        for (i, p) in patterns.iter().enumerate() {
            let module = p.module();
            match runs.last_mut() {
                Some(run) if last == module => run.end = i + 1,
                _ => {
                    let at = (modules.len(), module.map_or(0, str::len));
                    modules.push_str(module.unwrap_or(""));
                    runs.push(Run {
                        module: module.and_then(|_| {
                            Some((u32::try_from(at.0).ok()?, u32::try_from(at.1).ok()?))
                        }),
                        hash: module.map_or(0, filed_hash),
                        start: i,
                        end: i + 1,
                    });
                    last = module;
                }
            }
        }
        Self(Arc::new(Compiled {
            patterns: patterns.into_boxed_slice(),
            filed,
            runs: runs.into_boxed_slice(),
            modules: modules.into_boxed_str(),
        }))
    }

    /// The patterns, sorted.
    #[must_use]
    pub fn patterns(&self) -> &[PermissionPattern] {
        &self.0.patterns
    }

    /// The patterns of `module` (those whose first segment it is), sorted; empty when there
    /// are none. `*` belongs to no module.
    #[must_use]
    pub fn of_module(&self, module: &str) -> &[PermissionPattern] {
        let c = &self.0;
        let hash = filed_hash(module);
        c.runs
            .iter()
            .find(|r| r.hash == hash && c.module(r) == Some(module))
            .and_then(|r| c.patterns.get(r.start..r.end))
            .unwrap_or_default()
    }

    /// Whether `*` is among the patterns.
    #[must_use]
    pub fn holds_all(&self) -> bool {
        self.0
            .patterns
            .first()
            .is_some_and(PermissionPattern::is_all)
    }

    /// How many patterns of the modules `admitted` accepts there are.
    #[must_use]
    pub fn count(&self, admitted: &AdmittedModules<'_>) -> usize {
        self.0
            .runs
            .iter()
            .filter(|r| admitted.admits(&self.0, r))
            .map(|r| r.end - r.start)
            .sum()
    }

    /// How many patterns there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.patterns.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.patterns.is_empty()
    }
}

impl fmt::Debug for CompiledPatterns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.patterns()).finish()
    }
}

/// The modules whose patterns [`PermissionSet::extend_compiled`] takes, and whether it takes
/// `*`. Each module is hashed once here, so a compiled run is admitted by comparing its
/// precomputed hash first: the text of a module is compared only when the hashes agree.
#[derive(Debug, Clone)]
pub struct AdmittedModules<'a> {
    modules: Vec<(u64, &'a str)>,
    all: bool,
}

impl<'a> AdmittedModules<'a> {
    /// The patterns of `modules`, and `*` when `all`.
    #[must_use]
    pub fn new(modules: impl IntoIterator<Item = &'a str>, all: bool) -> Self {
        Self {
            modules: modules.into_iter().map(|m| (filed_hash(m), m)).collect(),
            all,
        }
    }

    fn admits(&self, compiled: &Compiled, run: &Run) -> bool {
        if run.module.is_none() {
            return self.all;
        }
        self.modules
            .iter()
            .any(|(hash, m)| *hash == run.hash && compiled.module(run) == Some(*m))
    }
}

/// Where a pattern of a [`PermissionSet`] lives (a shared list, or the set's own patterns)
/// and the hash it is filed under.
#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    list: u32,
    index: u32,
}

/// [`Slot::list`] of a pattern the set owns.
const OWN: u32 = u32::MAX;

/// A set of permission patterns compiled for fast matching.
///
/// Exact keys are filed in one hash table, `prefix.*` wildcards in another (under their prefix),
/// `*` in a flag. Matching a key with `n` dot-separated segments costs at most `n` hash lookups,
/// however many patterns the set holds: the exact key, then each of its prefixes ending at a dot.
/// The patterns themselves are either the set's own or shared lists of [`CompiledPatterns`]
/// (a set built from roles holds one reference per role, not one per pattern). It serializes
/// as the sorted list of its patterns.
#[derive(Clone, Default)]
pub struct PermissionSet {
    all: Option<PermissionPattern>,
    lists: Vec<Arc<Compiled>>,
    own: Vec<PermissionPattern>,
    exact: hashbrown::HashTable<Slot>,
    wildcards: hashbrown::HashTable<Slot>,
}

/// The pattern `slot` designates.
#[inline]
fn resolve<'a>(
    lists: &'a [Arc<Compiled>],
    own: &'a [PermissionPattern],
    slot: &Slot,
) -> Option<&'a PermissionPattern> {
    let index = usize::try_from(slot.index).ok()?;
    if slot.list == OWN {
        own.get(index)
    } else {
        lists
            .get(usize::try_from(slot.list).ok()?)?
            .patterns
            .get(index)
    }
}

impl PermissionSet {
    /// An empty set, which matches nothing.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set with room for `capacity` exact keys (wildcards are usually few; their set
    /// grows as they come).
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            exact: hashbrown::HashTable::with_capacity(capacity),
            ..Self::default()
        }
    }

    /// An empty set with room for `patterns` (counted as [`insert`](Self::insert) would file
    /// them: exact keys and `prefix.*` wildcards apart), for a caller that has them at hand
    /// before inserting.
    #[must_use]
    pub fn with_capacity_for<'a>(
        patterns: impl IntoIterator<Item = &'a PermissionPattern>,
    ) -> Self {
        let (mut exact, mut wildcards) = (0, 0);
        for p in patterns {
            if p.is_all() {
                continue;
            }
            if p.wildcard_prefix().is_some() {
                wildcards += 1;
            } else {
                exact += 1;
            }
        }
        Self {
            exact: hashbrown::HashTable::with_capacity(exact),
            wildcards: hashbrown::HashTable::with_capacity(wildcards),
            ..Self::default()
        }
    }

    /// Whether the set holds a pattern filed under `text` with `hash` in `wildcard`'s table.
    #[inline]
    fn find(&self, wildcard: bool, hash: u64, text: &str) -> bool {
        let table = if wildcard {
            &self.wildcards
        } else {
            &self.exact
        };
        table
            .find(hash, |slot| {
                slot.hash == hash
                    && resolve(&self.lists, &self.own, slot).is_some_and(|p| filed_text(p) == text)
            })
            .is_some()
    }

    /// Files `slot` unless a pattern filed under the same text is there; returns whether it
    /// was new. The texts are compared only when the full hashes are equal (a duplicate, or a
    /// 64-bit collision), so filing a pattern of a compiled list reads nothing of it but its
    /// precomputed hash.
    fn file(&mut self, wildcard: bool, slot: Slot) -> bool {
        let Self {
            lists,
            own,
            exact,
            wildcards,
            ..
        } = self;
        let table = if wildcard { wildcards } else { exact };
        let same = |s: &Slot| {
            s.hash == slot.hash
                && match (resolve(lists, own, s), resolve(lists, own, &slot)) {
                    // The same string (a key shared by roles) is equal without reading it.
                    (Some(a), Some(b)) => Arc::ptr_eq(&a.0, &b.0) || filed_text(a) == filed_text(b),
                    _ => false,
                }
        };
        match table.entry(slot.hash, same, |s| s.hash) {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(slot);
                true
            }
        }
    }

    /// Adds a pattern; returns whether it was new.
    pub fn insert(&mut self, pattern: PermissionPattern) -> bool {
        if pattern.is_all() {
            let new = self.all.is_none();
            self.all = Some(pattern);
            return new;
        }
        let wildcard = pattern.wildcard_prefix().is_some();
        let hash = slot_hash(filed_text(&pattern), wildcard);
        if self.find(wildcard, hash, filed_text(&pattern)) {
            return false;
        }
        let Ok(index) = u32::try_from(self.own.len()) else {
            return false;
        };
        self.own.push(pattern);
        self.file(
            wildcard,
            Slot {
                hash,
                list: OWN,
                index,
            },
        )
    }

    /// Adds the patterns of `compiled` whose module `admitted` holds (and `*` if it takes it),
    /// sharing its list rather than copying the patterns.
    pub fn extend_compiled(&mut self, compiled: &CompiledPatterns, admitted: &AdmittedModules<'_>) {
        let c = &compiled.0;
        let mut list: Option<u32> = None;
        for run in &c.runs {
            if !admitted.admits(c, run) {
                continue;
            }
            if run.module.is_none() {
                // The run of `*`.
                if let Some(all) = c.patterns.get(run.start) {
                    self.all = Some(all.clone());
                }
                continue;
            }
            let list = match list {
                Some(l) => l,
                None => {
                    let Ok(l) = u32::try_from(self.lists.len()) else {
                        return;
                    };
                    self.lists.push(Arc::clone(c));
                    list = Some(l);
                    l
                }
            };
            for i in run.start..run.end {
                let (Some(&hash), Ok(index)) = (c.filed.get(i), u32::try_from(i)) else {
                    continue;
                };
                self.file(hash >> 63 == 1, Slot { hash, list, index });
            }
        }
    }

    /// Whether `s` (a key or a pattern's text) is held exactly or lies under a held wildcard.
    fn holds_or_under(&self, s: &str) -> bool {
        self.all.is_some()
            || self.find(false, slot_hash(s, false), s)
            || (!self.wildcards.is_empty()
                && dotted_prefixes(s)
                    .any(|prefix| self.find(true, slot_hash(prefix, true), prefix)))
    }

    /// Whether any pattern of the set matches the permission key `permission`.
    #[must_use]
    pub fn matches_str(&self, permission: &str) -> bool {
        // `prefix.*` matches exactly the keys starting with `prefix.`, i.e. those that have
        // `prefix.` among their prefixes ending at a dot.
        self.holds_or_under(permission)
    }

    /// Whether any pattern of the set matches `permission`.
    #[must_use]
    pub fn matches(&self, permission: &Permission) -> bool {
        self.matches_str(permission.as_str())
    }

    /// Whether some pattern of the set covers `pattern` entirely.
    #[must_use]
    pub fn covers(&self, pattern: &PermissionPattern) -> bool {
        // `*` is covered only by `*`; `a.b.*` by `a.b.*` and `a.*` (its text's dotted prefixes);
        // a key by itself and by the wildcards over it. Exact keys never cover a wildcard, and
        // the exact table holds no wildcard text, so one lookup there is enough.
        if pattern.is_all() {
            return self.all.is_some();
        }
        self.holds_or_under(pattern.as_str())
    }

    /// The patterns in no particular order.
    fn unordered(&self) -> impl Iterator<Item = &PermissionPattern> {
        self.all.iter().chain(
            self.wildcards
                .iter()
                .chain(self.exact.iter())
                .filter_map(|slot| resolve(&self.lists, &self.own, slot)),
        )
    }

    /// The patterns, sorted.
    pub fn iter(&self) -> std::vec::IntoIter<&PermissionPattern> {
        let mut v: Vec<&PermissionPattern> = self.unordered().collect();
        v.sort_unstable();
        v.into_iter()
    }

    /// Whether the set holds `pattern` literally.
    #[must_use]
    pub fn contains(&self, pattern: &PermissionPattern) -> bool {
        if pattern.is_all() {
            self.all.is_some()
        } else {
            let text = filed_text(pattern);
            let wildcard = pattern.wildcard_prefix().is_some();
            self.find(wildcard, slot_hash(text, wildcard), text)
        }
    }

    /// The number of patterns.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::from(self.all.is_some()) + self.exact.len() + self.wildcards.len()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for PermissionSet {
    fn eq(&self, other: &Self) -> bool {
        // Neither set holds a pattern twice: equal sizes and one within the other.
        self.len() == other.len() && self.unordered().all(|p| other.contains(p))
    }
}

impl Eq for PermissionSet {}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<PermissionPattern> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = PermissionPattern>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut set = Self::with_capacity(iter.size_hint().0);
        set.extend(iter);
        set
    }
}

impl Extend<PermissionPattern> for PermissionSet {
    fn extend<I: IntoIterator<Item = PermissionPattern>>(&mut self, iter: I) {
        for pattern in iter {
            self.insert(pattern);
        }
    }
}

impl<'a> IntoIterator for &'a PermissionSet {
    type Item = &'a PermissionPattern;
    type IntoIter = std::vec::IntoIter<&'a PermissionPattern>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl Serialize for PermissionSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for PermissionSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let patterns = Vec::<PermissionPattern>::deserialize(deserializer)?;
        Ok(patterns.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pat(s: &str) -> PermissionPattern {
        PermissionPattern::new(s).unwrap()
    }

    fn perm(s: &str) -> Permission {
        Permission::new(s).unwrap()
    }

    #[test]
    fn permission_keys_are_validated() {
        assert!(Permission::new("finance.invoices.read").is_ok());
        assert!(Permission::new("ai.use").is_ok());
        for bad in [
            "finance",
            "finance.",
            ".x",
            "finance..read",
            "finance.*",
            "*",
            "Finance.a",
        ] {
            assert!(Permission::new(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(perm("finance.invoices.read").module(), "finance");
    }

    #[test]
    fn patterns_are_validated() {
        for good in [
            "*",
            "finance.*",
            "finance.invoices.*",
            "finance.invoices.read",
        ] {
            assert!(PermissionPattern::new(good).is_ok(), "{good:?} rejected");
        }
        for bad in [
            "",
            "finance",
            "finance*",
            "*.read",
            "finance.*.read",
            "fin ance.*",
            "**",
        ] {
            assert!(PermissionPattern::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn exact_patterns_match_only_themselves() {
        let p = pat("finance.invoices.read");
        assert!(p.matches(&perm("finance.invoices.read")));
        assert!(!p.matches(&perm("finance.invoices.readx")));
        assert!(!p.matches(&perm("finance.invoices.write")));
    }

    #[test]
    fn wildcards_match_whole_segments_only() {
        let p = pat("finance.*");
        assert!(p.matches(&perm("finance.invoices.read")));
        assert!(!p.matches(&perm("financex.invoices.read")));
        assert!(pat("*").matches(&perm("market.x.y")));
        assert!(pat("finance.invoices.*").matches(&perm("finance.invoices.approve")));
        assert!(!pat("finance.invoices.*").matches(&perm("finance.payments.read")));
    }

    #[test]
    fn modules_of_patterns() {
        assert_eq!(pat("*").module(), None);
        assert_eq!(pat("finance.*").module(), Some("finance"));
        assert_eq!(pat("company.members.read").module(), Some("company"));
    }

    #[test]
    fn intersection_of_nested_and_disjoint_patterns() {
        assert_eq!(
            pat("finance.*").intersect(&pat("finance.invoices.read")),
            Some(pat("finance.invoices.read"))
        );
        assert_eq!(
            pat("*").intersect(&pat("finance.*")),
            Some(pat("finance.*"))
        );
        assert_eq!(pat("finance.*").intersect(&pat("market.*")), None);
        assert_eq!(
            pat("finance.a.read").intersect(&pat("finance.a.write")),
            None
        );
    }

    #[test]
    fn set_matches_like_any_of_its_patterns() {
        let set: PermissionSet = ["finance.invoices.read", "market.*"]
            .into_iter()
            .map(pat)
            .collect();
        assert!(set.matches(&perm("finance.invoices.read")));
        assert!(set.matches(&perm("market.stalls.write")));
        assert!(!set.matches(&perm("finance.invoices.write")));
        assert!(!PermissionSet::new().matches(&perm("a.b")));
    }

    #[test]
    fn set_serializes_sorted_and_deduplicated() {
        let set: PermissionSet = ["market.*", "finance.invoices.read", "market.*"]
            .into_iter()
            .map(pat)
            .collect();
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#"["finance.invoices.read","market.*"]"#
        );
        let back: PermissionSet =
            serde_json::from_str(r#"["market.*","finance.invoices.read"]"#).unwrap();
        assert_eq!(back, set);
        assert!(back.matches(&perm("market.a.b")));
        assert!(serde_json::from_str::<PermissionSet>(r#"["bad pattern"]"#).is_err());
    }

    fn arb_pattern() -> impl Strategy<Value = PermissionPattern> {
        let seg = prop::sample::select(vec!["a", "b", "c"]);
        prop_oneof![
            Just(pat("*")),
            prop::collection::vec(seg.clone(), 1..3)
                .prop_map(|s| pat(&format!("{}.*", s.join(".")))),
            prop::collection::vec(seg, 2..4).prop_map(|s| pat(&s.join("."))),
        ]
    }

    fn arb_permission() -> impl Strategy<Value = Permission> {
        prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 2..4)
            .prop_map(|s| perm(&s.join(".")))
    }

    /// Segments that are prefixes of one another, so `a.*` must not match `ab.x`.
    const DEEP_SEGMENTS: [&str; 4] = ["a", "ab", "b", "b_1"];

    fn arb_deep_pattern() -> impl Strategy<Value = PermissionPattern> {
        let seg = prop::sample::select(DEEP_SEGMENTS.to_vec());
        prop_oneof![
            1 => Just(pat("*")),
            4 => prop::collection::vec(seg.clone(), 1..5)
                .prop_map(|s| pat(&format!("{}.*", s.join(".")))),
            4 => prop::collection::vec(seg, 2..6).prop_map(|s| pat(&s.join("."))),
        ]
    }

    fn arb_deep_permission() -> impl Strategy<Value = Permission> {
        prop::collection::vec(prop::sample::select(DEEP_SEGMENTS.to_vec()), 2..6)
            .prop_map(|s| perm(&s.join(".")))
    }

    #[test]
    fn wildcard_set_matches_whole_segments_and_covers_nested_patterns() {
        let set: PermissionSet = ["a.*", "b.c.*", "d.e.f"].into_iter().map(pat).collect();
        assert!(set.matches(&perm("a.x")));
        assert!(!set.matches(&perm("ab.x")));
        assert!(set.matches(&perm("b.c.d")));
        assert!(!set.matches(&perm("b.cd.e")));
        assert!(!set.matches(&perm("b.d")));
        assert!(set.covers(&pat("a.b.*")));
        assert!(set.covers(&pat("b.c.*")));
        assert!(!set.covers(&pat("b.*")));
        assert!(set.covers(&pat("d.e.f")));
        assert!(!set.covers(&pat("d.e.*")));
        assert!(!set.covers(&pat("*")));
        assert!(set.contains(&pat("b.c.*")));
        assert!(!set.contains(&pat("b.c.d")));
        assert!(!set.contains(&pat("d.e.*")));
    }

    #[test]
    fn building_twenty_thousand_wildcards_keeps_every_one() {
        let set: PermissionSet = (0..20_000)
            .map(|n| pat(&format!("company.p{n}.*")))
            .collect();
        assert_eq!(set.len(), 20_000);
        assert!(set.matches(&perm("company.p19999.read")));
        assert!(!set.matches(&perm("company.p20000.read")));
        assert!(set.contains(&pat("company.p0.*")));
    }

    proptest! {
        /// Intersection is exact: a key matches `a ∩ b` exactly when it matches both.
        #[test]
        fn intersection_matches_exactly_what_both_match(a in arb_pattern(), b in arb_pattern(), p in arb_permission()) {
            let both = a.matches(&p) && b.matches(&p);
            let via = a.intersect(&b).is_some_and(|i| i.matches(&p));
            prop_assert_eq!(both, via);
        }

        /// `covers` agrees with matching: whatever the covered pattern matches, the cover matches.
        #[test]
        fn covers_implies_matches(a in arb_pattern(), b in arb_pattern(), p in arb_permission()) {
            if a.covers(&b) && b.matches(&p) {
                prop_assert!(a.matches(&p));
            }
        }

        /// The compiled set matches exactly when one of its patterns does.
        #[test]
        fn compiled_set_agrees_with_linear_scan(ps in prop::collection::vec(arb_pattern(), 0..6), p in arb_permission()) {
            let set: PermissionSet = ps.iter().cloned().collect();
            prop_assert_eq!(set.matches(&p), ps.iter().any(|x| x.matches(&p)));
        }

        /// The compiled set answers `matches` and `covers` exactly as "does any of its patterns
        /// match / cover it" would, for any patterns and keys, including segments that are
        /// prefixes of one another (`a`, `ab`) so a prefix probe that ignored the dot would show.
        #[test]
        fn compiled_set_agrees_with_naive_any(
            ps in prop::collection::vec(arb_deep_pattern(), 0..24),
            keys in prop::collection::vec(arb_deep_permission(), 1..8),
            others in prop::collection::vec(arb_deep_pattern(), 1..8),
        ) {
            let set: PermissionSet = ps.iter().cloned().collect();
            for key in &keys {
                prop_assert_eq!(set.matches(key), ps.iter().any(|x| x.matches(key)), "matches {}", key);
                prop_assert_eq!(set.matches_str(key.as_str()), set.matches(key));
            }
            for other in others.iter().chain(&ps) {
                prop_assert_eq!(set.covers(other), ps.iter().any(|x| x.covers(other)), "covers {}", other);
            }
        }

        /// The set holds its patterns literally, without duplicates: `len`, `contains`, `iter`
        /// (sorted), equality and the JSON round trip all agree with a sorted, deduplicated list.
        #[test]
        fn compiled_set_holds_its_patterns_sorted_once(
            ps in prop::collection::vec(arb_deep_pattern(), 0..24),
            probes in prop::collection::vec(arb_deep_pattern(), 1..8),
        ) {
            let set: PermissionSet = ps.iter().cloned().collect();
            let naive: std::collections::BTreeSet<PermissionPattern> = ps.iter().cloned().collect();
            prop_assert_eq!(set.len(), naive.len());
            prop_assert_eq!(set.is_empty(), naive.is_empty());
            prop_assert!(set.iter().eq(naive.iter()));
            for probe in probes.iter().chain(&ps) {
                prop_assert_eq!(set.contains(probe), naive.contains(probe));
            }
            let reversed: PermissionSet = ps.iter().rev().cloned().collect();
            prop_assert_eq!(&reversed, &set);
            let json = serde_json::to_string(&set).unwrap();
            prop_assert_eq!(&json, &serde_json::to_string(&naive).unwrap());
            let back: PermissionSet = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, set);
        }

        /// A set built from shared compiled lists (several, overlapping, cut to some modules)
        /// plus patterns of its own is the set of the same patterns inserted one by one: same
        /// length, contents, order, equality, matching, covering and JSON.
        #[test]
        fn a_set_of_compiled_lists_is_the_set_of_their_admitted_patterns(
            lists in prop::collection::vec(prop::collection::vec(arb_deep_pattern(), 0..16), 0..5),
            own in prop::collection::vec(arb_deep_pattern(), 0..6),
            admitted in prop::collection::btree_set(prop::sample::select(DEEP_SEGMENTS.to_vec()), 0..4),
            admit_all in any::<bool>(),
            keys in prop::collection::vec(arb_deep_permission(), 1..8),
            others in prop::collection::vec(arb_deep_pattern(), 1..8),
        ) {
            let admit = |m: Option<&str>| m.map_or(admit_all, |m| admitted.contains(m));
            let modules = AdmittedModules::new(admitted.iter().copied(), admit_all);
            let mut shared = PermissionSet::new();
            let mut naive = PermissionSet::new();
            let mut expected = std::collections::BTreeSet::new();
            for (i, list) in lists.iter().enumerate() {
                let compiled = CompiledPatterns::new(list);
                prop_assert_eq!(compiled.count(&modules), list.iter().filter(|p| admit(p.module())).collect::<std::collections::BTreeSet<_>>().len());
                shared.extend_compiled(&compiled, &modules);
                for p in list.iter().filter(|p| admit(p.module())) {
                    naive.insert(p.clone());
                    expected.insert(p.clone());
                }
                // Own patterns interleaved with the shared lists.
                if let Some(p) = own.get(i) {
                    shared.insert(p.clone());
                    naive.insert(p.clone());
                    expected.insert(p.clone());
                }
            }
            prop_assert_eq!(shared.len(), expected.len());
            prop_assert!(shared.iter().eq(expected.iter()));
            prop_assert_eq!(&shared, &naive);
            prop_assert_eq!(&naive, &shared);
            for key in &keys {
                prop_assert_eq!(shared.matches(key), expected.iter().any(|x| x.matches(key)), "matches {}", key);
            }
            for other in others.iter().chain(&expected) {
                prop_assert_eq!(shared.covers(other), expected.iter().any(|x| x.covers(other)), "covers {}", other);
                prop_assert_eq!(shared.contains(other), expected.contains(other), "contains {}", other);
            }
            prop_assert_eq!(serde_json::to_string(&shared).unwrap(), serde_json::to_string(&expected).unwrap());
            // A clone answers the same after the original is gone.
            let clone = shared.clone();
            drop(shared);
            prop_assert!(clone.iter().eq(expected.iter()));
        }
    }

    #[test]
    fn a_compiled_list_groups_its_patterns_by_module() {
        let c = CompiledPatterns::new(&[
            pat("finance.invoices.read"),
            pat("*"),
            pat("market.*"),
            pat("finance.*"),
            pat("finance.invoices.read"),
        ]);
        assert_eq!(
            c.patterns(),
            &[
                pat("*"),
                pat("finance.*"),
                pat("finance.invoices.read"),
                pat("market.*")
            ]
        );
        assert_eq!(c.count(&AdmittedModules::new(["finance"], false)), 2);
        assert_eq!(c.count(&AdmittedModules::new([], true)), 1);
        assert_eq!(
            c.count(&AdmittedModules::new(["finance", "market"], true)),
            4
        );
        // A module whose name another's begins with is another module.
        assert_eq!(
            c.count(&AdmittedModules::new(["fin", "finances"], false)),
            0
        );
        let mut set = PermissionSet::new();
        set.extend_compiled(&c, &AdmittedModules::new(["market"], false));
        assert!(set.matches(&perm("market.x.y")));
        assert!(!set.matches(&perm("finance.invoices.read")));
        assert_eq!(set.len(), 1);
        // A module's patterns at once, what a delegation reads of its delegator's roles.
        assert_eq!(
            c.of_module("finance"),
            &[pat("finance.*"), pat("finance.invoices.read")]
        );
        assert_eq!(c.of_module("market"), &[pat("market.*")]);
        assert!(c.of_module("fin").is_empty());
        assert!(c.of_module("venue").is_empty());
        assert!(c.holds_all());
        let without_all = CompiledPatterns::new(&[pat("finance.*")]);
        assert!(!without_all.holds_all());
        assert!(CompiledPatterns::new(&[]).of_module("finance").is_empty());
    }
}
