//! A small Azure Resource Manager client: typed calls over the one reqwest client, with a
//! bearer token for the cloud's ARM audience, `api-version` on every call, `nextLink`
//! paging, ARM error bodies (`{"error":{"code","message"}}`) turned into one-line
//! messages, and retries with backoff on 429 (honouring `Retry-After`) and 5xx within a
//! bounded total time. No clap here; commands decide what an error means to the user.
//!
//! The same request machinery ([`Rest`]) serves Microsoft Graph (`graph.rs`), whose error
//! bodies have the same shape.

use crate::context::Context;
use crate::credential::TokenError;
use crate::error::{AppError, Kind};
use crate::http;
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// api-versions, in one place (aks-arm-kube.md §1, "api-versions").
pub mod api {
    /// `Microsoft.Resources` resources listing.
    pub const RESOURCES: &str = "2021-04-01";
    /// `GET /subscriptions`.
    pub const SUBSCRIPTIONS: &str = "2022-12-01";
    /// roleAssignments and roleDefinitions (GA).
    pub const AUTHORIZATION: &str = "2022-04-01";
    /// Container registries; a version that returns `roleAssignmentMode` (ABAC registries).
    /// Public Bicep templates that use ABAC repository roles declare
    /// `Microsoft.ContainerRegistry/registries@2025-11-01`; older versions omit the field,
    /// which acrctl reads as the legacy mode.
    pub const REGISTRIES: &str = "2025-11-01";
    /// Registry scope maps, tokens and generateCredentials (GA).
    pub const REGISTRY_TOKENS: &str = "2023-07-01";
    /// Managed clusters (a GA version; only read, never written).
    pub const MANAGED_CLUSTERS: &str = "2024-09-01";
}

/// How many times a 429/5xx answer is retried, and the longest `Retry-After` honoured.
const MAX_RETRIES: u32 = 4;
const RETRY_AFTER_CAP: Duration = Duration::from_secs(30);
/// The total time one logical call may spend retrying.
const CALL_BUDGET: Duration = Duration::from_secs(90);

/// Multiplies every backoff delay (429/5xx and PrincipalNotFound): `ACRCTL_ARM_RETRY_SCALE`,
/// e.g. `0.01` in tests so that two minutes of replication backoff take about a second.
pub fn retry_scale() -> f64 {
    std::env::var("ACRCTL_ARM_RETRY_SCALE")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(1.0)
}

pub fn scaled(d: Duration) -> Duration {
    d.mul_f64(retry_scale())
}

/// An error answer from ARM or Graph: the HTTP status and the body's code and message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub service: &'static str,
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    /// The generic user-facing form; callers that know better build their own.
    pub fn into_app(self, what: &str) -> AppError {
        let kind = match self.status {
            401 | 403 => Kind::Auth,
            404 => Kind::NotFound,
            _ => Kind::Failure,
        };
        let e = AppError::new(
            kind,
            format!(
                "{what}: {} answered {} {}: {}",
                self.service,
                self.status,
                self.code,
                one_line(&self.message)
            ),
        );
        match self.status {
            401 => e.hint("The token was refused; check the identity's tenant and the cloud (--cloud, ACRCTL_ARM_ENDPOINT)."),
            403 => e.hint("The identity lacks a role for this; ask an Owner of the resource to grant one."),
            _ => e,
        }
    }
}

/// A failed call: either the service said no ([`ApiError`]) or it could not be asked.
#[derive(Debug)]
pub enum CallError {
    Api(ApiError),
    App(AppError),
}

impl CallError {
    pub fn into_app(self, what: &str) -> AppError {
        match self {
            CallError::Api(e) => e.into_app(what),
            CallError::App(e) => e,
        }
    }
}

impl From<AppError> for CallError {
    fn from(e: AppError) -> Self {
        CallError::App(e)
    }
}

/// Collapses whitespace so that a service message fits on one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A bearer-token JSON client for one service (ARM or Graph); cheap to clone.
#[derive(Clone)]
pub struct Rest {
    service: &'static str,
    token: Arc<String>,
    /// Only URLs on this origin get the token (a `nextLink` elsewhere is refused).
    origin: url::Origin,
}

impl Rest {
    pub fn new(service: &'static str, token: String, base: &Url) -> Rest {
        crate::log::register_secret(&token);
        Rest {
            service,
            token: Arc::new(token),
            origin: base.origin(),
        }
    }

    /// One logical call with retries on 429 and 5xx; returns the JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, CallError> {
        Ok(self.call_full(method, url, body, what).await?.body)
    }

    /// [`Rest::call`] with the status and the headers a long-running operation needs.
    pub async fn call_full(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Reply, CallError> {
        http::check_scheme(&url, what, http::Scheme::HttpsOnly)?;
        if url.origin() != self.origin {
            return Err(AppError::new(
                Kind::Failure,
                format!(
                    "{what}: {} pointed at {}, another host; acrctl does not send its token there.",
                    self.service,
                    http::display_url(&url)
                ),
            )
            .into());
        }
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            let mut request = http::client()
                .request(method.clone(), url.clone())
                .bearer_auth(self.token.as_str())
                .header("accept", "application/json");
            if let Some(b) = body {
                request = request.json(b);
            }
            let response = http::send(request, what).await?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let async_operation = header("azure-asyncoperation");
            let location = header("location");
            let text = http::body_text(response, what).await?;
            if (200..300).contains(&status) {
                let reply = |body: Value| Reply {
                    status,
                    body,
                    async_operation: async_operation.clone(),
                    location: location.clone(),
                    retry_after,
                };
                if text.trim().is_empty() {
                    return Ok(reply(Value::Null));
                }
                return serde_json::from_str(&text).map(reply).map_err(|e| {
                    CallError::App(AppError::new(
                        Kind::Failure,
                        format!(
                            "{what}: {} answered {status} with a body that is not JSON ({e}).",
                            self.service
                        ),
                    ))
                });
            }
            let error = parse_error(self.service, status, &text);
            let retryable = status == 429 || (500..600).contains(&status);
            if retryable && attempt < MAX_RETRIES {
                let backoff = Duration::from_secs(1 << attempt);
                let delay = scaled(retry_after.map_or(backoff, |d| d.min(RETRY_AFTER_CAP)));
                if started.elapsed() + delay <= CALL_BUDGET {
                    crate::debug!(
                        "{} answered {status} {}; retrying in {} ms",
                        self.service,
                        error.code,
                        delay.as_millis()
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    continue;
                }
            }
            return Err(CallError::Api(error));
        }
    }
}

/// A successful answer: its status, JSON body and long-running-operation headers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub async_operation: Option<String>,
    pub location: Option<String>,
    pub retry_after: Option<Duration>,
}

/// The longest a long-running operation is polled, and the delay without `Retry-After`.
const LRO_BUDGET: Duration = Duration::from_secs(300);
const LRO_DEFAULT_DELAY: Duration = Duration::from_secs(2);

/// Reads `{"error":{"code","message"}}`; anything else keeps the status and a short excerpt.
fn parse_error(service: &'static str, status: u16, text: &str) -> ApiError {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let e = &v["error"];
    let code = e["code"].as_str().map(str::to_string);
    let message = e["message"].as_str().map(str::to_string);
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error");
    ApiError {
        service,
        status,
        code: code.unwrap_or_else(|| reason.replace(' ', "")),
        message: message.unwrap_or_else(|| {
            let t: String = one_line(text).chars().take(200).collect();
            if t.is_empty() {
                format!("{status} {reason} without an error body.")
            } else {
                t
            }
        }),
    }
}

/// The ARM client: the cloud's endpoint and a token for its audience.
#[derive(Clone)]
pub struct Arm {
    rest: Rest,
    base: Url,
}

impl Arm {
    pub async fn connect(ctx: &Context) -> Result<Arm, AppError> {
        let cloud = ctx.cloud().await?;
        let token = ctx
            .credentials
            .token(cloud, &cloud.arm_audience)
            .await
            .map_err(|e| match e {
                TokenError::AudienceRefused(e) | TokenError::Other(e) => e,
            })?;
        let base = cloud.arm_endpoint.clone();
        http::check_scheme(&base, "The ARM endpoint", http::Scheme::HttpsOnly)?;
        Ok(Arm {
            rest: Rest::new("ARM", token.token, &base),
            base,
        })
    }

    /// `{arm}{path}?api-version=…[&extra]`; `path` starts with `/`.
    pub fn url(&self, path: &str, api_version: &str, extra: &[(&str, &str)]) -> Url {
        let mut u = self.base.clone();
        u.set_path(path);
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("api-version", api_version);
            for (k, v) in extra {
                q.append_pair(k, v);
            }
        }
        u
    }

    pub async fn get(&self, path: &str, api_version: &str, what: &str) -> Result<Value, CallError> {
        let url = self.url(path, api_version, &[]);
        self.rest.call(Method::GET, url, None, what).await
    }

    pub async fn put(
        &self,
        path: &str,
        api_version: &str,
        body: &Value,
        what: &str,
    ) -> Result<Value, CallError> {
        let url = self.url(path, api_version, &[]);
        self.rest.call(Method::PUT, url, Some(body), what).await
    }

    pub async fn delete(
        &self,
        path: &str,
        api_version: &str,
        what: &str,
    ) -> Result<Value, CallError> {
        let url = self.url(path, api_version, &[]);
        self.rest.call(Method::DELETE, url, None, what).await
    }

    /// `PUT` that may be long-running: an `Azure-AsyncOperation` (or `Location`) answer is
    /// polled until the operation ends, then the resource is read again.
    pub async fn put_lro(
        &self,
        path: &str,
        api_version: &str,
        body: &Value,
        what: &str,
    ) -> Result<Value, CallError> {
        let url = self.url(path, api_version, &[]);
        let reply = self
            .rest
            .call_full(Method::PUT, url, Some(body), what)
            .await?;
        if reply.async_operation.is_none() && (reply.location.is_none() || reply.status == 200) {
            return Ok(reply.body);
        }
        self.wait(&reply, what).await?;
        self.get(path, api_version, what).await
    }

    /// `POST` of an action that may be long-running; returns the action's result (from
    /// the `Location` URL when the answer was 202).
    pub async fn post_lro(
        &self,
        path: &str,
        api_version: &str,
        body: &Value,
        what: &str,
    ) -> Result<Value, CallError> {
        let url = self.url(path, api_version, &[]);
        let reply = self
            .rest
            .call_full(Method::POST, url, Some(body), what)
            .await?;
        if reply.status != 202 && reply.async_operation.is_none() {
            return Ok(reply.body);
        }
        self.wait(&reply, what).await
    }

    /// Polls a long-running operation, bounded by [`LRO_BUDGET`] and honouring
    /// `Retry-After`: the `Azure-AsyncOperation` status until it ends, then (or only) the
    /// `Location` URL until it stops answering 202; returns the last body.
    async fn wait(&self, first: &Reply, what: &str) -> Result<Value, CallError> {
        let started = Instant::now();
        let parse = |u: &str| {
            Url::parse(u).map_err(|e| {
                CallError::App(AppError::new(
                    Kind::Failure,
                    format!("{what}: ARM's operation URL is not a URL ({e})."),
                ))
            })
        };
        let mut delay_hint = first.retry_after;
        let pause = |hint: Option<Duration>| {
            let d = scaled(hint.unwrap_or(LRO_DEFAULT_DELAY).min(RETRY_AFTER_CAP));
            if started.elapsed() + d > scaled(LRO_BUDGET).max(Duration::from_secs(5)) {
                return Err(CallError::App(
                    AppError::new(
                        Kind::Failure,
                        format!(
                            "{what}: ARM's operation did not finish within {} s.",
                            LRO_BUDGET.as_secs()
                        ),
                    )
                    .hint("It may still finish; check the resource in a few minutes and run the command again."),
                ));
            }
            Ok(d)
        };
        if let Some(op) = &first.async_operation {
            let url = parse(op)?;
            loop {
                let d = pause(delay_hint)?;
                tokio::time::sleep(d).await;
                let r = self
                    .rest
                    .call_full(Method::GET, url.clone(), None, what)
                    .await?;
                delay_hint = r.retry_after;
                let status = r.body["status"].as_str().unwrap_or("").to_string();
                crate::debug!("{what}: operation status {status}");
                match status.to_ascii_lowercase().as_str() {
                    "succeeded" => break,
                    "failed" | "canceled" | "cancelled" => {
                        let e = &r.body["error"];
                        return Err(CallError::Api(ApiError {
                            service: "ARM",
                            status: 200,
                            code: e["code"].as_str().unwrap_or(&status).to_string(),
                            message: e["message"]
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| format!("The operation ended {status}.")),
                        }));
                    }
                    _ => {}
                }
            }
            delay_hint = Some(Duration::ZERO);
        }
        let Some(location) = &first.location else {
            return Ok(Value::Null);
        };
        let url = parse(location)?;
        loop {
            if delay_hint != Some(Duration::ZERO) {
                let d = pause(delay_hint)?;
                tokio::time::sleep(d).await;
            }
            let r = self
                .rest
                .call_full(Method::GET, url.clone(), None, what)
                .await?;
            if r.status != 202 {
                return Ok(r.body);
            }
            delay_hint = r.retry_after.or(Some(LRO_DEFAULT_DELAY));
        }
    }

    /// A list call, following `nextLink` until the last page.
    pub async fn list(
        &self,
        path: &str,
        api_version: &str,
        filter: Option<&str>,
        what: &str,
    ) -> Result<Vec<Value>, CallError> {
        let extra: Vec<(&str, &str)> = filter.map(|f| ("$filter", f)).into_iter().collect();
        let mut next = Some(self.url(path, api_version, &extra));
        let mut out = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 1000 {
                return Err(AppError::new(
                    Kind::Failure,
                    format!("{what}: ARM returned more than 1000 pages; giving up."),
                )
                .into());
            }
            let page = self.rest.call(Method::GET, url, None, what).await?;
            if let Some(items) = page["value"].as_array() {
                out.extend(items.iter().cloned());
            }
            if let Some(link) = page["nextLink"].as_str().filter(|l| !l.is_empty()) {
                next = Some(Url::parse(link).map_err(|e| {
                    AppError::new(
                        Kind::Failure,
                        format!("{what}: ARM's nextLink is not a URL ({e})."),
                    )
                })?);
            }
        }
        Ok(out)
    }
}

/// Whether a string is a GUID (8-4-4-4-12 hex digits).
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A new random (version 4) UUID, for role assignment names.
pub fn new_uuid() -> String {
    use aws_lc_rs::rand::SecureRandom;
    let mut b = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("the system random source works");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The subscription ARM commands work in: `--subscription` (an id, or a name looked up),
/// else `AZURE_SUBSCRIPTION_ID`, else the Azure CLI's default (`azureProfile.json`), else
/// the only subscription the identity sees.
pub async fn resolve_subscription(ctx: &Context, arm: &Arm) -> Result<String, AppError> {
    if let Some(given) = ctx.subscription.as_deref().map(str::trim) {
        if is_guid(given) {
            return Ok(given.to_ascii_lowercase());
        }
        let subs = list_subscriptions(arm).await?;
        return subs
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(given))
            .map(|(id, _)| id.clone())
            .ok_or_else(|| {
                AppError::new(
                    Kind::NotFound,
                    format!("Subscription '{given}' is not one the identity can see."),
                )
                .hint(format!(
                    "Visible subscriptions: {}.",
                    describe_subscriptions(&subs)
                ))
            });
    }
    if let Some(dir) = &ctx.azure_config_dir {
        let path = dir.join("azureProfile.json");
        if let Some(id) = azure_cli_default_subscription(&path) {
            crate::debug!(
                "subscription {id}: the Azure CLI's default ({})",
                path.display()
            );
            return Ok(id);
        }
    }
    let subs = list_subscriptions(arm).await?;
    match subs.len() {
        1 => {
            crate::debug!("subscription {}: the only one the identity sees", subs[0].0);
            Ok(subs[0].0.clone())
        }
        0 => Err(AppError::new(Kind::Auth, "The identity has access to no subscription.")
            .hint("Grant it a role in the subscription that holds the cluster, or pass --subscription.")),
        _ => Err(AppError::usage(format!(
            "The identity sees {} subscriptions and none was chosen: {}.",
            subs.len(),
            describe_subscriptions(&subs)
        ))
        .hint("Pass --subscription ID, set AZURE_SUBSCRIPTION_ID, or run `az account set -s ID`.")),
    }
}

fn describe_subscriptions(subs: &[(String, String)]) -> String {
    if subs.is_empty() {
        return "none".into();
    }
    subs.iter()
        .map(|(id, name)| format!("{id} ({name})"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn list_subscriptions(arm: &Arm) -> Result<Vec<(String, String)>, AppError> {
    let what = "Listing subscriptions";
    let items = arm
        .list("/subscriptions", api::SUBSCRIPTIONS, None, what)
        .await
        .map_err(|e| e.into_app(what))?;
    Ok(items
        .iter()
        .filter_map(|s| {
            let id = s["subscriptionId"].as_str()?.to_ascii_lowercase();
            let name = s["displayName"].as_str().unwrap_or("").to_string();
            Some((id, name))
        })
        .collect())
}

/// The `isDefault` subscription of the Azure CLI's `azureProfile.json` (written with a
/// UTF-8 byte-order mark). A missing or unreadable file is no error: the next source is tried.
pub fn azure_cli_default_subscription(path: &std::path::Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_start_matches('\u{feff}');
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            crate::debug!("ignoring {}: not JSON ({e})", path.display());
            return None;
        }
    };
    v["subscriptions"]
        .as_array()?
        .iter()
        .find(|s| s["isDefault"].as_bool() == Some(true))
        .and_then(|s| s["id"].as_str())
        .filter(|id| is_guid(id))
        .map(str::to_ascii_lowercase)
}

/// A parsed ARM resource ID of a resource-group-level resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceId {
    pub subscription: String,
    pub resource_group: String,
    pub namespace: String,
    pub kind: String,
    pub name: String,
}

impl ResourceId {
    /// Parses `/subscriptions/{guid}/resourceGroups/{rg}/providers/{ns}/{type}/{name}`,
    /// requiring the namespace and type given (case-insensitive).
    pub fn parse(s: &str, namespace: &str, kind: &str) -> Option<ResourceId> {
        let segs: Vec<&str> = s.trim().trim_end_matches('/').split('/').collect();
        if segs.len() != 9
            || !segs[0].is_empty()
            || !segs[1].eq_ignore_ascii_case("subscriptions")
            || !is_guid(segs[2])
            || !segs[3].eq_ignore_ascii_case("resourceGroups")
            || segs[4].is_empty()
            || !segs[5].eq_ignore_ascii_case("providers")
            || !segs[6].eq_ignore_ascii_case(namespace)
            || !segs[7].eq_ignore_ascii_case(kind)
            || segs[8].is_empty()
        {
            return None;
        }
        Some(ResourceId {
            subscription: segs[2].to_ascii_lowercase(),
            resource_group: segs[4].to_string(),
            namespace: namespace.to_string(),
            kind: kind.to_string(),
            name: segs[8].to_string(),
        })
    }

    pub fn path(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{}/{}/{}",
            self.subscription, self.resource_group, self.namespace, self.kind, self.name
        )
    }
}

/// The last segment of a role definition ID (its GUID), lowercase.
pub fn role_guid(role_definition_id: &str) -> String {
    role_definition_id
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids() {
        assert!(is_guid("7f951dda-4ed3-4680-a7ca-43fe172d538d"));
        assert!(!is_guid("7f951dda-4ed3-4680-a7ca-43fe172d538"));
        assert!(!is_guid("registry1"));
        let u = new_uuid();
        assert!(is_guid(&u), "{u}");
        assert_eq!(&u[14..15], "4");
        assert_ne!(new_uuid(), u);
    }

    #[test]
    fn registry_ids_parse_case_insensitively() {
        let id = ResourceId::parse(
            "/subscriptions/00000000-1111-2222-3333-444444444444/resourcegroups/rg/providers/microsoft.containerregistry/Registries/Reg1",
            "Microsoft.ContainerRegistry",
            "registries",
        )
        .unwrap();
        assert_eq!(id.resource_group, "rg");
        assert_eq!(id.name, "Reg1");
        assert_eq!(id.path(), "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/Reg1");
        for bad in [
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r",
            "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/r",
            "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg",
            "subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r",
        ] {
            assert!(ResourceId::parse(bad, "Microsoft.ContainerRegistry", "registries").is_none(), "{bad}");
        }
    }

    #[test]
    fn error_bodies_become_one_line() {
        let e = parse_error(
            "ARM",
            403,
            r#"{"error":{"code":"AuthorizationFailed","message":"The client 'x'\n does not have authorization."}}"#,
        );
        assert_eq!(e.code, "AuthorizationFailed");
        let app = e.into_app("Creating the role assignment");
        assert_eq!(app.kind, Kind::Auth);
        assert!(!app.message.contains('\n'));
        let e = parse_error("ARM", 502, "<html>bad gateway</html>");
        assert_eq!(e.code, "BadGateway");
        assert!(e.message.contains("bad gateway"));
    }

    #[test]
    fn azure_profile_with_bom() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("azureProfile.json");
        std::fs::write(&p, "\u{feff}{\"installationId\":\"x\",\"subscriptions\":[{\"id\":\"11111111-1111-1111-1111-111111111111\",\"isDefault\":false},{\"id\":\"22222222-2222-2222-2222-222222222222\",\"isDefault\":true}]}").unwrap();
        assert_eq!(
            azure_cli_default_subscription(&p).as_deref(),
            Some("22222222-2222-2222-2222-222222222222")
        );
        std::fs::write(&p, "not json").unwrap();
        assert_eq!(azure_cli_default_subscription(&p), None);
    }

    #[test]
    fn role_guid_is_the_lowercase_tail() {
        assert_eq!(
            role_guid("/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/7F951DDA-4ED3-4680-A7CA-43FE172D538D"),
            "7f951dda-4ed3-4680-a7ca-43fe172d538d"
        );
    }
}
