//! Configuration: the embedded `config/default.toml`, overlaid by `--config FILE`, overlaid by
//! `PYTAKE__SECTION__KEY` environment variables, then validated. Errors name the offending key.

mod load;
mod secret;
mod settings;

pub use load::{ConfigError, load, load_from_parts, random_token};
pub use secret::SecretString;
pub use settings::*;

/// How strict start-up is about missing secrets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Missing secrets are generated into the data folder and reused.
    Development,
    /// Missing secrets are an error.
    Production,
}
