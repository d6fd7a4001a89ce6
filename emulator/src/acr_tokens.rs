//! ACR repository-scoped tokens over ARM: `registries/{r}/scopeMaps/{name}` and
//! `registries/{r}/tokens/{name}` (PUT, GET), `registries/{r}/generateCredentials` (POST),
//! all long-running in the async-operation protocol (`Azure-AsyncOperation` for the
//! status, `Location` for a POST's result), Owner or Contributor required to write.
//! Shapes: the ContainerRegistry REST reference (Scope Maps, Tokens, Registries -
//! Generate Credentials), api-version 2023-07-01.

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::arm::{arm_error, forbidden_oid};
use crate::state::{
    rfc3339_now, AcrToken, Operation, Registry, ScopeMap, Shared, TokenPassword, CONTRIBUTOR,
    OWNER, READER, UAA,
};

const PROVIDER: &str = "Microsoft.ContainerRegistry/registries";

fn can_write(s: &Shared, oid: &str, scope: &str) -> bool {
    s.roles_at(oid, scope)
        .iter()
        .any(|r| r == OWNER || r == CONTRIBUTOR)
}

fn can_read(s: &Shared, oid: &str, scope: &str) -> bool {
    s.roles_at(oid, scope)
        .iter()
        .any(|r| [OWNER, CONTRIBUTOR, READER, UAA].contains(&r.as_str()))
}

/// A name ARM accepts for a scope map or token: 5-50 alphanumerics and '-'.
fn valid_name(n: &str) -> bool {
    (5..=50).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A new operation; its status and result URLs.
fn start_operation(s: &Shared, result: Option<Value>) -> (String, String) {
    let id = uuid::Uuid::new_v4().to_string();
    let polls = {
        let mut w = s.world();
        let polls = w.operation_polls;
        w.operations.insert(
            id.clone(),
            Operation {
                polls_left: polls,
                result,
            },
        );
        polls
    };
    let _ = polls;
    let url = |kind: &str| {
        let mut u = url::Url::parse(&s.info.arm_url).expect("arm url");
        u.set_path(&format!(
            "/subscriptions/{}/providers/Microsoft.ContainerRegistry/locations/westeurope/{kind}/{id}",
            s.info.subscription_id
        ));
        u.set_query(Some("api-version=2023-07-01"));
        u.to_string()
    };
    (url("operationStatuses"), url("operationResults"))
}

fn with_headers(mut r: Response, pairs: &[(&'static str, &str)]) -> Response {
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
    r
}

/// `GET …/locations/{loc}/operationStatuses/{id}` and `…/operationResults/{id}`.
pub fn operation(s: &Shared, kind: &str, id: &str) -> Response {
    let mut w = s.world();
    let Some(op) = w.operations.get_mut(id) else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "OperationNotFound",
            &format!("The operation '{id}' was not found."),
        );
    };
    let done = op.polls_left == 0;
    if kind.eq_ignore_ascii_case("operationStatuses") {
        if !done {
            op.polls_left -= 1;
            let r = Json(json!({"id": id, "name": id, "status": "InProgress"})).into_response();
            return with_headers(r, &[("retry-after", "1")]);
        }
        return Json(json!({"id": id, "name": id, "status": "Succeeded", "startTime": rfc3339_now(), "endTime": rfc3339_now()})).into_response();
    }
    if kind.eq_ignore_ascii_case("operationResults") {
        if !done {
            op.polls_left -= 1;
            return with_headers(
                StatusCode::ACCEPTED.into_response(),
                &[("retry-after", "1")],
            );
        }
        return match op.result.clone() {
            Some(v) => Json(v).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        };
    }
    arm_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("No route for operation kind '{kind}'."),
    )
}

fn scope_map_json(m: &ScopeMap) -> Value {
    json!({
        "id": m.id, "name": m.name, "type": format!("{PROVIDER}/scopeMaps"),
        "properties": {
            "description": m.description, "type": "UserDefined", "creationDate": m.created,
            "provisioningState": "Succeeded", "actions": m.actions,
        },
    })
}

fn token_json(t: &AcrToken) -> Value {
    json!({
        "id": t.id, "name": t.name, "type": format!("{PROVIDER}/tokens"),
        "properties": {
            "creationDate": t.created, "provisioningState": "Succeeded",
            "scopeMapId": t.scope_map_id, "status": t.status,
            "credentials": {"passwords": t.passwords.iter().map(|p| json!({
                "name": p.name, "creationTime": p.created, "expiry": p.expiry,
            })).collect::<Vec<_>>()},
        },
    })
}

/// Scope map actions: `repositories/{repo}/{content|metadata}/{read|write|delete}`.
fn valid_action(a: &str) -> bool {
    let Some(rest) = a.strip_prefix("repositories/") else {
        return false;
    };
    let parts: Vec<&str> = rest.rsplitn(3, '/').collect();
    parts.len() == 3
        && !parts[2].is_empty()
        && matches!(
            (parts[1], parts[0]),
            ("content", "read" | "write" | "delete") | ("metadata", "read" | "write")
        )
}

#[allow(clippy::too_many_arguments)]
pub fn child(
    s: &Shared,
    oid: &str,
    method: &Method,
    scope: &str,
    reg: &Registry,
    kind: &str,
    name: &str,
    body: &Bytes,
) -> Response {
    let is_map = kind.eq_ignore_ascii_case("scopeMaps");
    let kind = if is_map { "scopeMaps" } else { "tokens" };
    let id = format!("{}/{kind}/{name}", reg.resource_id);
    let mine = |r: &str, n: &str| r.eq_ignore_ascii_case(&reg.name) && n.eq_ignore_ascii_case(name);
    if *method == Method::GET {
        if !can_read(s, oid, scope) {
            return forbidden_oid(oid, &format!("{PROVIDER}/{kind}/read"), &id);
        }
        let w = s.world();
        let found = if is_map {
            w.scope_maps
                .iter()
                .find(|m| mine(&m.registry, &m.name))
                .map(scope_map_json)
        } else {
            w.tokens
                .iter()
                .find(|t| mine(&t.registry, &t.name))
                .map(token_json)
        };
        return match found {
            Some(v) => Json(v).into_response(),
            None => arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", &format!("The Resource '{PROVIDER}/{}/{kind}/{name}' under resource group '{}' was not found.", reg.name, s.info.resource_group)),
        };
    }
    if *method != Method::PUT {
        return arm_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "Only GET and PUT here.",
        );
    }
    if !can_write(s, oid, scope) {
        return forbidden_oid(oid, &format!("{PROVIDER}/{kind}/write"), &id);
    }
    if !valid_name(name) {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidResourceName",
            &format!("The name '{name}' is invalid: 5-50 alphanumeric characters and '-'."),
        );
    }
    let Ok(b) = serde_json::from_slice::<Value>(body) else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        );
    };
    let p = &b["properties"];
    let now = rfc3339_now();
    let (created, out) = if is_map {
        let actions: Vec<String> = p["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        if actions.is_empty() {
            return arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidScopeMapActions",
                "A scope map needs at least one action.",
            );
        }
        if let Some(bad) = actions.iter().find(|a| !valid_action(a)) {
            return arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidScopeMapActions",
                &format!("The action '{bad}' is not valid."),
            );
        }
        let m = ScopeMap {
            registry: reg.name.clone(),
            name: name.to_string(),
            id: id.clone(),
            description: p["description"].as_str().unwrap_or("").to_string(),
            actions,
            created: now,
        };
        let out = scope_map_json(&m);
        let mut w = s.world();
        let created = match w.scope_maps.iter_mut().find(|x| mine(&x.registry, &x.name)) {
            Some(x) => {
                *x = m;
                false
            }
            None => {
                w.scope_maps.push(m);
                true
            }
        };
        (created, out)
    } else {
        let map_id = p["scopeMapId"].as_str().unwrap_or("").to_string();
        let mut w = s.world();
        if !w
            .scope_maps
            .iter()
            .any(|m| m.id.eq_ignore_ascii_case(&map_id))
        {
            return arm_error(
                StatusCode::BAD_REQUEST,
                "ScopeMapNotFound",
                &format!(
                    "The scope map '{map_id}' was not found in registry {}.",
                    reg.name
                ),
            );
        }
        let status = p["status"].as_str().unwrap_or("enabled").to_string();
        let existing = w.tokens.iter().position(|t| mine(&t.registry, &t.name));
        let t = AcrToken {
            registry: reg.name.clone(),
            name: name.to_string(),
            id: id.clone(),
            scope_map_id: map_id,
            status,
            passwords: existing
                .map(|i| w.tokens[i].passwords.clone())
                .unwrap_or_default(),
            created: now,
        };
        let out = token_json(&t);
        match existing {
            Some(i) => w.tokens[i] = t,
            None => w.tokens.push(t),
        }
        (existing.is_none(), out)
    };
    let (status_url, _) = start_operation(s, None);
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut out = out;
    out["properties"]["provisioningState"] = json!("Creating");
    with_headers(
        (code, Json(out)).into_response(),
        &[("azure-asyncoperation", &status_url)],
    )
}

fn random_password() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{}", &b[..12])
        .replace('a', "A")
        .replace('7', "+")
}

/// `POST …/registries/{r}/generateCredentials`: a new password for a token.
pub fn generate_credentials(
    s: &Shared,
    oid: &str,
    scope: &str,
    reg: &Registry,
    body: &Bytes,
) -> Response {
    if !can_write(s, oid, scope) {
        return forbidden_oid(
            oid,
            &format!("{PROVIDER}/generateCredentials/action"),
            scope,
        );
    }
    let Ok(b) = serde_json::from_slice::<Value>(body) else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
        );
    };
    let token_id = b["tokenId"].as_str().unwrap_or("");
    let pname = b["name"].as_str().unwrap_or("password1");
    if pname != "password1" && pname != "password2" {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidPasswordName",
            "name must be password1 or password2.",
        );
    }
    let expiry = b["expiry"].as_str().map(str::to_string);
    if let Some(e) = &expiry {
        if time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339).is_err() {
            return arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidExpiry",
                &format!("The expiry '{e}' is not an RFC 3339 date-time."),
            );
        }
    }
    let mut w = s.world();
    let Some(t) = w
        .tokens
        .iter_mut()
        .find(|t| t.id.eq_ignore_ascii_case(token_id))
    else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "TokenNotFound",
            &format!(
                "The token '{token_id}' was not found in registry {}.",
                reg.name
            ),
        );
    };
    let pw = TokenPassword {
        name: pname.to_string(),
        value: random_password(),
        created: rfc3339_now(),
        expiry,
    };
    t.passwords.retain(|p| p.name != pname);
    t.passwords.push(pw.clone());
    let result = json!({
        "username": t.name,
        "passwords": [{"name": pw.name, "value": pw.value, "creationTime": pw.created, "expiry": pw.expiry}],
    });
    drop(w);
    let (status_url, result_url) = start_operation(s, Some(result));
    with_headers(
        StatusCode::ACCEPTED.into_response(),
        &[
            ("azure-asyncoperation", &status_url),
            ("location", &result_url),
            ("retry-after", "1"),
        ],
    )
}

/// The repository actions a token's password grants (distribution names: pull, push,
/// delete, metadata_read, metadata_write) on `repo`, or None when the credentials are not
/// an enabled token's unexpired password.
pub fn token_grants(
    s: &Shared,
    reg: &Registry,
    user: &str,
    pass: &str,
) -> Option<Vec<(String, Vec<&'static str>)>> {
    let w = s.world();
    let t = w
        .tokens
        .iter()
        .find(|t| t.registry.eq_ignore_ascii_case(&reg.name) && t.name == user)?;
    if !t.status.eq_ignore_ascii_case("enabled") {
        return None;
    }
    let now = time::OffsetDateTime::now_utc();
    let ok = t.passwords.iter().any(|p| {
        p.value == pass
            && p.expiry.as_deref().is_none_or(|e| {
                time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339)
                    .is_ok_and(|x| x > now)
            })
    });
    if !ok {
        return None;
    }
    let map = w
        .scope_maps
        .iter()
        .find(|m| m.id.eq_ignore_ascii_case(&t.scope_map_id))?;
    let mut out: Vec<(String, Vec<&'static str>)> = Vec::new();
    for a in &map.actions {
        let Some(rest) = a.strip_prefix("repositories/") else {
            continue;
        };
        let parts: Vec<&str> = rest.rsplitn(3, '/').collect();
        if parts.len() != 3 {
            continue;
        }
        let action = match (parts[1], parts[0]) {
            ("content", "read") => "pull",
            ("content", "write") => "push",
            ("content", "delete") => "delete",
            ("metadata", "read") => "metadata_read",
            ("metadata", "write") => "metadata_write",
            _ => continue,
        };
        match out.iter_mut().find(|(r, _)| r == parts[2]) {
            Some((_, v)) => v.push(action),
            None => out.push((parts[2].to_string(), vec![action])),
        }
    }
    Some(out)
}
