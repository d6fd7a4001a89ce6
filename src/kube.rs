//! Kubernetes access through kube-rs: a client from a kubeconfig (`--kubeconfig`,
//! `--context`, `$KUBECONFIG`, `~/.kube/config`) with whatever that kubeconfig uses
//! (exec credential plugins such as kubelogin, client certificates, bearer tokens, the
//! cluster's CA), and the few calls acrctl makes: server-side apply of a Secret and
//! an `imagePullSecrets` patch of a ServiceAccount. No clap here; errors become
//! [`AppError`]s that name the RBAC rule a 403 needs.
//!
//! Cost (measured 2026-11-23, release, stripped): kube 5 + k8s-openapi 0.29 grow the
//! binary from 7.9 MB to 13.8 MB; `acrctl --version` goes from 1.2 ms to 1.3 ms (hyperfine,
//! 500 runs) and its peak RSS from 4.6 to 6.9 MB. Nothing of kube runs at start-up: the
//! difference is the dynamic loader applying about twice as many relocations (12 k ->
//! 28 k) in a bigger PIE image.

use crate::error::{AppError, Kind};
use ::kube::api::{Api, DeleteParams, LogParams, Patch, PatchParams, PostParams};
use ::kube::config::{KubeConfigOptions, Kubeconfig};
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use std::path::PathBuf;
use std::time::Duration;

/// The field manager of every write acrctl makes.
pub const FIELD_MANAGER: &str = "acrctl";

/// Where the kubeconfig comes from (flags; the environment is read here, once).
#[derive(Clone, Debug, Default)]
pub struct KubeOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// A connected client, with what error messages need to say where it points.
pub struct Cluster {
    pub client: ::kube::Client,
    pub server: String,
    pub context: String,
    /// The context's namespace, `default` when it names none (as kubectl).
    pub default_namespace: String,
}

/// Which kubeconfig file(s) to read: the flag, else `$KUBECONFIG` (a list, merged as
/// kubectl does), else `~/.kube/config`.
fn kubeconfig_sources(opts: &KubeOptions) -> Result<Vec<PathBuf>, AppError> {
    if let Some(p) = &opts.kubeconfig {
        if !p.is_file() {
            return Err(AppError::new(
                Kind::Failure,
                format!("The kubeconfig file {} does not exist.", p.display()),
            )
            .hint("Pass an existing file with --kubeconfig (for AKS: az aks get-credentials)."));
        }
        return Ok(vec![p.clone()]);
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        let existing: Vec<PathBuf> = paths.iter().filter(|p| p.is_file()).cloned().collect();
        if existing.is_empty() {
            return Err(AppError::new(
                Kind::Failure,
                format!(
                    "No kubeconfig found: KUBECONFIG names {} but no such file exists.",
                    std::env::join_paths(&paths)
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
            )
            .hint("Point KUBECONFIG or --kubeconfig at an existing file (for AKS: az aks get-credentials)."));
        }
        return Ok(existing);
    }
    let home = dirs::home_dir().map(|h| h.join(".kube").join("config"));
    match home {
        Some(p) if p.is_file() => Ok(vec![p]),
        _ => Err(AppError::new(
            Kind::Failure,
            "No kubeconfig found: --kubeconfig is not given, KUBECONFIG is not set and ~/.kube/config does not exist.",
        )
        .hint("Pass --kubeconfig FILE, or get one (for AKS: az aks get-credentials -g RG -n CLUSTER); --dry-run prints the Secret without a cluster.")),
    }
}

fn read_kubeconfig(paths: &[PathBuf]) -> Result<Kubeconfig, AppError> {
    let mut merged: Option<Kubeconfig> = None;
    for p in paths {
        let kc = Kubeconfig::read_from(p).map_err(|e| {
            AppError::new(
                Kind::Failure,
                format!("The kubeconfig {} could not be read: {e}.", p.display()),
            )
            .caused_by(&e)
        })?;
        merged = Some(match merged {
            None => kc,
            Some(m) => m.merge(kc).map_err(|e| {
                AppError::new(
                    Kind::Failure,
                    format!("The kubeconfig files in KUBECONFIG cannot be merged: {e}."),
                )
            })?,
        });
    }
    merged.ok_or_else(|| AppError::new(Kind::Failure, "No kubeconfig found."))
}

/// Builds a client for the chosen context. Nothing is sent yet; exec plugins run on
/// the first request.
pub async fn connect(opts: &KubeOptions) -> Result<Cluster, AppError> {
    // kube's rustls uses the process-default provider; aws-lc-rs is the only one linked.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let paths = kubeconfig_sources(opts)?;
    crate::debug!(
        "kubeconfig: {}",
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let kc = read_kubeconfig(&paths)?;
    let context = match &opts.context {
        Some(c) => {
            if !kc.contexts.iter().any(|nc| &nc.name == c) {
                let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
                return Err(AppError::new(
                    Kind::NotFound,
                    format!("The kubeconfig has no context '{c}'."),
                )
                .hint(format!("Known contexts: {}.", known.join(", "))));
            }
            c.clone()
        }
        None => kc.current_context.clone().unwrap_or_default(),
    };
    if context.is_empty() {
        return Err(
            AppError::new(Kind::Failure, "The kubeconfig names no current context.")
                .hint("Pass --context NAME, or set one with kubectl config use-context NAME."),
        );
    }
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        cluster: None,
        user: None,
    };
    let mut config = ::kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| {
            AppError::new(
                Kind::Failure,
                format!("The kubeconfig context '{context}' cannot be used: {e}."),
            )
            .caused_by(&e)
        })?;
    let limit = crate::http::timeout();
    config.connect_timeout = Some(limit.min(Duration::from_secs(10)));
    config.read_timeout = Some(limit);
    config.write_timeout = Some(limit);
    config.reset_reader_on_write = true;
    // A bounded run: no hidden retries on 429/503.
    config.default_retry = false;
    let server = config.cluster_url.to_string();
    let default_namespace = config.default_namespace.clone();
    crate::debug!("Kubernetes API server {server} (context {context})");
    let client = ::kube::Client::try_from(config).map_err(|e| {
        AppError::new(
            Kind::Failure,
            format!("Could not set up a Kubernetes client for {server}: {e}."),
        )
        .caused_by(&e)
    })?;
    Ok(Cluster {
        client,
        server,
        context,
        default_namespace,
    })
}

/// What a request was for, so that errors can name it and the RBAC rule it needs.
#[derive(Clone, Copy, Debug)]
pub struct Action<'a> {
    /// RBAC verbs, e.g. "create/patch".
    pub verbs: &'a str,
    /// Resource (plural), e.g. "secrets".
    pub resource: &'a str,
    pub name: &'a str,
    pub namespace: &'a str,
}

impl Cluster {
    /// Turns a kube error into a user-facing one.
    pub fn error(&self, action: Action<'_>, err: ::kube::Error) -> AppError {
        let Action {
            verbs,
            resource,
            name,
            namespace,
        } = action;
        match &err {
            ::kube::Error::Api(status) => {
                let code = status.code;
                let msg = status.message.trim_end_matches('.').to_string();
                match code {
                    401 => AppError::new(
                        Kind::Auth,
                        format!(
                            "The Kubernetes API server {} refused the credentials of context '{}' (401 Unauthorized).",
                            self.server, self.context
                        ),
                    )
                    .hint("The token or certificate in the kubeconfig is invalid or expired; get fresh credentials (for AKS: az aks get-credentials, kubelogin)."),
                    403 => AppError::new(
                        Kind::Auth,
                        format!("Forbidden: {msg} (403)."),
                    )
                    .hint(format!(
                        "RBAC must allow {verbs} {resource} in namespace {namespace} for the user of context '{}' (e.g. a Role with verbs [{}] on {resource}, bound in {namespace}).",
                        self.context,
                        verbs.replace('/', ", ")
                    )),
                    404 => {
                        let details_kind = status
                            .details
                            .as_ref()
                            .map(|d| d.kind.as_str())
                            .unwrap_or("");
                        if details_kind == "namespaces" || msg.starts_with("namespaces ") {
                            AppError::new(
                                Kind::NotFound,
                                format!("Namespace '{namespace}' not found on {}.", self.server),
                            )
                            .hint(format!("Create it first (kubectl create namespace {namespace}) or pick another with --namespace."))
                        } else if resource == "serviceaccounts" {
                            AppError::new(
                                Kind::NotFound,
                                format!("Service account '{name}' not found in namespace {namespace}."),
                            )
                            .hint(format!("Create it (kubectl create serviceaccount {name} -n {namespace}) or leave out --service-account; the Secret itself was applied."))
                        } else {
                            AppError::new(
                                Kind::NotFound,
                                format!("{resource}/{name} not found in namespace {namespace}: {msg}."),
                            )
                        }
                    }
                    409 => AppError::new(
                        Kind::Failure,
                        format!("Conflict writing {resource}/{name} in namespace {namespace}: {msg}."),
                    )
                    .hint("Another writer changed it at the same time; run the command again."),
                    422 => AppError::new(
                        Kind::Failure,
                        format!("The API server rejected {resource}/{name} in namespace {namespace}: {msg}."),
                    )
                    .hint("An existing object of that name may have another type (a Secret's type cannot change); delete it or choose another --name."),
                    _ => AppError::new(
                        Kind::Failure,
                        format!(
                            "The Kubernetes API server answered {code} {} for {resource}/{name} in namespace {namespace}: {msg}.",
                            status.reason
                        ),
                    ),
                }
            }
            ::kube::Error::Auth(e) => AppError::new(
                Kind::Auth,
                format!(
                    "Could not get credentials for context '{}': {e}.",
                    self.context
                ),
            )
            .hint("Check the kubeconfig user's exec plugin (e.g. kubelogin) or token; run kubectl with the same kubeconfig to see its error.")
            .caused_by(&err),
            ::kube::Error::HyperError(_) | ::kube::Error::Service(_) => {
                let mut e = crate::error::network_error(
                    "Kubernetes API server",
                    &self.server,
                    &err,
                );
                if !e.message.contains(&self.server) {
                    e.message = format!("{} ({})", e.message, self.server);
                }
                e
            }
            _ => AppError::new(
                Kind::Failure,
                format!(
                    "The request to {} for {resource}/{name} in namespace {namespace} failed: {err}.",
                    self.server
                ),
            )
            .caused_by(&err),
        }
    }

    /// Creates or updates the Secret with server-side apply (field manager `acrctl`,
    /// `force=true`), so a second run updates and a new password rotates it.
    pub async fn apply_secret(
        &self,
        namespace: &str,
        name: &str,
        manifest: &serde_json::Value,
    ) -> Result<Secret, AppError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        crate::debug!(
            "PATCH (apply) secrets/{name} in namespace {namespace} on {}",
            self.server
        );
        api.patch(name, &params, &Patch::Apply(manifest))
            .await
            .map_err(|e| {
                self.error(
                    Action {
                        verbs: "create/patch",
                        resource: "secrets",
                        name,
                        namespace,
                    },
                    e,
                )
            })
    }

    /// Adds `secret` to the ServiceAccount's `imagePullSecrets`, keeping every entry it
    /// has and never adding it twice. Returns whether anything changed.
    ///
    /// The list is read, extended and written back as a JSON merge patch that carries
    /// the `resourceVersion` it was read at, so a concurrent change is a 409 (retried)
    /// rather than a lost entry; this does not depend on the patch strategy the server
    /// uses for this field.
    pub async fn add_image_pull_secret(
        &self,
        namespace: &str,
        service_account: &str,
        secret: &str,
    ) -> Result<bool, AppError> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sa = api.get(service_account).await.map_err(|e| {
                self.error(
                    Action {
                        verbs: "get/patch",
                        resource: "serviceaccounts",
                        name: service_account,
                        namespace,
                    },
                    e,
                )
            })?;
            let mut names: Vec<serde_json::Value> = Vec::new();
            let mut present = false;
            for r in sa.image_pull_secrets.iter().flatten() {
                if r.name == secret {
                    present = true;
                }
                names.push(serde_json::json!({ "name": r.name }));
            }
            if present {
                crate::debug!(
                    "serviceaccount {namespace}/{service_account} already lists {secret}"
                );
                return Ok(false);
            }
            names.push(serde_json::json!({ "name": secret }));
            let patch = serde_json::json!({
                "metadata": { "resourceVersion": sa.metadata.resource_version },
                "imagePullSecrets": names,
            });
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..PatchParams::default()
            };
            match api
                .patch(service_account, &params, &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(true),
                Err(::kube::Error::Api(s)) if s.code == 409 && attempt < 5 => {
                    crate::debug!("serviceaccount {namespace}/{service_account} changed meanwhile; reading it again");
                    continue;
                }
                Err(e) => {
                    return Err(self.error(
                        Action {
                            verbs: "get/patch",
                            resource: "serviceaccounts",
                            name: service_account,
                            namespace,
                        },
                        e,
                    ))
                }
            }
        }
    }

    /// Creates a pod from a JSON manifest (check-acr's probe).
    pub async fn create_pod(
        &self,
        namespace: &str,
        manifest: &serde_json::Value,
    ) -> Result<Pod, AppError> {
        let name = manifest["metadata"]["name"].as_str().unwrap_or("");
        let pod: Pod = serde_json::from_value(manifest.clone()).map_err(|e| {
            AppError::new(
                Kind::Failure,
                format!("The pod manifest for {name} is invalid: {e}."),
            )
        })?;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        crate::debug!(
            "POST pods/{name} in namespace {namespace} on {}",
            self.server
        );
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PostParams::default()
        };
        api.create(&params, &pod).await.map_err(|e| {
            self.error(
                Action {
                    verbs: "create/get/delete",
                    resource: "pods",
                    name,
                    namespace,
                },
                e,
            )
        })
    }

    pub async fn get_pod(&self, namespace: &str, name: &str) -> Result<Pod, AppError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        api.get(name).await.map_err(|e| {
            self.error(
                Action {
                    verbs: "create/get/delete",
                    resource: "pods",
                    name,
                    namespace,
                },
                e,
            )
        })
    }

    /// The pod's log so far (`pods/log`, get).
    pub async fn pod_log(&self, namespace: &str, name: &str) -> Result<String, AppError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        api.logs(name, &LogParams::default()).await.map_err(|e| {
            self.error(
                Action {
                    verbs: "get",
                    resource: "pods/log",
                    name,
                    namespace,
                },
                e,
            )
        })
    }

    /// Deletes the pod right away (grace period 0); a pod already gone is fine.
    pub async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), AppError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        crate::debug!(
            "DELETE pods/{name} in namespace {namespace} on {}",
            self.server
        );
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        };
        match api.delete(name, &params).await {
            Ok(_) => Ok(()),
            Err(::kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(self.error(
                Action {
                    verbs: "create/get/delete",
                    resource: "pods",
                    name,
                    namespace,
                },
                e,
            )),
        }
    }
}
