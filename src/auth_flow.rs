//! A small OAuth 2.0 public client for Entra ID v2 (Microsoft identity platform), written
//! from the protocol: the device authorization grant (RFC 8628), the authorization code
//! flow with PKCE S256 (RFC 7636) and a loopback redirect on 127.0.0.1 (RFC 8252), and the
//! refresh-token grant (Entra rotates refresh tokens: the caller stores the new one).
//!
//! Every code and token that enters the process is registered as a secret first, so that
//! `--debug` and error messages never show one. No clap here.

use crate::error::{AppError, Kind};
use crate::http;
use base64::Engine;
use serde::Deserialize;
use std::time::{Duration, Instant};
use url::Url;

/// The Azure CLI's well-known public client id ("Microsoft Azure CLI", first-party,
/// multi-tenant, pre-authorized for ARM, ACR and Graph delegated scopes in every tenant).
pub const DEFAULT_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
/// Users of any work or school tenant, as `az login` without `--tenant`.
pub const DEFAULT_TENANT: &str = "organizations";

const OIDC_SCOPES: &str = "offline_access openid profile";
/// How long the browser flow waits for the redirect.
const BROWSER_WAIT: Duration = Duration::from_secs(300);

/// Where the flows talk to: `{authority}/{tenant}/oauth2/v2.0/…`.
#[derive(Clone, Debug)]
pub struct Client {
    pub authority: Url,
    pub tenant: String,
    pub client_id: String,
}

/// What a successful grant returns.
pub struct Tokens {
    pub access_token: String,
    pub expires_on: i64,
    pub refresh_token: Option<String>,
    /// The id token's claims, else the access token's (who signed in).
    pub claims: serde_json::Value,
}

impl Tokens {
    fn claim(&self, names: &[&str]) -> Option<String> {
        names
            .iter()
            .find_map(|n| self.claims.get(*n).and_then(|v| v.as_str()))
            .map(str::to_string)
    }
    pub fn user(&self) -> Option<String> {
        self.claim(&["preferred_username", "upn", "unique_name", "email"])
    }
    pub fn object_id(&self) -> Option<String> {
        self.claim(&["oid", "sub"])
    }
    pub fn tenant(&self) -> Option<String> {
        self.claim(&["tid"])
            .or_else(|| crate::jwt::tenant(&self.access_token))
    }
}

/// Why a grant failed.
#[derive(Debug)]
pub enum GrantError {
    /// Entra answered with an OAuth error: `error`, and the AADSTS summary line.
    Refused {
        error: String,
        summary: String,
    },
    Other(AppError),
}

impl From<AppError> for GrantError {
    fn from(e: AppError) -> Self {
        GrantError::Other(e)
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct DeviceCodeResponse {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    interval: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
}

/// Entra sends numbers, some proxies and older endpoints strings.
fn number(v: &Option<serde_json::Value>) -> Option<i64> {
    match v.as_ref()? {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The scopes of a sign-in: the resource's `/.default`, the OIDC scopes for a refresh
/// token and an id token, and any extra scopes.
pub fn login_scope(resource: &str, extra: &[String]) -> String {
    let mut s = format!("{} {OIDC_SCOPES}", crate::cloud::scope_for(resource));
    for e in extra {
        s.push(' ');
        s.push_str(e);
    }
    s
}

impl Client {
    pub fn new(authority: &Url, tenant: &str, client_id: &str) -> Result<Client, AppError> {
        http::check_scheme(
            authority,
            "The Entra login endpoint",
            http::Scheme::HttpsOnly,
        )?;
        Ok(Client {
            authority: authority.clone(),
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
        })
    }

    fn endpoint(&self, leaf: &str) -> Result<Url, AppError> {
        let base = format!("{}/", self.authority.as_str().trim_end_matches('/'));
        Url::parse(&base)
            .and_then(|b| b.join(&format!("{}/oauth2/v2.0/{leaf}", self.tenant)))
            .map_err(|e| {
                AppError::usage(format!(
                    "The tenant '{}' does not make a valid Entra URL ({e}).",
                    self.tenant
                ))
                .hint("Pass a tenant id (GUID) or domain with --tenant.")
            })
    }

    /// POSTs a grant to the token endpoint.
    pub async fn grant(&self, form: &[(&str, &str)], what: &str) -> Result<Tokens, GrantError> {
        let url = self.endpoint("token")?;
        let mut body: Vec<(&str, &str)> = vec![("client_id", self.client_id.as_str())];
        body.extend_from_slice(form);
        let response =
            http::send_retrying(|| http::client().post(url.clone()).form(&body), what).await?;
        let status = response.status();
        let text = http::body_text(response, what).await?;
        if status.is_success() {
            let t: TokenResponse = serde_json::from_str(&text).map_err(|e| {
                AppError::new(
                    Kind::Failure,
                    format!("{what}: the token endpoint's answer is not a token response ({e})."),
                )
            })?;
            crate::log::register_secret(&t.access_token);
            if let Some(r) = &t.refresh_token {
                crate::log::register_secret(r);
            }
            if let Some(i) = &t.id_token {
                crate::log::register_secret(i);
            }
            let expires_on = number(&t.expires_in)
                .map(|s| crate::cache::now() + s)
                .or_else(|| crate::jwt::expires_at(&t.access_token))
                .unwrap_or_else(|| crate::cache::now() + 300);
            let claims = t
                .id_token
                .as_deref()
                .and_then(crate::jwt::claims)
                .or_else(|| crate::jwt::claims(&t.access_token))
                .unwrap_or_default();
            return Ok(Tokens {
                access_token: t.access_token,
                expires_on,
                refresh_token: t.refresh_token,
                claims,
            });
        }
        match serde_json::from_str::<ErrorResponse>(&text) {
            Ok(e) => {
                let summary = e
                    .error_description
                    .as_deref()
                    .map(crate::credential::first_line)
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| e.error.clone());
                Err(GrantError::Refused {
                    error: e.error,
                    summary,
                })
            }
            Err(_) => Err(GrantError::Other(AppError::new(
                if status.as_u16() == 401 || status.as_u16() == 403 {
                    Kind::Auth
                } else {
                    Kind::Failure
                },
                format!("{what}: {} answered {status}.", http::display_url(&url)),
            ))),
        }
    }

    /// Redeems a refresh token for a token for `scope`; the answer carries a new refresh
    /// token (Entra rotates them).
    pub async fn refresh(&self, refresh_token: &str, scope: &str) -> Result<Tokens, GrantError> {
        self.grant(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("scope", scope),
            ],
            "Refreshing the acrctl auth login session",
        )
        .await
    }

    /// The device authorization grant: shows the code on stderr and polls until the user
    /// signs in, declines, or the code expires.
    pub async fn device_code(&self, scope: &str) -> Result<Tokens, AppError> {
        let what = "Starting the device code sign-in";
        let url = self.endpoint("devicecode")?;
        let response = http::send_retrying(
            || {
                http::client()
                    .post(url.clone())
                    .form(&[("client_id", self.client_id.as_str()), ("scope", scope)])
            },
            what,
        )
        .await?;
        let status = response.status();
        let text = http::body_text(response, what).await?;
        if !status.is_success() {
            return Err(refused_sign_in(&text, status));
        }
        let d: DeviceCodeResponse = serde_json::from_str(&text).map_err(|e| {
            AppError::new(
                Kind::Failure,
                format!("{what}: the answer is not a device code response ({e})."),
            )
        })?;
        crate::log::register_secret(&d.device_code);
        let lifetime = number(&d.expires_in).unwrap_or(900).max(1);
        let mut interval = number(&d.interval).unwrap_or(5).max(0) as u64;
        // Entra answers `expired_token` once the code has expired; the local deadline,
        // a little later, only guards against a server that never does.
        let deadline = Instant::now() + Duration::from_secs(lifetime as u64 + 5);
        // The user code and the page are meant to be shown (never the device code), and
        // `--only-show-errors` must not hide them.
        eprintln!(
            "{}",
            d.message.clone().unwrap_or_else(|| format!(
                "To sign in, use a web browser to open the page {} and enter the code {} to authenticate.",
                d.verification_uri, d.user_code
            ))
        );
        loop {
            tokio::time::sleep(Duration::from_secs(interval)).await;
            if Instant::now() >= deadline {
                return Err(expired(lifetime));
            }
            match self
                .grant(
                    &[
                        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                        ("device_code", d.device_code.as_str()),
                    ],
                    "Waiting for the device code sign-in",
                )
                .await
            {
                Ok(t) => return Ok(t),
                Err(GrantError::Refused { error, summary }) => match error.as_str() {
                    "authorization_pending" => {}
                    "slow_down" => {
                        interval += 5;
                        crate::debug!("slow_down: polling every {interval} s");
                    }
                    "expired_token" => return Err(expired(lifetime)),
                    "authorization_declined" => {
                        return Err(AppError::new(
                            Kind::Auth,
                            format!("The sign-in was declined ({summary})."),
                        )
                        .hint("Run `acrctl auth login` again and accept the sign-in."))
                    }
                    _ => return Err(sign_in_refused(&summary)),
                },
                Err(GrantError::Other(e)) => return Err(e),
            }
        }
    }

    /// The authorization code flow with PKCE: a loopback listener on 127.0.0.1, the
    /// authorize URL printed on stderr (and opened with `open_browser`), the redirect's
    /// code redeemed with the verifier.
    pub async fn browser(
        &self,
        scope: &str,
        open_browser: impl FnOnce(&str),
    ) -> Result<Tokens, AppError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| {
                AppError::new(
                    Kind::Failure,
                    format!("Could not listen on 127.0.0.1 for the sign-in redirect: {e}."),
                )
                .hint("Use `acrctl auth login --use-device-code`.")
            })?;
        let port = listener
            .local_addr()
            .map_err(|e| AppError::new(Kind::Failure, format!("loopback listener: {e}")))?
            .port();
        let redirect_uri = format!("http://127.0.0.1:{port}/");
        let verifier = random_b64(32);
        crate::log::register_secret(&verifier);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
        );
        let state = random_b64(16);
        let mut url = self.endpoint("authorize")?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("response_mode", "query")
            .append_pair("scope", scope)
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("prompt", "select_account");
        eprintln!(
            "Sign in in your browser. If none opens, open this URL:\n{url}\n(or press Ctrl-C and run `acrctl auth login --use-device-code`)"
        );
        open_browser(url.as_str());
        let code = tokio::time::timeout(BROWSER_WAIT, wait_for_code(&listener, &state))
            .await
            .map_err(|_| {
                AppError::new(
                    Kind::Auth,
                    format!(
                        "No sign-in arrived within {} minutes.",
                        BROWSER_WAIT.as_secs() / 60
                    ),
                )
                .hint("Run `acrctl auth login` again, or use --use-device-code where no browser can reach this machine.")
            })??;
        crate::log::register_secret(&code);
        match self
            .grant(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", redirect_uri.as_str()),
                    ("code_verifier", verifier.as_str()),
                    ("scope", scope),
                ],
                "Redeeming the sign-in code",
            )
            .await
        {
            Ok(t) => Ok(t),
            Err(GrantError::Refused { summary, .. }) => Err(sign_in_refused(&summary)),
            Err(GrantError::Other(e)) => Err(e),
        }
    }
}

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("the system's randomness is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

fn expired(lifetime: i64) -> AppError {
    AppError::new(
        Kind::Auth,
        format!(
            "The sign-in code expired before the sign-in was completed (it is valid for {} s).",
            lifetime
        ),
    )
    .hint("Run `acrctl auth login` again and enter the new code in time.")
}

fn sign_in_refused(summary: &str) -> AppError {
    AppError::new(
        Kind::Auth,
        format!("Entra ID refused the sign-in: {summary}"),
    )
    .hint("Run `acrctl auth login` again; check --tenant and --client-id.")
}

fn refused_sign_in(body: &str, status: reqwest::StatusCode) -> AppError {
    match serde_json::from_str::<ErrorResponse>(body) {
        Ok(e) => sign_in_refused(
            &e.error_description
                .as_deref()
                .map(crate::credential::first_line)
                .unwrap_or(e.error),
        ),
        Err(_) => AppError::new(
            Kind::Failure,
            format!("Starting the sign-in: Entra answered {status}."),
        ),
    }
}

/// Serves the loopback listener until a request carries the expected `state` with a
/// `code` (or an `error`); anything else (a favicon, a stale tab) gets a 404 or 400.
async fn wait_for_code(
    listener: &tokio::net::TcpListener,
    expected_state: &str,
) -> Result<String, AppError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let mut buf = Vec::with_capacity(2048);
        let mut chunk = [0u8; 2048];
        let head_done = loop {
            match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break false,
                Ok(Ok(n)) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        break true;
                    }
                    if buf.len() > 16 * 1024 {
                        break false;
                    }
                }
            }
        };
        if !head_done {
            continue;
        }
        let head = String::from_utf8_lossy(&buf);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("GET "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or("");
        let parsed = Url::parse(&format!("http://127.0.0.1{target}")).ok();
        let pairs: std::collections::HashMap<String, String> = parsed
            .as_ref()
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default();
        if let Some(c) = pairs.get("code") {
            crate::log::register_secret(c);
        }
        let (status, page, outcome) =
            if pairs.get("state").map(String::as_str) != Some(expected_state) {
                if pairs.contains_key("code") || pairs.contains_key("error") {
                    (
                        "400 Bad Request",
                        "This sign-in answer does not belong to the running acrctl auth login.",
                        None,
                    )
                } else {
                    ("404 Not Found", "Not found.", None)
                }
            } else if let Some(code) = pairs.get("code") {
                (
                    "200 OK",
                    "Signed in to acrctl. You can close this window.",
                    Some(Ok(code.clone())),
                )
            } else {
                let error = pairs.get("error").cloned().unwrap_or_default();
                let description = pairs
                    .get("error_description")
                    .map(|d| crate::credential::first_line(d))
                    .unwrap_or_default();
                (
                    "200 OK",
                    "The sign-in failed; see the terminal.",
                    Some(Err(AppError::new(
                        Kind::Auth,
                        format!("The sign-in failed: {error} {description}")
                            .trim()
                            .to_string(),
                    )
                    .hint("Run `acrctl auth login` again."))),
                )
            };
        let body = format!("<!doctype html><title>acrctl</title><p>{page}</p>\n");
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        if let Some(outcome) = outcome {
            return outcome;
        }
    }
}

/// How the browser flow reaches a browser: `ACRCTL_BROWSER` (a program, or `none` to
/// only print the URL), else the platform's opener where a display exists.
#[derive(Clone, Debug, PartialEq)]
pub enum Browser {
    Program(String),
    PrintOnly,
}

/// `None` when no browser can be reached (no display, e.g. over SSH): use the device code.
pub fn find_browser() -> Option<Browser> {
    if let Some(v) = std::env::var("ACRCTL_BROWSER")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return Some(if v.trim().eq_ignore_ascii_case("none") {
            Browser::PrintOnly
        } else {
            Browser::Program(v.trim().to_string())
        });
    }
    if cfg!(target_os = "macos") {
        return Some(Browser::Program("open".into()));
    }
    if cfg!(windows) {
        return Some(Browser::Program("explorer".into()));
    }
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if set("WSL_DISTRO_NAME") {
        return Some(Browser::Program("wslview".into()));
    }
    if set("DISPLAY") || set("WAYLAND_DISPLAY") {
        return Some(Browser::Program("xdg-open".into()));
    }
    None
}

/// Spawns the browser with the authorize URL (which holds no secret) and does not wait.
pub fn open(browser: &Browser, url: &str) {
    let Browser::Program(program) = browser else {
        return;
    };
    let spawned = std::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        crate::log::warn(&format!(
            "Could not start {program} to open the browser ({e}); open the URL above yourself."
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_scope_asks_for_a_refresh_token() {
        let s = login_scope("https://management.core.windows.net/", &["x/y".into()]);
        assert_eq!(
            s,
            "https://management.core.windows.net//.default offline_access openid profile x/y"
        );
    }

    #[test]
    fn endpoints_keep_the_authority_path() {
        let c = Client::new(
            &Url::parse("https://login.example/adfs").unwrap(),
            "organizations",
            DEFAULT_CLIENT_ID,
        )
        .unwrap();
        assert_eq!(
            c.endpoint("token").unwrap().as_str(),
            "https://login.example/adfs/organizations/oauth2/v2.0/token"
        );
        assert!(Client::new(&Url::parse("http://login.example").unwrap(), "t", "c").is_err());
    }

    #[test]
    fn pkce_verifier_is_long_enough() {
        // RFC 7636: 43 to 128 characters.
        assert_eq!(random_b64(32).len(), 43);
    }
}
