//! Field validation: request bodies implement [`Validate`]; failures collect [`FieldErrors`] and
//! become a 422 naming every bad field.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError { field: field.to_string(), message: message.into() });
    }

    /// Records `message` for `field` unless `ok`.
    pub fn check(&mut self, ok: bool, field: &str, message: impl Into<String>) {
        if !ok {
            self.add(field, message);
        }
    }

    /// Checks a required text's trimmed length is within `min..=max` characters.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let len = value.trim().chars().count();
        if len < min {
            self.add(
                field,
                if min <= 1 { "must not be empty".to_string() } else { format!("must be at least {min} characters") },
            );
        } else if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        }
    }

    /// Like [`Self::text`] for an optional field.
    pub fn opt_text(&mut self, field: &str, value: Option<&str>, min: usize, max: usize) {
        if let Some(v) = value {
            self.text(field, v, min, max);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// Ends a [`Validate`] implementation.
    pub fn finish(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    pub fn into_result(self) -> Result<(), super::ApiError> {
        if self.0.is_empty() { Ok(()) } else { Err(super::ApiError::Validation(self)) }
    }
}

/// Semantic checks on a well-formed request body.
pub trait Validate {
    fn validate(&self) -> Result<(), FieldErrors> {
        Ok(())
    }
}

impl Validate for serde_json::Value {}

/// A pragmatic email check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && s.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A slug: 2-63 lowercase letters, digits and dashes, not starting or ending with a dash.
pub fn is_slug(s: &str) -> bool {
    (2..=63).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@example.com"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in ["", "a", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@.co", "a@co."] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn slugs() {
        assert!(is_slug("acme-2"));
        for bad in ["A", "a", "-ab", "ab-", "a_b", "ab cd"] {
            assert!(!is_slug(bad), "{bad}");
        }
    }
}
