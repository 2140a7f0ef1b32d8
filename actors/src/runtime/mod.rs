//! The actor runtime: the registry that finds or activates actors, the conversation actor that
//! handles one conversation's items strictly in order, the organization actor that sequences and
//! fans out events, and the counters ops read.

pub mod bot;
pub mod conversation;
pub mod handling;
pub mod org;
pub mod registry;
pub mod stats;

pub use registry::{Registry, RuntimeConfig};
pub use stats::{RuntimeStats, StatsSnapshot};
