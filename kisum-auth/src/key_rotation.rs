//! Signing-key rotation without restarts (decision 0016).
//!
//! A [`KeyDirectory`] reads the key directory (see [`keys`](crate::keys)) and decides which key
//! signs; a [`KeyRotation`] reads it again periodically and on demand (`kisum auth` on SIGHUP),
//! installs the keys in the [`TokenService`], and publishes
//! [`InvalidationEvent::KeyRotated`] whenever the published set changed, so guards refetch the
//! JWKS at once (and forget tokens verified with a retired key).
//!
//! **A new key is published before it signs.** A key that appears in the directory is in the
//! JWKS from the reload that finds it, but signs only once it has been published for the lead
//! time ([`KeyRotationConfig::publish_lead`]), by then every guard has refreshed its keys. Which
//! key signs, at each load:
//!
//! 1. the pinned kid ([`KeyRotationConfig::pinned`], `KISUM_ACTIVE_KID`) while it is in the
//!    directory: explicit activation, no lead time;
//! 2. otherwise the newest key published for at least the lead time, unless the key signing now
//!    is newer still;
//! 3. when no key has been published that long, the key signing now, while it is in the
//!    directory;
//! 4. when it is gone too (at start-up, or it was retired with no replacement old enough), the
//!    newest key: something must sign, and guards fetch an unknown kid at first sight.
//!
//! *Newest* orders by publication time, then kid. A key that appears while Auth runs is
//! published at the reload that finds it. A key found at start-up was published, as far as Auth
//! can tell, when its file was last modified (to the second, never later than the start): a file
//! written long ago signs at once, one written a minute before a restart waits out the rest of
//! its lead time.
//!
//! **A retired key stops at once.** A key whose file is removed or renamed `<kid>.pem.retired`
//! leaves the ring at the next load: Auth no longer verifies its tokens and the JWKS no longer
//! lists it, and the `KeyRotated` event makes guards drop it (without the event, a guard drops it
//! at its next key refresh).
//!
//! A load is all or nothing: an unreadable or unsupported key file, or a directory without any
//! key, leaves the current keys in place (logged, counted in `kisum_auth_key_reloads_total`) and
//! the next reload tries again.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use kisum_auth::key_rotation::{KeyDirectory, KeyRotation, KeyRotationConfig};
//! use kisum_auth::keys::{SigningAlgorithm, generate_into};
//! use kisum_auth::tokens::{TokenConfig, TokenService};
//! use kisum_guard::{Clock, ManualClock, NoEvents};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # let dir = std::env::temp_dir().join(format!("kisum-doc-rotation-{}", std::process::id()));
//! let clock = Arc::new(ManualClock::new(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
//! let first = generate_into(&dir, SigningAlgorithm::Es256, clock.now().date_naive())?.kid;
//! let directory = KeyDirectory::new(KeyRotationConfig::new(&dir));
//! let keys = directory.load(clock.now())?.ring;
//! let tokens = TokenService::new(TokenConfig::new("https://auth.example.test", "kisum"), keys);
//! let rotation = KeyRotation::new(directory, tokens.clone(), Arc::new(NoEvents), clock.clone());
//!
//! // A new key: published at once, signing after the lead time.
//! let next = generate_into(&dir, SigningAlgorithm::Es256, clock.now().date_naive())?.kid;
//! assert!(rotation.reload().await?.published_changed);
//! assert_eq!(tokens.keys().jwks().keys.len(), 2);
//! assert_eq!(tokens.keys().active().map(|k| k.kid().to_owned()), Some(first.clone()));
//! clock.advance(chrono::TimeDelta::minutes(10));
//! assert!(rotation.reload().await?.signer_changed);
//! assert_eq!(tokens.keys().active().map(|k| k.kid().to_owned()), Some(next));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, TimeDelta, Utc};
use kisum_guard::Clock;
use tokio::sync::Notify;

use crate::events::{EventPublisher, InvalidationEvent};
use crate::keys::{JWKS_MAX_AGE, KeyError, KeyRing, PublicJwk, read_dir};
use crate::tokens::TokenService;

/// Where the signing keys are and how they rotate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotationConfig {
    /// The key directory (`<kid>.pem` files; a mounted secret in production).
    pub dir: PathBuf,
    /// A kid that signs whenever it is in the directory, without lead time (`KISUM_ACTIVE_KID`):
    /// explicit activation. While it is set, no key takes over by itself; if it leaves the
    /// directory, the rules without it apply.
    pub pinned: Option<String>,
    /// How long a new key is published before it signs (default
    /// [`DEFAULT_PUBLISH_LEAD`](Self::DEFAULT_PUBLISH_LEAD)).
    pub publish_lead: Duration,
    /// How often [`KeyRotation::spawn`] reads the directory again (default
    /// [`DEFAULT_RELOAD_INTERVAL`](Self::DEFAULT_RELOAD_INTERVAL)).
    pub reload_interval: Duration,
}

impl KeyRotationConfig {
    /// Twice the JWKS max-age ([`JWKS_MAX_AGE`], 5 minutes): 10 minutes. A guard refreshes its
    /// keys within one max-age of any change; a shared HTTP cache between Auth and a guard (the
    /// JWKS is `public`) may hold the old document for another max-age before the guard's
    /// refresh sees the new one. Two max-ages also cover the reload interval of every Auth
    /// replica and the delay before a mounted secret shows a new file.
    pub const DEFAULT_PUBLISH_LEAD: Duration = Duration::from_secs(2 * JWKS_MAX_AGE.as_secs());
    /// One minute.
    pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(60);

    /// The keys of `dir`, none pinned, with the default lead time and reload interval.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            pinned: None,
            publish_lead: Self::DEFAULT_PUBLISH_LEAD,
            reload_interval: Self::DEFAULT_RELOAD_INTERVAL,
        }
    }
}

/// One published key, as this process knows it.
#[derive(Debug, Clone)]
struct Published {
    /// Since when it has been published.
    since: DateTime<Utc>,
    /// Its public key (a changed file under the same kid is a change of the published set).
    jwk: PublicJwk,
}

#[derive(Debug, Default)]
struct State {
    loaded: bool,
    published: BTreeMap<String, Published>,
    signer: Option<String>,
}

/// The key directory and what this process remembers of it: since when each key is published,
/// and which key signs. See the [module documentation](self) for the rules.
#[derive(Debug)]
pub struct KeyDirectory {
    config: KeyRotationConfig,
    state: Mutex<State>,
}

/// The outcome of one [`KeyDirectory::load`].
#[derive(Debug)]
pub struct LoadedKeys {
    /// Every key of the directory, the chosen one active.
    pub ring: KeyRing,
    /// Whether the published set differs from the previous load's (always at the first): a kid
    /// appeared or disappeared, or a kid's key changed.
    pub published_changed: bool,
    /// Whether the signing key differs from the previous load's (always at the first).
    pub signer_changed: bool,
}

impl KeyDirectory {
    /// The directory of `config`; nothing is read before [`load`](Self::load).
    #[must_use]
    pub fn new(config: KeyRotationConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::default()),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &KeyRotationConfig {
        &self.config
    }

    /// Reads the directory at `now` and chooses the signing key; remembers both for the next
    /// load.
    ///
    /// # Errors
    /// [`KeyError::Io`], [`KeyError::Unsupported`], [`KeyError::InvalidKid`] (a key file),
    /// [`KeyError::NoKeys`] (nothing could sign), and at the first load only
    /// [`KeyError::ActiveMissing`] (the pinned kid is not in the directory). The remembered
    /// state is unchanged by a failed load.
    pub fn load(&self, now: DateTime<Utc>) -> Result<LoadedKeys, KeyError> {
        let files = read_dir(&self.config.dir)?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let first = !state.loaded;
        let published: BTreeMap<String, Published> = files
            .iter()
            .map(|file| {
                let kid = file.key.kid();
                let since = match state.published.get(kid) {
                    Some(known) => known.since,
                    None if first => found_at_start(file.modified, now),
                    None => now,
                };
                let jwk = file.key.jwk().clone();
                (kid.to_owned(), Published { since, jwk })
            })
            .collect();
        let pinned = self.config.pinned.as_deref();
        if let Some(pinned) = pinned.filter(|p| !published.contains_key(*p)) {
            if first {
                return Err(KeyError::ActiveMissing(pinned.to_owned()));
            }
            tracing::warn!(
                kid = pinned,
                "the pinned signing key (KISUM_ACTIVE_KID) is no longer in the key directory; \
                 choosing another"
            );
        }
        let lead = TimeDelta::from_std(self.config.publish_lead).unwrap_or(TimeDelta::MAX);
        let signer = choose_signer(&published, state.signer.as_deref(), pinned, lead, now)
            .ok_or_else(|| KeyError::NoKeys(self.config.dir.clone()))?;
        let ring = KeyRing::new(&signer, files.into_iter().map(|file| file.key))?;
        let published_changed = first
            || state.published.len() != published.len()
            || state
                .published
                .iter()
                .zip(&published)
                .any(|((k1, p1), (k2, p2))| k1 != k2 || p1.jwk != p2.jwk);
        let signer_changed = state.signer.as_deref() != Some(signer.as_str());
        state.loaded = true;
        state.published = published;
        state.signer = Some(signer);
        Ok(LoadedKeys {
            ring,
            published_changed,
            signer_changed,
        })
    }

    /// The keys published and not signing yet that will take over, with the time from which
    /// each may sign (for the logs), oldest first.
    fn pending(&self) -> Vec<(String, DateTime<Utc>)> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let lead = TimeDelta::from_std(self.config.publish_lead).unwrap_or(TimeDelta::MAX);
        let signer = state
            .signer
            .as_deref()
            .and_then(|s| state.published.get_key_value(s));
        if self.config.pinned.is_some() {
            return Vec::new();
        }
        state
            .published
            .iter()
            .filter(|(kid, p)| signer.is_none_or(|(s, sp)| (p.since, *kid) > (sp.since, s)))
            .map(|(kid, p)| {
                (
                    kid.clone(),
                    p.since.checked_add_signed(lead).unwrap_or(p.since),
                )
            })
            .collect()
    }
}

/// Since when a key found at start-up has been published: its file's modification time, to the
/// second, never later than `now`.
fn found_at_start(modified: Option<SystemTime>, now: DateTime<Utc>) -> DateTime<Utc> {
    modified
        .map(DateTime::<Utc>::from)
        .and_then(|t| DateTime::from_timestamp(t.timestamp(), 0))
        .map_or(now, |t| t.min(now))
}

/// The signing key by the rules of the [module documentation](self).
fn choose_signer(
    published: &BTreeMap<String, Published>,
    current: Option<&str>,
    pinned: Option<&str>,
    lead: TimeDelta,
    now: DateTime<Utc>,
) -> Option<String> {
    if let Some(pinned) = pinned.filter(|p| published.contains_key(*p)) {
        return Some(pinned.to_owned());
    }
    let rank = |(kid, p): (&String, &Published)| (p.since, kid.clone());
    let ready = published
        .iter()
        .filter(|(_, p)| p.since.checked_add_signed(lead).is_some_and(|t| t <= now))
        .map(rank)
        .max();
    let current = current.and_then(|c| published.get_key_value(c)).map(rank);
    let newest = published.iter().map(rank).max();
    match (ready, current) {
        (Some(ready), Some(current)) => Some(ready.max(current)),
        (ready, current) => ready.or(current).or(newest),
    }
    .map(|(_, kid)| kid)
}

/// What one [`KeyRotation::reload`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyReload {
    /// The published set changed (and `KeyRotated` was published).
    pub published_changed: bool,
    /// Another key signs now.
    pub signer_changed: bool,
}

/// Auth's signing keys, read again while it runs: see the [module documentation](self).
pub struct KeyRotation {
    directory: KeyDirectory,
    tokens: TokenService,
    events: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
    wake: Notify,
}

impl std::fmt::Debug for KeyRotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRotation")
            .field("directory", &self.directory)
            .finish_non_exhaustive()
    }
}

impl KeyRotation {
    /// Rotation of `tokens`' keys from `directory` (loaded once already: its first load gave
    /// the keys `tokens` was built with), telling guards through `events`, on `clock`'s time.
    #[must_use]
    pub fn new(
        directory: KeyDirectory,
        tokens: TokenService,
        events: Arc<dyn EventPublisher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            directory,
            tokens,
            events,
            clock,
            wake: Notify::new(),
        }
    }

    /// The directory.
    #[must_use]
    pub fn directory(&self) -> &KeyDirectory {
        &self.directory
    }

    /// Reads the directory now; installs the keys when the published set or the signing key
    /// changed, and publishes [`InvalidationEvent::KeyRotated`] when the published set did.
    ///
    /// # Errors
    /// As [`KeyDirectory::load`]; the keys in use stay.
    pub async fn reload(&self) -> Result<KeyReload, KeyError> {
        let loaded = match self.directory.load(self.clock.now()) {
            Ok(loaded) => loaded,
            Err(e) => {
                metrics::counter!("kisum_auth_key_reloads_total", "result" => "failed")
                    .increment(1);
                return Err(e);
            }
        };
        let change = KeyReload {
            published_changed: loaded.published_changed,
            signer_changed: loaded.signer_changed,
        };
        if !change.published_changed && !change.signer_changed {
            metrics::counter!("kisum_auth_key_reloads_total", "result" => "unchanged").increment(1);
            return Ok(change);
        }
        metrics::counter!("kisum_auth_key_reloads_total", "result" => "changed").increment(1);
        let ring = loaded.ring;
        let published: Vec<String> = ring.kids().map(str::to_owned).collect();
        let active = ring
            .active()
            .map(|k| k.kid().to_owned())
            .unwrap_or_default();
        self.tokens.rotate(ring);
        let pending: Vec<String> = self
            .directory
            .pending()
            .into_iter()
            .map(|(kid, from)| format!("{kid} from {}", from.to_rfc3339()))
            .collect();
        tracing::info!(?published, active, ?pending, "signing keys reloaded");
        if change.published_changed {
            // After the swap: a guard refetching now gets the new set.
            self.events.publish(&InvalidationEvent::KeyRotated).await;
        }
        Ok(change)
    }

    /// Asks the task of [`spawn`](Self::spawn) to reload now (`kisum auth` calls it on SIGHUP).
    pub fn reload_soon(&self) {
        self.wake.notify_one();
    }

    /// Reloads every [`KeyRotationConfig::reload_interval`], and at once after
    /// [`reload_soon`](Self::reload_soon); a failed reload is logged and the keys in use stay.
    /// Must be called inside a Tokio runtime; the task runs until aborted.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(self.directory.config.reload_interval) => {}
                    () = self.wake.notified() => {}
                }
                if let Err(e) = self.reload().await {
                    tracing::warn!(
                        error = %e,
                        "reloading the signing keys failed; the keys in use stay"
                    );
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyFile, SigningAlgorithm, generate_into};
    use std::path::Path;

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minutes * 60, 0).unwrap()
    }

    fn dir(what: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kisum-rotation-{what}-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A new key in `dir`, its file last modified at `modified`.
    fn key(dir: &Path, modified: DateTime<Utc>) -> String {
        let KeyFile { kid, path } =
            generate_into(dir, SigningAlgorithm::Es256, modified.date_naive()).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(modified.into()).unwrap();
        kid
    }

    fn active(loaded: &LoadedKeys) -> String {
        loaded.ring.active().unwrap().kid().to_owned()
    }

    #[test]
    fn at_start_the_newest_key_published_for_the_lead_time_signs() {
        let d = dir("start");
        let old = key(&d, t(-600));
        let current = key(&d, t(-300));
        let fresh = key(&d, t(-2));
        let keys = KeyDirectory::new(KeyRotationConfig::new(&d));
        let loaded = keys.load(t(0)).unwrap();
        assert_eq!(active(&loaded), current, "the fresh key is published only");
        assert_eq!(loaded.ring.kids().count(), 3);
        assert!(loaded.published_changed && loaded.signer_changed);
        assert_eq!(keys.pending(), [(fresh.clone(), t(8))]);
        // The fresh key takes over once its file is ten minutes old.
        assert_eq!(active(&keys.load(t(7)).unwrap()), current);
        let loaded = keys.load(t(8)).unwrap();
        assert_eq!(active(&loaded), fresh);
        assert!(!loaded.published_changed && loaded.signer_changed);
        assert_ne!(old, fresh);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn at_start_without_an_old_enough_key_the_newest_signs_and_stays() {
        // As in a Kubernetes secret volume: every file written when the pod started.
        let d = dir("fresh");
        let a = key(&d, t(0));
        let b = key(&d, t(0));
        let keys = KeyDirectory::new(KeyRotationConfig::new(&d));
        let first = active(&keys.load(t(0)).unwrap());
        assert_eq!(first, a.clone().max(b), "same second: the greatest kid");
        let later = keys.load(t(60)).unwrap();
        assert_eq!(
            active(&later),
            first,
            "no key is newer than the signing one"
        );
        assert!(!later.signer_changed && !later.published_changed);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_key_appearing_later_is_published_at_once_and_signs_after_the_lead_time() {
        let d = dir("appear");
        let old = key(&d, t(-100));
        let keys = KeyDirectory::new(KeyRotationConfig {
            publish_lead: Duration::from_secs(120),
            ..KeyRotationConfig::new(&d)
        });
        keys.load(t(0)).unwrap();
        // The file's time does not matter for a key seen appearing: its publication does.
        let new = key(&d, t(-1000));
        let loaded = keys.load(t(1)).unwrap();
        assert!(loaded.published_changed && !loaded.signer_changed);
        assert_eq!(active(&loaded), old);
        assert!(loaded.ring.get(&new).is_some(), "published");
        assert_eq!(active(&keys.load(t(2)).unwrap()), old);
        let loaded = keys.load(t(3)).unwrap();
        assert_eq!(active(&loaded), new);
        assert!(loaded.signer_changed && !loaded.published_changed);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn retiring_the_signing_key_hands_over_to_the_best_remaining_key() {
        let d = dir("retire");
        let old = key(&d, t(-600));
        let current = key(&d, t(-300));
        let keys = KeyDirectory::new(KeyRotationConfig::new(&d));
        assert_eq!(active(&keys.load(t(0)).unwrap()), current);
        let replacement = key(&d, t(0));
        keys.load(t(1)).unwrap();
        // Retired (renamed): an older published key takes over before the unripe one...
        std::fs::rename(
            d.join(format!("{current}.pem")),
            d.join(format!("{current}.pem.retired")),
        )
        .unwrap();
        let loaded = keys.load(t(2)).unwrap();
        assert!(loaded.published_changed && loaded.signer_changed);
        assert_eq!(active(&loaded), old);
        assert!(loaded.ring.get(&current).is_none());
        // ...which takes over when ready.
        assert_eq!(active(&keys.load(t(11)).unwrap()), replacement);
        // A compromised key retired with only a brand-new one left: that one signs at once.
        let newest = key(&d, t(11));
        keys.load(t(12)).unwrap();
        for kid in [&old, &replacement] {
            std::fs::remove_file(d.join(format!("{kid}.pem"))).unwrap();
        }
        assert_eq!(active(&keys.load(t(13)).unwrap()), newest);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_pinned_kid_signs_without_lead_time_until_it_leaves_the_directory() {
        let d = dir("pinned");
        let old = key(&d, t(-600));
        let pinned = key(&d, t(0));
        let keys = KeyDirectory::new(KeyRotationConfig {
            pinned: Some(pinned.clone()),
            ..KeyRotationConfig::new(&d)
        });
        assert_eq!(active(&keys.load(t(0)).unwrap()), pinned);
        let newer = key(&d, t(1));
        assert_eq!(active(&keys.load(t(100)).unwrap()), pinned, "no take-over");
        assert!(keys.pending().is_empty());
        // Gone: the rules without a pin apply (the old key is ready, the newer one is not yet).
        std::fs::remove_file(d.join(format!("{pinned}.pem"))).unwrap();
        assert_eq!(active(&keys.load(t(101)).unwrap()), old);
        assert_eq!(active(&keys.load(t(110)).unwrap()), newer);
        // At start-up a pinned kid must be there.
        let missing = KeyDirectory::new(KeyRotationConfig {
            pinned: Some("nope".into()),
            ..KeyRotationConfig::new(&d)
        });
        assert!(matches!(
            missing.load(t(0)),
            Err(KeyError::ActiveMissing(kid)) if kid == "nope"
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_failed_load_changes_nothing() {
        let d = dir("failed");
        let only = key(&d, t(-600));
        let keys = KeyDirectory::new(KeyRotationConfig::new(&d));
        keys.load(t(0)).unwrap();
        std::fs::write(d.join("broken.pem"), "not a key").unwrap();
        assert!(matches!(keys.load(t(1)), Err(KeyError::Unsupported(_))));
        std::fs::remove_file(d.join("broken.pem")).unwrap();
        std::fs::remove_file(d.join(format!("{only}.pem"))).unwrap();
        assert!(matches!(keys.load(t(2)), Err(KeyError::NoKeys(_))));
        let back = key(&d, t(3));
        let loaded = keys.load(t(3)).unwrap();
        assert_eq!(active(&loaded), back);
        assert!(loaded.published_changed);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_default_lead_time_is_twice_the_jwks_max_age() {
        assert_eq!(
            KeyRotationConfig::DEFAULT_PUBLISH_LEAD,
            JWKS_MAX_AGE.saturating_mul(2)
        );
    }
}
