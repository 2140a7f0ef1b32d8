//! Sending through the WhatsApp Cloud API: the Graph client, the request bodies, what each Meta
//! error code means for a retry, and the sender that drains the outbox per number.

pub mod classify;
pub mod graph;
pub mod payload;
pub mod sender;
