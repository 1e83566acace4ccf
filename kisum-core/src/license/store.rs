//! [`LicenseStore`]: licences, their activations and their events; and its memory backend.
//! The SQL backends are in `store::sql::licenses`, written once over the dialect.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_guard::CompanyId;
use uuid::Uuid;

use super::{Activation, KeyHash, License, LicenseEvent, LicenseStatus};
use crate::db::StoreError;

/// What [`LicenseStore::activate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivateOutcome {
    /// A new activation took a seat (and its `activated` event was appended).
    Activated(Activation),
    /// The fingerprint already held a seat: its heartbeat (and name, when given) was refreshed,
    /// no seat was taken and no event appended.
    AlreadyActive(Activation),
    /// Every seat is taken.
    LimitReached,
    /// The licence is not usable now: its [effective status](License::effective_status).
    Inactive(LicenseStatus),
    /// No such licence.
    NotFound,
}

/// Where licences live. Every write is one transaction, and each lifecycle transition appends
/// its event in the transaction of the change.
#[async_trait]
pub trait LicenseStore: Send + Sync + 'static {
    /// Stores a new licence and its `created` event.
    ///
    /// # Errors
    /// `Conflict` when its id or key hash exists; `Unavailable`.
    async fn insert_license(
        &self,
        license: &License,
        event: &LicenseEvent,
    ) -> Result<(), StoreError>;

    /// The licence `id`.
    ///
    /// # Errors
    /// `Unavailable`; `Invalid` when it cannot be read back.
    async fn license(&self, id: Uuid) -> Result<Option<License>, StoreError>;

    /// The licence whose key hashes to `hash`.
    ///
    /// # Errors
    /// As [`license`](Self::license).
    async fn license_by_key_hash(&self, hash: &KeyHash) -> Result<Option<License>, StoreError>;

    /// The company's licences, oldest first.
    ///
    /// # Errors
    /// As [`license`](Self::license).
    async fn licenses_of_company(&self, company_id: CompanyId) -> Result<Vec<License>, StoreError>;

    /// Replaces the licence `license.id` with `license`, whose `version` must be the stored
    /// version plus one (optimistic concurrency), and appends `event` if any, in one
    /// transaction. The key hash and creation time are never changed.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` when the stored version is not `license.version - 1`;
    /// `Unavailable`.
    async fn update_license(
        &self,
        license: &License,
        event: Option<&LicenseEvent>,
    ) -> Result<(), StoreError>;

    /// Activates `activation.fingerprint` on licence `activation.license_id` in one
    /// transaction with the licence locked: the licence must be active and not past its expiry
    /// at `now`; an existing activation of the fingerprint is refreshed
    /// ([`AlreadyActive`](ActivateOutcome::AlreadyActive)); otherwise the activations are
    /// counted and `activation` is inserted with `event` only if a seat is free.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn activate(
        &self,
        activation: &Activation,
        now: DateTime<Utc>,
        event: &LicenseEvent,
    ) -> Result<ActivateOutcome, StoreError>;

    /// The licence's activations, oldest first.
    ///
    /// # Errors
    /// As [`license`](Self::license).
    async fn activations(&self, license_id: Uuid) -> Result<Vec<Activation>, StoreError>;

    /// Records a heartbeat of the fingerprint at `now` with its new `cull_after`; the
    /// activation, or `None` when the fingerprint holds no seat.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn heartbeat(
        &self,
        license_id: Uuid,
        fingerprint: &str,
        now: DateTime<Utc>,
        cull_after: Option<DateTime<Utc>>,
    ) -> Result<Option<Activation>, StoreError>;

    /// Removes the fingerprint's activation and appends `event`, in one transaction; whether
    /// there was one (nothing is appended when there was not).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn deactivate(
        &self,
        license_id: Uuid,
        fingerprint: &str,
        event: &LicenseEvent,
    ) -> Result<bool, StoreError>;

    /// The licence's events, oldest first.
    ///
    /// # Errors
    /// As [`license`](Self::license).
    async fn events(&self, license_id: Uuid) -> Result<Vec<LicenseEvent>, StoreError>;

    /// At most `limit` licences still stored as active or suspended whose `expires_at` is at or
    /// before `now` (for the reaper).
    ///
    /// # Errors
    /// As [`license`](Self::license).
    async fn expiring(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<License>, StoreError>;

    /// At most `limit` activations whose `cull_after` is before `now` (for the reaper).
    ///
    /// # Errors
    /// As [`license`](Self::license).
    async fn stale_activations(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Activation>, StoreError>;

    /// Removes `activation` if it is still as read (same `cull_after`: it has not heartbeat
    /// since) and its licence is floating, and appends `event`, in one transaction; whether it
    /// was removed.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn cull(&self, activation: &Activation, event: &LicenseEvent)
    -> Result<bool, StoreError>;

    /// Seat usage at `now` over every licence usable then (stored as `active` and not past
    /// its `expires_at`): their activations, and the sum of their `max_activations`. Seats
    /// of suspended, revoked or expired licences count in neither.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn seat_usage(&self, now: DateTime<Utc>) -> Result<SeatUsage, StoreError>;
}

/// Seats in use and available over the licences usable at one instant
/// ([`LicenseStore::seat_usage`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeatUsage {
    /// Activations of usable licences.
    pub in_use: u64,
    /// The sum of the usable licences' `max_activations`.
    pub total: u64,
}

#[derive(Default)]
struct State {
    licenses: HashMap<Uuid, License>,
    activations: HashMap<Uuid, Vec<Activation>>,
    events: HashMap<Uuid, Vec<LicenseEvent>>,
}

impl State {
    fn append(&mut self, event: &LicenseEvent) {
        self.events
            .entry(event.license_id)
            .or_default()
            .push(event.clone());
    }
}

/// Licences in process memory behind one mutex (the "transaction"): for tests, examples and
/// single-process embedding.
#[derive(Default)]
pub struct MemoryLicenseStore {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryLicenseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLicenseStore").finish_non_exhaustive()
    }
}

impl MemoryLicenseStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl LicenseStore for MemoryLicenseStore {
    async fn insert_license(
        &self,
        license: &License,
        event: &LicenseEvent,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        if s.licenses.contains_key(&license.id)
            || s.licenses.values().any(|l| l.key_hash == license.key_hash)
        {
            return Err(StoreError::conflict("licence already exists"));
        }
        s.licenses.insert(license.id, license.clone());
        s.append(event);
        Ok(())
    }

    async fn license(&self, id: Uuid) -> Result<Option<License>, StoreError> {
        Ok(self.lock().licenses.get(&id).cloned())
    }

    async fn license_by_key_hash(&self, hash: &KeyHash) -> Result<Option<License>, StoreError> {
        Ok(self
            .lock()
            .licenses
            .values()
            .find(|l| l.key_hash == *hash)
            .cloned())
    }

    async fn licenses_of_company(&self, company_id: CompanyId) -> Result<Vec<License>, StoreError> {
        let mut v: Vec<License> = self
            .lock()
            .licenses
            .values()
            .filter(|l| l.company_id == company_id)
            .cloned()
            .collect();
        v.sort_by_key(|l| (l.created_at, l.id));
        Ok(v)
    }

    async fn update_license(
        &self,
        license: &License,
        event: Option<&LicenseEvent>,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        let Some(stored) = s.licenses.get_mut(&license.id) else {
            return Err(StoreError::not_found("licence"));
        };
        if stored.version.checked_add(1) != Some(license.version) {
            return Err(StoreError::conflict("licence changed concurrently"));
        }
        *stored = License {
            key_hash: stored.key_hash,
            created_at: stored.created_at,
            ..license.clone()
        };
        if let Some(e) = event {
            s.append(e);
        }
        Ok(())
    }

    async fn activate(
        &self,
        activation: &Activation,
        now: DateTime<Utc>,
        event: &LicenseEvent,
    ) -> Result<ActivateOutcome, StoreError> {
        let mut s = self.lock();
        let Some(license) = s.licenses.get(&activation.license_id) else {
            return Ok(ActivateOutcome::NotFound);
        };
        let status = license.effective_status(now);
        if status != LicenseStatus::Active {
            return Ok(ActivateOutcome::Inactive(status));
        }
        let max = license.max_activations;
        let seats = s.activations.entry(activation.license_id).or_default();
        if let Some(existing) = seats
            .iter_mut()
            .find(|a| a.fingerprint == activation.fingerprint)
        {
            existing.last_heartbeat_at = activation.last_heartbeat_at;
            existing.cull_after = activation.cull_after;
            if activation.name.is_some() {
                existing.name.clone_from(&activation.name);
            }
            return Ok(ActivateOutcome::AlreadyActive(existing.clone()));
        }
        if seats.len() >= usize::try_from(max).unwrap_or(usize::MAX) {
            return Ok(ActivateOutcome::LimitReached);
        }
        seats.push(activation.clone());
        s.append(event);
        Ok(ActivateOutcome::Activated(activation.clone()))
    }

    async fn activations(&self, license_id: Uuid) -> Result<Vec<Activation>, StoreError> {
        Ok(self
            .lock()
            .activations
            .get(&license_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn heartbeat(
        &self,
        license_id: Uuid,
        fingerprint: &str,
        now: DateTime<Utc>,
        cull_after: Option<DateTime<Utc>>,
    ) -> Result<Option<Activation>, StoreError> {
        let mut s = self.lock();
        let found = s
            .activations
            .get_mut(&license_id)
            .and_then(|v| v.iter_mut().find(|a| a.fingerprint == fingerprint));
        Ok(found.map(|a| {
            a.last_heartbeat_at = now;
            a.cull_after = cull_after;
            a.clone()
        }))
    }

    async fn deactivate(
        &self,
        license_id: Uuid,
        fingerprint: &str,
        event: &LicenseEvent,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(seats) = s.activations.get_mut(&license_id) else {
            return Ok(false);
        };
        let before = seats.len();
        seats.retain(|a| a.fingerprint != fingerprint);
        let removed = seats.len() < before;
        if removed {
            s.append(event);
        }
        Ok(removed)
    }

    async fn events(&self, license_id: Uuid) -> Result<Vec<LicenseEvent>, StoreError> {
        Ok(self
            .lock()
            .events
            .get(&license_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn expiring(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<License>, StoreError> {
        let mut v: Vec<License> = self
            .lock()
            .licenses
            .values()
            .filter(|l| {
                matches!(l.status, LicenseStatus::Active | LicenseStatus::Suspended)
                    && l.is_past_expiry(now)
            })
            .cloned()
            .collect();
        v.sort_by_key(|l| (l.expires_at, l.id));
        v.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(v)
    }

    async fn stale_activations(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Activation>, StoreError> {
        let mut v: Vec<Activation> = self
            .lock()
            .activations
            .values()
            .flatten()
            .filter(|a| a.cull_after.is_some_and(|c| c < now))
            .cloned()
            .collect();
        v.sort_by_key(|a| (a.cull_after, a.id));
        v.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(v)
    }

    async fn seat_usage(&self, now: DateTime<Utc>) -> Result<SeatUsage, StoreError> {
        let s = self.lock();
        let mut usage = SeatUsage::default();
        for l in s.licenses.values() {
            if l.status == LicenseStatus::Active && !l.is_past_expiry(now) {
                usage.total += u64::from(l.max_activations);
                usage.in_use += s.activations.get(&l.id).map_or(0, |a| a.len() as u64);
            }
        }
        Ok(usage)
    }

    async fn cull(
        &self,
        activation: &Activation,
        event: &LicenseEvent,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let floating = s
            .licenses
            .get(&activation.license_id)
            .is_some_and(|l| l.floating);
        let Some(seats) = s.activations.get_mut(&activation.license_id) else {
            return Ok(false);
        };
        let before = seats.len();
        seats.retain(|a| {
            !(floating && a.id == activation.id && a.cull_after == activation.cull_after)
        });
        let removed = seats.len() < before;
        if removed {
            s.append(event);
        }
        Ok(removed)
    }
}
