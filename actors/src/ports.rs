//! Ports: what the actors need from the outside world. `src/` implements them; tests fake them.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Reads the current time. The flow engine never reads a clock; actors ask this port.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock, at store precision.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        crate::domain::time::to_store_precision(Utc::now())
    }
}

/// Makes new ids.
pub trait IdGen: Send + Sync + 'static {
    fn new_id(&self) -> Uuid;
}

/// UUIDv7 ids.
#[derive(Clone, Copy, Debug, Default)]
pub struct UuidV7;

impl IdGen for UuidV7 {
    fn new_id(&self) -> Uuid {
        crate::domain::ids::new_id()
    }
}
