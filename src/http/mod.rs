//! HTTP plumbing shared by every route: the error model, request ids and access logs, the strict
//! JSON extractor, field validation and cursor pagination.

pub mod error;
pub mod json;
pub mod optional;
pub mod pagination;
pub mod request;
pub mod upgrade;
pub mod validate;

pub use error::ApiError;
pub use json::Json;
pub use pagination::{ListQuery, Page};
pub use validate::{FieldErrors, Validate};
