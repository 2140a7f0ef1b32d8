//! The dual-backend query macros. Each expands to a `match` over the connection's backend with the
//! same SQL text and binds in both arms (only one arm runs, so moved binds are fine). Write `$1..$n`
//! placeholders; both drivers accept them.
//!
//! - `sql_exec!(conn, "SQL", binds...)` -> `Result<u64, sqlx::Error>` (rows affected)
//! - `sql_as!(conn, fetch_one | fetch_optional | fetch_all, RowType, "SQL", binds...)`
//! - `sql_scalar!(conn, fetch_one | fetch_optional | fetch_all, ScalarType, "SQL", binds...)`

#[macro_export]
macro_rules! sql_exec {
    ($conn:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        match $crate::db::Conn::conn($conn) {
            $crate::db::ConnRef::Sqlite(c) => sqlx::query($sql)$(.bind($bind))*
                .execute(&mut *c).await.map(|r| r.rows_affected()),
            $crate::db::ConnRef::Postgres(c) => sqlx::query($sql)$(.bind($bind))*
                .execute(&mut *c).await.map(|r| r.rows_affected()),
        }
    };
}

#[macro_export]
macro_rules! sql_as {
    ($conn:expr, $method:ident, $row:ty, $sql:expr $(, $bind:expr)* $(,)?) => {
        match $crate::db::Conn::conn($conn) {
            $crate::db::ConnRef::Sqlite(c) => sqlx::query_as::<_, $row>($sql)$(.bind($bind))*
                .$method(&mut *c).await,
            $crate::db::ConnRef::Postgres(c) => sqlx::query_as::<_, $row>($sql)$(.bind($bind))*
                .$method(&mut *c).await,
        }
    };
}

#[macro_export]
macro_rules! sql_scalar {
    ($conn:expr, $method:ident, $ty:ty, $sql:expr $(, $bind:expr)* $(,)?) => {
        match $crate::db::Conn::conn($conn) {
            $crate::db::ConnRef::Sqlite(c) => sqlx::query_scalar::<_, $ty>($sql)$(.bind($bind))*
                .$method(&mut *c).await,
            $crate::db::ConnRef::Postgres(c) => sqlx::query_scalar::<_, $ty>($sql)$(.bind($bind))*
                .$method(&mut *c).await,
        }
    };
}

/// The escape hatch for a real dialect difference: `sql_dialect_as!(conn, fetch_all, RowType,
/// postgres: "SQL", sqlite: "SQL", binds...)`, the same binds for both texts.
#[macro_export]
macro_rules! sql_dialect_as {
    ($conn:expr, $method:ident, $row:ty, postgres: $pg:expr, sqlite: $lite:expr $(, $bind:expr)* $(,)?) => {
        match $crate::db::Conn::conn($conn) {
            $crate::db::ConnRef::Sqlite(c) => sqlx::query_as::<_, $row>($lite)$(.bind($bind))*
                .$method(&mut *c).await,
            $crate::db::ConnRef::Postgres(c) => sqlx::query_as::<_, $row>($pg)$(.bind($bind))*
                .$method(&mut *c).await,
        }
    };
}
