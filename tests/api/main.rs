//! Integration tests through the public surface (HTTP, WebSocket, the binary). One test binary keeps
//! link times down; each test spawns its own app on a fresh database.

mod archive;
mod auth;
mod bot;
mod browser;
mod business_matrix;
mod campaigns;
mod catalog;
mod cli;
mod console;
mod contacts;
mod flows;
mod graphql;
mod helpers;
mod hostile;
mod http_basics;
mod matrix;
mod migrations;
mod numbers;
mod organizations;
mod outbound;
mod packaging;
mod reports;
mod store;
mod templates;
mod users;
mod webhook;
