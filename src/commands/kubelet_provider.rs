//! The kubelet image credential provider protocol (credentialprovider.kubelet.k8s.io/v1,
//! kubernetes `pkg/credentialprovider/plugin`): a `CredentialProviderRequest` on stdin,
//! a `CredentialProviderResponse` on stdout with the registry's credentials and how long
//! the kubelet may cache them. For clusters on Azure VMs that are not AKS (k3s, kubeadm):
//! the node's managed identity pulls from ACR without any secret on disk.

use crate::commands::login::{acr_refresh_token, AudiencePlan};
use crate::context::Context;
use crate::error::AppError;
use serde::Deserialize;
use std::io::Read;

const API_VERSION: &str = "credentialprovider.kubelet.k8s.io/v1";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    api_version: Option<String>,
    kind: Option<String>,
    image: String,
}

pub async fn run(ctx: &Context) -> Result<u8, AppError> {
    let mut input = String::new();
    std::io::stdin()
        .take(1024 * 1024)
        .read_to_string(&mut input)
        .map_err(|e| {
            AppError::usage(format!(
                "Could not read the CredentialProviderRequest from stdin: {e}."
            ))
        })?;
    let request: Request = serde_json::from_str(&input).map_err(|e| {
        AppError::usage(format!("stdin is not a CredentialProviderRequest ({e}).")).hint("The kubelet sends {\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",\"kind\":\"CredentialProviderRequest\",\"image\":\"…\"}.")
    })?;
    if request
        .api_version
        .as_deref()
        .is_some_and(|v| v != API_VERSION)
        || request
            .kind
            .as_deref()
            .is_some_and(|k| k != "CredentialProviderRequest")
    {
        return Err(AppError::usage(format!("Only {API_VERSION} CredentialProviderRequest is supported.")).hint("Set apiVersion: credentialprovider.kubelet.k8s.io/v1 in the kubelet's CredentialProviderConfig."));
    }
    let server = registry_of(&request.image).ok_or_else(|| {
        AppError::usage(format!(
            "The image '{}' names no registry host.",
            request.image
        ))
        .hint("Match only ACR images (e.g. \"*.azurecr.io\") in the CredentialProviderConfig.")
    })?;
    let token = acr_refresh_token(ctx, &server, &AudiencePlan::AcrThenArm).await?;
    let remaining = crate::jwt::expires_at(&token)
        .map(|exp| exp - crate::cache::now())
        .unwrap_or(3 * 3600);
    // Leave the kubelet a margin, so it never presents an expired token.
    let cache_secs = (remaining - crate::cache::EXPIRY_MARGIN_SECS).max(0);
    let response = serde_json::json!({
        "apiVersion": API_VERSION,
        "kind": "CredentialProviderResponse",
        "cacheKeyType": "Registry",
        "cacheDuration": format!("{}s", cache_secs),
        "auth": { server: { "username": crate::acr::NULL_GUID_USERNAME, "password": token } },
    });
    println!("{response}");
    Ok(0)
}

/// The registry host of an image reference: the part before the first `/` when it looks
/// like a host (has a `.` or `:`, or is `localhost`), as the distribution reference
/// grammar defines it.
fn registry_of(image: &str) -> Option<String> {
    let first = image.trim().split('/').next()?;
    let looks_like_host = first.contains('.') || first.contains(':') || first == "localhost";
    (image.contains('/') && looks_like_host).then(|| first.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_of_images() {
        assert_eq!(
            registry_of("myreg.azurecr.io/app:1").as_deref(),
            Some("myreg.azurecr.io")
        );
        assert_eq!(
            registry_of("127.0.0.1:5000/samples/hello@sha256:abc").as_deref(),
            Some("127.0.0.1:5000")
        );
        assert_eq!(registry_of("nginx:latest"), None);
        assert_eq!(registry_of("library/nginx"), None);
    }
}
