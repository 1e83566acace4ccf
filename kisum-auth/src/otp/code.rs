//! One-time codes by email or SMS (decision 0040): the state kept per address and purpose, the
//! [`CodeStore`] that keeps it, and the steps both channels take alike — sending a code (not
//! while locked, resend cooldown, daily quota) and checking a guess (recorded before it is
//! answered, attempts then lockout, expiry, single use).
//!
//! What differs stays with the channel: `recovery.rs` sends email codes to an account's address
//! with the email sender; `sms_codes.rs` checks E.164 numbers and allowed countries, binds a
//! `verify_phone` code to the user who asked, and sends with the SMS sender.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;
use subtle::ConstantTimeEq as _;

use super::{OtpConfig, OtpPurpose, SecretHash, SmsPurpose};
use crate::identity::Email;
use crate::service::{AuthService, Failure};
use crate::sms::Phone;

/// Where a one-time code goes and what it is for: the key of a [`CodeState`]. The variant is
/// the channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CodeKey {
    /// A code emailed to an address.
    Email(Email, OtpPurpose),
    /// A code texted to a phone number.
    Sms(Phone, SmsPurpose),
}

impl CodeKey {
    /// The channel: `email` or `sms`.
    #[must_use]
    pub const fn channel(&self) -> &'static str {
        match self {
            Self::Email(..) => "email",
            Self::Sms(..) => "sms",
        }
    }

    /// The address: the email, or the number in E.164 form.
    #[must_use]
    pub fn address(&self) -> &str {
        match self {
            Self::Email(email, _) => email.as_str(),
            Self::Sms(phone, _) => phone.as_str(),
        }
    }

    /// The purpose's storage string.
    #[must_use]
    pub const fn purpose(&self) -> &'static str {
        match self {
            Self::Email(_, purpose) => purpose.as_str(),
            Self::Sms(_, purpose) => purpose.as_str(),
        }
    }

    /// The digest of `code` sent for this key with `salt`. An SMS code is also bound to
    /// `holder`, the user a `verify_phone` code was sent for (decision 0036); an email code
    /// proves the address whoever asked, so `holder` does not enter it. Each channel digests
    /// what it digested before decision 0040, so codes in flight survive the upgrade.
    pub(crate) fn digest(&self, salt: &[u8; 16], holder: Option<UserId>, code: &str) -> SecretHash {
        match self {
            Self::Email(email, purpose) => SecretHash::of(&[
                salt,
                email.as_str().as_bytes(),
                purpose.as_str().as_bytes(),
                code.as_bytes(),
            ]),
            Self::Sms(phone, purpose) => {
                let holder = holder.map(|u| u.as_uuid().into_bytes()).unwrap_or_default();
                SecretHash::of(&[
                    b"kisum sms code",
                    salt,
                    phone.as_str().as_bytes(),
                    purpose.as_str().as_bytes(),
                    &holder,
                    code.as_bytes(),
                ])
            }
        }
    }
}

/// The state of one address's codes for one purpose, whatever the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeState {
    /// Where the codes go and what they are for.
    pub key: CodeKey,
    /// The current code's hash (see [`CodeKey`] for what it binds), if a code is outstanding.
    pub code_hash: Option<SecretHash>,
    /// Random salt of the current code.
    pub salt: [u8; 16],
    /// When the current code stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// Wrong guesses against the current code.
    pub attempts: u32,
    /// No verification before this instant.
    pub locked_until: Option<DateTime<Utc>>,
    /// When the last code was sent (resend cooldown).
    pub last_sent_at: Option<DateTime<Utc>>,
    /// Start of the current daily quota window.
    pub quota_started_at: Option<DateTime<Utc>>,
    /// Codes sent in the current quota window.
    pub sent_in_window: u32,
    /// Optimistic-concurrency version: every write raises it by one.
    pub version: u64,
}

impl CodeState {
    /// The state of a key that never received a code.
    #[must_use]
    pub fn empty(key: CodeKey) -> Self {
        Self {
            key,
            code_hash: None,
            salt: [0; 16],
            expires_at: None,
            attempts: 0,
            locked_until: None,
            last_sent_at: None,
            quota_started_at: None,
            sent_in_window: 0,
            version: 0,
        }
    }

    /// Whether a new code may go out at `now` under `cfg` — not while the codes are locked or
    /// the resend cooldown runs, nor over the daily quota — and if so the quota window's start
    /// and the codes already sent in it.
    fn may_send(&self, now: DateTime<Utc>, cfg: &OtpConfig) -> Option<(DateTime<Utc>, u32)> {
        if self.locked_until.is_some_and(|t| now < t)
            || self
                .last_sent_at
                .is_some_and(|t| now < t + cfg.resend_cooldown)
        {
            return None;
        }
        let (start, sent) = match self.quota_started_at {
            Some(start) if now < start + TimeDelta::days(1) => (start, self.sent_in_window),
            _ => (now, 0),
        };
        (sent < cfg.daily_quota).then_some((start, sent))
    }

    /// The next version after a guess at `now`: a right one spends the code; a wrong one counts
    /// an attempt, and the last allowed one drops the code and locks for `cfg.lockout`.
    fn guessed(&self, now: DateTime<Utc>, cfg: &OtpConfig, right: bool) -> Self {
        let mut next = Self {
            version: self.version + 1,
            ..self.clone()
        };
        if right {
            next.code_hash = None;
            next.expires_at = None;
            next.attempts = 0;
        } else {
            next.attempts += 1;
            if next.attempts >= cfg.max_attempts {
                next.code_hash = None;
                next.locked_until = Some(now + cfg.lockout);
            }
        }
        next
    }
}

/// One-time code states of every channel: what [`OneTimeStore`](super::OneTimeStore) (email
/// codes) and [`PhoneStore`](super::PhoneStore) (SMS codes) share. Each channel may keep its
/// states apart (the SQL backends keep a table per channel), but every key is independent.
#[async_trait]
pub trait CodeStore: Send + Sync + 'static {
    /// The state for `key`, or `None`.
    ///
    /// # Errors
    /// `Unavailable`; `Invalid` when a stored value is out of range.
    async fn get_code(&self, key: &CodeKey) -> Result<Option<CodeState>, StoreError>;

    /// Writes `state` if the stored version for its key is still `state.version - 1` (or
    /// nothing is stored and `state.version` is 1); returns whether it was written. Two
    /// concurrent guesses cannot both count as the same attempt.
    ///
    /// # Errors
    /// `Unavailable`; `Invalid` for a counter the store cannot hold.
    async fn put_code(&self, state: &CodeState) -> Result<bool, StoreError>;
}

/// A uniform 6-digit code.
pub(super) fn random_code() -> Result<String, Failure> {
    // Rejection sampling: a uniform 6-digit code.
    loop {
        let mut b = [0u8; 4];
        aws_lc_rs::rand::fill(&mut b).map_err(|_| Failure::Hashing)?;
        let n = u32::from_be_bytes(b);
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// How long until `until`, at least a second when the clock disagrees.
fn wait(until: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (until - now).to_std().unwrap_or(Duration::from_secs(1))
}

/// What a guess at a code came to; its attempt is already recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Guess {
    /// The right code, now spent.
    Right,
    /// A wrong code; `locked_for` when it was the last allowed one and locked the codes.
    Wrong { locked_for: Option<Duration> },
    /// Locked by earlier wrong guesses: retry after this long.
    Locked(Duration),
    /// No live code: none sent, spent or expired (or the guess lost five races to record itself).
    NoCode,
}

impl AuthService {
    /// Stores a new code for `key` (its digest bound to `holder`, see [`CodeKey`]) unless the
    /// key's codes are locked, the resend cooldown runs or the daily quota is spent (`cfg`);
    /// answers the code to deliver, or `None` when none may go out or a concurrent request
    /// sent one.
    pub(super) async fn issue_code<S: CodeStore + ?Sized>(
        &self,
        store: &S,
        key: CodeKey,
        cfg: &OtpConfig,
        holder: Option<UserId>,
    ) -> Result<Option<String>, Failure> {
        let now = self.now();
        let current = store
            .get_code(&key)
            .await?
            .unwrap_or_else(|| CodeState::empty(key));
        let Some((window_start, sent)) = current.may_send(now, cfg) else {
            return Ok(None);
        };
        let code = random_code()?;
        let mut salt = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| Failure::Hashing)?;
        let next = CodeState {
            code_hash: Some(current.key.digest(&salt, holder, &code)),
            salt,
            expires_at: Some(now + cfg.code_ttl),
            attempts: 0,
            locked_until: None,
            last_sent_at: Some(now),
            quota_started_at: Some(window_start),
            sent_in_window: sent + 1,
            version: current.version + 1,
            ..current
        };
        Ok(store.put_code(&next).await?.then_some(code))
    }

    /// Checks `code` against the live code of `key` (digested with `holder`), recording the
    /// guess before answering it; see [`Guess`].
    pub(super) async fn guess_code<S: CodeStore + ?Sized>(
        &self,
        store: &S,
        key: &CodeKey,
        cfg: &OtpConfig,
        holder: Option<UserId>,
        code: &str,
    ) -> Result<Guess, StoreError> {
        // Optimistic concurrency: a guess counts only once its attempt is recorded.
        for _ in 0..5 {
            let now = self.now();
            let Some(state) = store.get_code(key).await? else {
                return Ok(Guess::NoCode);
            };
            if let Some(until) = state.locked_until.filter(|t| now < *t) {
                return Ok(Guess::Locked(wait(until, now)));
            }
            let (Some(expected), Some(expires)) = (state.code_hash, state.expires_at) else {
                return Ok(Guess::NoCode);
            };
            if now >= expires {
                return Ok(Guess::NoCode);
            }
            let presented = key.digest(&state.salt, holder, code.trim());
            let right = bool::from(presented.0.ct_eq(&expected.0));
            let next = state.guessed(now, cfg, right);
            if store.put_code(&next).await? {
                return Ok(if right {
                    Guess::Right
                } else {
                    let locked_for = next.locked_until.filter(|t| now < *t);
                    Guess::Wrong {
                        locked_for: locked_for.map(|until| wait(until, now)),
                    }
                });
            }
        }
        Ok(Guess::NoCode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verify_phone_code_is_bound_to_its_holder() {
        let phone = Phone::parse("+447700900123").unwrap();
        let verify = CodeKey::Sms(phone.clone(), SmsPurpose::VerifyPhone);
        let a = verify.digest(&[1; 16], Some(UserId::new()), "1");
        let b = verify.digest(&[1; 16], Some(UserId::new()), "1");
        assert_ne!(a, b);
        let login = CodeKey::Sms(phone, SmsPurpose::Login).digest(&[1; 16], None, "1");
        assert_ne!(login, verify.digest(&[1; 16], None, "1"));
    }

    #[test]
    fn each_channel_digests_as_before() {
        // The inputs of decision 0036 (SMS) and of the first email codes, so that codes sent
        // before the states were merged still verify.
        let email = Email::parse("ada@example.test").unwrap();
        let key = CodeKey::Email(email, OtpPurpose::Login);
        assert_eq!(
            key.digest(&[2; 16], Some(UserId::new()), "123456"),
            SecretHash::of(&[&[2u8; 16], b"ada@example.test", b"login", b"123456"])
        );
        let phone = Phone::parse("+447700900123").unwrap();
        let user = UserId::new();
        assert_eq!(
            CodeKey::Sms(phone, SmsPurpose::VerifyPhone).digest(&[2; 16], Some(user), "1"),
            SecretHash::of(&[
                b"kisum sms code",
                &[2u8; 16],
                b"+447700900123",
                b"verify_phone",
                &user.as_uuid().into_bytes(),
                b"1",
            ])
        );
    }

    #[test]
    fn the_last_allowed_wrong_guess_locks_and_drops_the_code() {
        let cfg = OtpConfig::default();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let key = CodeKey::Email(Email::parse("ada@example.test").unwrap(), OtpPurpose::Login);
        let live = CodeState {
            code_hash: Some(SecretHash::of(&[b"x"])),
            expires_at: Some(now + cfg.code_ttl),
            attempts: cfg.max_attempts - 1,
            version: 3,
            ..CodeState::empty(key)
        };
        let locked = live.guessed(now, &cfg, false);
        assert_eq!(
            (locked.code_hash, locked.locked_until, locked.version),
            (None, Some(now + cfg.lockout), 4)
        );
        assert_eq!(locked.may_send(now, &cfg), None, "no new code while locked");
        let spent = live.guessed(now, &cfg, true);
        assert_eq!(
            (spent.code_hash, spent.expires_at, spent.attempts),
            (None, None, 0)
        );
    }
}
