//! The one HTTP client of the process. Every call (the credential library's included)
//! goes through it, so trust (`SSL_CERT_FILE`), proxies (`HTTPS_PROXY`, `NO_PROXY`) and
//! timeouts are the same everywhere.

use crate::error::{network_error, AppError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();

pub const USER_AGENT: &str = concat!("acrctl/", env!("CARGO_PKG_VERSION"));

/// Per-request limit; `ACRCTL_TIMEOUT` (seconds) overrides it.
pub fn timeout() -> Duration {
    let secs = std::env::var("ACRCTL_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(30.0);
    Duration::from_secs_f64(secs)
}

/// Built on first use, so commands that make no call (`--version`, `--help`) pay nothing.
pub fn client() -> &'static reqwest::Client {
    CLIENT.get_or_init(|| {
        let total = timeout();
        reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(total.min(Duration::from_secs(10)))
            .timeout(total)
            // Registries and Entra never redirect the calls we make; a redirect is a
            // misconfigured proxy or endpoint and is reported as such.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client configuration is static and valid")
    })
}

/// Whether plain http is acceptable for this endpoint. Only the managed-identity
/// endpoints are served over http by Azure itself (cli-contract.md, "Where acrctl finds Azure").
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    HttpsOnly,
    HttpAllowed,
}

/// Refuses a URL before any network I/O when its scheme is not acceptable.
pub fn check_scheme(url: &url::Url, what: &str, scheme: Scheme) -> Result<(), AppError> {
    match (url.scheme(), scheme) {
        ("https", _) => Ok(()),
        ("http", Scheme::HttpAllowed) => Ok(()),
        (other, _) => Err(AppError::usage(format!(
            "{what}: {url} uses {other}://; acrctl only talks https to Azure endpoints."
        ))
        .hint("Use an https:// endpoint (tokens must never cross the network in clear text).")),
    }
}

/// Sends a request, logging it under `--debug`, and turns transport failures into
/// network errors that name `what` was being done.
pub async fn send(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<reqwest::Response, AppError> {
    let request = request
        .build()
        .map_err(|e| AppError::new(crate::error::Kind::Failure, format!("{what}: {e}")))?;
    let method = request.method().clone();
    let url = request.url().clone();
    let shown = display_url(&url);
    let started = Instant::now();
    crate::debug!("{method} {shown}");
    match client().execute(request).await {
        Ok(response) => {
            crate::debug!(
                "{method} {shown} -> {} ({} ms)",
                response.status().as_u16(),
                started.elapsed().as_millis()
            );
            Ok(response)
        }
        Err(err) => {
            crate::debug!(
                "{method} {shown} -> transport error after {} ms",
                started.elapsed().as_millis()
            );
            Err(network_error(what, &shown, &err))
        }
    }
}

/// The URL without its query (query strings never carry secrets here, but they are noise).
pub fn display_url(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

/// Reads a response body as text, bounded so that a hostile or broken server cannot make
/// us buffer gigabytes; transport failures mid-body are network errors.
pub async fn body_text(response: reqwest::Response, what: &str) -> Result<String, AppError> {
    const LIMIT: usize = 4 * 1024 * 1024;
    let url = display_url(response.url());
    let mut response = response;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > LIMIT {
                    return Err(AppError::new(
                        crate::error::Kind::Failure,
                        format!("{what}: the answer from {url} is larger than 4 MiB."),
                    ));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(err) => return Err(network_error(what, &url, &err)),
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The transport handed to azure_identity: the same client, with the same `--debug` lines
/// as every other call (the request bodies, which carry secrets, are never shown).
#[derive(Debug)]
pub struct SdkTransport;

#[async_trait::async_trait]
impl azure_core::http::HttpClient for SdkTransport {
    async fn execute_request(
        &self,
        request: &azure_core::http::Request,
    ) -> azure_core::Result<azure_core::http::AsyncRawResponse> {
        let shown = display_url(request.url());
        let method = request.method();
        let started = Instant::now();
        crate::debug!("{method} {shown}");
        let result = azure_core::http::HttpClient::execute_request(client(), request).await;
        match &result {
            Ok(r) => crate::debug!(
                "{method} {shown} -> {} ({} ms)",
                u16::from(r.status()),
                started.elapsed().as_millis()
            ),
            Err(_) => crate::debug!(
                "{method} {shown} -> transport error after {} ms",
                started.elapsed().as_millis()
            ),
        }
        result
    }
}

/// How often a retryable failure is tried again, and the longest wait honoured from a
/// `Retry-After` header.
const MAX_ATTEMPTS: u32 = 3;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Like [`send`], but tries again what is worth trying again: 429 and 502/503/504 answers
/// (after their `Retry-After`, capped, else a short backoff) and connections that were
/// closed or reset without an answer. Timeouts are not retried: the caller already
/// waited the whole limit once.
pub async fn send_retrying(
    make: impl Fn() -> reqwest::RequestBuilder,
    what: &str,
) -> Result<reqwest::Response, AppError> {
    let mut attempt = 1;
    loop {
        let result = send(make(), what).await;
        let delay = match &result {
            Ok(r) if matches!(r.status().as_u16(), 429 | 502 | 503 | 504) => {
                Some(retry_after(r).unwrap_or_else(|| backoff(attempt)))
            }
            Err(e)
                if e.kind == crate::error::Kind::Network
                    && e.message.contains("closed the connection") =>
            {
                Some(backoff(attempt))
            }
            _ => None,
        };
        match delay {
            Some(d) if attempt < MAX_ATTEMPTS => {
                crate::debug!(
                    "{what}: retrying in {} ms (attempt {} of {MAX_ATTEMPTS})",
                    d.as_millis(),
                    attempt + 1
                );
                tokio::time::sleep(d).await;
                attempt += 1;
            }
            _ => return result,
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * 2u64.pow(attempt - 1))
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Azure's token services).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let secs = response
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}
