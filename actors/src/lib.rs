//! `pytake-actors`: PyTake's domain types, the ports through which the domain reaches the outside
//! world, the actors (organization, conversation) and the pure flow engine. This crate does no IO of
//! its own; the `pytake` crate implements the ports.

pub mod domain;
pub mod flow;
pub mod ports;
pub mod runtime;
pub mod views;

pub use domain::ids::OrgId;
pub use domain::role::Role;
