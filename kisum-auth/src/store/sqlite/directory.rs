//! [`DirectoryStore`](crate::directory::DirectoryStore) on SQLite: roles are a JSON array read
//! with `json_each`, id lists a JSON array of hex strings turned back into BLOBs by `unhex`;
//! `BEGIN IMMEDIATE` serializes every write, so no row needs locking.

use sqlx::Sqlite;

use crate::store::sql::directory::DirectorySql;
use crate::store::sql::queries::{grants_with_roles, org_access};

impl DirectorySql for Sqlite {
    const OWNER_BEFORE: &'static str = "SELECT company_id,
             (status = 'active'
              AND EXISTS (SELECT 1 FROM json_each(roles) WHERE value = 'owner')) AS owner
         FROM memberships WHERE id = $1";

    /// None: writes take turns (`BEGIN IMMEDIATE`), so the owner count sees every other change.
    const LOCK_OWNERS: Option<&'static str> = None;

    const OWNERS_LEFT: &'static str = "SELECT count(*) AS n FROM memberships
         WHERE company_id = $1 AND status = 'active'
           AND EXISTS (SELECT 1 FROM json_each(roles) WHERE value = 'owner')";

    const BUMP_ROLE_HOLDERS: &'static str =
        "UPDATE memberships SET access_version = access_version + 1, updated_at = $3
         WHERE company_id = $1
           AND EXISTS (SELECT 1 FROM json_each(memberships.roles) WHERE value = $2)
         RETURNING id, access_version";

    const DROP_ROLE: &'static str = "UPDATE memberships SET
             roles = (SELECT json_group_array(value) FROM json_each(memberships.roles)
                      WHERE value <> $2),
             access_version = access_version + 1, updated_at = $3
         WHERE company_id = $1
           AND EXISTS (SELECT 1 FROM json_each(memberships.roles) WHERE value = $2)
         RETURNING id, access_version";

    const BUMP_DELEGATEES: &'static str =
        "UPDATE memberships SET access_version = access_version + 1, updated_at = $2
         WHERE id IN (SELECT d.to_membership_id FROM delegations d
                      WHERE d.revoked_at IS NULL
                        AND d.from_membership_id IN (SELECT unhex(value) FROM json_each($1)))
           AND id NOT IN (SELECT unhex(value) FROM json_each($1))
         RETURNING id, access_version";

    const ORG_ACCESS_BY_ID: &'static str = org_access!(
        "c.id = $1",
        "r.key IN (SELECT value FROM json_each(m.roles))"
    );

    const ORG_ACCESS_BY_SLUG: &'static str = org_access!(
        "c.slug = $1",
        "r.key IN (SELECT value FROM json_each(m.roles))"
    );

    const GRANTS_WITH_ROLES: &'static str =
        grants_with_roles!("r.key IN (SELECT value FROM json_each(f.roles))");
}
