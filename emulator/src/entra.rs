//! Microsoft Entra ID v2 endpoints: client-credentials token endpoint (secret, certificate
//! assertion, federated workload-identity assertion), OIDC discovery and JWKS, and the
//! OIDC issuer that signs the federated (Kubernetes service account) tokens.
//!
//! Error bodies follow Entra's shape (learn.microsoft.com "Microsoft identity platform error
//! codes"; AADSTS numbers from the public AADSTS reference).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::{json, Value};

use crate::state::{now, Principal, Shared, ACR_AUDIENCE};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route(
            "/oidc/.well-known/openid-configuration",
            get(oidc_discovery),
        )
        .route("/oidc/openid/v1/jwks", get(oidc_jwks))
}

/// An Entra error response, e.g. `aad_error(s, 401, "invalid_client", 7000215, "Invalid client secret …")`.
pub fn aad_error(s: &Shared, status: u16, error: &str, code: u32, msg: &str) -> Response {
    let trace = uuid::Uuid::new_v4();
    let corr = uuid::Uuid::new_v4();
    let ts = time::OffsetDateTime::now_utc();
    let ts = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        ts.year(),
        ts.month() as u8,
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second()
    );
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {msg}\r\nTrace ID: {trace}\r\nCorrelation ID: {corr}\r\nTimestamp: {ts}"
        ),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": format!("{}/error?code={code}", s.info.authority_url),
    });
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        Json(body),
    )
        .into_response()
}

fn issuer(s: &Shared) -> String {
    format!("{}/{}/v2.0", s.info.authority_url, s.info.tenant_id)
}

fn token_endpoint(s: &Shared) -> String {
    format!(
        "{}/{}/oauth2/v2.0/token",
        s.info.authority_url, s.info.tenant_id
    )
}

/// Maps a resource (or a `/.default` scope's resource) to the audience a token carries.
pub fn audience_for(s: &Shared, resource: &str) -> Option<String> {
    let r = resource.trim_end_matches('/');
    if r.eq_ignore_ascii_case(s.info.arm_audience.trim_end_matches('/')) {
        Some(s.info.arm_audience.clone())
    } else if r.eq_ignore_ascii_case(ACR_AUDIENCE) && !s.acr_audience_refused() {
        Some(ACR_AUDIENCE.to_string())
    } else if !s.info.graph_url.is_empty()
        && r.eq_ignore_ascii_case(s.info.graph_url.trim_end_matches('/'))
    {
        Some(s.info.graph_url.clone())
    } else {
        None
    }
}

pub fn invalid_resource_msg(s: &Shared, resource: &str) -> String {
    format!(
        "The resource principal named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
        s.info.tenant_id
    )
}

/// Mints an Entra access token for `p`; returns (token, exp).
pub fn mint(s: &Shared, p: &Principal, aud: &str, acr: &str) -> (String, u64) {
    let iat = now();
    let exp = iat + s.entra_lifetime;
    let claims = json!({
        "aud": aud,
        "iss": issuer(s),
        "iat": iat, "nbf": iat, "exp": exp,
        "tid": s.info.tenant_id,
        "oid": p.object_id,
        "sub": p.object_id,
        "appid": p.client_id,
        "azp": p.client_id,
        "appidacr": acr, "azpacr": acr,
        "idtyp": "app",
        "idp": issuer(s),
        "uti": uuid::Uuid::new_v4().simple().to_string(),
        "ver": "2.0",
        "xms_mirid": p.mi_resource_id,
    });
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(s.entra_key.kid.clone());
    h.x5t = Some(s.entra_key.kid.clone());
    let t = jsonwebtoken::encode(&h, &claims, &s.entra_key.enc).unwrap_or_default();
    (t, exp)
}

/// Verifies an Entra access token issued by this emulator; returns its claims.
pub fn verify(s: &Shared, token: &str) -> Option<Value> {
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_aud = false;
    v.leeway = 0;
    v.set_issuer(&[issuer(s)]);
    jsonwebtoken::decode::<Value>(token, &s.entra_key.dec, &v)
        .ok()
        .map(|d| d.claims)
}

async fn token(State(s): State<Arc<Shared>>, Path(tenant): Path<String>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let f = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if matches!(
        f("grant_type"),
        "urn:ietf:params:oauth:grant-type:device_code" | "authorization_code" | "refresh_token"
    ) {
        return crate::user::token(&s, &tenant, &form);
    }
    if !tenant.eq_ignore_ascii_case(&s.info.tenant_id) {
        return aad_error(&s, 400, "invalid_request", 90002, &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."));
    }
    for k in ["grant_type", "client_id", "scope"] {
        if f(k).is_empty() {
            return aad_error(
                &s,
                400,
                "invalid_request",
                900144,
                &format!("The request body must contain the following parameter: '{k}'."),
            );
        }
    }
    if f("grant_type") != "client_credentials" {
        return aad_error(
            &s,
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let client_id = f("client_id");
    let Some(p) = s
        .principal_by_client_id(client_id)
        .filter(|p| p.kind == crate::state::PrincipalKind::ServicePrincipal)
    else {
        return aad_error(&s, 400, "unauthorized_client", 700016, &format!("Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", s.info.tenant_id));
    };

    let acr = if !f("client_secret").is_empty() {
        if p.secret.as_deref() != Some(f("client_secret")) {
            return aad_error(&s, 401, "invalid_client", 7000215, &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", p.client_id));
        }
        "1"
    } else if !f("client_assertion").is_empty() {
        if f("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
            return aad_error(&s, 400, "invalid_request", 50027, "Invalid client_assertion_type; expected 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.");
        }
        if let Err(r) = check_assertion(&s, p, f("client_assertion")) {
            return r;
        }
        "2"
    } else {
        return aad_error(&s, 401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    };

    let scope = f("scope");
    let Some(resource) = scope
        .split(' ')
        .find(|x| x.ends_with("/.default"))
        .map(|x| x.trim_end_matches("/.default"))
    else {
        return aad_error(&s, 400, "invalid_scope", 1002012, &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."));
    };
    let Some(aud) = audience_for(&s, resource) else {
        return aad_error(
            &s,
            400,
            "invalid_resource",
            500011,
            &invalid_resource_msg(&s, resource),
        );
    };
    let (t, _) = mint(&s, p, &aud, acr);
    Json(json!({
        "token_type": "Bearer",
        "expires_in": s.entra_lifetime,
        "ext_expires_in": s.entra_lifetime,
        "access_token": t,
    }))
    .into_response()
}

/// Checks a `client_assertion`: a certificate-signed JWT for apps with a certificate
/// credential, else a federated token matched against the app's federated credentials.
#[allow(clippy::result_large_err)]
fn check_assertion(s: &Shared, p: &Principal, jwt: &str) -> Result<(), Response> {
    let malformed = || {
        aad_error(
            s,
            400,
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.",
        )
    };
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| malformed())?;
    let claims: Value =
        jsonwebtoken::dangerous::insecure_decode_claims(jwt).map_err(|_| malformed())?;
    let t = now();
    let exp = claims["exp"].as_u64().unwrap_or(0);
    let nbf = claims["nbf"].as_u64().unwrap_or(0);
    let time_err = || {
        aad_error(s, 400, "invalid_client", 700024, &format!("Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .", fmt_time(t), fmt_time(nbf), fmt_time(exp)))
    };
    let sig_err = || {
        aad_error(
            s,
            401,
            "invalid_client",
            700027,
            "Client assertion failed signature validation.",
        )
    };
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_aud = false;
    v.validate_exp = false;
    v.required_spec_claims.clear();

    if let Some(cert) = &p.cert {
        let matches = header.x5t_s256.as_deref() == Some(&crate::tls::x5t_s256(&cert.cert_der))
            || header.x5t.as_deref() == Some(&crate::tls::x5t_sha1(&cert.cert_der));
        if !matches {
            return Err(aad_error(s, 401, "invalid_client", 700027, &format!("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]", header.x5t.clone().or(header.x5t_s256.clone()).unwrap_or_default(), p.client_id)));
        }
        if header.alg != Algorithm::RS256 && header.alg != Algorithm::PS256 {
            return Err(sig_err());
        }
        v.algorithms = vec![header.alg];
        jsonwebtoken::decode::<Value>(jwt, &cert.dec, &v).map_err(|_| sig_err())?;
        if claims["aud"].as_str() != Some(&token_endpoint(s))
            && claims["aud"].as_str()
                != Some(&format!(
                    "{}/{}/oauth2/token",
                    s.info.authority_url, s.info.tenant_id
                ))
        {
            return Err(aad_error(s, 401, "invalid_client", 700021, &format!("Client assertion audience claim does not match Realm issuer. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials . Expected '{}'.", token_endpoint(s))));
        }
        if claims["iss"].as_str() != Some(&p.client_id)
            || claims["sub"].as_str() != Some(&p.client_id)
        {
            return Err(aad_error(s, 401, "invalid_client", 700023, "Client assertion contains an invalid issuer or subject; both must be the client id."));
        }
        if exp == 0 || exp < t || nbf > t + 300 {
            return Err(time_err());
        }
        return Ok(());
    }

    if !p.federated.is_empty() {
        let iss = claims["iss"].as_str().unwrap_or("");
        let sub = claims["sub"].as_str().unwrap_or("");
        let auds: Vec<String> = match &claims["aud"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => vec![],
        };
        let fc = p
            .federated
            .iter()
            .find(|fc| fc.issuer == iss && fc.subject == sub && auds.contains(&fc.audience));
        let Some(_) = fc else {
            return Err(aad_error(s, 400, "invalid_request", 70021, &format!("No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'. https://docs.microsoft.com/azure/active-directory/develop/workload-identity-federation", auds.join(","))));
        };
        // The issuer's keys come from its OIDC discovery; here that issuer is this emulator.
        if header.alg != Algorithm::RS256 {
            return Err(sig_err());
        }
        jsonwebtoken::decode::<Value>(jwt, &s.oidc_key.dec, &v).map_err(|_| sig_err())?;
        if exp == 0 || exp < t || nbf > t + 300 {
            return Err(time_err());
        }
        return Ok(());
    }
    Err(aad_error(s, 401, "invalid_client", 700027, &format!("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]", p.client_id)))
}

fn fmt_time(t: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t as i64)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Mints a federated token as the AKS OIDC issuer would (projected service-account token).
pub fn federated_token(s: &Shared, subject: &str, audience: &str, lifetime: u64) -> String {
    let iat = now();
    let claims = json!({
        "iss": s.info.oidc_issuer, "sub": subject, "aud": [audience],
        "iat": iat, "nbf": iat, "exp": iat + lifetime,
        "kubernetes.io": {"namespace": "default", "serviceaccount": {"name": "acrctl", "uid": uuid::Uuid::new_v4()}},
    });
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(s.oidc_key.kid.clone());
    jsonwebtoken::encode(&h, &claims, &s.oidc_key.enc).unwrap_or_default()
}

async fn openid_configuration(
    State(s): State<Arc<Shared>>,
    Path(tenant): Path<String>,
) -> Response {
    if !tenant.eq_ignore_ascii_case(&s.info.tenant_id) {
        return aad_error(
            &s,
            400,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let a = format!("{}/{}", s.info.authority_url, s.info.tenant_id);
    Json(json!({
        "issuer": issuer(&s),
        "authorization_endpoint": format!("{a}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{a}/oauth2/v2.0/token"),
        "device_authorization_endpoint": format!("{a}/oauth2/v2.0/devicecode"),
        "jwks_uri": format!("{a}/discovery/v2.0/keys"),
        "end_session_endpoint": format!("{a}/oauth2/v2.0/logout"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "acrctl-emulator",
    }))
    .into_response()
}

async fn keys(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({"keys": [s.entra_key.jwk()]}))
}

async fn oidc_discovery(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({
        "issuer": s.info.oidc_issuer,
        "jwks_uri": format!("{}openid/v1/jwks", s.info.oidc_issuer),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn oidc_jwks(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({"keys": [s.oidc_key.jwk()]}))
}
