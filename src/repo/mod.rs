//! Repositories: all SQL lives here, written once for both backends with the `sql_*` macros. Every
//! method on tenant data takes an `OrgId`, and every such query filters by `organization_id`; the few
//! unscoped lookups (login, token subjects, webhook routing) say so. Routes never touch SQL.

pub mod analytics;
pub mod audit;
pub mod campaigns;
pub mod canned;
pub mod chatbots;
pub mod contacts;
pub mod conversations;
pub mod flows;
pub mod hydration;
pub mod inbox;
pub mod messages;
pub mod numbers;
pub mod organizations;
pub mod outbox;
pub mod queues;
pub mod refresh_tokens;
pub mod reports;
pub mod tags;
pub mod templates;
pub mod timers;
pub mod traces;
pub mod users;
