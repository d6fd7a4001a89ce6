//! The ACR front of one registry: the `/v2/` challenge, the token service
//! (`/oauth2/exchange`, `/oauth2/token`) and, when a docker-registry backs this registry,
//! a streaming proxy for the rest of `/v2/*`.
//!
//! Protocol: Azure/acr docs/AAD-OAuth.md and docs/Token-BasicAuth.md; token format: the
//! Docker distribution token spec (docs/spec/auth/jwt.md). docker-registry 2.8 finds the
//! signing key through the `x5c` header (no JWKS support in that line).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::{json, Value};

use crate::entra;
use crate::state::{
    now, Registry, Shared, ACRPULL, ACRPUSH, ACR_AUDIENCE, CONTRIBUTOR, NULL_GUID, OWNER, READER,
    REPO_READER,
};

pub const ISSUER: &str = "Azure Container Registry";
const REFRESH_LIFETIME: u64 = 3 * 3600;
const ACCESS_LIFETIME: u64 = 75 * 60;

#[derive(Clone)]
pub struct Ctx {
    pub s: Arc<Shared>,
    pub idx: usize,
}

impl Ctx {
    fn reg(&self) -> &Registry {
        &self.s.registries[self.idx]
    }
}

pub fn routes(s: Arc<Shared>, idx: usize) -> Router {
    Router::new().fallback(dispatch).with_state(Ctx { s, idx })
}

fn acr_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"errors": [{"code": code, "message": message, "detail": null}]})),
    )
        .into_response()
}

fn unauthorized(message: &str) -> Response {
    acr_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
}

async fn dispatch(State(ctx): State<Ctx>, req: Request) -> Response {
    let s = &ctx.s;
    let reg = ctx.reg();
    if s.flag_str(&reg.name, "publicNetworkAccess")
        .eq_ignore_ascii_case("Disabled")
    {
        // What ACR answers to a client outside its firewall (aka.ms/acr/firewall).
        return acr_error(
            StatusCode::FORBIDDEN,
            "DENIED",
            "client with IP '127.0.0.1' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.",
        );
    }
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    match (method.clone(), path.as_str()) {
        (Method::POST, "/oauth2/exchange") => {
            let body = body_bytes(req).await;
            exchange(&ctx, &form(&body))
        }
        (Method::POST, "/oauth2/token") => {
            let body = body_bytes(req).await;
            token_post(&ctx, &form(&body))
        }
        (Method::GET, "/oauth2/token") => {
            let q = form(req.uri().query().unwrap_or("").as_bytes());
            token_get(&ctx, req.headers(), &q)
        }
        (Method::GET | Method::HEAD, "/v2/" | "/v2") => v2_root(&ctx, req.headers()),
        (_, p) if p.starts_with("/v2/") => {
            if reg.backend.is_some() {
                proxy(&ctx, req).await
            } else {
                v2_no_backend(&ctx, &method, p, req.headers())
            }
        }
        _ => acr_error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found"),
    }
}

async fn body_bytes(req: Request) -> Bytes {
    // Chunked bodies (containers/image sends them) are decoded by hyper.
    axum::body::to_bytes(req.into_body(), 4 << 20)
        .await
        .unwrap_or_default()
}

/// Form fields; repeated keys (`scope`) are joined with a space.
fn form(body: &[u8]) -> HashMap<String, String> {
    let mut m: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        m.entry(k.into_owned())
            .and_modify(|e| {
                e.push(' ');
                e.push_str(&v)
            })
            .or_insert_with(|| v.into_owned());
    }
    m
}

fn challenge(ctx: &Ctx, scope: Option<&str>) -> String {
    let ls = &ctx.reg().login_server;
    let mut c = format!("Bearer realm=\"https://{ls}/oauth2/token\",service=\"{ls}\"");
    if let Some(sc) = scope {
        c.push_str(&format!(",scope=\"{sc}\""));
    }
    c
}

fn challenge_response(ctx: &Ctx, scope: Option<(&str, &str, &str)>) -> Response {
    let detail = scope.map(|(t, n, a)| json!([{"Type": t, "Name": n, "Action": a}]));
    let body = json!({"errors": [{
        "code": "UNAUTHORIZED",
        "message": "authentication required, visit https://aka.ms/acr/authorization for more information.",
        "detail": detail,
    }]});
    let sc = scope.map(|(t, n, a)| format!("{t}:{n}:{a}"));
    let mut r = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge(ctx, sc.as_deref())) {
        r.headers_mut().insert("www-authenticate", v);
    }
    r.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    r
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
}

fn v2_root(ctx: &Ctx, headers: &HeaderMap) -> Response {
    match bearer(headers).and_then(|t| verify_acr(ctx, t, "access_token")) {
        Some(_) => {
            let mut r = Json(json!({})).into_response();
            r.headers_mut().insert(
                "docker-distribution-api-version",
                HeaderValue::from_static("registry/2.0"),
            );
            r
        }
        None => challenge_response(ctx, None),
    }
}

/// The scope a distribution API path needs, as (type, name, actions).
fn scope_for(method: &Method, path: &str) -> Option<(String, String, String)> {
    let rest = path.strip_prefix("/v2/")?;
    if rest == "_catalog" {
        return Some(("registry".into(), "catalog".into(), "*".into()));
    }
    let idx = ["/manifests/", "/blobs/", "/tags/", "/referrers/"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()?;
    let action = match *method {
        Method::GET | Method::HEAD => "pull",
        Method::DELETE => "delete",
        _ => "pull,push",
    };
    Some(("repository".into(), rest[..idx].to_string(), action.into()))
}

fn v2_no_backend(ctx: &Ctx, method: &Method, path: &str, headers: &HeaderMap) -> Response {
    let Some((t, n, a)) = scope_for(method, path) else {
        return acr_error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found");
    };
    let claims = bearer(headers).and_then(|tok| verify_acr(ctx, tok, "access_token"));
    let granted = claims.as_ref().is_some_and(|c| {
        c["access"].as_array().into_iter().flatten().any(|e| {
            e["type"] == t.as_str()
                && e["name"] == n.as_str()
                && a.split(',').all(|x| {
                    e["actions"]
                        .as_array()
                        .is_some_and(|acts| acts.iter().any(|y| y == x || y == "*"))
                })
        })
    });
    if !granted {
        return challenge_response(ctx, Some((&t, &n, &a)));
    }
    acr_error(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        &format!("repository name not known to registry: {n}"),
    )
}

/// Verifies an ACR token (refresh or access) issued for this registry.
fn verify_acr(ctx: &Ctx, token: &str, grant_type: &str) -> Option<Value> {
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[&ctx.reg().login_server]);
    v.set_issuer(&[ISSUER]);
    v.leeway = 0;
    let c = jsonwebtoken::decode::<Value>(token, &ctx.s.acr_key.dec, &v)
        .ok()?
        .claims;
    (c["grant_type"] == grant_type).then_some(c)
}

/// Who a token is for.
enum Subject {
    Aad {
        oid: String,
        tenant: String,
    },
    Admin,
    /// A repository-scoped token: the actions its scope map grants per repository.
    Token {
        name: String,
        grants: Vec<(String, Vec<&'static str>)>,
    },
}

/// What the subject may do on this registry: (repository actions, catalog allowed).
fn allowed(ctx: &Ctx, sub: &Subject) -> (Vec<&'static str>, bool) {
    match sub {
        // Per repository; see `access_token`.
        Subject::Token { .. } => (vec![], false),
        Subject::Admin => (
            vec!["pull", "push", "delete", "metadata_read", "metadata_write"],
            true,
        ),
        Subject::Aad { oid, .. } => {
            // ABAC registries ignore the legacy roles for data-plane access
            // (Azure/acr docs/preview/abac-repo-permissions).
            if ctx
                .s
                .flag_str(&ctx.reg().name, "roleAssignmentMode")
                .eq_ignore_ascii_case("AbacRepositoryPermissions")
            {
                // Only the repository roles count there (no ABAC condition: every repository).
                let roles = ctx.s.roles_at(oid, &ctx.reg().resource_id);
                if roles.iter().any(|x| x.eq_ignore_ascii_case(REPO_READER)) {
                    return (vec!["pull", "metadata_read"], false);
                }
                return (vec![], false);
            }
            let roles = ctx.s.roles_at(oid, &ctx.reg().resource_id);
            let has = |r: &str| roles.iter().any(|x| x.eq_ignore_ascii_case(r));
            if has(OWNER) || has(CONTRIBUTOR) {
                (
                    vec!["pull", "push", "delete", "metadata_read", "metadata_write"],
                    true,
                )
            } else if has(ACRPUSH) {
                (
                    vec!["pull", "push", "metadata_read", "metadata_write"],
                    true,
                )
            } else if has(ACRPULL) || has(READER) {
                (vec!["pull", "metadata_read"], false)
            } else {
                (vec![], false)
            }
        }
    }
}

fn sign(ctx: &Ctx, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.x5c = Some(ctx.s.acr_key.x5c());
    jsonwebtoken::encode(&h, claims, &ctx.s.acr_key.enc).unwrap_or_default()
}

fn base_claims(ctx: &Ctx, sub: &Subject, grant: &str, lifetime: u64) -> Value {
    let iat = now();
    let (subject, tenant) = match sub {
        Subject::Aad { oid, tenant } => (oid.clone(), tenant.clone()),
        Subject::Admin => (ctx.reg().admin_username.clone(), String::new()),
        Subject::Token { name, .. } => (name.clone(), String::new()),
    };
    json!({
        "jti": uuid::Uuid::new_v4(),
        "sub": subject,
        "nbf": iat, "iat": iat, "exp": iat + lifetime,
        "iss": ISSUER,
        "aud": ctx.reg().login_server,
        "version": "1.0",
        "grant_type": grant,
        "tenant": tenant,
        "permissions": {"actions": ["*"], "notActions": []},
        "roles": [],
    })
}

fn access_token(ctx: &Ctx, sub: &Subject, scopes: &str) -> String {
    let (repo_actions, catalog) = allowed(ctx, sub);
    let mut access = vec![];
    for sc in scopes.split_whitespace() {
        let Some((typ, rest)) = sc.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        let granted: Vec<&str> = actions
            .split(',')
            .filter(|a| match typ {
                "registry" => name == "catalog" && *a == "*" && catalog,
                "repository" | "artifact-repository" => {
                    if let Subject::Token { grants, .. } = sub {
                        grants
                            .iter()
                            .any(|(repo, acts)| repo == name && acts.contains(a))
                    } else if *a == "*" {
                        catalog
                    } else {
                        repo_actions.contains(a)
                    }
                }
                _ => false,
            })
            .collect();
        access.push(json!({"type": typ, "name": name, "actions": granted}));
    }
    let mut c = base_claims(ctx, sub, "access_token", ACCESS_LIFETIME);
    c["access"] = Value::Array(access);
    sign(ctx, &c)
}

/// What `/oauth2/token` with these username/password credentials grants for `scope`
/// (the access token's `access` claim), or None when it refuses them.
pub fn password_access(
    s: &Arc<Shared>,
    idx: usize,
    user: &str,
    pass: &str,
    scope: &str,
) -> Option<Value> {
    let ctx = Ctx { s: s.clone(), idx };
    let sub = password_subject(&ctx, user, pass)?;
    let token = access_token(&ctx, &sub, scope);
    verify_acr(&ctx, &token, "access_token").map(|c| c["access"].clone())
}

/// Mints an access token with full rights (used to seed the backend registry).
pub fn admin_access_token(s: &Arc<Shared>, idx: usize, scopes: &str) -> String {
    let ctx = Ctx { s: s.clone(), idx };
    access_token(&ctx, &Subject::Admin, scopes)
}

fn exchange(ctx: &Ctx, f: &HashMap<String, String>) -> Response {
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let grant = get("grant_type");
    if grant != "access_token" && grant != "access_token_refresh_token" {
        return acr_error(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
            &format!("grant_type '{grant}' is not supported"),
        );
    }
    if get("service") != ctx.reg().login_server {
        return acr_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            &format!("service '{}' does not match the registry", get("service")),
        );
    }
    if grant == "access_token_refresh_token" && get("refresh_token").is_empty() {
        return acr_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "refresh_token is required",
        );
    }
    let Some(claims) = entra::verify(&ctx.s, get("access_token")) else {
        return unauthorized("invalid or expired access token");
    };
    let aud = claims["aud"].as_str().unwrap_or("");
    if aud != ACR_AUDIENCE && aud != ctx.s.info.arm_audience {
        return unauthorized(&format!(
            "the access token audience '{aud}' is not accepted"
        ));
    }
    let tid = claims["tid"].as_str().unwrap_or("").to_string();
    if !get("tenant").is_empty() && !get("tenant").eq_ignore_ascii_case(&tid) {
        return unauthorized("the tenant does not match the access token");
    }
    let sub = Subject::Aad {
        oid: claims["oid"].as_str().unwrap_or("").to_string(),
        tenant: tid,
    };
    if !allowed(ctx, &sub).0.contains(&"pull") {
        return unauthorized("the identity does not have permission to access the registry; grant it a role such as AcrPull");
    }
    let c = base_claims(ctx, &sub, "refresh_token", REFRESH_LIFETIME);
    Json(json!({"refresh_token": sign(ctx, &c)})).into_response()
}

/// Username/password credentials: the admin user, or the null GUID with an ACR refresh token.
fn password_subject(ctx: &Ctx, user: &str, pass: &str) -> Option<Subject> {
    let reg = ctx.reg();
    if user.eq_ignore_ascii_case(&reg.admin_username) {
        let enabled = ctx.s.flag(&reg.name, "adminUserEnabled") != Some(Value::Bool(false));
        return (enabled && reg.admin_passwords.iter().any(|p| p == pass))
            .then_some(Subject::Admin);
    }
    if user == NULL_GUID {
        return refresh_subject(ctx, pass);
    }
    crate::acr_tokens::token_grants(&ctx.s, reg, user, pass).map(|grants| Subject::Token {
        name: user.to_string(),
        grants,
    })
}

fn refresh_subject(ctx: &Ctx, token: &str) -> Option<Subject> {
    let c = verify_acr(ctx, token, "refresh_token")?;
    Some(Subject::Aad {
        oid: c["sub"].as_str()?.to_string(),
        tenant: c["tenant"].as_str().unwrap_or("").to_string(),
    })
}

fn token_post(ctx: &Ctx, f: &HashMap<String, String>) -> Response {
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    if get("service") != ctx.reg().login_server {
        return acr_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            &format!("service '{}' does not match the registry", get("service")),
        );
    }
    let sub = match get("grant_type") {
        "refresh_token" => refresh_subject(ctx, get("refresh_token")),
        "password" => password_subject(ctx, get("username"), get("password")),
        g => {
            return acr_error(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                &format!("grant_type '{g}' is not supported"),
            )
        }
    };
    match sub {
        Some(sub) => {
            Json(json!({"access_token": access_token(ctx, &sub, get("scope"))})).into_response()
        }
        None => unauthorized(
            "authentication required, visit https://aka.ms/acr/authorization for more information.",
        ),
    }
}

fn token_get(ctx: &Ctx, headers: &HeaderMap, q: &HashMap<String, String>) -> Response {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if get("service") != ctx.reg().login_server {
        return acr_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            &format!("service '{}' does not match the registry", get("service")),
        );
    }
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(sch, _)| sch.eq_ignore_ascii_case("basic"))
        .and_then(|(_, b)| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let sub = basic.as_deref().and_then(|b| {
        let (u, p) = b.split_once(':')?;
        password_subject(ctx, u, p)
    });
    match sub {
        Some(sub) => {
            Json(json!({"access_token": access_token(ctx, &sub, get("scope"))})).into_response()
        }
        None => unauthorized(
            "authentication required, visit https://aka.ms/acr/authorization for more information.",
        ),
    }
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
    "te",
    "trailer",
    "host",
];

/// Streams a `/v2/*` request to the docker-registry backend and its answer back, rewriting
/// backend URLs in `Location` and `Www-Authenticate` to this front.
async fn proxy(ctx: &Ctx, req: Request) -> Response {
    let reg = ctx.reg();
    let backend = reg.backend.clone().unwrap_or_default();
    let front = format!("https://{}", reg.login_server);
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let mut rb = ctx
        .s
        .http
        .request(parts.method.clone(), format!("{backend}{pq}"));
    for (k, v) in parts.headers.iter() {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            rb = rb.header(k, v);
        }
    }
    rb = rb
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", &reg.login_server);
    if parts.method != Method::GET && parts.method != Method::HEAD {
        rb = rb.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    }
    let resp = match rb.send().await {
        Ok(r) => r,
        Err(e) => {
            return acr_error(
                StatusCode::BAD_GATEWAY,
                "UNAVAILABLE",
                &format!("registry backend unavailable: {e}"),
            )
        }
    };
    let mut out = Response::builder().status(resp.status().as_u16());
    for (k, v) in resp.headers().iter() {
        if HOP_BY_HOP.contains(&k.as_str()) {
            continue;
        }
        if k == "location" || k == "www-authenticate" {
            let s = v.to_str().unwrap_or("").replace(&backend, &front);
            out = out.header(k.as_str(), s);
        } else {
            out = out.header(k.as_str(), v.as_bytes());
        }
    }
    out.body(Body::from_stream(resp.bytes_stream()))
        .unwrap_or_default()
}
