//! Authentication and authorization: password hashing, JWTs, the permission matrix, the
//! authenticated principal (the only maker of a request's `OrgId`) and the login rate limiter.

pub mod jwt;
pub mod password;
pub mod permissions;
pub mod principal;
pub mod rate_limit;

pub use permissions::Permission;
pub use principal::Principal;
