//! Packaging that cannot be built here (no Docker engine): the compose file and `.env.example`
//! at least name only real configuration keys and real variables.

use pytake::config::{Profile, load_from_parts};
use std::collections::BTreeSet;

fn tokens(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let tail = &rest[i..];
        let end =
            tail.find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')).unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

#[test]
fn every_setting_the_compose_file_sets_is_a_real_config_key() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let compose = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    let keys = tokens(&compose, "PYTAKE__");
    assert!(keys.len() >= 8, "{keys:?}");
    for key in &keys {
        let dir = tempfile::tempdir().unwrap();
        let env = vec![
            ("PYTAKE__STORAGE__DATA_DIR".to_string(), dir.path().display().to_string()),
            (key.clone(), "x".to_string()),
        ];
        if let Err(e) = load_from_parts(None, env, Profile::Development) {
            let message = e.to_string();
            assert!(!message.contains("unknown"), "{key} is not a configuration key: {message}");
        }
    }
    // Every variable the compose file reads from `.env` is shown in `.env.example`.
    let example = std::fs::read_to_string(root.join(".env.example")).unwrap();
    let listed: BTreeSet<String> = example
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_string()))
        .collect();
    let mut wanted = BTreeSet::new();
    for part in compose.split("${").skip(1) {
        let name: String =
            part.chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
        wanted.insert(name);
    }
    let missing: Vec<&String> = wanted.difference(&listed).collect();
    assert!(missing.is_empty(), ".env.example lacks {missing:?}");
    // No default password in the file.
    assert!(!compose.contains("PASSWORD:-"), "a password with a default");
    let nginx = std::fs::read_to_string(root.join("config/nginx.conf")).unwrap();
    assert!(nginx.contains("Upgrade $http_upgrade") && nginx.contains("pytake-2:8000"));
}
