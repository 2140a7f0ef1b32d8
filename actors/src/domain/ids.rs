//! Identifiers. `OrgId` is the tenant scope every repository method demands; it can be made only
//! through [`OrgId::assume_verified`], whose use clippy forbids outside the modules that verify a
//! tenant (authentication, webhook number lookup, stored-row recovery). See `clippy.toml`.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// An organization id that some trusted layer has verified the caller may act in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct OrgId(Uuid);

impl OrgId {
    /// Makes a tenant scope from a raw id. Only the auth layer (a verified token), the webhook
    /// (a number found by its `phone_number_id`) and recovery of stored rows may call this; clippy's
    /// `disallowed-methods` rejects any other caller.
    pub fn assume_verified(id: Uuid) -> Self {
        OrgId(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

// Deserializing an OrgId would let any JSON body mint a tenant scope; only the actors' own persisted
// messages need it, and they go through `assume_verified` explicitly.
impl<'de> Deserialize<'de> for OrgId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[allow(clippy::disallowed_methods)]
        Uuid::deserialize(d).map(OrgId::assume_verified)
    }
}

/// A new time-ordered id (UUIDv7): ids sort by creation time, which cursors and inbox order rely on.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
