//! Repositories: all SQL lives here, written once for both backends with the `sql_*` macros. Every
//! method on tenant data takes an `OrgId`, and every such query filters by `organization_id`.
//! Routes never touch SQL; services call these.

pub mod audit;
pub mod organizations;
pub mod refresh_tokens;
pub mod users;
