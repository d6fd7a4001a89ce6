//! The Entra identity acrctl acts as: a chain of token sources tried in the order of the
//! Azure SDKs' default chain (cli-contract.md, "Credentials"), or one source chosen with
//! `--auth` / `AZURE_TOKEN_CREDENTIALS`.
//!
//! The service-principal, certificate, workload-identity and Azure CLI sources use
//! azure_identity, with acrctl's one HTTP client as their transport and a short retry
//! budget, so a wrong endpoint fails in seconds. Managed identity is a small client of
//! our own: azure_identity 1.0 can neither probe the VM endpoint with a short timeout nor
//! honour `AZURE_POD_IDENTITY_AUTHORITY_HOST`.

use crate::cache::{self, Cache};
use crate::cloud::Cloud;
use crate::error::{network_error, AppError, Kind};
use crate::http;
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// An Entra access token; `token` is a secret.
#[derive(Clone)]
pub struct EntraToken {
    pub token: String,
    /// Seconds since the epoch.
    pub expires_on: i64,
    /// The tenant that issued it (the `tid` claim), for the ACR exchange.
    pub tenant: Option<String>,
}

impl std::fmt::Debug for EntraToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraToken")
            .field("expires_on", &self.expires_on)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

/// Why a token request failed. `AudienceRefused` lets the caller fall back to another
/// audience (Entra's AADSTS500011, `invalid_resource`).
#[derive(Debug)]
pub enum TokenError {
    AudienceRefused(AppError),
    Other(AppError),
}

impl TokenError {
    #[cfg(test)]
    pub fn into_app(self) -> AppError {
        match self {
            TokenError::AudienceRefused(e) | TokenError::Other(e) => e,
        }
    }
}

impl From<AppError> for TokenError {
    fn from(e: AppError) -> Self {
        TokenError::Other(e)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Env,
    WorkloadIdentity,
    Session,
    ManagedIdentity,
    AzureCli,
}

impl SourceKind {
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::Env => "environment service principal",
            SourceKind::WorkloadIdentity => "workload identity",
            SourceKind::Session => "acrctl auth login session",
            SourceKind::ManagedIdentity => "managed identity",
            SourceKind::AzureCli => "Azure CLI",
        }
    }

    const CHAIN: [SourceKind; 5] = [
        SourceKind::Env,
        SourceKind::WorkloadIdentity,
        SourceKind::Session,
        SourceKind::ManagedIdentity,
        SourceKind::AzureCli,
    ];
}

impl From<crate::cli::AuthChoice> for SourceKind {
    fn from(c: crate::cli::AuthChoice) -> Self {
        use crate::cli::AuthChoice::*;
        match c {
            Env => SourceKind::Env,
            WorkloadIdentity => SourceKind::WorkloadIdentity,
            Session => SourceKind::Session,
            ManagedIdentity => SourceKind::ManagedIdentity,
            AzureCli => SourceKind::AzureCli,
        }
    }
}

/// The sources `AZURE_TOKEN_CREDENTIALS` allows, with the Azure SDKs' values accepted too.
pub fn sources_from_env_choice(value: &str) -> Result<Vec<SourceKind>, AppError> {
    let v = value.trim().to_ascii_lowercase();
    Ok(match v.as_str() {
        "dev" => vec![SourceKind::Session, SourceKind::AzureCli],
        "prod" => vec![SourceKind::Env, SourceKind::WorkloadIdentity, SourceKind::ManagedIdentity],
        "env" | "environmentcredential" => vec![SourceKind::Env],
        "workload-identity" | "workloadidentitycredential" => vec![SourceKind::WorkloadIdentity],
        "session" => vec![SourceKind::Session],
        "managed-identity" | "managedidentitycredential" => vec![SourceKind::ManagedIdentity],
        "azure-cli" | "azureclicredential" => vec![SourceKind::AzureCli],
        _ => {
            return Err(AppError::usage(format!("AZURE_TOKEN_CREDENTIALS='{value}' is not a credential source acrctl knows."))
                .hint("Use dev, prod, EnvironmentCredential, WorkloadIdentityCredential, ManagedIdentityCredential or AzureCliCredential."))
        }
    })
}

/// Everything the chain reads from the process environment, read once in `main`.
#[derive(Clone, Debug, Default)]
pub struct CredentialEnv {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub certificate_path: Option<PathBuf>,
    pub certificate_password: Option<String>,
    pub federated_token_file: Option<PathBuf>,
    pub identity_endpoint: Option<String>,
    pub identity_header: Option<String>,
    pub imds_host: Option<String>,
    pub token_credentials: Option<String>,
    pub path: Option<std::ffi::OsString>,
    /// Where the `acrctl auth login` session lives (`ACRCTL_STATE_DIR`, else the user's
    /// state dir + `/acrctl`).
    pub state_dir: Option<PathBuf>,
}

impl CredentialEnv {
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let env = CredentialEnv {
            tenant_id: var("AZURE_TENANT_ID"),
            client_id: var("AZURE_CLIENT_ID"),
            client_secret: var("AZURE_CLIENT_SECRET"),
            certificate_path: var("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from),
            certificate_password: var("AZURE_CLIENT_CERTIFICATE_PASSWORD"),
            federated_token_file: var("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from),
            identity_endpoint: var("IDENTITY_ENDPOINT"),
            identity_header: var("IDENTITY_HEADER"),
            imds_host: var("AZURE_POD_IDENTITY_AUTHORITY_HOST"),
            token_credentials: var("AZURE_TOKEN_CREDENTIALS"),
            path: std::env::var_os("PATH"),
            state_dir: crate::session::default_dir(),
        };
        for secret in [
            &env.client_secret,
            &env.certificate_password,
            &env.identity_header,
        ]
        .into_iter()
        .flatten()
        {
            crate::log::register_secret(secret);
        }
        env
    }
}

/// A configured source, ready to ask for tokens, with the identity key its tokens are
/// cached under.
struct Source {
    key: String,
    how: How,
}

enum How {
    Sdk {
        kind: SourceKind,
        credential: Arc<dyn TokenCredential>,
        who: String,
    },
    ManagedIdentity(crate::managed_identity::ManagedIdentity),
    Session(SessionSource),
}

/// The `acrctl auth login` session: tokens minted from its refresh token, one refresh
/// at a time (Entra rotates the refresh token on every use, so two concurrent refreshes
/// with the same one would lose the session).
struct SessionSource {
    store: crate::session::Store,
    user: String,
    refresh: tokio::sync::Mutex<()>,
}

impl SessionSource {
    async fn token(&self, resource: &str) -> Result<EntraToken, TokenError> {
        let _file_lock = self.store.lock()?;
        let Some(current) = self.store.load()? else {
            return Err(TokenError::Other(
                AppError::new(Kind::Auth, "The acrctl auth login session was signed out.")
                    .hint("Run `acrctl auth login` again."),
            ));
        };
        let authority = url::Url::parse(&current.authority).map_err(|e| {
            AppError::new(
                Kind::Auth,
                format!("The acrctl session names an invalid login endpoint ({e})."),
            )
            .hint("Run `acrctl auth login` again.")
        })?;
        let client =
            crate::auth_flow::Client::new(&authority, &current.tenant, &current.client_id)?;
        let scope = format!("{} offline_access", crate::cloud::scope_for(resource));
        crate::debug!(
            "requesting an Entra token for {scope} from the {} ({})",
            SourceKind::Session.label(),
            self.user
        );
        match client.refresh(&current.refresh_token, &scope).await {
            Ok(t) => {
                if let Some(rotated) = &t.refresh_token {
                    let mut next = current.clone();
                    next.refresh_token = rotated.clone();
                    next.refreshed_at = cache::now();
                    if let Err(e) = self.store.save_locked(&next) {
                        crate::log::warn(&format!(
                            "The refreshed session could not be saved ({}); the next command may ask you to sign in again.",
                            e.one_line()
                        ));
                    }
                }
                Ok(EntraToken {
                    tenant: crate::jwt::tenant(&t.access_token).or(Some(current.tenant.clone())),
                    expires_on: t.expires_on,
                    token: t.access_token,
                })
            }
            Err(crate::auth_flow::GrantError::Refused { error, summary }) => {
                let audience_refused =
                    error == "invalid_resource" || summary.starts_with("AADSTS500011:");
                let e = AppError::new(
                    Kind::Auth,
                    if audience_refused {
                        format!("Entra ID refused a token for {resource} to the {} ({}): {summary}", SourceKind::Session.label(), current.user)
                    } else {
                        format!("The acrctl auth login session of {} is no longer valid (expired or revoked): {summary}", current.user)
                    },
                )
                .hint(if audience_refused {
                    "Pin another audience with --audience if your cloud's Entra does not know this one."
                } else {
                    "Run `acrctl auth login` again."
                });
                Err(if audience_refused {
                    TokenError::AudienceRefused(e)
                } else {
                    TokenError::Other(e)
                })
            }
            Err(crate::auth_flow::GrantError::Other(e)) => Err(TokenError::Other(e)),
        }
    }
}

pub struct CredentialChain {
    env: CredentialEnv,
    /// `--auth`, else `AZURE_TOKEN_CREDENTIALS`, else the whole chain.
    allowed: Vec<SourceKind>,
    explicit: bool,
    identity_id: Option<String>,
    subscription: Option<String>,
    selected: OnceCell<Source>,
    cache: Arc<Cache>,
}

impl CredentialChain {
    pub fn new(
        env: CredentialEnv,
        auth: Option<SourceKind>,
        identity_id: Option<String>,
        subscription: Option<String>,
        cache: Arc<Cache>,
    ) -> Result<Self, AppError> {
        let (allowed, explicit) = match (auth, &env.token_credentials) {
            (Some(kind), _) => (vec![kind], true),
            (None, Some(v)) => {
                let kinds = sources_from_env_choice(v)?;
                let explicit = kinds.len() == 1;
                (kinds, explicit)
            }
            (None, None) => (SourceKind::CHAIN.to_vec(), false),
        };
        Ok(CredentialChain {
            env,
            allowed,
            explicit,
            identity_id,
            subscription,
            selected: OnceCell::new(),
            cache,
        })
    }

    /// A token for an Entra resource (e.g. `https://containerregistry.azure.net`), from the
    /// token cache while it is valid, else from the selected source (cached afterwards).
    pub async fn token(&self, cloud: &Cloud, resource: &str) -> Result<EntraToken, TokenError> {
        let authority = cloud.authority_host.as_str();
        if let Some(identity) = self.identity() {
            if let Some(e) = self
                .cache
                .get(&cache::key::entra(authority, &identity, resource))
            {
                return Ok(EntraToken {
                    token: e.value,
                    expires_on: e.expires_on,
                    tenant: e.tenant,
                });
            }
        }
        let source = self.selected.get_or_try_init(|| self.select(cloud)).await?;
        let token = match &source.how {
            How::Sdk {
                kind,
                credential,
                who,
            } => {
                let scope = crate::cloud::scope_for(resource);
                crate::debug!(
                    "requesting an Entra token for {scope} from the {} ({who})",
                    kind.label()
                );
                let t = credential
                    .get_token(&[scope.as_str()], None)
                    .await
                    .map_err(|e| sdk_error(*kind, who, resource, &e))?;
                let token = t.token.secret().to_string();
                crate::log::register_secret(&token);
                EntraToken {
                    tenant: crate::jwt::tenant(&token).or_else(|| self.env.tenant_id.clone()),
                    expires_on: t.expires_on.unix_timestamp(),
                    token,
                }
            }
            How::ManagedIdentity(mi) => mi.token(resource).await?,
            How::Session(session) => {
                let _one_at_a_time = session.refresh.lock().await;
                let key = cache::key::entra(authority, &source.key, resource);
                if let Some(e) = self.cache.get(&key) {
                    return Ok(EntraToken {
                        token: e.value,
                        expires_on: e.expires_on,
                        tenant: e.tenant,
                    });
                }
                session.token(resource).await?
            }
        };
        self.cache.put(
            &cache::key::entra(authority, &source.key, resource),
            cache::Entry {
                value: token.token.clone(),
                expires_on: token.expires_on,
                tenant: token.tenant.clone(),
            },
        );
        Ok(token)
    }

    /// The identity tokens are cached under: the selected source's, or, before any
    /// selection, the first source that applies without a request (a remembered miss
    /// of the VM metadata endpoint skips it), so a warm cache needs no network at all.
    pub fn identity(&self) -> Option<String> {
        if let Some(s) = self.selected.get() {
            return Some(s.key.clone());
        }
        self.allowed.iter().find_map(|kind| {
            if *kind == SourceKind::ManagedIdentity
                && !self.explicit
                && self.env.identity_endpoint.is_none()
                && self
                    .cache
                    .get(&cache::key::imds_miss(&self.imds_host()))
                    .is_some()
            {
                return None;
            }
            self.identity_key(*kind)
        })
    }

    /// The cache key of a source's identity when it is configured, found without a request.
    fn identity_key(&self, kind: SourceKind) -> Option<String> {
        let env = &self.env;
        match kind {
            SourceKind::Env => match (&env.tenant_id, &env.client_id) {
                (Some(t), Some(c))
                    if env.client_secret.is_some() || env.certificate_path.is_some() =>
                {
                    Some(format!("env:{t}:{c}"))
                }
                _ => None,
            },
            SourceKind::WorkloadIdentity => {
                match (&env.federated_token_file, &env.tenant_id, &env.client_id) {
                    (Some(_), Some(t), Some(c)) => Some(format!("wi:{t}:{c}")),
                    _ => None,
                }
            }
            SourceKind::Session => crate::session::Store::new(env.state_dir.clone())
                .load()
                .ok()
                .flatten()
                .map(|s| s.identity()),
            SourceKind::ManagedIdentity => {
                let who = self
                    .user_assigned_identity()
                    .unwrap_or_else(|| "system".into());
                match (&env.identity_endpoint, &env.identity_header) {
                    (Some(endpoint), Some(_)) => Some(format!("mi:{endpoint}:{who}")),
                    _ => Some(format!("mi:{}:{who}", self.imds_host())),
                }
            }
            SourceKind::AzureCli => on_path(env.path.as_deref(), "az")
                .then(|| format!("az:{}", azure_cli_identity(self.subscription.as_deref()))),
        }
    }

    fn imds_host(&self) -> String {
        self.env
            .imds_host
            .clone()
            .unwrap_or_else(|| crate::managed_identity::IMDS_DEFAULT.to_string())
    }

    /// `--identity-id`, or `AZURE_CLIENT_ID` set alone (no tenant), as in the SDKs.
    fn user_assigned_identity(&self) -> Option<String> {
        self.identity_id.clone().or_else(|| {
            if self.env.tenant_id.is_none() {
                self.env.client_id.clone()
            } else {
                None
            }
        })
    }

    async fn select(&self, cloud: &Cloud) -> Result<Source, AppError> {
        let mut reasons: Vec<(SourceKind, String)> = Vec::new();
        for kind in &self.allowed {
            match self.configure(*kind, cloud).await {
                Ok(how) => {
                    crate::debug!("credential source: {}", kind.label());
                    return Ok(Source {
                        key: self
                            .identity_key(*kind)
                            .unwrap_or_else(|| kind.label().to_string()),
                        how,
                    });
                }
                Err(Unavailable::Why(why)) => {
                    crate::debug!("credential source {} does not apply: {why}", kind.label());
                    reasons.push((*kind, why));
                }
                Err(Unavailable::Broken(err)) => return Err(err),
            }
        }
        if self.explicit {
            let (kind, why) = &reasons[0];
            return Err(AppError::new(
                Kind::Auth,
                format!("The {} cannot be used: {why}.", kind.label()),
            )
            .hint("Configure it, or choose another source with --auth."));
        }
        let mut message = String::from("No Entra credential is available. Tried:");
        for (kind, why) in &reasons {
            message.push_str(&format!(" {}: {why};", kind.label()));
        }
        message.pop();
        message.push('.');
        Err(AppError::new(Kind::Auth, message)
            .hint("Sign in with `acrctl auth login`, set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, run on an Azure resource with a managed identity, or sign in with `az login`."))
    }

    async fn configure(&self, kind: SourceKind, cloud: &Cloud) -> Result<How, Unavailable> {
        let env = &self.env;
        match kind {
            SourceKind::Env => {
                let (Some(tenant), Some(client_id)) = (&env.tenant_id, &env.client_id) else {
                    return Err(Unavailable::Why(
                        "AZURE_TENANT_ID and AZURE_CLIENT_ID are not both set".into(),
                    ));
                };
                if let Some(secret) = &env.client_secret {
                    let credential = azure_identity::ClientSecretCredential::new(
                        tenant,
                        client_id.clone(),
                        secret.clone().into(),
                        Some(azure_identity::ClientSecretCredentialOptions {
                            client_options: sdk_options(cloud),
                        }),
                    )
                    .map_err(|e| {
                        Unavailable::Broken(sdk_setup_error(
                            "AZURE_CLIENT_SECRET service principal",
                            &e,
                        ))
                    })?;
                    return Ok(How::Sdk {
                        kind,
                        credential,
                        who: format!("client id {client_id}, secret"),
                    });
                }
                if let Some(path) = &env.certificate_path {
                    let signer = crate::certificate::AssertionSigner::load(
                        path,
                        env.certificate_password.as_deref(),
                        client_id,
                        tenant,
                        &cloud.authority_host,
                    )
                    .map_err(Unavailable::Broken)?;
                    let credential = azure_identity::ClientAssertionCredential::new(
                        tenant.clone(),
                        client_id.clone(),
                        signer,
                        Some(azure_identity::ClientAssertionCredentialOptions {
                            client_options: sdk_options(cloud),
                        }),
                    )
                    .map_err(|e| {
                        Unavailable::Broken(sdk_setup_error(
                            "AZURE_CLIENT_CERTIFICATE_PATH service principal",
                            &e,
                        ))
                    })?;
                    return Ok(How::Sdk {
                        kind,
                        credential,
                        who: format!("client id {client_id}, certificate {}", path.display()),
                    });
                }
                Err(Unavailable::Why(
                    "neither AZURE_CLIENT_SECRET nor AZURE_CLIENT_CERTIFICATE_PATH is set".into(),
                ))
            }
            SourceKind::WorkloadIdentity => {
                let Some(file) = &env.federated_token_file else {
                    return Err(Unavailable::Why(
                        "AZURE_FEDERATED_TOKEN_FILE is not set".into(),
                    ));
                };
                let (Some(tenant), Some(client_id)) = (&env.tenant_id, &env.client_id) else {
                    return Err(Unavailable::Why("AZURE_FEDERATED_TOKEN_FILE is set but AZURE_TENANT_ID and AZURE_CLIENT_ID are not both set".into()));
                };
                if !file.is_file() {
                    return Err(Unavailable::Broken(
                        AppError::new(Kind::Auth, format!("AZURE_FEDERATED_TOKEN_FILE {} does not exist.", file.display()))
                            .hint("Check the pod's service account token projection (azure.workload.identity/use label)."),
                    ));
                }
                let credential = azure_identity::WorkloadIdentityCredential::new(Some(
                    azure_identity::WorkloadIdentityCredentialOptions {
                        credential_options: azure_identity::ClientAssertionCredentialOptions {
                            client_options: sdk_options(cloud),
                        },
                        client_id: Some(client_id.clone()),
                        tenant_id: Some(tenant.clone()),
                        token_file_path: Some(file.clone()),
                    },
                ))
                .map_err(|e| Unavailable::Broken(sdk_setup_error("workload identity", &e)))?;
                Ok(How::Sdk {
                    kind,
                    credential,
                    who: format!("client id {client_id}"),
                })
            }
            SourceKind::Session => {
                let store = crate::session::Store::new(env.state_dir.clone());
                match store.load() {
                    Ok(None) => Err(Unavailable::Why(
                        "nobody signed in with `acrctl auth login`".into(),
                    )),
                    Err(e) => Err(Unavailable::Broken(e)),
                    Ok(Some(s)) if !s.same_authority(cloud.authority_host.as_str()) => {
                        Err(Unavailable::Why(format!(
                            "the session signed in at {}, not at this cloud's {}",
                            s.authority, cloud.authority_host
                        )))
                    }
                    Ok(Some(s)) => Ok(How::Session(SessionSource {
                        store,
                        user: s.user.clone(),
                        refresh: tokio::sync::Mutex::new(()),
                    })),
                }
            }
            SourceKind::ManagedIdentity => {
                let mi = crate::managed_identity::ManagedIdentity::from_env(
                    env,
                    self.user_assigned_identity(),
                )
                .map_err(Unavailable::Broken)?;
                if self.explicit {
                    return Ok(How::ManagedIdentity(mi));
                }
                let miss = cache::key::imds_miss(&self.imds_host());
                if env.identity_endpoint.is_none() && self.cache.get(&miss).is_some() {
                    return Err(Unavailable::Why("no VM metadata endpoint (remembered from an earlier probe; `acrctl cache clear` forgets it)".into()));
                }
                match mi.probe().await {
                    Ok(()) => Ok(How::ManagedIdentity(mi)),
                    Err(why) => {
                        // Remembered for a day, so a laptop pays the probe once.
                        self.cache.put(
                            &miss,
                            cache::Entry {
                                value: "miss".into(),
                                expires_on: cache::now() + 86_400,
                                tenant: None,
                            },
                        );
                        Err(Unavailable::Why(why))
                    }
                }
            }
            SourceKind::AzureCli => {
                if !on_path(env.path.as_deref(), "az") {
                    return Err(Unavailable::Why("`az` is not on PATH".into()));
                }
                let credential = azure_identity::AzureCliCredential::new(Some(
                    azure_identity::AzureCliCredentialOptions {
                        subscription: self.subscription.clone(),
                        tenant_id: None,
                        ..Default::default()
                    },
                ))
                .map_err(|e| Unavailable::Broken(sdk_setup_error("Azure CLI", &e)))?;
                Ok(How::Sdk {
                    kind,
                    credential,
                    who: "az account get-access-token".into(),
                })
            }
        }
    }
}

enum Unavailable {
    /// The source is not configured here; the chain moves on.
    Why(String),
    /// The source is configured but broken; the chain stops (a user who set it meant it).
    Broken(AppError),
}

/// Who the Azure CLI is signed in as, from its profile (`$AZURE_CONFIG_DIR` or
/// `~/.azure/azureProfile.json`, which starts with a UTF-8 BOM): the subscription and
/// user, so that `az login` as someone else never reuses the previous user's tokens.
fn azure_cli_identity(subscription: Option<&str>) -> String {
    let dir = std::env::var_os("AZURE_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".azure")));
    let profile = dir.and_then(|d| std::fs::read(d.join("azureProfile.json")).ok());
    let parsed: Option<serde_json::Value> = profile.and_then(|b| {
        let b = b.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(&b);
        serde_json::from_slice(b).ok()
    });
    let subs = parsed
        .as_ref()
        .and_then(|v| v.get("subscriptions"))
        .and_then(|s| s.as_array())
        .cloned()
        .unwrap_or_default();
    let chosen = subs.iter().find(|s| match subscription {
        Some(want) => {
            s.get("id").and_then(|v| v.as_str()) == Some(want)
                || s.get("name").and_then(|v| v.as_str()) == Some(want)
        }
        None => s.get("isDefault").and_then(|v| v.as_bool()) == Some(true),
    });
    match chosen {
        Some(s) => format!(
            "{}:{}",
            s.get("id").and_then(|v| v.as_str()).unwrap_or(""),
            s.get("user")
                .and_then(|u| u.get("name"))
                .and_then(|v| v.as_str())
                .unwrap_or("")
        ),
        None => subscription.unwrap_or("default").to_string(),
    }
}

fn on_path(path: Option<&std::ffi::OsStr>, program: &str) -> bool {
    path.map(|p| std::env::split_paths(p).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// The credential library's options: our HTTP client as transport, the cloud's authority,
/// and a retry budget of seconds (its default hides a TLS error for about 80 s).
fn sdk_options(cloud: &Cloud) -> ClientOptions {
    let mut custom = azure_core::cloud::CustomConfiguration::default();
    custom.authority_host = cloud
        .authority_host
        .as_str()
        .trim_end_matches('/')
        .to_string();
    ClientOptions {
        transport: Some(Transport::new(Arc::new(http::SdkTransport))),
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: azure_core::time::Duration::milliseconds(200),
            max_retries: 2,
            max_total_elapsed: azure_core::time::Duration::seconds(5),
            max_delay: azure_core::time::Duration::seconds(2),
        }),
        cloud: Some(Arc::new(custom.into())),
        ..Default::default()
    }
}

fn sdk_setup_error(what: &str, err: &azure_core::Error) -> AppError {
    AppError::new(
        Kind::Auth,
        format!(
            "The {what} credential could not be set up: {}.",
            first_line(&err.to_string())
        ),
    )
    .hint("Check AZURE_TENANT_ID and AZURE_CLIENT_ID.")
    .caused_by(err)
}

/// Turns an azure_identity failure into one line with Entra's AADSTS code (never a secret:
/// Entra's descriptions do not echo them), or a network error.
///
/// The AADSTS text is looked for in the whole error chain rather than in the typed
/// `HttpResponse` kind: azure_identity 1.0 deserializes Entra's error body into a struct
/// that borrows `error_description`, which fails on the `\r\n` every real description
/// contains, and the description then only survives inside the serde error's text.
fn sdk_error(kind: SourceKind, who: &str, resource: &str, err: &azure_core::Error) -> TokenError {
    let text = crate::error::error_chain(err);
    if let Some(summary) = aadsts_summary(&text) {
        let audience_refused = summary.starts_with("AADSTS500011:");
        let hint = match kind {
            SourceKind::Env if summary.starts_with("AADSTS7000215:") => "Check AZURE_CLIENT_SECRET: it must be the secret's value, not its id, and not expired.",
            SourceKind::Env | SourceKind::WorkloadIdentity if summary.starts_with("AADSTS700016:") || summary.starts_with("AADSTS90002:") => {
                "Check AZURE_CLIENT_ID and AZURE_TENANT_ID: the application must exist in that tenant."
            }
            _ if audience_refused => "Pin another audience with --audience if your cloud's Entra does not know this one.",
            SourceKind::WorkloadIdentity => "Check the federated credential on the app (issuer, subject, audience) and the token file.",
            SourceKind::AzureCli => "Run `az login` again, or check `az account show`.",
            _ => "Check the identity's configuration in Entra ID.",
        };
        let e = AppError::new(
            Kind::Auth,
            format!(
                "Entra ID refused a token for {resource} to the {} ({who}): {summary}",
                kind.label()
            ),
        )
        .hint(hint)
        .caused_by(err);
        return if audience_refused {
            TokenError::AudienceRefused(e)
        } else {
            TokenError::Other(e)
        };
    }
    if chain_has_transport_error(err) {
        return TokenError::Other(network_error(
            &format!("Getting an Entra token from the {}", kind.label()),
            who_endpoint(kind),
            err,
        ));
    }
    TokenError::Other(
        AppError::new(
            Kind::Auth,
            format!(
                "The {} ({who}) could not provide a token for {resource}: {}",
                kind.label(),
                first_line(&err.to_string())
            ),
        )
        .hint(if kind == SourceKind::AzureCli {
            "Run `az login`, or check `az account get-access-token`."
        } else {
            "Run with --debug for the whole error chain."
        })
        .caused_by(err),
    )
}

fn who_endpoint(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::AzureCli => "the Azure CLI",
        _ => "the Entra token endpoint",
    }
}

/// `AADSTSnnnn: first sentence…` from wherever it appears, cut at the first line break
/// (real or JSON-escaped) or closing quote.
fn aadsts_summary(text: &str) -> Option<String> {
    let start = text.find("AADSTS")?;
    let rest = &text[start..];
    let digits = rest[6..].chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let end = ["\\r", "\\n", "\r", "\n", "\""]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .unwrap_or(rest.len());
    Some(rest[..end].trim().to_string())
}

fn chain_has_transport_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if e.downcast_ref::<reqwest::Error>().is_some()
            || e.downcast_ref::<std::io::Error>().is_some()
        {
            return true;
        }
        if let Some(az) = e.downcast_ref::<azure_core::Error>() {
            if matches!(
                az.kind(),
                azure_core::error::ErrorKind::Io | azure_core::error::ErrorKind::Connection
            ) {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// The first line of a message (Entra appends trace and correlation ids on later lines).
pub fn first_line(text: &str) -> String {
    text.trim()
        .split(['\r', '\n'])
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_choice_accepts_sdk_names() {
        assert_eq!(
            sources_from_env_choice("EnvironmentCredential").unwrap(),
            vec![SourceKind::Env]
        );
        assert_eq!(sources_from_env_choice("prod").unwrap().len(), 3);
        assert_eq!(
            sources_from_env_choice("dev").unwrap(),
            vec![SourceKind::Session, SourceKind::AzureCli]
        );
        assert_eq!(
            sources_from_env_choice("nope").unwrap_err().kind,
            Kind::Usage
        );
    }

    #[test]
    fn aadsts_summary_handles_raw_and_escaped_line_breaks() {
        let raw = "ClientSecretCredential authentication failed. AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x";
        assert_eq!(
            aadsts_summary(raw).unwrap(),
            "AADSTS7000215: Invalid client secret provided."
        );
        let escaped = r#"invalid type: string "AADSTS500011: The resource principal named x was not found.\r\nTrace ID: y", expected a borrowed string"#;
        assert_eq!(
            aadsts_summary(escaped).unwrap(),
            "AADSTS500011: The resource principal named x was not found."
        );
        assert!(aadsts_summary("no code here").is_none());
        assert!(aadsts_summary("AADSTS: nothing").is_none());
    }

    #[test]
    fn first_line_drops_trace_ids() {
        assert_eq!(
            first_line("AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"),
            "AADSTS7000215: Invalid client secret provided."
        );
    }

    #[tokio::test]
    async fn empty_environment_explains_every_source() {
        let env = CredentialEnv {
            imds_host: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        };
        let cache = Arc::new(Cache::new(None, false));
        let chain = CredentialChain::new(env, None, None, None, cache.clone()).unwrap();
        let cloud = crate::cloud::resolve(
            &crate::cloud::CloudSpec::BuiltIn("AzureCloud"),
            None,
            &cache,
        )
        .await
        .unwrap();
        let err = chain
            .token(&cloud, crate::cloud::ACR_AUDIENCE)
            .await
            .unwrap_err()
            .into_app();
        assert_eq!(err.kind, Kind::Auth);
        for label in [
            "environment service principal",
            "acrctl auth login session",
            "workload identity",
            "managed identity",
            "Azure CLI",
        ] {
            assert!(
                err.message.contains(label),
                "{label} missing in {}",
                err.message
            );
        }
    }
}
