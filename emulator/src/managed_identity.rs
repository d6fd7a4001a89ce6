//! Managed identity endpoints, served over plain http as Azure serves them:
//! - App Service / Container Apps / Functions: `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=…`
//!   with the `X-IDENTITY-HEADER` secret (learn.microsoft.com "Managed identities for App Service",
//!   REST protocol section); `expires_on` is unix seconds as a string.
//! - VM instance metadata service: `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=…`
//!   with `Metadata: true` (learn.microsoft.com "How to use managed identities on a VM to acquire
//!   an access token"); the error shape is `{"error","error_description"}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::entra::{audience_for, invalid_resource_msg, mint};
use crate::state::{Principal, PrincipalKind, Shared};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/msi/token", get(app_service))
        .route("/metadata/identity/oauth2/token", get(imds))
}

fn err(status: StatusCode, error: &str, desc: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": desc})),
    )
        .into_response()
}

/// Picks the identity: the system-assigned one by default, else the user-assigned one named
/// by client id, object (principal) id or ARM resource id.
fn pick<'a>(s: &'a Shared, q: &HashMap<String, String>, keys: [&str; 3]) -> Option<&'a Principal> {
    let mis = || {
        s.principals
            .iter()
            .filter(|p| p.kind == PrincipalKind::ManagedIdentity)
    };
    if let Some(v) = q.get(keys[0]) {
        return mis().find(|p| p.client_id.eq_ignore_ascii_case(v));
    }
    if let Some(v) = q.get(keys[1]) {
        return mis().find(|p| p.object_id.eq_ignore_ascii_case(v));
    }
    if let Some(v) = q.get(keys[2]) {
        return mis().find(|p| {
            p.mi_resource_id
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(v))
        });
    }
    mis().find(|p| p.client_id == s.info.system_mi.client_id)
}

async fn app_service(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match headers.get("x-identity-header").and_then(|v| v.to_str().ok()) {
        None => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"statusCode": 400, "message": "X-IDENTITY-HEADER header is missing."})),
            )
                .into_response()
        }
        Some(h) if h != s.info.identity_header => {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"statusCode": 401, "message": "Unauthorized: X-IDENTITY-HEADER is invalid."})),
            )
                .into_response()
        }
        _ => {}
    }
    if q.get("api-version").map(String::as_str) != Some("2019-08-01") {
        return err(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "api-version must be 2019-08-01",
        );
    }
    let Some(resource) = q.get("resource") else {
        return err(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required query parameter resource not specified",
        );
    };
    let Some(p) = pick(&s, &q, ["client_id", "principal_id", "mi_res_id"]) else {
        return err(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Identity not found",
        );
    };
    let Some(aud) = audience_for(&s, resource) else {
        return err(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            &format!("AADSTS500011: {}", invalid_resource_msg(&s, resource)),
        );
    };
    let (t, exp) = mint(&s, p, &aud, "2");
    Json(json!({
        "access_token": t,
        "expires_on": exp.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": p.client_id,
    }))
    .into_response()
}

async fn imds(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return err(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required metadata header not specified",
        );
    }
    if !q.contains_key("api-version") {
        return err(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required query variable 'api-version' is missing",
        );
    }
    let Some(resource) = q.get("resource") else {
        return err(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required query parameter resource not specified",
        );
    };
    let Some(p) = pick(&s, &q, ["client_id", "object_id", "msi_res_id"]) else {
        return err(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Identity not found",
        );
    };
    let Some(aud) = audience_for(&s, resource) else {
        return err(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            &format!("AADSTS500011: {}", invalid_resource_msg(&s, resource)),
        );
    };
    let (t, exp) = mint(&s, p, &aud, "2");
    let nbf = exp - s.entra_lifetime;
    Json(json!({
        "access_token": t,
        "refresh_token": "",
        "expires_in": s.entra_lifetime.to_string(),
        "expires_on": exp.to_string(),
        "ext_expires_in": s.entra_lifetime.to_string(),
        "not_before": nbf.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": p.client_id,
    }))
    .into_response()
}
