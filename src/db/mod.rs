//! Storage: one `Db` enum of pools (SQLite or PostgreSQL, chosen by URL scheme), connections and
//! transactions that repositories use without caring which backend runs, and the query macros that
//! run the same SQL text with the same binds on either.

mod macros;
mod pool;
pub mod statistics;

pub use pool::{
    Backend, Conn, ConnRef, Db, DbConn, DbTx, PgConnRef, PgDb, SqliteDb, StoreError, WarmUp, WritePriority,
};

/// Whether a sqlx error is a unique-constraint violation (same on both backends).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern and wraps it as a substring match.
pub fn like_contains(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for ch in needle.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// PostgreSQL: `UNNEST($first::type[], ...) AS alias(name, ...)` over `columns` (name, element type):
/// one array parameter per column, so a statement of any number of rows is one prepared statement.
pub fn pg_unnest(alias: &str, columns: &[(&str, &str)], first: usize) -> String {
    let arrays: Vec<String> =
        columns.iter().enumerate().map(|(i, (_, ty))| format!("${}::{ty}[]", first + i)).collect();
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    format!("UNNEST({}) AS {alias}({})", arrays.join(", "), names.join(", "))
}

/// Adds one parameter to PostgreSQL arguments built by hand (statements assembled from shared parts).
pub fn pg_push<T>(args: &mut sqlx::postgres::PgArguments, value: T) -> Result<(), StoreError>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + 'static,
{
    use sqlx::Arguments;
    args.add(value).map_err(|e| StoreError::Sqlx(sqlx::Error::Encode(e)))
}

/// `($1, ..., $k), ($k+1, ...)`: `rows` tuples of `columns` numbered placeholders, each followed by
/// `tail(row)` inside its parentheses (constants, or a placeholder shared by every row).
pub fn placeholders(rows: usize, columns: usize, tail: impl Fn(usize) -> String) -> String {
    let mut sql = String::with_capacity(rows * (columns * 5 + 4));
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(r * columns + c + 1).to_string());
        }
        sql.push_str(&tail(r));
        sql.push(')');
    }
    sql
}
