//! Storage: one `Db` enum of pools (SQLite or PostgreSQL, chosen by URL scheme), connections and
//! transactions that repositories use without caring which backend runs, and the query macros that
//! run the same SQL text with the same binds on either.

mod macros;
mod pool;
pub mod statistics;

pub use pool::{Backend, Conn, ConnRef, Db, DbConn, DbTx, SqliteDb, StoreError, WritePriority};

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
