//! How driver errors become store errors.

use crate::store::{ErrorSource, StoreError, error_chain};

/// A driver error as a store error, its causes flattened into the message.
pub(crate) fn db_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    // SQLSTATE classes 22 (data exception) and 23 (integrity constraint) blame the rows,
    // not the connection: retrying them cannot help.
    let refused = (&e as &dyn std::error::Error)
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(|pg| pg.code())
        .is_some_and(|c| c.code().starts_with("22") || c.code().starts_with("23"));
    let message = error_chain(&e);
    let source: Option<ErrorSource> = Some(Box::new(e));
    if refused {
        StoreError::Refused { message, source }
    } else {
        StoreError::Database { message, source }
    }
}
