//! Start a discovery, follow it, cancel it. Starting one is a write: it needs the bearer
//! token (or a provably local caller) like every write, and is recorded in the audit trail
//! before the first request goes out; a discovery that cannot be recorded is not started.

use super::jobs::{MAX_RUNNING, Refusal};
use super::request::DiscoverRequest;
use super::response::DiscoverJobResponse;
use crate::api::audit::Peer;
use crate::api::auth::WriteAccess;
use crate::api::error::{ApiError, InvalidField, PROBLEM_JSON, Problem};
use crate::api::extract::Body;
use crate::api::state::AppState;
use crate::audit::{self, action};
use crate::discover::{DiscoverCommandError, device_input, options};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The options' problems as the API's 422: the target's at `target`.
fn invalid(e: DiscoverCommandError) -> ApiError {
    let detail = match e {
        DiscoverCommandError::Target(t) => t.problems.join("; "),
        other => other.to_string(),
    };
    ApiError::Unprocessable(vec![InvalidField {
        path: "target".into(),
        detail,
    }])
}

/// Starts a read-only discovery of a device in the background (function codes 1-4 and
/// 43/14 only, never a write) and answers at once with the job to follow at
/// `GET /api/discover/{job}`. At most two run at once, one per target.
#[utoipa::path(post, path = "/api/discover", tag = "discover",
    security((), ("bearer" = [])),
    request_body = DiscoverRequest,
    responses(
        (status = 202, description = "Started; `Location` names the job", body = DiscoverJobResponse,
            headers(("location" = String, description = "The job's URL"))),
        (status = 400, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "Token missing or wrong", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "A discovery of this target is running", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Invalid fields, each with its path", body = Problem, content_type = PROBLEM_JSON),
        (status = 429, description = "As many discoveries run as may; wait for one to end or cancel one", body = Problem, content_type = PROBLEM_JSON),
        (status = 500, description = "The audit trail could not record it (not started)", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn start_discovery(
    WriteAccess(caller): WriteAccess,
    peer: Peer,
    State(s): State<AppState>,
    request: Result<Body<DiscoverRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let request = request?.value;
    let args = request.args().map_err(ApiError::Unprocessable)?;
    let opts = options(&args).map_err(invalid)?;
    let template = device_input(&args, "discovered", &[]);
    let entry = peer.actor(caller).entry(
        action::DISCOVER_START,
        &args.target,
        None,
        Some(audit::json(&request)),
    );
    let kept = s.store.append_audit(&entry).await.inspect_err(|e| {
        tracing::error!(target: audit::TARGET, error = %e, ?entry,
            "a discovery was not started: the audit trail could not record it");
    })?;
    audit::log(&kept);
    let id = s
        .discoveries
        .start(&args.target, template, opts, &s.shutdown)
        .map_err(|r| match r {
            Refusal::SameTarget(id) => ApiError::Conflict(format!(
                "a discovery of {} is running: GET /api/discover/{id} follows it, DELETE cancels it",
                args.target
            )),
            Refusal::Busy(ids) => ApiError::TooMany(format!(
                "{MAX_RUNNING} discoveries are running ({}), as many as may at once; wait for one to end or cancel one with DELETE /api/discover/{{job}}",
                ids.join(", ")
            )),
        })?;
    let view = s
        .discoveries
        .view(&id)
        .ok_or_else(|| ApiError::NotFound(format!("discovery {id} ended and was forgotten")))?;
    let location = format!("/api/discover/{id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(DiscoverJobResponse::from(view)),
    )
        .into_response())
}

/// A discovery's state and progress and, once finished, what it found: units,
/// identification, readable ranges, SunSpec models and the proposed map (each register
/// with its confidence and evidence, and as a device body for `POST /api/devices`).
/// Finished discoveries are kept for an hour.
#[utoipa::path(get, path = "/api/discover/{job}", tag = "discover",
    params(("job" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = DiscoverJobResponse),
        (status = 404, description = "No such job (or forgotten)", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn discovery(
    State(s): State<AppState>,
    Path(job): Path<String>,
) -> Result<Json<DiscoverJobResponse>, ApiError> {
    s.discoveries
        .view(&job)
        .map(|v| Json(v.into()))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no discovery {job:?} (finished ones are kept for an hour)"
            ))
        })
}

/// Cancels a running discovery (its connections close at once), or forgets a finished
/// one.
#[utoipa::path(delete, path = "/api/discover/{job}", tag = "discover",
    security((), ("bearer" = [])),
    params(("job" = String, Path, description = "The job's id")),
    responses(
        (status = 204, description = "Cancelled or forgotten"),
        (status = 401, description = "Token missing or wrong", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such job", body = Problem, content_type = PROBLEM_JSON)))]
pub async fn cancel_discovery(
    _access: WriteAccess,
    State(s): State<AppState>,
    Path(job): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.discoveries
        .cancel(&job)
        .map(|()| StatusCode::NO_CONTENT)
        .ok_or_else(|| ApiError::NotFound(format!("no discovery {job:?}")))
}
