//! Migration parity: `migrations/sqlite` and `migrations/postgres` have the same versions, tables,
//! columns and indexes, both as written and as the databases report after applying them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Schema = BTreeMap<String, BTreeSet<String>>;

fn versions(dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".sql"))
        .collect()
}

/// Tables -> columns, and index name -> "table(columns)", from the DDL text.
fn parse_dir(dir: &str) -> (Schema, BTreeSet<String>) {
    let mut tables = Schema::new();
    let mut indexes = BTreeSet::new();
    for file in versions(dir) {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join(&file)).unwrap();
        let text: String = text.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
        for stmt in text.split(';') {
            let s = stmt.trim();
            let upper = s.to_uppercase();
            if upper.starts_with("CREATE TABLE") {
                let name = s["CREATE TABLE".len()..]
                    .trim()
                    .split(|c: char| c.is_whitespace() || c == '(')
                    .next()
                    .unwrap()
                    .to_string();
                let body = &s[s.find('(').unwrap() + 1..s.rfind(')').unwrap()];
                let cols = tables.entry(name).or_default();
                for line in body.lines() {
                    let first = line.split_whitespace().next().unwrap_or("");
                    if !first.is_empty()
                        && !["PRIMARY", "UNIQUE", "FOREIGN", "CONSTRAINT", "CHECK"]
                            .contains(&first.to_uppercase().as_str())
                    {
                        cols.insert(first.trim_end_matches(',').to_string());
                    }
                }
            } else if upper.starts_with("ALTER TABLE") && upper.contains("ADD COLUMN") {
                let words: Vec<&str> = s.split_whitespace().collect();
                let table = words[2].to_string();
                let at = words.iter().position(|w| w.eq_ignore_ascii_case("COLUMN")).unwrap();
                tables.entry(table).or_default().insert(words[at + 1].to_string());
            } else if upper.starts_with("CREATE INDEX") || upper.starts_with("CREATE UNIQUE INDEX") {
                let normalized: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
                indexes.insert(normalized);
            }
        }
    }
    (tables, indexes)
}

#[test]
fn both_dialects_define_the_same_versions_tables_columns_and_indexes() {
    assert_eq!(versions("migrations/sqlite"), versions("migrations/postgres"));
    let (lite, lite_idx) = parse_dir("migrations/sqlite");
    let (pg, pg_idx) = parse_dir("migrations/postgres");
    assert!(lite.len() > 20, "the whole domain is in the schema");
    assert_eq!(lite, pg, "tables and columns differ between the dialects");
    assert_eq!(lite_idx, pg_idx, "indexes differ between the dialects");
    for (table, cols) in &lite {
        let tenant_exempt = ["organizations", "webhook_deliveries", "archive_records"];
        if !tenant_exempt.contains(&table.as_str()) {
            assert!(cols.contains("organization_id"), "{table} lacks organization_id");
        }
    }
}

async fn sqlite_schema() -> Schema {
    let dir = tempfile::tempdir().unwrap();
    let settings = pytake::config::DatabaseSettings {
        url: pytake::config::SecretString::new(format!("sqlite://{}/m.db", dir.path().display())),
        max_connections: 2,
        min_connections: 0,
        hot_path_connections: 1,
        acquire_timeout_secs: 5,
    };
    let db = pytake::db::Db::connect(&settings).await.unwrap();
    db.migrate().await.unwrap();
    let pytake::db::Db::Sqlite(sqlite) = &db else { unreachable!() };
    let pool = &sqlite.pool;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for (t, c) in rows {
        schema.entry(t).or_default().insert(c);
    }
    schema
}

#[actix_web::test]
async fn applied_schemas_match_the_written_ones() {
    let (written, _) = parse_dir("migrations/sqlite");
    assert_eq!(sqlite_schema().await, written);
    if !crate::helpers::is_postgres() {
        eprintln!("PYTAKE_TEST_DATABASE_URL unset: PostgreSQL schema introspection skipped (CI runs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = crate::helpers::fresh_database_url(dir.path()).await;
    let settings = pytake::config::DatabaseSettings {
        url: pytake::config::SecretString::new(url),
        max_connections: 2,
        min_connections: 0,
        hot_path_connections: 1,
        acquire_timeout_secs: 5,
    };
    let db = pytake::db::Db::connect(&settings).await.unwrap();
    db.migrate().await.unwrap();
    let pytake::db::Db::Postgres(pg) = &db else { unreachable!() };
    let pool = &pg.pool;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut pg = Schema::new();
    for (t, c) in rows {
        pg.entry(t).or_default().insert(c);
    }
    assert_eq!(pg, written);
}
