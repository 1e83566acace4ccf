//! Access aggregation: from session, company, membership, roles, delegations and entitlements to
//! one [`AccessContext`](kisum_guard::AccessContext) or one
//! [`DenialCode`](kisum_guard::DenialCode), and the step-by-step explanation of it.
//!
//! The seven steps (ARCHITECTURE.md):
//! 1. the session exists, belongs to the user, and is neither revoked nor expired;
//! 2. the `X-Org` value (id or slug) names a company;
//! 3. the user is a member, and the membership (and the company) is active;
//! 4. the company's entitlements come from Core;
//! 5. `modules = entitlements ∩ (grants ∪ every module if a role holds "*")`, plus `company`,
//!    plus what active delegations bring (within the delegator's own modules);
//! 6. `permissions = role patterns ∪ delegated patterns (each ∩ what the delegator holds now)`,
//!    keeping only patterns whose module is in `modules`;
//! 7. the `AccessContext`.
//!
//! Steps 1–2 and the stores live in [`AccessService`] (`service.rs`); steps 3–7 are the pure
//! [`aggregate`] (`aggregate.rs`), with what one delegation yields in `delegation.rs`; the
//! explanation is a list of structured [`Step`]s (`explain.rs`), turned into prose only when it
//! is serialized for the HTTP edge.

mod aggregate;
mod cache;
mod delegation;
mod explain;
mod seal;
mod service;

pub use aggregate::aggregate;
pub use cache::{AccessCaches, CacheTicket, Invalidating};
pub use explain::{Explanation, Step};
pub use seal::seal;
pub use service::{AccessError, AccessService, CertifiedEntitlements, EntitlementSource};
