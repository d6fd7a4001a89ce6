//! Managed identity tokens: the App Service style endpoint (`IDENTITY_ENDPOINT` +
//! `IDENTITY_HEADER`, api-version 2019-08-01) and the VM metadata endpoint (IMDS,
//! api-version 2018-02-01). Both are plain http by Azure's design, on a link-local or
//! loopback address.
//! Sources: learn.microsoft.com/azure/app-service/overview-managed-identity (REST
//! protocol), learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token.

use crate::credential::{CredentialEnv, EntraToken, TokenError};
use crate::error::{AppError, Kind};
use crate::http::{self, Scheme};
use serde::Deserialize;
use std::time::Duration;
use url::Url;

pub const IMDS_DEFAULT: &str = "http://169.254.169.254";

#[derive(Debug)]
enum Endpoint {
    AppService { url: Url, header: String },
    Imds { base: Url },
}

/// A user-assigned identity, named the way the user gave it.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::enum_variant_names)] // the names say which id, as Azure's parameters do
enum UserAssigned {
    /// A GUID is tried as a client id first, then as an object id (`--identity-id` takes
    /// either, as az's does).
    ObjectId(String),
    ClientId(String),
    ResourceId(String),
}

#[derive(Debug)]
pub struct ManagedIdentity {
    endpoint: Endpoint,
    user_assigned: Option<UserAssigned>,
}

impl ManagedIdentity {
    pub fn from_env(env: &CredentialEnv, user_assigned: Option<String>) -> Result<Self, AppError> {
        let user_assigned = user_assigned.map(|id| {
            if id.to_ascii_lowercase().starts_with("/subscriptions/") {
                UserAssigned::ResourceId(id)
            } else {
                UserAssigned::ClientId(id)
            }
        });
        let endpoint = match (&env.identity_endpoint, &env.identity_header) {
            (Some(url), Some(header)) => {
                let url = Url::parse(url).map_err(|e| {
                    AppError::usage(format!("IDENTITY_ENDPOINT '{url}' is not a URL ({e})."))
                })?;
                http::check_scheme(&url, "IDENTITY_ENDPOINT", Scheme::HttpAllowed)?;
                Endpoint::AppService {
                    url,
                    header: header.clone(),
                }
            }
            _ => {
                let raw = env.imds_host.as_deref().unwrap_or(IMDS_DEFAULT);
                let base = Url::parse(raw).map_err(|e| {
                    AppError::usage(format!(
                        "AZURE_POD_IDENTITY_AUTHORITY_HOST '{raw}' is not a URL ({e})."
                    ))
                })?;
                http::check_scheme(
                    &base,
                    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                    Scheme::HttpAllowed,
                )?;
                Endpoint::Imds { base }
            }
        };
        Ok(ManagedIdentity {
            endpoint,
            user_assigned,
        })
    }

    /// Inside the chain: whether an endpoint is there at all. The App Service endpoint is
    /// announced by its environment; the VM endpoint gets one request with a 1 s limit, so
    /// a laptop never waits on it.
    pub async fn probe(&self) -> Result<(), String> {
        match &self.endpoint {
            Endpoint::AppService { .. } => Ok(()),
            Endpoint::Imds { base } => {
                let url = imds_url(base);
                let request = http::client()
                    .get(url.clone())
                    .query(&[("api-version", "2018-02-01")])
                    .timeout(Duration::from_secs(1));
                match request.send().await {
                    Ok(_) => Ok(()),
                    Err(_) => Err(format!(
                        "no VM metadata endpoint answered at {} within 1 s",
                        http::display_url(&url)
                    )),
                }
            }
        }
    }

    pub async fn token(&self, resource: &str) -> Result<EntraToken, TokenError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.request(resource).await {
                Err(Retry::After(delay, _)) if attempt < 4 => {
                    crate::debug!(
                        "managed identity endpoint busy; retrying in {} ms",
                        delay.as_millis()
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(Retry::After(_, last))
                | Err(Retry::Fail(last))
                | Err(Retry::NotFound(last)) => return Err(TokenError::Other(last)),
                Ok(t) => return Ok(t),
            }
        }
    }

    async fn request(&self, resource: &str) -> Result<EntraToken, Retry> {
        match self.request_as(resource, self.user_assigned.as_ref()).await {
            Err(Retry::NotFound(first)) => match &self.user_assigned {
                Some(UserAssigned::ClientId(id)) => {
                    crate::debug!("no identity with client id {id}; trying it as an object id");
                    match self
                        .request_as(resource, Some(&UserAssigned::ObjectId(id.clone())))
                        .await
                    {
                        Err(Retry::NotFound(_)) => Err(Retry::Fail(first)),
                        other => other,
                    }
                }
                _ => Err(Retry::Fail(first)),
            },
            other => other,
        }
    }

    async fn request_as(
        &self,
        resource: &str,
        who: Option<&UserAssigned>,
    ) -> Result<EntraToken, Retry> {
        let what = "Getting a managed identity token";
        let (url, request) = match &self.endpoint {
            Endpoint::AppService { url, header } => {
                let mut query = vec![("api-version", "2019-08-01"), ("resource", resource)];
                match who {
                    Some(UserAssigned::ClientId(id)) => query.push(("client_id", id)),
                    Some(UserAssigned::ObjectId(id)) => query.push(("principal_id", id)),
                    Some(UserAssigned::ResourceId(id)) => query.push(("mi_res_id", id)),
                    None => {}
                }
                (
                    url.clone(),
                    http::client()
                        .get(url.clone())
                        .query(&query)
                        .header("X-IDENTITY-HEADER", header),
                )
            }
            Endpoint::Imds { base } => {
                let url = imds_url(base);
                let mut query = vec![("api-version", "2018-02-01"), ("resource", resource)];
                match who {
                    Some(UserAssigned::ClientId(id)) => query.push(("client_id", id)),
                    Some(UserAssigned::ObjectId(id)) => query.push(("object_id", id)),
                    Some(UserAssigned::ResourceId(id)) => query.push(("msi_res_id", id)),
                    None => {}
                }
                (
                    url.clone(),
                    http::client()
                        .get(url)
                        .query(&query)
                        .header("Metadata", "true"),
                )
            }
        };
        let response = http::send(request, what).await.map_err(Retry::Fail)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = http::body_text(response, what).await.map_err(Retry::Fail)?;
        if status.is_success() {
            let parsed: TokenResponse = serde_json::from_str(&body).map_err(|e| {
                Retry::Fail(AppError::new(
                    Kind::Failure,
                    format!(
                        "{what}: the answer from {} is not a token ({e}).",
                        http::display_url(&url)
                    ),
                ))
            })?;
            crate::log::register_secret(&parsed.access_token);
            let expires_on = parsed
                .expires_on
                .as_ref()
                .and_then(number_or_string)
                .or_else(|| {
                    parsed
                        .expires_in
                        .as_ref()
                        .and_then(number_or_string)
                        .map(|s| now() + s)
                })
                .or_else(|| crate::jwt::expires_at(&parsed.access_token))
                .unwrap_or_else(|| now() + 300);
            return Ok(EntraToken {
                tenant: crate::jwt::tenant(&parsed.access_token),
                expires_on,
                token: parsed.access_token,
            });
        }
        let detail: ErrorResponse = serde_json::from_str(&body).unwrap_or_default();
        let description = detail
            .error_description
            .or(detail.message)
            .or(detail.error)
            .unwrap_or_else(|| format!("HTTP {status}"));
        let who = match &self.user_assigned {
            Some(UserAssigned::ClientId(id))
            | Some(UserAssigned::ObjectId(id))
            | Some(UserAssigned::ResourceId(id)) => {
                format!("user-assigned identity {id}")
            }
            None => "system-assigned identity".into(),
        };
        let not_found = description
            .to_ascii_lowercase()
            .contains("identity not found");
        let err = AppError::new(
            Kind::Auth,
            format!(
                "The managed identity endpoint {} refused a token for the {who}: {}",
                http::display_url(&url),
                crate::credential::first_line(&description)
            ),
        )
        .hint(if not_found {
            "Assign the identity to this VM or app, or pass the right one with --identity-id."
        } else {
            "Check the identity assigned to this resource."
        });
        // IMDS asks callers to retry 429, 410 (identity not ready yet) and 5xx with backoff.
        let retryable = matches!(status.as_u16(), 410 | 429 | 500..=599);
        if retryable {
            let delay = Duration::from_millis(retry_after.map(|s| s.min(5) * 1000).unwrap_or(500));
            return Err(Retry::After(delay, err));
        }
        if not_found {
            return Err(Retry::NotFound(err));
        }
        Err(Retry::Fail(err))
    }
}

enum Retry {
    After(Duration, AppError),
    /// The endpoint has no such identity (400 "Identity not found").
    NotFound(AppError),
    Fail(AppError),
}

fn imds_url(base: &Url) -> Url {
    base.join("/metadata/identity/oauth2/token")
        .expect("static path")
}

fn now() -> i64 {
    crate::cache::now()
}

/// `expires_on` is a number or a string of digits depending on the endpoint version.
fn number_or_string(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_on: Option<serde_json::Value>,
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct ErrorResponse {
    error: Option<String>,
    error_description: Option<String>,
    #[serde(alias = "Message")]
    message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_and_client_ids_are_told_apart() {
        let env = CredentialEnv::default();
        let mi = ManagedIdentity::from_env(&env, Some("/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id".into())).unwrap();
        assert!(matches!(
            mi.user_assigned,
            Some(UserAssigned::ResourceId(_))
        ));
        let mi =
            ManagedIdentity::from_env(&env, Some("00000000-1111-2222-3333-444444444444".into()))
                .unwrap();
        assert!(matches!(mi.user_assigned, Some(UserAssigned::ClientId(_))));
        assert!(matches!(mi.endpoint, Endpoint::Imds { .. }));
    }

    #[test]
    fn app_service_needs_both_variables() {
        let env = CredentialEnv {
            identity_endpoint: Some("http://127.0.0.1:41234/msi/token".into()),
            identity_header: Some("h".into()),
            ..Default::default()
        };
        assert!(matches!(
            ManagedIdentity::from_env(&env, None).unwrap().endpoint,
            Endpoint::AppService { .. }
        ));
    }

    #[test]
    fn expires_on_accepts_both_forms() {
        assert_eq!(
            number_or_string(&serde_json::json!("1700000000")),
            Some(1700000000)
        );
        assert_eq!(
            number_or_string(&serde_json::json!(1700000000)),
            Some(1700000000)
        );
    }
}
