//! The docker-credential-helpers protocol (docker/docker-credential-helpers,
//! `credentials/credentials.go`), answered from the credential chain and the token cache:
//! `docker-credential-acrctl get` (argv[0]) or `acrctl credential-helper get`.
//!
//! The protocol's own rules apply here, not acrctl's: the server URL arrives on stdin,
//! answers and errors go to stdout, and every failure exits 1. "Not found" is the exact
//! message docker treats as "no credentials".

use crate::acr;
use crate::cache::{self, Entry};
use crate::cli::HelperAction;
use crate::commands::login::{acr_refresh_token, AudiencePlan};
use crate::context::Context;
use crate::error::AppError;
use std::io::{Read, Write};
use std::time::Duration;

pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// Registry DNS suffixes of the built-in clouds.
const ACR_SUFFIXES: [&str; 3] = ["azurecr.io", "azurecr.cn", "azurecr.us"];

pub async fn run(ctx: &Context, action: HelperAction) -> u8 {
    let result = match action {
        HelperAction::Get => get(ctx).await,
        HelperAction::Store => {
            // Tokens come from the credential chain; what docker hands over is not kept.
            let _ = read_stdin();
            Ok(String::new())
        }
        HelperAction::Erase => erase(ctx),
        HelperAction::List => Ok(list(ctx)),
        HelperAction::Version => Ok(format!(
            "docker-credential-acrctl (acrctl {})\n",
            env!("CARGO_PKG_VERSION")
        )),
    };
    let (text, code) = match result {
        Ok(text) => (text, 0),
        Err(message) => (format!("{}\n", crate::log::redact(&message)), 1),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    code
}

fn read_stdin() -> Result<String, String> {
    let mut buf = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut buf)
        .map_err(|e| format!("reading stdin: {e}"))?;
    Ok(buf.trim().to_string())
}

/// `https://host:port/path` or `host` → `host[:port]`, lowercase.
fn host_of(server_url: &str) -> String {
    let s = server_url.trim();
    let s = s.split_once("://").map(|(_, rest)| rest).unwrap_or(s);
    s.split('/').next().unwrap_or("").to_ascii_lowercase()
}

async fn get(ctx: &Context) -> Result<String, String> {
    let server_url = read_stdin()?;
    if server_url.is_empty() {
        return Err("no server URL on stdin".into());
    }
    let host = host_of(&server_url);
    if acr::login_server(&host, None, "azurecr.io").is_err() {
        return Err(NOT_FOUND.into());
    }
    if !is_acr_registry(ctx, &host).await {
        crate::debug!("{host} is not a registry acrctl serves");
        return Err(NOT_FOUND.into());
    }
    let token = acr_refresh_token(ctx, &host, &AudiencePlan::AcrThenArm)
        .await
        .map_err(|e: AppError| e.one_line())?;
    Ok(
        serde_json::json!({"ServerURL": server_url, "Username": "<token>", "Secret": token})
            .to_string()
            + "\n",
    )
}

/// Hosts under a known ACR suffix are served; any other host is probed once (its `/v2/`
/// challenge must name an ACR-style realm, `…/oauth2/token`, on the same origin) and the
/// verdict kept in the cache for a day.
async fn is_acr_registry(ctx: &Context, host: &str) -> bool {
    let bare = host.split(':').next().unwrap_or(host);
    let mut suffixes: Vec<String> = ACR_SUFFIXES.iter().map(|s| s.to_string()).collect();
    if let Ok(cloud) = ctx.cloud().await {
        suffixes.push(cloud.acr_suffix.clone());
    }
    if suffixes.iter().any(|s| bare.ends_with(&format!(".{s}"))) {
        return true;
    }
    let key = cache::key::registry_kind(host);
    if let Some(e) = ctx.cache.get(&key) {
        return e.value == "acr";
    }
    let verdict = probe(host).await;
    ctx.cache.put(
        &key,
        Entry {
            value: if verdict { "acr" } else { "other" }.into(),
            expires_on: cache::now() + 86_400,
            tenant: None,
        },
    );
    verdict
}

async fn probe(host: &str) -> bool {
    let request = crate::http::client()
        .get(format!("https://{host}/v2/"))
        .timeout(Duration::from_secs(3));
    let Ok(response) = request.send().await else {
        return false;
    };
    if response.status().as_u16() != 401 {
        return false;
    }
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|h| {
            acr::parse_www_authenticate(h)
                .unwrap_or_default()
                .iter()
                .any(|c| {
                    c.scheme.eq_ignore_ascii_case("bearer")
                        && c.param("realm")
                            .and_then(|r| url::Url::parse(r).ok())
                            .is_some_and(|r| {
                                r.path() == "/oauth2/token"
                                    && r.host_str().map(|h| host.starts_with(h)).unwrap_or(false)
                            })
                })
        })
}

fn erase(ctx: &Context) -> Result<String, String> {
    let host = host_of(&read_stdin()?);
    ctx.cache
        .remove_where(|k| cache::key::acr_server(k) == Some(host.as_str()));
    Ok(String::new())
}

fn list(ctx: &Context) -> String {
    let mut map = serde_json::Map::new();
    for key in ctx.cache.keys() {
        if let Some(server) = cache::key::acr_server(&key) {
            map.insert(
                server.to_string(),
                serde_json::Value::String("<token>".into()),
            );
        }
    }
    serde_json::Value::Object(map).to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_become_hosts() {
        assert_eq!(host_of("https://MyReg.azurecr.io/v2/"), "myreg.azurecr.io");
        assert_eq!(host_of("myreg.azurecr.io"), "myreg.azurecr.io");
        assert_eq!(host_of(" 127.0.0.1:5000 \n"), "127.0.0.1:5000");
    }
}
