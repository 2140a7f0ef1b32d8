//! A field that can be absent (keep), `null` (clear) or a value (set), for partial updates.

use serde::{Deserialize, Deserializer};

/// Use with `#[serde(default, deserialize_with = "crate::http::optional::nullable")]` on an
/// `Option<Option<T>>`: absent -> `None`, `null` -> `Some(None)`, a value -> `Some(Some(v))`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
