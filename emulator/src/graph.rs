//! Microsoft Graph subset on the main port: `GET /v1.0/servicePrincipals?$filter=appId eq '…'`,
//! which resolves a service principal's appId (client id) to its object id. The token's
//! audience must be the Graph resource (`microsoftGraphResourceId` in the cloud metadata).
//! Error shape `{"error":{"code","message"}}` as Graph answers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::state::{PrincipalKind, Shared};

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message, "innerError": {"date": crate::state::rfc3339_now()}}})),
    )
        .into_response()
}

pub async fn service_principals(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let Some(tok) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty.",
        );
    };
    let Some(claims) = crate::entra::verify(&s, tok.trim()) else {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience or expired token.",
        );
    };
    let aud = claims["aud"].as_str().unwrap_or("");
    if aud.trim_end_matches('/') != s.info.graph_url.trim_end_matches('/') {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience.",
        );
    }
    let q: HashMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let filter = q.get("$filter").map(String::as_str).unwrap_or("").trim();
    let Some(app_id) = filter
        .strip_prefix("appId eq '")
        .and_then(|r| r.strip_suffix('\''))
    else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            &format!("Unsupported or invalid query filter clause specified for property of resource 'ServicePrincipal': '{filter}'."),
        );
    };
    let v: Vec<Value> = s
        .principals
        .iter()
        .filter(|p| p.client_id.eq_ignore_ascii_case(app_id))
        .map(|p| {
            json!({
                "id": p.object_id,
                "appId": p.client_id,
                "displayName": p.name,
                "servicePrincipalType": if p.kind == PrincipalKind::ManagedIdentity { "ManagedIdentity" } else { "Application" },
                "accountEnabled": true,
            })
        })
        .collect();
    Json(json!({
        "@odata.context": format!("{}v1.0/$metadata#servicePrincipals", s.info.graph_url),
        "value": v,
    }))
    .into_response()
}
