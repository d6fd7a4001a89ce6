//! `acrctl login` (az acr login): for each registry, the `/v2/` challenge, an Entra
//! token, the exchange for an ACR refresh token; then either print it
//! (`--expose-token`) or store it where docker, podman and helm read credentials.
//! Registries are handled concurrently; one failing does not stop the others.

use crate::acr::{self, ExchangeError, RegistryChallenge, NULL_GUID_USERNAME};
use crate::cache;
use crate::cli::{LoginArgs, OutputFormat, Target};
use crate::cloud::{Cloud, ACR_AUDIENCE};
use crate::context::Context;
use crate::credential::TokenError;
use crate::error::{AppError, Kind};
use crate::stores::auth_file::{AuthFile, Credential, Stored};
use crate::stores::Client;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// How many registries are worked on at once.
const PARALLEL_LOGINS: usize = 32;

pub async fn run(ctx: Arc<Context>, args: LoginArgs) -> Result<u8, AppError> {
    // Everything that can be checked without the network is checked first.
    let clients = clients(&args.targets);
    let basic = read_basic_credentials(&args)?;
    let audience = AudiencePlan::parse(args.audience.as_deref())?;
    let region = args.endpoint.as_deref().map(region_name).transpose()?;
    let mut servers = login_servers(&ctx, &args.names, args.suffix.as_deref()).await?;
    if let Some(region) = &region {
        servers = regional_endpoints(&ctx, &servers, region).await?;
    }

    let limit = Arc::new(Semaphore::new(PARALLEL_LOGINS));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, server) in servers.iter().enumerate() {
        let (ctx, server, basic, audience, limit) = (
            ctx.clone(),
            server.clone(),
            basic.clone(),
            audience.clone(),
            limit.clone(),
        );
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let result = match &basic {
                Some((username, password)) => {
                    login_with_password(&server, username, password).await
                }
                None => acr_refresh_token(&ctx, &server, &audience)
                    .await
                    .map(Credential::IdentityToken),
            };
            (index, result)
        });
    }
    let mut results: Vec<Option<Result<Credential, AppError>>> =
        (0..servers.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined
            .map_err(|e| AppError::new(Kind::Failure, format!("A login task failed: {e}")))?;
        results[index] = Some(result);
    }

    let mut failures: Vec<AppError> = Vec::new();
    let mut succeeded: Vec<(String, Credential)> = Vec::new();
    for (server, result) in servers.iter().zip(results) {
        match result.expect("every task reports") {
            Ok(credential) => succeeded.push((server.clone(), credential)),
            Err(e) => failures.push(e),
        }
    }

    if args.expose_token {
        print_tokens(&ctx, &succeeded, args.names.len() > 1)?;
        if !succeeded.is_empty() {
            crate::log::info(&format!(
                "You can log in with the token above, for example: acrctl login -n {0} --expose-token -o tsv --query accessToken | docker login {0} -u {NULL_GUID_USERNAME} --password-stdin",
                succeeded[0].0
            ));
            crate::log::info("Note: accessToken and refreshToken both hold the ACR refresh token (as az acr login --expose-token does).");
        }
    } else if !succeeded.is_empty() {
        store(&ctx, &clients, &succeeded, &mut failures)?;
    }
    crate::commands::finish(failures, servers.len())
}

/// `--target` values to clients, in the order given, each once.
pub(crate) fn clients(targets: &[Target]) -> Vec<Client> {
    let mut out: Vec<Client> = Vec::new();
    for t in targets {
        let add: &[Client] = match t {
            Target::Docker => &[Client::Docker],
            Target::Podman => &[Client::Podman],
            Target::Helm => &[Client::Helm],
            Target::All => &[Client::Docker, Client::Podman, Client::Helm],
        };
        for c in add {
            if !out.contains(c) {
                out.push(*c);
            }
        }
    }
    out
}

/// `-u` with `--password-stdin` (or `-p`, with docker's warning).
fn read_basic_credentials(args: &LoginArgs) -> Result<Option<(String, String)>, AppError> {
    let Some(username) = &args.username else {
        return Ok(None);
    };
    if username.trim().is_empty() {
        return Err(AppError::usage("The username is empty.")
            .hint("Pass the admin user or the ACR token name with -u."));
    }
    let password = if let Some(p) = &args.password {
        crate::log::warn("Using --password on the command line is insecure: other users can see it. Use --password-stdin.");
        p.clone()
    } else if args.password_stdin {
        crate::commands::read_password_stdin("login")?
    } else {
        return Err(
            AppError::usage("-u needs a password.").hint("Pipe it in with --password-stdin.")
        );
    };
    if password.is_empty() {
        return Err(AppError::usage("The password is empty.")
            .hint("Pipe the password into --password-stdin."));
    }
    crate::log::register_secret(&password);
    Ok(Some((username.clone(), password)))
}

/// `-n` values to login servers, in order, without duplicates; the cloud is only
/// consulted when a bare registry name needs its suffix.
pub(crate) async fn login_servers(
    ctx: &Context,
    names: &[String],
    suffix: Option<&str>,
) -> Result<Vec<String>, AppError> {
    let needs_suffix = names
        .iter()
        .any(|n| !n.contains('.') && !n.contains(':') && !n.contains("://"));
    // Validate everything before resolving the cloud, so a typo costs no request.
    for n in names {
        acr::login_server(n, suffix, "azurecr.io")?;
    }
    let cloud_suffix = if needs_suffix {
        ctx.acr_suffix().await?
    } else {
        String::new()
    };
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let server = acr::login_server(n, suffix, &cloud_suffix)?;
        if !out.contains(&server) {
            out.push(server);
        }
    }
    Ok(out)
}

/// An Azure region name as ARM spells it (`East US` → `eastus`).
fn region_name(raw: &str) -> Result<String, AppError> {
    let region = raw.trim().to_ascii_lowercase().replace(' ', "");
    if region.is_empty() || !region.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(
            AppError::usage(format!("--endpoint '{raw}' is not an Azure region name."))
                .hint("Use the region's name, e.g. --endpoint eastus."),
        );
    }
    Ok(region)
}

/// `--endpoint REGION`: each registry's regional endpoint, from the registry's ARM
/// `regionalEndpointHostNames` (`<name>.<region>.geo.azurecr.io`), as az 2.91 does.
async fn regional_endpoints(
    ctx: &Context,
    servers: &[String],
    region: &str,
) -> Result<Vec<String>, AppError> {
    let arm = crate::arm::Arm::connect(ctx).await?;
    let subscription = crate::arm::resolve_subscription(ctx, &arm).await?;
    let mut out = Vec::new();
    for server in servers {
        let name = server.split('.').next().unwrap_or(server);
        let registry = crate::commands::attach::find_registry(&arm, &subscription, name).await?;
        let hosts: Vec<String> = registry.json["properties"]["regionalEndpointHostNames"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|h| h.as_str().map(str::to_ascii_lowercase))
                    .collect()
            })
            .unwrap_or_default();
        if hosts.is_empty() {
            return Err(AppError::new(Kind::Failure, format!("Registry '{name}' has no regional endpoints.")).hint(format!("Enable them (az acr update -n {name} --regional-endpoints enabled), or log in without --endpoint.")));
        }
        match hosts.iter().find(|h| h.split('.').nth(1) == Some(region)) {
            Some(h) => out.push(h.clone()),
            None => {
                let regions: Vec<&str> = hosts.iter().filter_map(|h| h.split('.').nth(1)).collect();
                return Err(AppError::new(Kind::NotFound, format!("Registry '{name}' has no regional endpoint in '{region}' (its regions: {}).", regions.join(", ")))
                    .hint("Pick one of those regions, or add a replica there (az acr replication create)."));
            }
        }
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum AudiencePlan {
    /// The ACR audience, then the cloud's ARM audience if Entra or the registry refuses it.
    AcrThenArm,
    Acr,
    Arm,
    Uri(String),
}

impl AudiencePlan {
    pub(crate) fn parse(value: Option<&str>) -> Result<Self, AppError> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(AudiencePlan::AcrThenArm);
        };
        match v.to_ascii_lowercase().as_str() {
            "acr" => Ok(AudiencePlan::Acr),
            "arm" => Ok(AudiencePlan::Arm),
            _ if v.starts_with("https://") => Ok(AudiencePlan::Uri(v.to_string())),
            _ => Err(AppError::usage(format!("--audience '{v}' is not acr, arm or an https URI."))
                .hint("Use --audience acr (the default), --audience arm, or the full resource URI your cloud's Entra knows.")),
        }
    }

    fn first(&self, cloud: &Cloud) -> String {
        match self {
            AudiencePlan::AcrThenArm | AudiencePlan::Acr => ACR_AUDIENCE.to_string(),
            AudiencePlan::Arm => cloud.arm_audience.clone(),
            AudiencePlan::Uri(u) => u.clone(),
        }
    }
}

/// Why one audience did not work, and whether another audience may.
enum AttemptError {
    Retryable(AppError),
    Final(AppError),
}

/// An ACR refresh token for the current identity: from the token cache while it is valid
/// (no request at all), else through the challenge and the exchange (then cached).
pub(crate) async fn acr_refresh_token(
    ctx: &Context,
    server: &str,
    plan: &AudiencePlan,
) -> Result<String, AppError> {
    let authority = ctx.cloud().await?.authority_host.as_str().to_string();
    if let Some(identity) = ctx.credentials.identity() {
        if let Some(entry) = ctx
            .cache
            .get(&cache::key::acr(&authority, &identity, server))
        {
            return Ok(entry.value);
        }
    }
    let token = login_with_entra(ctx, server, plan).await?;
    // The exchange worked, so this host is an ACR-style registry: the credential helper
    // need not probe it.
    ctx.cache.put(
        &cache::key::registry_kind(server),
        cache::Entry {
            value: "acr".into(),
            expires_on: cache::now() + 86_400,
            tenant: None,
        },
    );
    if let Some(identity) = ctx.credentials.identity() {
        // ACR refresh tokens last about 3 hours; their `exp` says exactly.
        let expires_on = crate::jwt::expires_at(&token).unwrap_or_else(|| cache::now() + 3 * 3600);
        ctx.cache.put(
            &cache::key::acr(&authority, &identity, server),
            cache::Entry {
                value: token.clone(),
                expires_on,
                tenant: None,
            },
        );
    }
    Ok(token)
}

/// The ACR refresh token of the current Entra identity for `server`, always fresh.
async fn login_with_entra(
    ctx: &Context,
    server: &str,
    plan: &AudiencePlan,
) -> Result<String, AppError> {
    let (realm, service) = match acr::challenge(server).await? {
        RegistryChallenge::Bearer { realm, service } => (realm, service),
        RegistryChallenge::Basic => {
            return Err(AppError::new(Kind::Failure, format!("Registry '{server}' does not support Entra login: it only offers Basic authentication."))
                .hint("Log in with its username and password: -u USER --password-stdin."))
        }
    };
    let cloud = ctx.cloud().await?;
    let first_audience = plan.first(cloud);
    match attempt(ctx, cloud, server, &realm, &service, &first_audience).await {
        Ok(token) => Ok(token),
        Err(AttemptError::Retryable(first)) if *plan == AudiencePlan::AcrThenArm => {
            crate::debug!(
                "the ACR audience did not work for {server} ({}); trying the ARM audience {}",
                first.message,
                cloud.arm_audience
            );
            match attempt(ctx, cloud, server, &realm, &service, &cloud.arm_audience).await {
                Ok(token) => Ok(token),
                Err(AttemptError::Retryable(second) | AttemptError::Final(second)) => {
                    let mut e = first;
                    e.message = format!(
                        "{} (The ARM audience {} was tried too: {})",
                        e.message, cloud.arm_audience, second.message
                    );
                    Err(e)
                }
            }
        }
        Err(AttemptError::Retryable(e) | AttemptError::Final(e)) => Err(e),
    }
}

async fn attempt(
    ctx: &Context,
    cloud: &Cloud,
    server: &str,
    realm: &url::Url,
    service: &str,
    audience: &str,
) -> Result<String, AttemptError> {
    let token = ctx
        .credentials
        .token(cloud, audience)
        .await
        .map_err(|e| match e {
            TokenError::AudienceRefused(e) => AttemptError::Retryable(e),
            TokenError::Other(e) => AttemptError::Final(e),
        })?;
    acr::exchange(
        server,
        realm,
        service,
        token.tenant.as_deref(),
        &token.token,
    )
    .await
    .map_err(|e| match e {
        ExchangeError::Refused(e) => AttemptError::Retryable(e),
        ExchangeError::Other(e) => AttemptError::Final(e),
    })
}

async fn login_with_password(
    server: &str,
    username: &str,
    password: &str,
) -> Result<Credential, AppError> {
    let challenge = acr::challenge(server).await?;
    acr::verify_password(server, &challenge, username, password).await?;
    Ok(Credential::Basic {
        username: username.to_string(),
        password: password.to_string(),
    })
}

/// The az shape: `{accessToken, loginServer, refreshToken, username}`, where both token
/// fields hold the ACR refresh token (cli-contract.md, "Output").
fn print_tokens(
    ctx: &Context,
    succeeded: &[(String, Credential)],
    as_array: bool,
) -> Result<(), AppError> {
    let objects: Vec<serde_json::Value> = succeeded
        .iter()
        .filter_map(|(server, credential)| match credential {
            Credential::IdentityToken(t) => Some(serde_json::json!({
                "accessToken": t,
                "loginServer": server,
                "refreshToken": t,
                "username": NULL_GUID_USERNAME,
            })),
            Credential::Basic { .. } => None,
        })
        .collect();
    if objects.is_empty() {
        return Ok(());
    }
    let data = if as_array {
        serde_json::Value::Array(objects)
    } else {
        objects.into_iter().next().expect("one object")
    };
    ctx.printer.print(&data)
}

fn store(
    ctx: &Context,
    clients: &[Client],
    succeeded: &[(String, Credential)],
    failures: &mut Vec<AppError>,
) -> Result<(), AppError> {
    let mut stored_everywhere = true;
    for client in clients {
        let path = match ctx.locations.auth_file(*client) {
            Ok(p) => p,
            Err(e) => {
                failures.push(e);
                stored_everywhere = false;
                continue;
            }
        };
        let file = AuthFile::new(path);
        match file.store(succeeded) {
            Ok(outcomes) => {
                for ((server, _), outcome) in succeeded.iter().zip(outcomes) {
                    match outcome {
                        Stored::File => crate::debug!("stored the token for {server} in {}", file.path().display()),
                        Stored::Helper { helper } => crate::debug!("stored the token for {server} with docker-credential-{helper}"),
                        Stored::ServedByAcrctl => crate::log::info(&format!(
                            "{server} is served by acrctl's credential helper (credHelpers in {}); nothing was stored.",
                            file.path().display()
                        )),
                    }
                }
            }
            Err(e) => {
                failures.push(e);
                stored_everywhere = false;
            }
        }
    }
    if stored_everywhere && ctx.printer.format != OutputFormat::None {
        let mut text = String::new();
        for _ in succeeded {
            text.push_str("Login Succeeded\n");
        }
        use std::io::Write;
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_expand_and_dedupe() {
        assert_eq!(clients(&[Target::Docker]), vec![Client::Docker]);
        assert_eq!(
            clients(&[Target::Podman, Target::All]),
            vec![Client::Podman, Client::Docker, Client::Helm]
        );
    }

    #[test]
    fn audience_values() {
        assert_eq!(AudiencePlan::parse(None).unwrap(), AudiencePlan::AcrThenArm);
        assert_eq!(AudiencePlan::parse(Some("ARM")).unwrap(), AudiencePlan::Arm);
        assert_eq!(
            AudiencePlan::parse(Some("https://x.example/")).unwrap(),
            AudiencePlan::Uri("https://x.example/".into())
        );
        assert_eq!(
            AudiencePlan::parse(Some("http://x")).unwrap_err().kind,
            Kind::Usage
        );
    }
}
