//! How the model's values map to PostgreSQL columns.

use crate::store::StoreError;
use historian_model::RegisterRef;

/// The `register_address` column value of a register (a six-digit reference always fits).
pub(crate) fn register_to_db(register: RegisterRef) -> i32 {
    i32::try_from(register.reference()).unwrap_or(i32::MAX)
}

/// The register of a `register_address` column value.
pub(crate) fn register_from_db(reference: i32) -> Result<RegisterRef, StoreError> {
    u32::try_from(reference)
        .map_err(|_| StoreError::Corrupt(format!("register_address {reference}")))
        .and_then(|r| RegisterRef::from_reference(r).map_err(StoreError::Corrupt))
}
