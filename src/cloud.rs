//! Which Azure cloud acrctl talks to: the built-in public and sovereign clouds, or a
//! custom cloud (Azure Stack Hub, the emulator) described by ARM's
//! `metadata/endpoints` document, as `az cloud register` reads it.

use crate::error::{AppError, Kind};
use serde::Deserialize;
use url::Url;

/// The Entra audience of ACR's token exchange, the same in every cloud
/// (azure-cli 2.91 `acr/_docker_utils.py`, `_resolve_acr_scope`).
pub const ACR_AUDIENCE: &str = "https://containerregistry.azure.net";

#[derive(Clone, Debug, PartialEq, serde::Serialize, Deserialize)]
pub struct Cloud {
    pub name: String,
    pub arm_endpoint: Url,
    /// Entra's login endpoint, e.g. `https://login.microsoftonline.com`.
    pub authority_host: Url,
    /// ARM's Entra resource, e.g. `https://management.core.windows.net/`.
    pub arm_audience: String,
    /// The registries' DNS suffix without a leading dot, e.g. `azurecr.io`.
    pub acr_suffix: String,
    /// Microsoft Graph (endpoint and Entra resource), e.g. `https://graph.microsoft.com/`;
    /// `None` for a custom cloud whose metadata has no `microsoftGraphResourceId`.
    pub graph_endpoint: Option<Url>,
}

/// Microsoft Graph per built-in cloud (azure-cli-core `cloud.py`, `microsoft_graph_resource_id`).
fn built_in_graph(name: &str) -> &'static str {
    match name {
        "AzureChinaCloud" => "https://microsoftgraph.chinacloudapi.cn/",
        "AzureUSGovernment" => "https://graph.microsoft.us/",
        _ => "https://graph.microsoft.com/",
    }
}

/// What the user asked for, before any network I/O.
#[derive(Clone, Debug, PartialEq)]
pub enum CloudSpec {
    BuiltIn(&'static str),
    Custom(Url),
}

const BUILT_IN: [(&str, &str, &str, &str, &str); 3] = [
    // name, ARM, login endpoint, ARM audience, ACR suffix (azure-cli-core `cloud.py`)
    (
        "AzureCloud",
        "https://management.azure.com/",
        "https://login.microsoftonline.com",
        "https://management.core.windows.net/",
        "azurecr.io",
    ),
    (
        "AzureChinaCloud",
        "https://management.chinacloudapi.cn/",
        "https://login.chinacloudapi.cn",
        "https://management.core.chinacloudapi.cn/",
        "azurecr.cn",
    ),
    (
        "AzureUSGovernment",
        "https://management.usgovcloudapi.net/",
        "https://login.microsoftonline.us",
        "https://management.core.usgovcloudapi.net/",
        "azurecr.us",
    ),
];

/// `--cloud` (or `ACRCTL_CLOUD`) names a built-in cloud; otherwise `ACRCTL_ARM_ENDPOINT`
/// points at a custom one; otherwise the public cloud.
pub fn select(
    cloud_flag: Option<&str>,
    arm_endpoint_env: Option<&str>,
) -> Result<CloudSpec, AppError> {
    if let Some(name) = cloud_flag.filter(|s| !s.is_empty()) {
        return BUILT_IN
            .iter()
            .find(|c| c.0.eq_ignore_ascii_case(name))
            .map(|c| CloudSpec::BuiltIn(c.0))
            .ok_or_else(|| {
                AppError::usage(format!("Unknown cloud '{name}'."))
                    .hint("Use AzureCloud, AzureChinaCloud or AzureUSGovernment, or set ACRCTL_ARM_ENDPOINT for a custom cloud.")
            });
    }
    match arm_endpoint_env.map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => {
            let url = Url::parse(raw).map_err(|e| {
                AppError::usage(format!("ACRCTL_ARM_ENDPOINT '{raw}' is not a URL ({e})."))
                    .hint("Set it to the ARM endpoint, e.g. https://management.local.azurestack.external/.")
            })?;
            crate::http::check_scheme(&url, "ACRCTL_ARM_ENDPOINT", crate::http::Scheme::HttpsOnly)?;
            Ok(CloudSpec::Custom(url))
        }
        None => Ok(CloudSpec::BuiltIn("AzureCloud")),
    }
}

/// Resolves the spec to endpoints, fetching the metadata document of a custom cloud (kept
/// in the token cache for a day). `authority_override` is `AZURE_AUTHORITY_HOST`, which
/// replaces the login endpoint.
pub async fn resolve(
    spec: &CloudSpec,
    authority_override: Option<&str>,
    cache: &crate::cache::Cache,
) -> Result<Cloud, AppError> {
    let mut cloud = match spec {
        CloudSpec::BuiltIn(name) => built_in(name),
        CloudSpec::Custom(arm) => {
            let key = crate::cache::key::cloud(arm.as_str());
            match cache.get(&key).and_then(|e| from_cache(&e.value)) {
                Some(c) => c,
                None => {
                    let c = fetch_metadata(arm).await?;
                    cache.put(
                        &key,
                        crate::cache::Entry {
                            value: to_cache(&c),
                            expires_on: crate::cache::now() + 86_400,
                            tenant: None,
                        },
                    );
                    c
                }
            }
        }
    };
    if let Some(host) = authority_override.map(str::trim).filter(|s| !s.is_empty()) {
        let url = Url::parse(host).map_err(|e| {
            AppError::usage(format!("AZURE_AUTHORITY_HOST '{host}' is not a URL ({e})."))
        })?;
        crate::http::check_scheme(&url, "AZURE_AUTHORITY_HOST", crate::http::Scheme::HttpsOnly)?;
        cloud.authority_host = url;
    }
    Ok(cloud)
}

async fn fetch_metadata(arm: &Url) -> Result<Cloud, AppError> {
    let mut url = arm.join("metadata/endpoints").expect("static path");
    url.set_query(Some("api-version=2022-09-01"));
    let what = "Reading the custom cloud's metadata (ACRCTL_ARM_ENDPOINT)";
    let response = crate::http::send(crate::http::client().get(url.clone()), what).await?;
    let status = response.status();
    let body = crate::http::body_text(response, what).await?;
    if !status.is_success() {
        return Err(AppError::new(
            Kind::Failure,
            format!(
                "{what}: {} answered {status}.",
                crate::http::display_url(&url)
            ),
        )
        .hint("Check that ACRCTL_ARM_ENDPOINT is the ARM endpoint of the cloud."));
    }
    parse_metadata(&body, arm)
}

fn to_cache(c: &Cloud) -> String {
    serde_json::to_string(c).expect("a cloud serializes")
}

fn from_cache(text: &str) -> Option<Cloud> {
    serde_json::from_str(text).ok()
}

fn built_in(name: &str) -> Cloud {
    let c = BUILT_IN
        .iter()
        .find(|c| c.0 == name)
        .expect("known built-in cloud");
    Cloud {
        name: c.0.to_string(),
        arm_endpoint: Url::parse(c.1).expect("static URL"),
        authority_host: Url::parse(c.2).expect("static URL"),
        arm_audience: c.3.to_string(),
        acr_suffix: c.4.to_string(),
        graph_endpoint: Some(Url::parse(built_in_graph(c.0)).expect("static URL")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataDocument {
    #[serde(default)]
    name: Option<String>,
    resource_manager: Option<String>,
    authentication: Option<MetadataAuthentication>,
    #[serde(default)]
    suffixes: Option<MetadataSuffixes>,
    #[serde(default)]
    microsoft_graph_resource_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataAuthentication {
    login_endpoint: Option<String>,
    #[serde(default)]
    audiences: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataSuffixes {
    acr_login_server: Option<String>,
}

/// Parses `{arm}/metadata/endpoints`: a JSON object, or an array of them (the entry whose
/// `resourceManager` is the endpoint we asked, else the only entry).
pub fn parse_metadata(body: &str, arm_endpoint: &Url) -> Result<Cloud, AppError> {
    let bad = |why: String| {
        AppError::new(Kind::Failure, format!("The custom cloud's metadata from {arm_endpoint} is not usable: {why}."))
            .hint("Check ACRCTL_ARM_ENDPOINT; the document must be ARM's metadata/endpoints (api-version 2022-09-01).")
    };
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| bad(format!("not JSON ({e})")))?;
    let entries: Vec<serde_json::Value> = match value {
        serde_json::Value::Array(items) => items,
        obj @ serde_json::Value::Object(_) => vec![obj],
        _ => return Err(bad("neither an object nor an array".into())),
    };
    let docs: Vec<MetadataDocument> = entries
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("unexpected shape ({e})")))?;
    let same_endpoint = |d: &MetadataDocument| {
        d.resource_manager.as_deref().is_some_and(|rm| {
            rm.trim_end_matches('/')
                .eq_ignore_ascii_case(arm_endpoint.as_str().trim_end_matches('/'))
        })
    };
    let doc = match docs.iter().position(same_endpoint) {
        Some(i) => &docs[i],
        None if docs.len() == 1 => &docs[0],
        None => {
            return Err(bad(format!(
                "{} entries and none has resourceManager {arm_endpoint}",
                docs.len()
            )))
        }
    };
    let auth = doc
        .authentication
        .as_ref()
        .ok_or_else(|| bad("no authentication section".into()))?;
    let login = auth
        .login_endpoint
        .as_deref()
        .ok_or_else(|| bad("no authentication.loginEndpoint".into()))?;
    let authority_host = Url::parse(login)
        .map_err(|e| bad(format!("loginEndpoint '{login}' is not a URL ({e})")))?;
    crate::http::check_scheme(
        &authority_host,
        "The custom cloud's loginEndpoint",
        crate::http::Scheme::HttpsOnly,
    )?;
    let arm_audience = auth
        .audiences
        .first()
        .cloned()
        .ok_or_else(|| bad("no authentication.audiences".into()))?;
    let acr_suffix = doc
        .suffixes
        .as_ref()
        .and_then(|s| s.acr_login_server.as_deref())
        .map(|s| s.trim_start_matches('.').to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            bad("no suffixes.acrLoginServer: this cloud has no container registries".into())
        })?;
    let arm = doc
        .resource_manager
        .as_deref()
        .and_then(|s| Url::parse(s).ok())
        .unwrap_or_else(|| arm_endpoint.clone());
    // Graph is optional (Azure Stack Hub has none); an unusable value is treated as absent
    // and reported when a command needs Graph.
    let graph_endpoint = doc
        .microsoft_graph_resource_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| Url::parse(s).ok())
        .filter(|u| u.scheme() == "https");
    Ok(Cloud {
        graph_endpoint,
        name: doc.name.clone().unwrap_or_else(|| "Custom".into()),
        arm_endpoint: arm,
        authority_host,
        arm_audience,
        acr_suffix,
    })
}

/// The `.default` scope of an Entra resource, as MSAL builds it: the resource followed by
/// `/.default`, so `https://management.core.windows.net/` gives a double slash.
pub fn scope_for(resource: &str) -> String {
    format!("{resource}/.default")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm() -> Url {
        Url::parse("https://127.0.0.1:8443/").unwrap()
    }

    const DOC: &str = r#"{"name":"Emulator","resourceManager":"https://127.0.0.1:8443/",
        "authentication":{"loginEndpoint":"https://127.0.0.1:8443","audiences":["https://management.emulator.local/"],"tenant":"common"},
        "suffixes":{"acrLoginServer":".azurecr.emulator","storage":"x"}}"#;

    #[test]
    fn metadata_object_is_read_and_the_leading_dot_dropped() {
        let c = parse_metadata(DOC, &arm()).unwrap();
        assert_eq!(c.acr_suffix, "azurecr.emulator");
        assert_eq!(c.arm_audience, "https://management.emulator.local/");
        assert_eq!(c.authority_host.as_str(), "https://127.0.0.1:8443/");
        assert_eq!(c.name, "Emulator");
    }

    #[test]
    fn metadata_array_picks_the_entry_for_our_endpoint() {
        let other = DOC
            .replace(
                "8443/\",\n        \"authentication",
                "9999/\",\n        \"authentication",
            )
            .replace("Emulator", "Other");
        let body = format!("[{other},{DOC}]");
        let c = parse_metadata(&body, &arm()).unwrap();
        assert_eq!(c.name, "Emulator");
    }

    #[test]
    fn metadata_array_without_match_and_several_entries_is_an_error() {
        let body = format!("[{DOC},{DOC}]");
        let other_arm = Url::parse("https://elsewhere/").unwrap();
        assert!(parse_metadata(&body, &other_arm).is_err());
    }

    #[test]
    fn graph_endpoint_for_built_in_and_custom_clouds() {
        assert_eq!(
            built_in("AzureChinaCloud").graph_endpoint.unwrap().as_str(),
            "https://microsoftgraph.chinacloudapi.cn/"
        );
        assert_eq!(
            built_in("AzureCloud").graph_endpoint.unwrap().as_str(),
            "https://graph.microsoft.com/"
        );
        assert_eq!(parse_metadata(DOC, &arm()).unwrap().graph_endpoint, None);
        let with_graph = DOC.replace(
            "\"suffixes\"",
            "\"microsoftGraphResourceId\":\"https://127.0.0.1:8443/\",\"suffixes\"",
        );
        assert_eq!(
            parse_metadata(&with_graph, &arm())
                .unwrap()
                .graph_endpoint
                .unwrap()
                .as_str(),
            "https://127.0.0.1:8443/"
        );
    }

    #[test]
    fn metadata_without_acr_suffix_is_a_clear_error() {
        let body = r#"{"authentication":{"loginEndpoint":"https://x","audiences":["a"]}}"#;
        let err = parse_metadata(body, &arm()).unwrap_err();
        assert!(err.message.contains("acrLoginServer"), "{}", err.message);
    }

    #[test]
    fn plain_http_login_endpoint_is_refused() {
        let body = DOC.replace("\"loginEndpoint\":\"https", "\"loginEndpoint\":\"http");
        assert_eq!(parse_metadata(&body, &arm()).unwrap_err().kind, Kind::Usage);
    }

    #[test]
    fn select_prefers_the_flag_and_rejects_unknown_names() {
        assert_eq!(
            select(Some("azurechinacloud"), Some("https://x/")).unwrap(),
            CloudSpec::BuiltIn("AzureChinaCloud")
        );
        assert!(select(Some("Mars"), None).is_err());
        assert_eq!(
            select(None, None).unwrap(),
            CloudSpec::BuiltIn("AzureCloud")
        );
        assert!(matches!(
            select(None, Some("https://arm.local/")).unwrap(),
            CloudSpec::Custom(_)
        ));
        assert_eq!(
            select(None, Some("http://arm.local/")).unwrap_err().kind,
            Kind::Usage
        );
    }

    #[test]
    fn scope_keeps_msal_double_slash() {
        assert_eq!(
            scope_for("https://management.core.windows.net/"),
            "https://management.core.windows.net//.default"
        );
        assert_eq!(
            scope_for(ACR_AUDIENCE),
            "https://containerregistry.azure.net/.default"
        );
    }
}
