//! The permission matrix: one table, in code, of which roles hold which permission. Routes ask
//! `principal.require(Permission::X)`; `docs/PERMISSIONS.md` is generated from this table and a test
//! keeps the two equal.

use pytake_actors::Role;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Create, list, update and delete any organization.
    OrganizationsManage,
    /// Read the caller's own organization.
    OrganizationRead,
    /// Update the caller's own organization.
    OrganizationUpdate,
    /// List and read the users of the organization.
    UsersRead,
    /// Create, update and deactivate users of the organization.
    UsersManage,
    /// Read WhatsApp numbers (secrets are never returned).
    NumbersRead,
    /// Create, update and delete WhatsApp numbers and their secrets.
    NumbersManage,
    /// Read conversations and messages (agents: their own and their departments' queue).
    ConversationsRead,
    /// Send messages, take, assign, transfer, close and annotate conversations.
    ConversationsWrite,
    /// Read contacts and tags.
    ContactsRead,
    /// Create, update, tag, block and import contacts.
    ContactsWrite,
    /// Rename and delete the organization's tags.
    TagsManage,
    /// Read flows and chatbots.
    FlowsRead,
    /// Create, edit, validate, publish and simulate flows and chatbots.
    FlowsManage,
    /// Read departments and queues.
    QueuesRead,
    /// Create, update and delete departments and queues.
    QueuesManage,
    /// Read message templates.
    TemplatesRead,
    /// Create, submit and sync message templates.
    TemplatesManage,
    /// Read campaigns and their progress.
    CampaignsRead,
    /// Create, start, pause, resume and cancel campaigns.
    CampaignsManage,
    /// Read canned responses.
    CannedResponsesRead,
    /// Create, update and delete canned responses.
    CannedResponsesManage,
    /// Read reports and dashboards.
    AnalyticsRead,
    /// Read the audit log.
    AuditRead,
}

use Permission::*;
use Role::*;

/// Who holds what. `super_admin` holds everything, in every organization.
pub const MATRIX: &[(Permission, &[Role])] = &[
    (OrganizationsManage, &[SuperAdmin]),
    (OrganizationRead, &[SuperAdmin, OrgAdmin, Agent, Viewer]),
    (OrganizationUpdate, &[SuperAdmin, OrgAdmin]),
    (UsersRead, &[SuperAdmin, OrgAdmin, Agent, Viewer]),
    (UsersManage, &[SuperAdmin, OrgAdmin]),
    (NumbersRead, &[SuperAdmin, OrgAdmin, Viewer]),
    (NumbersManage, &[SuperAdmin, OrgAdmin]),
    (ConversationsRead, &[SuperAdmin, OrgAdmin, Agent, Viewer]),
    (ConversationsWrite, &[SuperAdmin, OrgAdmin, Agent]),
    (ContactsRead, &[SuperAdmin, OrgAdmin, Agent, Viewer]),
    (ContactsWrite, &[SuperAdmin, OrgAdmin, Agent]),
    (TagsManage, &[SuperAdmin, OrgAdmin]),
    (FlowsRead, &[SuperAdmin, OrgAdmin, Viewer]),
    (FlowsManage, &[SuperAdmin, OrgAdmin]),
    (QueuesRead, &[SuperAdmin, OrgAdmin, Agent, Viewer]),
    (QueuesManage, &[SuperAdmin, OrgAdmin]),
    (TemplatesRead, &[SuperAdmin, OrgAdmin, Agent, Viewer]),
    (TemplatesManage, &[SuperAdmin, OrgAdmin]),
    (CampaignsRead, &[SuperAdmin, OrgAdmin, Viewer]),
    (CampaignsManage, &[SuperAdmin, OrgAdmin]),
    (CannedResponsesRead, &[SuperAdmin, OrgAdmin, Agent, Viewer]),
    (CannedResponsesManage, &[SuperAdmin, OrgAdmin]),
    (AnalyticsRead, &[SuperAdmin, OrgAdmin, Viewer]),
    (AuditRead, &[SuperAdmin, OrgAdmin]),
];

impl Permission {
    pub fn granted_to(self, role: Role) -> bool {
        MATRIX.iter().find(|(p, _)| *p == self).is_some_and(|(_, roles)| roles.contains(&role))
    }

    /// The permission's snake_case name, as listed in `/auth/me` and the docs.
    pub fn name(self) -> String {
        let debug = format!("{self:?}");
        let mut out = String::new();
        for (i, ch) in debug.chars().enumerate() {
            if ch.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        }
        out
    }
}

/// The matrix as a Markdown table, the body of `docs/PERMISSIONS.md`.
pub fn matrix_markdown() -> String {
    let mut out = String::from("| permission | super_admin | org_admin | agent | viewer |\n|---|---|---|---|---|\n");
    for (permission, _) in MATRIX {
        out.push_str(&format!("| `{}` |", permission.name()));
        for role in Role::ALL {
            out.push_str(if permission.granted_to(role) { " yes |" } else { " - |" });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn super_admin_holds_every_permission() {
        for (p, roles) in MATRIX {
            assert!(roles.contains(&SuperAdmin), "{p:?}");
        }
    }

    #[test]
    fn docs_match_the_matrix() {
        let docs = include_str!("../../docs/PERMISSIONS.md");
        assert!(
            docs.contains(&matrix_markdown()),
            "docs/PERMISSIONS.md is out of date; paste this table:\n{}",
            matrix_markdown()
        );
    }
}
