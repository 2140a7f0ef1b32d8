//! Time as the store keeps it: UTC, truncated to microseconds so SQLite and PostgreSQL agree.

use chrono::{DateTime, SubsecRound, Utc};

/// Truncates to microseconds, the precision PostgreSQL keeps.
pub fn to_store_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}
