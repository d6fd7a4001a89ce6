//! `acrctl auth login | status | logout`: a user's own Entra session, so that a
//! workstation needs no Azure CLI (az login / az account show / az logout).

use crate::auth_flow::{self, Client};
use crate::cache;
use crate::cli::{AuthLoginArgs, OutputFormat};
use crate::context::Context;
use crate::error::{AppError, Kind};
use crate::session::{self, Session, Store};
use serde_json::{json, Value};

fn store() -> Result<Store, AppError> {
    let store = Store::new(session::default_dir());
    if store.path().is_none() {
        return Err(AppError::new(
            Kind::Failure,
            "No directory for the acrctl session: neither ACRCTL_STATE_DIR nor a home directory is set.",
        )
        .hint("Set ACRCTL_STATE_DIR to a private directory."));
    }
    Ok(store)
}

pub async fn login(ctx: &Context, args: AuthLoginArgs) -> Result<u8, AppError> {
    let tenant = args
        .tenant
        .clone()
        .unwrap_or_else(|| auth_flow::DEFAULT_TENANT.to_string());
    if tenant.is_empty()
        || !tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(
            AppError::usage(format!("--tenant '{tenant}' is not a tenant id or domain."))
                .hint("Pass a tenant id (GUID) or a domain such as contoso.onmicrosoft.com."),
        );
    }
    let client_id = args
        .client_id
        .clone()
        .unwrap_or_else(|| auth_flow::DEFAULT_CLIENT_ID.to_string());
    let store = store()?;
    let cloud = ctx.cloud().await?;
    let client = Client::new(&cloud.authority_host, &tenant, &client_id)?;
    let scope = auth_flow::login_scope(&cloud.arm_audience, &args.scopes);
    let tokens = if args.use_device_code {
        client.device_code(&scope).await?
    } else {
        match auth_flow::find_browser() {
            Some(browser) => {
                client
                    .browser(&scope, |url| auth_flow::open(&browser, url))
                    .await?
            }
            None => {
                crate::log::info(
                    "No browser can be opened here (no display, e.g. over SSH); using the device code flow.",
                );
                client.device_code(&scope).await?
            }
        }
    };
    let refresh_token = tokens.refresh_token.clone().ok_or_else(|| {
        AppError::new(
            Kind::Auth,
            "Entra ID signed you in but returned no refresh token.",
        )
        .hint("The client id must allow the offline_access scope; try without --client-id.")
    })?;
    let object_id = tokens.object_id().ok_or_else(|| {
        AppError::new(
            Kind::Auth,
            "Entra ID's answer names no user (no oid claim).",
        )
        .hint("Sign in with a user account, or use a service principal through AZURE_CLIENT_ID.")
    })?;
    let tid = tokens.tenant().unwrap_or_else(|| tenant.clone());
    let user = tokens.user().unwrap_or_else(|| object_id.clone());
    let now = cache::now();
    let new = Session {
        version: 1,
        authority: cloud.authority_host.to_string(),
        tenant: tid.clone(),
        client_id,
        user: user.clone(),
        object_id,
        scopes: args.scopes.clone(),
        refresh_token,
        signed_in_at: now,
        refreshed_at: now,
    };
    // Whoever was signed in before goes, with the tokens minted for them.
    let _ = store.remove();
    ctx.cache
        .remove_where(|k| k.contains(session::CACHE_MARKER));
    store.save(&new)?;
    ctx.cache.put(
        &cache::key::entra(
            cloud.authority_host.as_str(),
            &new.identity(),
            &cloud.arm_audience,
        ),
        cache::Entry {
            value: tokens.access_token.clone(),
            expires_on: tokens.expires_on,
            tenant: Some(tid.clone()),
        },
    );
    crate::log::info(&format!("Signed in as {user} (tenant {tid})."));
    ctx.printer.print(&account(&new, &store))?;
    Ok(0)
}

fn account(s: &Session, store: &Store) -> Value {
    json!({
        "user": s.user,
        "objectId": s.object_id,
        "tenant": s.tenant,
        "authority": s.authority,
        "clientId": s.client_id,
        "signedInAt": rfc3339(s.signed_in_at),
        "sessionFile": store.path().map(|p| p.display().to_string()),
    })
}

pub async fn status(ctx: &Context) -> Result<u8, AppError> {
    let store = store()?;
    let Some(s) = store.load()? else {
        return Err(AppError::new(Kind::Auth, "Not signed in.").hint("Run `acrctl auth login`."));
    };
    let marker = format!("|{}|", s.identity());
    let mut cached: Vec<Value> = ctx
        .cache
        .expiries()
        .into_iter()
        .filter(|(k, _)| k.contains(&marker))
        .filter_map(|(k, exp)| {
            let mut parts = k.split('|');
            let kind = parts.next()?;
            let resource = parts.nth(2)?;
            let kind = match kind {
                "entra" => "entra",
                "acr" => "acr",
                _ => return None,
            };
            Some(json!({"kind": kind, "resource": resource, "expiresOn": rfc3339(exp)}))
        })
        .collect();
    cached.sort_by_key(|c| c.to_string());
    let mut data = account(&s, &store);
    data["lastRefresh"] = json!(rfc3339(s.refreshed_at));
    data["cachedTokens"] = Value::Array(cached);
    if ctx.printer.format == OutputFormat::Table && ctx.global.query.is_none() {
        print!("{}", human(&data));
        return Ok(0);
    }
    ctx.printer.print(&data)?;
    Ok(0)
}

fn human(d: &Value) -> String {
    let t = |k: &str| d[k].as_str().unwrap_or("").to_string();
    let mut out = format!(
        "Signed in as {} (object id {})\nTenant:     {}\nAuthority:  {}\nClient id:  {}\nSigned in:  {} (last refresh {})\nSession:    {}\n",
        t("user"),
        t("objectId"),
        t("tenant"),
        t("authority"),
        t("clientId"),
        t("signedInAt"),
        t("lastRefresh"),
        t("sessionFile"),
    );
    let rows = d["cachedTokens"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        out.push_str("Cached tokens: none (minted from the session on demand)\n");
        return out;
    }
    out.push_str("Cached tokens:\n");
    let label = |r: &Value| match r["kind"].as_str() {
        Some("acr") => "ACR refresh token",
        _ => "Entra access token",
    };
    let width = rows
        .iter()
        .map(|r| r["resource"].as_str().unwrap_or("").len())
        .max()
        .unwrap_or(0)
        .max(8);
    out.push_str(&format!(
        "  {:<18}  {:<width$}  {}\n",
        "Kind", "Resource", "Expires (UTC)"
    ));
    for r in &rows {
        out.push_str(&format!(
            "  {:<18}  {:<width$}  {}\n",
            label(r),
            r["resource"].as_str().unwrap_or(""),
            r["expiresOn"].as_str().unwrap_or("")
        ));
    }
    out
}

pub fn logout(ctx: &Context) -> Result<u8, AppError> {
    let store = store()?;
    let removed = store.remove()?;
    let tokens = ctx
        .cache
        .remove_where(|k| k.contains(session::CACHE_MARKER));
    let who = match &removed {
        Some(Ok(s)) => format!("Signed out {}", s.user),
        Some(Err(_)) => "Removed a corrupt session file".to_string(),
        None => "Not signed in".to_string(),
    };
    crate::log::info(&format!(
        "{who}; removed {tokens} cached token{}.",
        if tokens == 1 { "" } else { "s" }
    ));
    Ok(0)
}

/// `2024-05-01T12:00:00Z`.
fn rfc3339(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => secs.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
