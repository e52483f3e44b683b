//! CR-9: personal data is shown unmasked only to a caller who may see it and says why, and
//! every unmasked read is written to the audit trail before the answer leaves.

use chrono::{DateTime, Utc};

use super::CustomerFields;

/// The longest stated purpose kept.
pub const MAX_PURPOSE: usize = 200;

/// A caller sees personal data only with the scope to see it and a stated purpose, because
/// the audit trail must say why.
pub fn sees_personal_data(has_scope: bool, purpose: &str) -> bool {
    has_scope && !purpose.trim().is_empty()
}

/// The personal fields `fields` holds, as the audit trail names them.
pub fn present_personal_fields(f: &CustomerFields) -> Vec<&'static str> {
    [
        ("phone", !f.phone.is_empty()),
        ("email", !f.email.is_empty()),
        ("id_number", !f.id_number.is_empty()),
        ("contacts", !f.contacts.is_empty()),
        ("addresses", !f.addresses.is_empty()),
    ]
    .into_iter()
    .filter(|(_, present)| *present)
    .map(|(name, _)| name)
    .collect()
}

/// One unmasked read, as the trail keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub actor_id: String,
    pub actor_role: String,
    pub customer_id: String,
    pub fields: Vec<String>,
    pub purpose: String,
    pub rpc: String,
    pub read_at: DateTime<Utc>,
    pub trace_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cr9_unmasked_only_with_the_scope_and_a_purpose() {
        assert!(sees_personal_data(true, "confirm the delivery address"));
        assert!(!sees_personal_data(true, "  "), "a purpose is required");
        assert!(
            !sees_personal_data(false, "curious"),
            "the scope is required"
        );
    }
}
