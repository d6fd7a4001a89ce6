//! Entra's user sign-in for public clients, as the Microsoft identity platform documents
//! it: the device authorization grant (RFC 8628, `/devicecode` and the `device_code`
//! grant), the authorization code flow with PKCE (RFC 7636, S256 only) with a loopback
//! redirect, and the `refresh_token` grant with rotation and revocation. The one seeded
//! user signs in at once wherever a person would type a password.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{json, Value};

use crate::entra::{aad_error, audience_for, invalid_resource_msg};
use crate::state::{now, AuthCode, DeviceCode, DeviceStatus, RefreshGrant, Shared};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/devicelogin", get(devicelogin))
}

/// The tenants a user flow accepts: the tenant itself and the multi-tenant aliases.
fn tenant_ok(s: &Shared, tenant: &str) -> bool {
    tenant.eq_ignore_ascii_case(&s.info.tenant_id)
        || ["organizations", "common"].contains(&tenant.to_ascii_lowercase().as_str())
}

fn tenant_error(s: &Shared, tenant: &str) -> Response {
    aad_error(s, 400, "invalid_request", 90002, &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."))
}

fn client_error(s: &Shared, client_id: &str) -> Response {
    aad_error(s, 400, "unauthorized_client", 700016, &format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", s.info.tenant_id))
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut bytes = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut bytes).expect("randomness");
    bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect()
}

fn secret_string(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        random_string(
            40,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        )
    )
}

/// The resource a scope list asks for: the first scope that is not an OIDC one, cut at
/// `/.default` (or at its last path segment for a named permission); Graph when none.
fn resource_of(s: &Shared, scope: &str) -> String {
    scope
        .split(' ')
        .filter(|x| !x.is_empty())
        .find(|x| !["openid", "profile", "offline_access", "email"].contains(x))
        .map(|x| match x.strip_suffix("/.default") {
            Some(r) => r.to_string(),
            None => x
                .rsplit_once('/')
                .map(|(r, _)| r.to_string())
                .unwrap_or_else(|| x.to_string()),
        })
        .unwrap_or_else(|| s.info.graph_url.clone())
}

async fn devicecode(
    State(s): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !tenant_ok(&s, &tenant) {
        return tenant_error(&s, &tenant);
    }
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    if !client_id.eq_ignore_ascii_case(&s.info.public_client_id) {
        return client_error(&s, &client_id);
    }
    let scope = form.get("scope").cloned().unwrap_or_default();
    if scope.trim().is_empty() {
        return aad_error(
            &s,
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    }
    let user_code = random_string(9, b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789");
    let device_code = secret_string("emu-dc~");
    let uri = format!("{}/devicelogin", s.info.authority_url);
    s.world().device_codes.push(DeviceCode {
        device_code: device_code.clone(),
        user_code: user_code.clone(),
        client_id,
        scope,
        expires_at: now() + s.device_lifetime,
        interval_secs: s.device_interval,
        last_poll: None,
        status: DeviceStatus::Pending,
    });
    Json(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": uri,
        "expires_in": s.device_lifetime,
        "interval": s.device_interval,
        "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
    }))
    .into_response()
}

async fn devicelogin() -> &'static str {
    "acrctl-emulator: approve a code with POST /_emulator/device-codes/{user_code}/approve\n"
}

/// Marks a pending device code as approved (or declined) by the seeded user.
pub fn settle_device_code(s: &Shared, user_code: &str, approve: bool) -> bool {
    let mut w = s.world();
    match w
        .device_codes
        .iter_mut()
        .find(|d| d.user_code.eq_ignore_ascii_case(user_code) && d.status == DeviceStatus::Pending)
    {
        Some(d) => {
            d.status = if approve {
                DeviceStatus::Approved
            } else {
                DeviceStatus::Declined
            };
            true
        }
        None => false,
    }
}

/// Drops every refresh token of the user, as revoking sign-in sessions does.
pub fn revoke_user(s: &Shared, object_id: &str) -> usize {
    let mut w = s.world();
    let before = w.refresh_tokens.len();
    w.refresh_tokens
        .retain(|_, g| !g.object_id.eq_ignore_ascii_case(object_id));
    before - w.refresh_tokens.len()
}

/// The authorize endpoint: the seeded user signs in at once and the browser is sent to
/// the loopback `redirect_uri` with `code` and `state` (RFC 8252 loopback redirect).
async fn authorize(
    State(s): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let f = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if !tenant_ok(&s, &tenant) {
        return tenant_error(&s, &tenant);
    }
    if !f("client_id").eq_ignore_ascii_case(&s.info.public_client_id) {
        return client_error(&s, f("client_id"));
    }
    let redirect = f("redirect_uri");
    let Ok(mut redirect_url) = url::Url::parse(redirect) else {
        return aad_error(&s, 400, "invalid_request", 50011, "The redirect URI specified in the request does not match the redirect URIs configured for the application.");
    };
    let loopback = redirect_url.scheme() == "http"
        && matches!(
            redirect_url.host_str(),
            Some("127.0.0.1" | "localhost" | "[::1]")
        );
    if !loopback {
        return aad_error(&s, 400, "invalid_request", 50011, &format!("The redirect URI '{redirect}' specified in the request does not match the redirect URIs configured for the application '{}'.", s.info.public_client_id));
    }
    let error_redirect = |mut u: url::Url, error: &str, description: &str| {
        u.query_pairs_mut()
            .append_pair("error", error)
            .append_pair("error_description", description)
            .append_pair("state", f("state"));
        (StatusCode::FOUND, [(header::LOCATION, u.to_string())]).into_response()
    };
    if f("response_type") != "code" {
        return error_redirect(
            redirect_url,
            "unsupported_response_type",
            "AADSTS700054: response_type 'code' is required.",
        );
    }
    if f("code_challenge").is_empty() || f("code_challenge_method") != "S256" {
        return error_redirect(redirect_url, "invalid_request", "AADSTS9002325: Proof Key for Code Exchange is required for this client, with code_challenge_method S256.");
    }
    let code = secret_string("emu-ac~");
    s.world().auth_codes.insert(
        code.clone(),
        AuthCode {
            client_id: f("client_id").to_string(),
            redirect_uri: redirect.to_string(),
            scope: f("scope").to_string(),
            code_challenge: f("code_challenge").to_string(),
            object_id: s.info.user.object_id.clone(),
            expires_at: now() + 600,
        },
    );
    redirect_url
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", f("state"));
    (
        StatusCode::FOUND,
        [(header::LOCATION, redirect_url.to_string())],
    )
        .into_response()
}

fn grant_error(s: &Shared, error: &str, code: u32, msg: &str) -> Response {
    aad_error(s, 400, error, code, msg)
}

/// The token endpoint's user grants: `device_code`, `authorization_code`, `refresh_token`.
pub fn token(s: &Shared, tenant: &str, form: &HashMap<String, String>) -> Response {
    let f = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if !tenant_ok(s, tenant) {
        return tenant_error(s, tenant);
    }
    let client_id = f("client_id");
    if client_id.is_empty() {
        return aad_error(
            s,
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    }
    if !client_id.eq_ignore_ascii_case(&s.info.public_client_id) {
        return client_error(s, client_id);
    }
    match f("grant_type") {
        "urn:ietf:params:oauth:grant-type:device_code" => {
            device_grant(s, client_id, f("device_code"))
        }
        "authorization_code" => code_grant(
            s,
            client_id,
            f("code"),
            f("redirect_uri"),
            f("code_verifier"),
            f("scope"),
        ),
        "refresh_token" => refresh_grant(s, client_id, f("refresh_token"), f("scope")),
        _ => unreachable!("only user grants are routed here"),
    }
}

fn device_grant(s: &Shared, client_id: &str, device_code: &str) -> Response {
    let mut w = s.world();
    let forced = if w.forced_slow_downs > 0 {
        w.forced_slow_downs -= 1;
        true
    } else {
        false
    };
    let Some(d) = w
        .device_codes
        .iter_mut()
        .find(|d| d.device_code == device_code && d.client_id.eq_ignore_ascii_case(client_id))
    else {
        drop(w);
        return grant_error(
            s,
            "bad_verification_code",
            70019,
            "Verification code is not recognized.",
        );
    };
    if now() >= d.expires_at {
        drop(w);
        return grant_error(s, "expired_token", 70020, "The provided authorization code or refresh token has expired. Send a new interactive authorization request for this user and resource.");
    }
    let too_fast = d
        .last_poll
        .is_some_and(|t| t.elapsed().as_millis() + 200 < u128::from(d.interval_secs) * 1000);
    d.last_poll = Some(std::time::Instant::now());
    if forced || too_fast {
        d.interval_secs += 5;
        drop(w);
        return grant_error(
            s,
            "slow_down",
            70016,
            "The client is polling too fast; wait longer between requests.",
        );
    }
    match d.status {
        DeviceStatus::Pending => {
            drop(w);
            grant_error(
                s,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )
        }
        DeviceStatus::Declined => {
            drop(w);
            grant_error(
                s,
                "authorization_declined",
                70000,
                "The user declined the sign-in request.",
            )
        }
        DeviceStatus::Redeemed => {
            drop(w);
            grant_error(s, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
        }
        DeviceStatus::Approved => {
            d.status = DeviceStatus::Redeemed;
            let scope = d.scope.clone();
            drop(w);
            issue(s, &s.info.user.object_id, client_id, &scope)
        }
    }
}

fn code_grant(
    s: &Shared,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
    scope: &str,
) -> Response {
    let Some(ac) = s.world().auth_codes.remove(code) else {
        return grant_error(
            s,
            "invalid_grant",
            70000,
            "The provided value for the 'code' parameter is not valid.",
        );
    };
    if now() >= ac.expires_at {
        return grant_error(s, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.");
    }
    if !ac.client_id.eq_ignore_ascii_case(client_id) {
        return grant_error(s, "invalid_grant", 70000, "The provided value for the 'code' parameter is not valid: it was issued to another client.");
    }
    if ac.redirect_uri != redirect_uri {
        return grant_error(s, "invalid_grant", 70000, "The provided value for the 'redirect_uri' is not valid. The value must exactly match the redirect URI used to obtain the authorization code.");
    }
    if verifier.is_empty() {
        return aad_error(
            s,
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'code_verifier'.",
        );
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    if challenge != ac.code_challenge {
        return grant_error(s, "invalid_grant", 50148, "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.");
    }
    let scope = if scope.is_empty() {
        ac.scope.as_str()
    } else {
        scope
    };
    issue(s, &ac.object_id, client_id, scope)
}

fn refresh_grant(s: &Shared, client_id: &str, refresh_token: &str, scope: &str) -> Response {
    let grant = s.world().refresh_tokens.remove(refresh_token);
    let Some(g) = grant else {
        return grant_error(s, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.");
    };
    if !g.client_id.eq_ignore_ascii_case(client_id) {
        return grant_error(
            s,
            "invalid_grant",
            70000,
            "The refresh token was issued to another client.",
        );
    }
    issue(s, &g.object_id, client_id, scope)
}

/// Mints the access token for the scope's resource, a rotated refresh token (when
/// `offline_access` was asked for) and an id token.
fn issue(s: &Shared, object_id: &str, client_id: &str, scope: &str) -> Response {
    let resource = resource_of(s, scope);
    let Some(aud) = audience_for(s, &resource) else {
        return aad_error(
            s,
            400,
            "invalid_resource",
            500011,
            &invalid_resource_msg(s, &resource),
        );
    };
    let (access, exp) = mint_user(s, object_id, client_id, &aud);
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": exp - now(),
        "ext_expires_in": exp - now(),
        "access_token": access,
        "id_token": id_token(s, object_id, client_id),
    });
    if scope.split(' ').any(|x| x == "offline_access") {
        let rt = secret_string("emu-rt~");
        s.world().refresh_tokens.insert(
            rt.clone(),
            RefreshGrant {
                object_id: object_id.to_string(),
                client_id: client_id.to_string(),
            },
        );
        body["refresh_token"] = Value::String(rt);
    }
    Json(body).into_response()
}

fn issuer(s: &Shared) -> String {
    format!("{}/{}/v2.0", s.info.authority_url, s.info.tenant_id)
}

fn sign(s: &Shared, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(s.entra_key.kid.clone());
    h.x5t = Some(s.entra_key.kid.clone());
    jsonwebtoken::encode(&h, claims, &s.entra_key.enc).unwrap_or_default()
}

/// A delegated access token for the seeded user (`idtyp` user, `scp`).
pub fn mint_user(s: &Shared, object_id: &str, client_id: &str, aud: &str) -> (String, u64) {
    let iat = now();
    let exp = iat + s.entra_lifetime;
    let u = &s.info.user;
    let claims = json!({
        "aud": aud,
        "iss": issuer(s),
        "iat": iat, "nbf": iat, "exp": exp,
        "tid": s.info.tenant_id,
        "oid": object_id,
        "sub": object_id,
        "upn": u.upn,
        "unique_name": u.upn,
        "name": u.display_name,
        "appid": client_id,
        "azp": client_id,
        "appidacr": "0", "azpacr": "0",
        "idtyp": "user",
        "scp": "user_impersonation",
        "uti": uuid::Uuid::new_v4().simple().to_string(),
        "ver": "2.0",
    });
    (sign(s, &claims), exp)
}

fn id_token(s: &Shared, object_id: &str, client_id: &str) -> String {
    let iat = now();
    let u = &s.info.user;
    sign(
        s,
        &json!({
            "aud": client_id,
            "iss": issuer(s),
            "iat": iat, "nbf": iat, "exp": iat + 3600,
            "tid": s.info.tenant_id,
            "oid": object_id,
            "sub": object_id,
            "preferred_username": u.upn,
            "name": u.display_name,
            "ver": "2.0",
        }),
    )
}
