//! Domain vocabulary shared by the server and the actors: identifiers, roles, statuses.

pub mod ids;
pub mod role;
pub mod time;
