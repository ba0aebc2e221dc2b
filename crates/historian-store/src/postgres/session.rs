//! What every pooled session sets on connecting: WAL compression of full-page images.
//!
//! After each checkpoint the first change of every page writes the whole page to the WAL.
//! Live ingest changes the newest index leaf of every series in every batch, so at a large
//! fleet each checkpoint is followed by one full page per series: the WAL per reading
//! doubles or triples, reaches `max_wal_size` sooner, forces the next checkpoint, and the
//! server falls behind. Compressing those images in our own sessions shrinks them to about
//! a third, which holds that cycle off to higher rates without a change to the server's
//! configuration (near the server's limit it still closes, later).

use super::connection::db_err;
use crate::options::WalCompression;
use crate::store::StoreError;
use tokio_postgres::error::SqlState;

/// Methods tried, best first, when the choice is left to the historian.
const AUTO_METHODS: [&str; 2] = ["lz4", "pglz"];

/// The `SET` each new pooled session runs, decided once on the opening session: `None`
/// when the server's setting stays.
pub(super) async fn wal_compression_statement(
    client: &tokio_postgres::Client,
    wanted: WalCompression,
) -> Result<Option<String>, StoreError> {
    let methods: Vec<&'static str> = match wanted {
        WalCompression::Server => return Ok(None),
        WalCompression::Method(m) => vec![m],
        WalCompression::Auto => {
            let server: String = client
                .query_one("SELECT current_setting('wal_compression')", &[])
                .await
                .map_err(db_err)?
                .try_get(0)
                .map_err(db_err)?;
            if server != "off" {
                return Ok(None);
            }
            AUTO_METHODS.to_vec()
        }
    };
    let mut refusals = Vec::new();
    for method in methods {
        let statement = format!("SET wal_compression = '{method}'");
        match client.batch_execute(&statement).await {
            Ok(()) => {
                client
                    .batch_execute("RESET wal_compression")
                    .await
                    .map_err(db_err)?;
                tracing::info!(method, "WAL compression of the historian's sessions");
                return Ok(Some(statement));
            }
            Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                refusals.push(format!(
                    "{method}: the role may not set wal_compression (superuser, or \
                     GRANT SET ON PARAMETER wal_compression)"
                ));
                break;
            }
            Err(e) if e.code() == Some(&SqlState::INVALID_PARAMETER_VALUE) => {
                refusals.push(format!("{method}: the server was built without it"));
            }
            Err(e) => return Err(db_err(e)),
        }
    }
    let reason = refusals.join("; ");
    if let WalCompression::Method(m) = wanted {
        return Err(StoreError::Open {
            what: "storage.wal_compression".into(),
            reason: format!("{m} cannot be used: {reason}"),
            source: None,
        });
    }
    tracing::info!(
        reason,
        "WAL compression stays off: full-page images after checkpoints are written whole"
    );
    Ok(None)
}
