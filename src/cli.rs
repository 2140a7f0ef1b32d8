//! The command line: `pytake [serve]`, `pytake migrate`, `pytake admin create ...`.

use crate::config::{LogFormat, Profile};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("PYTAKE_GIT_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(name = "pytake", version = VERSION, about = "PyTake: multi-tenant WhatsApp Business automation server")]
pub struct Cli {
    /// A TOML file overlaid on the defaults (same layout as config/default.toml).
    #[arg(long, global = true, env = "PYTAKE_CONFIG")]
    pub config: Option<PathBuf>,
    /// `production` refuses to start without auth.jwt_secret and security.encryption_key.
    #[arg(long, global = true, value_enum, default_value = "development", env = "PYTAKE_PROFILE")]
    pub profile: Profile,
    /// Log format (overrides log.format).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Administration tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user in an organization.
    Create {
        #[arg(long)]
        email: String,
        /// The password (at least 10 characters). Prefer PYTAKE_ADMIN_PASSWORD to keep it out of
        /// the shell history.
        #[arg(long, env = "PYTAKE_ADMIN_PASSWORD")]
        password: String,
        #[arg(long, default_value = "org_admin")]
        role: String,
        /// Organization slug or id.
        #[arg(long, default_value = "default")]
        org: String,
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
}
