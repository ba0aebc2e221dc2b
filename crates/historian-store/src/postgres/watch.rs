//! The device watch on PostgreSQL: `LISTEN historian_devices` on a session outside the
//! pool, re-opened with back-off.

use super::connection::PostgresStore;
use super::tls::PgLink;
use crate::store::StoreError;
use historian_retry::RetryPolicy;
use std::time::Duration;

/// Waits between attempts to open the device watch session: 200 ms doubling up to 10 s.
const LISTEN_RETRY: RetryPolicy =
    RetryPolicy::exponential(Duration::from_millis(200), Duration::from_secs(10));

/// Holds a session that `LISTEN`s for device catalogue changes and forwards each as a
/// signal; reconnects with back-off when the server goes away, and signals after every
/// reconnect because a change may have slipped by meanwhile.
async fn listen_devices(link: PgLink, tx: tokio::sync::mpsc::Sender<()>) {
    use futures_util::StreamExt;
    let mut waits = LISTEN_RETRY.backoff();
    while !tx.is_closed() {
        let (client, mut conn) = match link.config().connect(link.tls()).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "device watch cannot connect; retrying");
                tokio::time::sleep(waits.next_delay()).await;
                continue;
            }
        };
        let (ntx, mut nrx) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
            while let Some(Ok(m)) = messages.next().await {
                if let tokio_postgres::AsyncMessage::Notification(_) = m
                    && ntx.send(()).is_err()
                {
                    break;
                }
            }
        });
        if let Err(e) = client.batch_execute("LISTEN historian_devices").await {
            tracing::warn!(error = %e, "LISTEN historian_devices failed; retrying");
            driver.abort();
            tokio::time::sleep(waits.next_delay()).await;
            continue;
        }
        waits.reset();
        // Changes made while not listening (before the first LISTEN, or during an outage)
        // sent no notification: signal once so the watcher reloads.
        let _ = tx.try_send(());
        loop {
            tokio::select! {
                got = nrx.recv() => match got {
                    // A full channel already holds a pending signal: one reload covers both.
                    Some(()) => { let _ = tx.try_send(()); }
                    None => break,
                },
                () = tx.closed() => {
                    driver.abort();
                    return;
                }
            }
        }
        tracing::warn!("device watch lost its PostgreSQL session; reconnecting");
    }
}

/// Signals each change of the device catalogue (and once per session opened).
pub(super) async fn watch(
    store: &PostgresStore,
) -> Result<tokio::sync::mpsc::Receiver<()>, StoreError> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(listen_devices(store.link.clone(), tx));
    Ok(rx)
}
