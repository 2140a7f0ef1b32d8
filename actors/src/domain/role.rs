//! User roles, from most to least powerful.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SuperAdmin,
    OrgAdmin,
    Agent,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::SuperAdmin, Role::OrgAdmin, Role::Agent, Role::Viewer];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::OrgAdmin => "org_admin",
            Role::Agent => "agent",
            Role::Viewer => "viewer",
        }
    }

    /// Whether a user with this role may grant `other` to someone.
    pub fn may_grant(&self, other: Role) -> bool {
        match self {
            Role::SuperAdmin => true,
            Role::OrgAdmin => other != Role::SuperAdmin,
            Role::Agent | Role::Viewer => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}` (expected super_admin, org_admin, agent or viewer)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UnknownRole(s.to_string()))
    }
}
