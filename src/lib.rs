//! PyTake, the server: HTTP routes, the Meta webhook, agent sockets, authentication, configuration,
//! storage on SQLite or PostgreSQL, and the wiring of the actors from `pytake-actors`.

pub mod app;
pub mod archive;
pub mod auth;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod flow_http;
pub mod graphql;
pub mod http;
pub mod live;
pub mod metrics;
pub mod outbound;
pub mod prewarm;
pub mod recovery;
pub mod repo;
pub mod routes;
pub mod services;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod timer_service;
pub mod webhook;

pub use config::random_token;
