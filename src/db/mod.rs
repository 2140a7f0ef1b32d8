//! Storage: one `Db` enum of pools (SQLite or PostgreSQL, chosen by URL scheme), connections and
//! transactions that repositories use without caring which backend runs, and the query macros that
//! run the same SQL text with the same binds on either.

mod macros;
mod pool;

pub use pool::{Backend, Conn, ConnRef, Db, DbConn, DbTx, StoreError};

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
