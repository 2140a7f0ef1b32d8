//! Who may see a conversation: org_admins and viewers the whole organization; an agent the
//! conversations assigned to them and the queued ones of their departments (or of no department).

use pytake_actors::domain::role::Role;
use std::collections::HashSet;
use uuid::Uuid;

/// The part of a conversation that decides who sees it.
#[derive(Clone, Copy, Debug)]
pub struct Placement<'a> {
    pub status: &'a str,
    pub assigned_agent_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
}

/// What one caller may see.
#[derive(Clone, Debug)]
pub enum Audience {
    /// org_admin, super_admin, viewer.
    Organization,
    Agent {
        user: Uuid,
        departments: HashSet<Uuid>,
    },
}

impl Audience {
    pub fn for_role(role: Role, user: Uuid, departments: impl IntoIterator<Item = Uuid>) -> Self {
        match role {
            Role::Agent => Audience::Agent { user, departments: departments.into_iter().collect() },
            _ => Audience::Organization,
        }
    }

    pub fn sees(&self, p: Placement<'_>) -> bool {
        match self {
            Audience::Organization => true,
            Audience::Agent { user, departments } => {
                p.assigned_agent_id == Some(*user)
                    || (p.status == "queued"
                        && p.assigned_agent_id.is_none()
                        && p.department_id.is_none_or(|d| departments.contains(&d)))
            }
        }
    }

    /// The agent's id when the audience is limited to one agent's conversations.
    pub fn agent(&self) -> Option<Uuid> {
        match self {
            Audience::Organization => None,
            Audience::Agent { user, .. } => Some(*user),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_see_their_own_and_their_departments_queue() {
        let (me, other, sales, support) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let a = Audience::for_role(Role::Agent, me, [sales]);
        let at = |status, agent, dept| Placement { status, assigned_agent_id: agent, department_id: dept };
        assert!(a.sees(at("assigned", Some(me), Some(support))));
        assert!(!a.sees(at("assigned", Some(other), Some(sales))));
        assert!(a.sees(at("queued", None, Some(sales))));
        assert!(a.sees(at("queued", None, None)));
        assert!(!a.sees(at("queued", None, Some(support))));
        assert!(!a.sees(at("open", None, Some(sales))), "a conversation with the bot is not the agents' yet");
        let admin = Audience::for_role(Role::OrgAdmin, me, []);
        assert!(admin.sees(at("open", None, None)));
        assert_eq!(admin.agent(), None);
    }
}
