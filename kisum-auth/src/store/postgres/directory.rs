//! [`DirectoryStore`](crate::directory::DirectoryStore) on PostgreSQL: roles are a `TEXT[]`,
//! id lists a `UUID[]`, both matched with `= ANY`; concurrent edits are serialized by row locks
//! (the memberships a write bumps, in `created_at, id` order for a role's holders, and the
//! company's row before a change to one of its active owners).

use sqlx::Postgres;

use crate::store::sql::directory::DirectorySql;
use crate::store::sql::queries::{grants_with_roles, org_access};

impl DirectorySql for Postgres {
    const OWNER_BEFORE: &'static str =
        "SELECT company_id, (status = 'active' AND 'owner' = ANY(roles)) AS owner
         FROM memberships WHERE id = $1";

    const LOCK_OWNERS: Option<&'static str> =
        Some("SELECT id FROM companies WHERE id = $1 FOR UPDATE");

    const OWNERS_LEFT: &'static str = "SELECT count(*) AS n FROM memberships
         WHERE company_id = $1 AND status = 'active' AND 'owner' = ANY(roles)";

    const BUMP_ROLE_HOLDERS: &'static str =
        "UPDATE memberships SET access_version = access_version + 1, updated_at = $3
         WHERE id IN (SELECT id FROM memberships WHERE company_id = $1 AND $2 = ANY(roles)
                      ORDER BY created_at, id FOR UPDATE)
         RETURNING id, access_version";

    const DROP_ROLE: &'static str = "UPDATE memberships SET roles = array_remove(roles, $2),
             access_version = access_version + 1, updated_at = $3
         WHERE company_id = $1 AND $2 = ANY(roles)
         RETURNING id, access_version";

    const BUMP_DELEGATEES: &'static str =
        "UPDATE memberships SET access_version = access_version + 1, updated_at = $2
         WHERE id IN (SELECT to_membership_id FROM delegations
                      WHERE from_membership_id = ANY($1) AND revoked_at IS NULL)
           AND id <> ALL($1)
         RETURNING id, access_version";

    const ORG_ACCESS_BY_ID: &'static str = org_access!("c.id = $1", "r.key = ANY(m.roles)");

    const ORG_ACCESS_BY_SLUG: &'static str = org_access!("c.slug = $1", "r.key = ANY(m.roles)");

    const GRANTS_WITH_ROLES: &'static str = grants_with_roles!("r.key = ANY(f.roles)");
}
