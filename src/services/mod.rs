//! Services: the use cases behind the routes. They validate, authorize at the data level, open
//! transactions, call repositories and record audit entries. Request and response bodies live here
//! with their OpenAPI schemas.

pub mod agent_actions;
pub mod audit;
pub mod auth;
pub mod campaigns;
pub mod catalog;
pub mod chatbots;
pub mod contacts;
pub mod contacts_csv;
pub mod conversations;
pub mod flow_diff;
pub mod flows;
pub mod numbers;
pub mod organizations;
pub mod queues;
pub mod reports;
pub mod sending;
pub mod simulator;
pub mod templates;
pub mod users;
