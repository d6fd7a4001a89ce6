//! What every command gets: the global options, the printer, the cloud (resolved on
//! first use, since a custom cloud costs a request) and the credential chain. Built once
//! in `main`; nothing below reads the environment on its own.

use crate::cache::Cache;
use crate::cli::{GlobalArgs, OutputFormat};
use crate::cloud::{Cloud, CloudSpec};
use crate::credential::{CredentialChain, CredentialEnv};
use crate::error::AppError;
use crate::output::Printer;
use crate::stores::Locations;
use std::sync::Arc;
use tokio::sync::OnceCell;

pub struct Context {
    #[allow(dead_code)] // read by the ARM and Kubernetes commands
    pub global: GlobalArgs,
    pub printer: Printer,
    pub credentials: CredentialChain,
    pub locations: Locations,
    pub cache: Arc<Cache>,
    /// `--subscription`, else `AZURE_SUBSCRIPTION_ID` (the ARM commands fall back to the
    /// Azure CLI's default and then to the only subscription the identity sees).
    pub subscription: Option<String>,
    /// The Azure CLI's configuration directory: `AZURE_CONFIG_DIR`, else `~/.azure`.
    pub azure_config_dir: Option<std::path::PathBuf>,
    cloud_spec: CloudSpec,
    authority_override: Option<String>,
    cloud: OnceCell<Cloud>,
}

impl Context {
    /// `default_output` is the command's own default format (az: JSON for data).
    pub fn new(global: GlobalArgs, default_output: OutputFormat) -> Result<Self, AppError> {
        let printer = Printer::new(
            global.output.unwrap_or(default_output),
            global.query.as_deref(),
        )?;
        let arm_env = std::env::var("ACRCTL_ARM_ENDPOINT").ok();
        let cloud_spec = crate::cloud::select(global.cloud.as_deref(), arm_env.as_deref())?;
        let subscription = global.subscription.clone().or_else(|| {
            std::env::var("AZURE_SUBSCRIPTION_ID")
                .ok()
                .filter(|s| !s.is_empty())
        });
        let cache = Arc::new(Cache::new(Cache::default_dir(), !global.no_cache));
        let credentials = CredentialChain::new(
            CredentialEnv::from_process(),
            global.auth.map(Into::into),
            global.identity_id.clone(),
            subscription.clone(),
            cache.clone(),
        )?;
        let azure_config_dir = std::env::var_os("AZURE_CONFIG_DIR")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| dirs::home_dir().map(|h| h.join(".azure")));
        Ok(Context {
            printer,
            credentials,
            locations: Locations::from_process(),
            cache,
            subscription,
            azure_config_dir,
            cloud_spec,
            authority_override: std::env::var("AZURE_AUTHORITY_HOST").ok(),
            cloud: OnceCell::new(),
            global,
        })
    }

    pub async fn cloud(&self) -> Result<&Cloud, AppError> {
        self.cloud
            .get_or_try_init(|| {
                crate::cloud::resolve(
                    &self.cloud_spec,
                    self.authority_override.as_deref(),
                    &self.cache,
                )
            })
            .await
    }

    /// The registry suffix, without a network call for the built-in clouds.
    pub async fn acr_suffix(&self) -> Result<String, AppError> {
        Ok(self.cloud().await?.acr_suffix.clone())
    }
}
