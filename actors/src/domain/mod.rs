//! Domain vocabulary shared by the server and the actors: identifiers, roles, messages, inbound
//! items, conversations, events.

pub mod conversation;
pub mod event;
pub mod ids;
pub mod inbound;
pub mod message;
pub mod role;
pub mod time;
