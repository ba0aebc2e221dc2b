//! The batcher: the one consumer of the pollers' channel.

use super::durable;
use super::sink::PollSink;
use super::state::Shared;
use historian_model::Reading;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Offers each poll to the poll sinks as it arrives, collects polls into batches (by size
/// or age, whichever comes first) and hands each batch to the durable sink.
pub(super) async fn batch(
    mut rx: mpsc::Receiver<Vec<Reading>>,
    sh: &Shared,
    sinks: &[Arc<dyn PollSink>],
    wtx: mpsc::Sender<Vec<Reading>>,
) {
    let arrived = |poll: &[Reading]| {
        for sink in sinks {
            sink.offer(poll);
        }
    };
    let cap = sh.cfg.batch_size;
    let mut batch: Vec<Reading> = Vec::with_capacity(cap);
    let mut open = true;
    while open {
        let first = tokio::select! {
            msg = rx.recv() => msg,
            () = sh.closing.cancelled(), if sh.deadline.get().is_none() => {
                sh.start_closing();
                continue;
            }
        };
        let Some(first) = first else {
            break;
        };
        arrived(&first);
        batch.extend(first);
        let deadline = Instant::now() + sh.cfg.batch_max_age;
        while batch.len() < cap {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(m) => {
                        arrived(&m);
                        batch.extend(m);
                    }
                    None => {
                        open = false;
                        break;
                    }
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let full = std::mem::replace(&mut batch, Vec::with_capacity(cap));
        durable::dispatch(sh, &wtx, full).await;
    }
    sh.start_closing();
}
