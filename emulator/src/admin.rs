//! The admin API under `/_emulator/` on the main port, for scripts.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::faults::Fault;
use crate::state::Shared;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/info", get(info))
        .route("/_emulator/requests", get(requests).delete(clear_requests))
        .route("/_emulator/faults", post(add_fault).delete(clear_faults))
        .route("/_emulator/registries/{name}/flags", post(set_flags))
        .route("/_emulator/federated-token", post(federated_token))
        .route(
            "/_emulator/principals/{object_id}/replication-delay",
            post(replication_delay),
        )
        .route(
            "/_emulator/device-codes/{user_code}/approve",
            post(approve_device_code),
        )
        .route(
            "/_emulator/device-codes/{user_code}/decline",
            post(decline_device_code),
        )
        .route("/_emulator/users/{object_id}/revoke", post(revoke_user))
}

async fn approve_device_code(
    State(s): State<Arc<Shared>>,
    Path(user_code): Path<String>,
) -> StatusCode {
    if crate::user::settle_device_code(&s, &user_code, true) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn decline_device_code(
    State(s): State<Arc<Shared>>,
    Path(user_code): Path<String>,
) -> StatusCode {
    if crate::user::settle_device_code(&s, &user_code, false) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

/// Revokes every refresh token of the user: `{"revoked": N}`.
async fn revoke_user(State(s): State<Arc<Shared>>, Path(object_id): Path<String>) -> Json<Value> {
    Json(json!({"revoked": crate::user::revoke_user(&s, &object_id)}))
}

async fn info(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(serde_json::to_value(&s.info).unwrap_or_default())
}

async fn requests(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(serde_json::to_value(&s.world().log).unwrap_or_default())
}

async fn clear_requests(State(s): State<Arc<Shared>>) -> StatusCode {
    s.world().log.clear();
    StatusCode::NO_CONTENT
}

async fn add_fault(State(s): State<Arc<Shared>>, Json(f): Json<Fault>) -> StatusCode {
    s.world().faults.push(f);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(s): State<Arc<Shared>>) -> StatusCode {
    s.world().faults.clear();
    StatusCode::NO_CONTENT
}

/// Body: a JSON object of flags, e.g. `{"publicNetworkAccess": "Disabled"}`.
async fn set_flags(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    Json(flags): Json<serde_json::Map<String, Value>>,
) -> Response {
    if s.registry(&name).is_none() {
        return (StatusCode::NOT_FOUND, "unknown registry").into_response();
    }
    let mut w = s.world();
    let m = w.flags.entry(name).or_default();
    for (k, v) in flags {
        m.insert(k, v);
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct FedReq {
    subject: Option<String>,
    audience: Option<String>,
    lifetime_secs: Option<u64>,
}

/// Mints a federated token; body (optional) `{"subject","audience","lifetime_secs"}`.
async fn federated_token(State(s): State<Arc<Shared>>, body: axum::body::Bytes) -> Json<Value> {
    let r: FedReq = serde_json::from_slice(&body).unwrap_or_default();
    let t = crate::entra::federated_token(
        &s,
        r.subject.as_deref().unwrap_or(crate::seed::WI_SUBJECT),
        r.audience.as_deref().unwrap_or(crate::seed::WI_AUDIENCE),
        r.lifetime_secs.unwrap_or(24 * 3600),
    );
    Json(json!({"token": t}))
}

#[derive(serde::Deserialize)]
struct DelayReq {
    times: u32,
}

/// Body `{"times": N}`: the next N role-assignment PUTs for this principal answer
/// PrincipalNotFound (Entra replication delay).
async fn replication_delay(
    State(s): State<Arc<Shared>>,
    Path(object_id): Path<String>,
    Json(r): Json<DelayReq>,
) -> StatusCode {
    s.world()
        .replication_delay
        .insert(object_id.to_ascii_lowercase(), r.times);
    StatusCode::NO_CONTENT
}
