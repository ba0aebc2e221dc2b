//! Server-Sent Events of new readings as they are polled, filtered by device and register.

use crate::api::error::{ApiError, PROBLEM_JSON, Problem};
use crate::api::extract::Query;
use crate::api::params::list;
use crate::api::readings::{RegisterReadingResponse, range_series};
use crate::api::state::AppState;
use crate::api::stored::find_devices;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use historian_model::RegisterRef;
use serde::Deserialize;
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use utoipa::IntoParams;

/// How often an idle stream sends a comment, so proxies keep the connection open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Which readings a stream carries.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Devices, comma-separated ids or names (default: all).
    pub device: Option<String>,
    /// Registers, comma-separated references (400001) or names (default: all).
    #[param(schema_with = crate::api::params::register_list_schema)]
    pub register: Option<String>,
}

/// New readings as Server-Sent Events: an event `readings` per poll whose `data` is a JSON
/// array of readings (the fields of `RegisterReadingResponse`). A client too slow to keep
/// up gets an event `lagged` whose `data` is the number of polls it missed. At most
/// `api.max_streams` streams are open at once; one more is answered 503.
#[utoipa::path(get, path = "/api/register_readings/stream", tag = "readings",
    params(StreamQuery),
    responses(
        (status = 200, description = "An endless event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed parameter", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such device or register", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "As many event streams open as allowed (api.max_streams)", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn stream_readings(
    State(s): State<AppState>,
    Query(q): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Held by the stream until it ends, so the cap counts open streams.
    let slot = Arc::clone(&s.streams).try_acquire_owned().map_err(|_| {
        ApiError::Unavailable(format!(
            "{} event streams are open, as many as allowed (api.max_streams); try again later",
            s.settings.max_streams
        ))
    })?;
    let device_keys = list(q.device.as_deref());
    let register_keys = list(q.register.as_deref());
    // By stored identity, as history is: a disabled device's stream is quiet, not a 404.
    let records = find_devices(&s.registry, &*s.store, &device_keys).await?;
    // None: everything (no lookup per reading).
    let wanted: Option<HashSet<(i64, RegisterRef)>> =
        if device_keys.is_empty() && register_keys.is_empty() {
            None
        } else {
            Some(
                range_series(&records, &register_keys)?
                    .into_iter()
                    .map(|x| (x.device_id, x.register))
                    .collect(),
            )
        };
    let events = BroadcastStream::new(s.latest.subscribe()).filter_map(move |item| {
        let event = match item {
            Ok(batch) => {
                let chosen: Vec<RegisterReadingResponse> = batch
                    .iter()
                    .filter(|r| {
                        wanted
                            .as_ref()
                            .is_none_or(|w| w.contains(&(r.device_id, r.register_address)))
                    })
                    .map(|r| RegisterReadingResponse::from_reading(r, None))
                    .collect();
                (!chosen.is_empty()).then(|| {
                    Event::default()
                        .event("readings")
                        .json_data(&chosen)
                        .unwrap_or_else(|e| {
                            Event::default().comment(format!("encoding failed: {e}"))
                        })
                })
            }
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                Some(Event::default().event("lagged").data(n.to_string()))
            }
        };
        let _held = &slot;
        std::future::ready(event.map(Ok))
    });
    // Ends with the server, so a graceful shutdown is not held open by a client.
    let stop = s.shutdown.clone();
    let events = events.take_until(async move { stop.cancelled().await });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
