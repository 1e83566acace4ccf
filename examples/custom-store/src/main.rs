//! Run with: cargo run -p example-custom-store; test with: cargo test -p example-custom-store
//!
//! A store of your own for Kisum Auth: [`VecUserStore`] keeps users in a plain `Vec` behind a
//! lock — the shape of any backend (a key-value store, a file, a remote API) — and implements
//! [`UserStore`]. Its tests are the crate's conformance suite, stamped out by
//! `kisum_auth::user_store_conformance!`: the same cases the memory, SQLite and PostgreSQL
//! stores pass, so a store that passes them can stand in for theirs. The other store traits
//! (`SessionStore`, `DirectoryStore`, …) have their own `*_conformance!` macros.

use std::error::Error;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use kisum_auth::{Email, User, UserStore};
use kisum_core::db::StoreError;
use kisum_guard::{Clock, SystemClock, UserId};

/// Users in a `Vec`, searched linearly: simple on purpose, correct by the conformance suite.
#[derive(Debug, Default)]
pub struct VecUserStore {
    users: Mutex<Vec<User>>,
}

impl VecUserStore {
    /// No users yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn users(&self) -> std::sync::MutexGuard<'_, Vec<User>> {
        // Nothing under this lock panics; recovering from poison keeps the data usable.
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl UserStore for VecUserStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut users = self.users();
        if users
            .iter()
            .any(|u| u.id == user.id || u.email == user.email)
        {
            return Err(StoreError::conflict("user id or email taken"));
        }
        users.push(user.clone());
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.users().iter().find(|u| u.id == id).cloned())
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        // `Email` is normalized when parsed: equal addresses compare equal.
        Ok(self.users().iter().find(|u| &u.email == email).cloned())
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let mut users = self.users();
        if users
            .iter()
            .any(|u| u.id != user.id && u.email == user.email)
        {
            return Err(StoreError::conflict("email taken by another user"));
        }
        match users.iter_mut().find(|u| u.id == user.id) {
            Some(stored) => {
                *stored = user.clone();
                Ok(())
            }
            None => Err(StoreError::not_found("no such user")),
        }
    }
}

async fn demo() -> Result<(), Box<dyn Error>> {
    let store = VecUserStore::new();
    let now = SystemClock.now();
    let ada = User::new(Email::parse("Ada@Example.test")?, None, None, now);
    store.create_user(&ada).await?;
    let found = store
        .find_user_by_email(&Email::parse("ada@example.TEST")?)
        .await?;
    println!(
        "stored {} and found it again by a differently cased address: {}",
        ada.email.as_str(),
        found.is_some_and(|u| u.id == ada.id)
    );
    let twin = User::new(Email::parse("ada@example.test")?, None, None, now);
    println!(
        "a second account with the same address is refused: {}",
        store.create_user(&twin).await.is_err()
    );
    println!("`cargo test -p example-custom-store` runs Auth's user-store conformance suite on it");
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    tokio::runtime::Builder::new_current_thread()
        .build()?
        .block_on(demo())
}

#[cfg(test)]
mod conformance {
    async fn make_store() -> super::VecUserStore {
        super::VecUserStore::new()
    }

    kisum_auth::user_store_conformance!(make_store);
}
