//! The load generator's reusable parts: the fake Graph API (also used by PyTake's integration
//! tests).

pub mod fake_graph;
