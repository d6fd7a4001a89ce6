//! A Kubernetes API subset (JSON only), written from the public API conventions: enough
//! for acrctl's `create-pull-secret` and for the real `kubectl` to read what it wrote.
//!
//! - `/version`, discovery (`/api`, `/api/v1` with groupVersion "v1", `/apis`)
//! - namespaces get/list; secrets get/list/create/update/delete/patch; serviceaccounts
//!   get/list/create/patch. PATCH takes `application/apply-patch+yaml` (a JSON body:
//!   server-side apply, `fieldManager` required), `application/merge-patch+json` and
//!   `application/strategic-merge-patch+json` (`imagePullSecrets` and `secrets` merge
//!   by `name`); a `metadata.resourceVersion` in a patch or PUT must match (409).
//! - pods create/get/list/delete and `pods/{name}/log`: a pod "runs" az's canipull
//!   probe. It is Pending when created and has finished (Succeeded, or Failed with
//!   canipull's exit code) when next read; its log is canipull-like lines. The API
//!   stands for the cluster `aks-mi`: the probe passes when that cluster's kubelet
//!   identity holds a pull role on the registry (legacy or ABAC mode), fails with 52
//!   for a login server under `.invalid` and with 60 without a role.
//! - Bearer tokens: the admin token may do anything, the read-only token only
//!   get/list/watch (403 Forbidden names the verb and resource), anything else is 401.
//! - Errors are `Status` objects; protobuf bodies are refused with 415.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::state::{rfc3339_now, Shared};

pub const ADMIN_USER: &str = "emulator-admin";
pub const READONLY_USER: &str = "emulator-readonly";

/// What tests and scripts need to reach the API server.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KubeInfo {
    /// `https://127.0.0.1:PORT`
    pub server: String,
    /// Bearer token of a user with every right.
    pub admin_token: String,
    /// Bearer token of a user who may only get/list/watch.
    pub readonly_token: String,
    /// A kubeconfig pointing at `server` with the CA data and the admin token (context
    /// `emulator`, the current one) and the read-only token (context `emulator-readonly`).
    pub kubeconfig_path: std::path::PathBuf,
}

/// Objects by (resource, namespace, name); namespaces under ("namespaces", "", name).
#[derive(Debug)]
pub struct Store {
    pub objects: BTreeMap<(String, String, String), Value>,
    pub resource_version: u64,
    /// (namespace, pod) -> the status the pod reaches and its log.
    pub pod_runs: BTreeMap<(String, String), (Value, String)>,
}

impl Default for Store {
    fn default() -> Self {
        let mut s = Store {
            objects: BTreeMap::new(),
            resource_version: 1,
            pod_runs: BTreeMap::new(),
        };
        for ns in ["default", "kube-system", "awesomeapps"] {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
            s.insert("namespaces", "", ns, obj);
            let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}});
            s.insert("serviceaccounts", ns, "default", sa);
        }
        s
    }
}

impl Store {
    fn next_rv(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    /// Stores a new object, filling in uid, resourceVersion and creationTimestamp.
    fn insert(&mut self, resource: &str, ns: &str, name: &str, mut obj: Value) -> Value {
        let rv = self.next_rv();
        let meta = meta_mut(&mut obj);
        meta.insert("name".into(), json!(name));
        if !ns.is_empty() {
            meta.insert("namespace".into(), json!(ns));
        }
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("resourceVersion".into(), json!(rv));
        meta.insert("creationTimestamp".into(), json!(rfc3339_now()));
        self.objects.insert(key(resource, ns, name), obj.clone());
        obj
    }

    /// Replaces an object, bumping its resourceVersion only when something changed.
    fn replace(
        &mut self,
        resource: &str,
        ns: &str,
        name: &str,
        old: &Value,
        mut obj: Value,
    ) -> Value {
        for k in [
            "uid",
            "creationTimestamp",
            "resourceVersion",
            "name",
            "namespace",
        ] {
            if let Some(v) = old["metadata"].get(k) {
                meta_mut(&mut obj).insert(k.into(), v.clone());
            }
        }
        if obj != *old {
            let rv = self.next_rv();
            meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv));
        }
        self.objects.insert(key(resource, ns, name), obj.clone());
        obj
    }

    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(&key(resource, ns, name))
    }

    /// Test hook: puts an object as is (metadata filled in as on create).
    pub fn put(&mut self, resource: &str, ns: &str, name: &str, obj: Value) -> Value {
        match self.get(resource, ns, name).cloned() {
            Some(old) => self.replace(resource, ns, name, &old, obj),
            None => self.insert(resource, ns, name, obj),
        }
    }
}

fn key(resource: &str, ns: &str, name: &str) -> (String, String, String) {
    (resource.to_string(), ns.to_string(), name.to_string())
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let o = obj.as_object_mut().expect("object");
    if !o.get("metadata").is_some_and(Value::is_object) {
        o.insert("metadata".into(), json!({}));
    }
    o.get_mut("metadata")
        .and_then(Value::as_object_mut)
        .expect("metadata object")
}

/// The kubeconfig the emulator writes into its state dir.
pub fn kubeconfig_yaml(server: &str, ca_pem: &[u8], admin: &str, readonly: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: emulator
  cluster:
    server: {server}
    certificate-authority-data: {ca}
contexts:
- name: emulator
  context:
    cluster: emulator
    user: {ADMIN_USER}
- name: emulator-readonly
  context:
    cluster: emulator
    user: {READONLY_USER}
current-context: emulator
users:
- name: {ADMIN_USER}
  user:
    token: {admin}
- name: {READONLY_USER}
  user:
    token: {readonly}
"
    )
}

pub fn routes(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

struct Resource {
    name: &'static str,
    kind: &'static str,
    namespaced: bool,
    verbs: &'static [&'static str],
}

const RESOURCES: &[Resource] = &[
    Resource {
        name: "namespaces",
        kind: "Namespace",
        namespaced: false,
        verbs: &["get", "list"],
    },
    Resource {
        name: "secrets",
        kind: "Secret",
        namespaced: true,
        verbs: &["create", "delete", "get", "list", "patch", "update"],
    },
    Resource {
        name: "pods",
        kind: "Pod",
        namespaced: true,
        verbs: &["create", "delete", "get", "list"],
    },
    Resource {
        name: "serviceaccounts",
        kind: "ServiceAccount",
        namespaced: true,
        verbs: &["create", "get", "list", "patch"],
    },
];

fn resource(name: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.name == name)
}

fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Response {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(d) = details {
        body["details"] = d;
    }
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(code: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn not_found(resource: &str, name: &str) -> Response {
    status(
        404,
        "NotFound",
        &format!("{resource} \"{name}\" not found"),
        Some(json!({"name": name, "kind": resource})),
    )
}

/// The user a request authenticates as, from `Authorization: Bearer …`.
fn user(shared: &Shared, headers: &HeaderMap) -> Option<&'static str> {
    let info = shared.info.kube.as_ref()?;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?
        .trim();
    if token == info.admin_token {
        Some(ADMIN_USER)
    } else if token == info.readonly_token {
        Some(READONLY_USER)
    } else {
        None
    }
}

fn query_params(uri: &Uri) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(who) = user(&shared, &headers) else {
        return status(401, "Unauthorized", "Unauthorized", None);
    };
    let path = uri.path().trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => ok(
            200,
            json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-acrctl-emulator", "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64"}),
        ),
        ["api"] => ok(
            200,
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1")}]}),
        ),
        ["apis"] => ok(
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
        ),
        ["api", "v1"] => ok(200, resource_list()),
        ["api", "v1", rest @ ..] => core(&shared, who, &method, &uri, &headers, &body, rest),
        _ => status(
            404,
            "NotFound",
            "the server could not find the requested resource",
            Some(json!({})),
        ),
    }
}

fn resource_list() -> Value {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "singularName": r.kind.to_ascii_lowercase(),
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": r.verbs,
                "shortNames": match r.name { "namespaces" => json!(["ns"]), "serviceaccounts" => json!(["sa"]), _ => json!([]) },
            })
        })
        .collect();
    json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": resources})
}

fn verb_of(method: &Method, collection: bool) -> &'static str {
    match *method {
        Method::GET if collection => "list",
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "unknown",
    }
}

fn forbidden(who: &str, verb: &str, resource: &str, ns: &str, name: &str) -> Response {
    let subject = if name.is_empty() {
        resource.to_string()
    } else {
        format!("{resource} \"{name}\"")
    };
    let scope = if ns.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{ns}\"")
    };
    status(
        403,
        "Forbidden",
        &format!("{subject} is forbidden: User \"{who}\" cannot {verb} resource \"{resource}\" in API group \"\" {scope}"),
        Some(json!({"name": name, "kind": resource})),
    )
}

#[allow(clippy::too_many_arguments)]
fn core(
    shared: &Shared,
    who: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    rest: &[&str],
) -> Response {
    if let ["namespaces", ns, "pods", name, "log"] = rest {
        return pod_log(shared, who, method, ns, name);
    }
    // What a new pod will do, worked out before the world is locked.
    let probe = match (rest, method) {
        (["namespaces", _, "pods"], &Method::POST) => Some(canipull(shared, body)),
        _ => None,
    };
    // (resource, namespace, name)
    let (res, ns, name): (&str, &str, &str) = match rest {
        [r] => (r, "", ""),
        ["namespaces", ns] => ("namespaces", "", ns),
        ["namespaces", ns, r] => (r, ns, ""),
        ["namespaces", ns, r, n] => (r, ns, n),
        _ => {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource",
                Some(json!({})),
            )
        }
    };
    let Some(def) = resource(res) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
            Some(json!({})),
        );
    };
    let collection = name.is_empty();
    let verb = verb_of(method, collection);
    if !def.verbs.contains(&verb) {
        return status(
            405,
            "MethodNotAllowed",
            &format!(
                "the server does not allow this method on the requested resource ({verb} {res})"
            ),
            Some(json!({})),
        );
    }
    if who != ADMIN_USER && !matches!(verb, "get" | "list" | "watch") {
        return forbidden(who, verb, res, ns, name);
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if ct.contains("protobuf") {
        return status(
            415,
            "UnsupportedMediaType",
            &format!("the emulator accepts JSON only, not {ct}"),
            None,
        );
    }
    let params = query_params(uri);
    let dry_run = params.get("dryRun").is_some_and(|v| v == "All");
    let mut world = shared.world();
    let store = &mut world.kube;

    // Namespaced resources live in an existing namespace.
    if def.namespaced && !ns.is_empty() && store.get("namespaces", "", ns).is_none() {
        return not_found("namespaces", ns);
    }

    if collection {
        if *method == Method::GET {
            let items: Vec<Value> = store
                .objects
                .iter()
                .filter(|((r, n, _), _)| r == res && (ns.is_empty() || n == ns))
                .map(|(_, v)| v.clone())
                .collect();
            return ok(
                200,
                json!({"kind": format!("{}List", def.kind), "apiVersion": "v1", "metadata": {"resourceVersion": store.resource_version.to_string()}, "items": items}),
            );
        }
        // POST create
        let mut obj: Value = match serde_json::from_slice(body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return status(400, "BadRequest", "the body is not a JSON object", None),
        };
        let Some(name) = obj["metadata"]["name"].as_str().map(str::to_string) else {
            return status(
                422,
                "Invalid",
                &format!("{} \"\" is invalid: metadata.name: Required value: name or generateName is required", def.kind),
                None,
            );
        };
        if store.get(res, ns, &name).is_some() {
            return status(
                409,
                "AlreadyExists",
                &format!("{res} \"{name}\" already exists"),
                Some(json!({"name": name, "kind": res})),
            );
        }
        if let Err(r) = normalize(def, &mut obj, &name) {
            return r;
        }
        add_manager(
            &mut obj,
            params
                .get("fieldManager")
                .map(String::as_str)
                .unwrap_or("unknown"),
            "Update",
        );
        if let Some(run) = probe {
            obj["status"] = json!({"phase": "Pending"});
            if !dry_run {
                store.pod_runs.insert((ns.to_string(), name.clone()), run);
            }
        }
        if dry_run {
            return ok(201, obj);
        }
        let created = store.insert(res, ns, &name, obj);
        return ok(201, created);
    }

    if res == "pods" && *method == Method::GET {
        // A pod read after its creation has run to the end.
        if let Some((status, _)) = store.pod_runs.get(&(ns.to_string(), name.to_string())) {
            let status = status.clone();
            if let Some(old) = store.get(res, ns, name).cloned() {
                if old["status"]["phase"] == "Pending" {
                    let mut new = old.clone();
                    new["status"] = status;
                    store.replace(res, ns, name, &old, new);
                }
            }
        }
    }
    if res == "pods" && *method == Method::DELETE && !dry_run {
        store.pod_runs.remove(&(ns.to_string(), name.to_string()));
    }
    let existing = store.get(res, ns, name).cloned();
    match *method {
        Method::GET => match existing {
            Some(o) => ok(200, o),
            None => not_found(res, name),
        },
        Method::DELETE => match existing {
            Some(o) => {
                if !dry_run {
                    store.objects.remove(&key(res, ns, name));
                }
                ok(200, o)
            }
            None => not_found(res, name),
        },
        Method::PUT => {
            let Some(old) = existing else {
                return not_found(res, name);
            };
            let mut obj: Value = match serde_json::from_slice(body) {
                Ok(v @ Value::Object(_)) => v,
                _ => return status(400, "BadRequest", "the body is not a JSON object", None),
            };
            if let Some(r) = check_rv(&obj, &old, res, name) {
                return r;
            }
            if let Err(r) = normalize(def, &mut obj, name) {
                return r;
            }
            if let Some(r) = immutable_type(&old, &obj, def, name) {
                return r;
            }
            obj["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
            add_manager(
                &mut obj,
                params
                    .get("fieldManager")
                    .map(String::as_str)
                    .unwrap_or("unknown"),
                "Update",
            );
            if dry_run {
                return ok(200, obj);
            }
            ok(200, store.replace(res, ns, name, &old, obj))
        }
        Method::PATCH => {
            let patch: Value = match serde_json::from_slice(body) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return status(
                        400,
                        "BadRequest",
                        "the patch is not a JSON object (the emulator reads JSON bodies only)",
                        None,
                    )
                }
            };
            match ct.as_str() {
                "application/apply-patch+yaml" => {
                    let Some(manager) = params.get("fieldManager").filter(|m| !m.is_empty()) else {
                        return status(
                            422,
                            "Invalid",
                            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                            None,
                        );
                    };
                    if patch["apiVersion"] != "v1" || patch["kind"] != def.kind {
                        return status(
                            400,
                            "BadRequest",
                            &format!("apply patch must have apiVersion v1 and kind {}", def.kind),
                            None,
                        );
                    }
                    if patch["metadata"]["name"].as_str() != Some(name) {
                        return status(
                            400,
                            "BadRequest",
                            "the name of the object does not match the name on the URL",
                            None,
                        );
                    }
                    if let Some(pns) = patch["metadata"]["namespace"].as_str() {
                        if pns != ns {
                            return status(
                                400,
                                "BadRequest",
                                "the namespace of the object does not match the namespace on the URL",
                                None,
                            );
                        }
                    }
                    let mut obj = patch.clone();
                    if let Err(r) = normalize(def, &mut obj, name) {
                        return r;
                    }
                    match existing {
                        None => {
                            add_manager(&mut obj, manager, "Apply");
                            if dry_run {
                                return ok(201, obj);
                            }
                            ok(201, store.insert(res, ns, name, obj))
                        }
                        Some(old) => {
                            if let Some(r) = immutable_type(&old, &obj, def, name) {
                                return r;
                            }
                            // Simplified apply with force: the applied fields win,
                            // everything else stays.
                            let mut merged = old.clone();
                            if let Some(m) = merged["metadata"].as_object_mut() {
                                m.remove("managedFields");
                            }
                            merge_patch(&mut merged, &obj);
                            merged["metadata"]["managedFields"] =
                                old["metadata"]["managedFields"].clone();
                            add_manager(&mut merged, manager, "Apply");
                            if same_except_managed(&merged, &old) {
                                return ok(200, old);
                            }
                            if dry_run {
                                return ok(200, merged);
                            }
                            ok(200, store.replace(res, ns, name, &old, merged))
                        }
                    }
                }
                "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                    let Some(old) = existing else {
                        return not_found(res, name);
                    };
                    if let Some(r) = check_rv(&patch, &old, res, name) {
                        return r;
                    }
                    let mut obj = old.clone();
                    if ct == "application/strategic-merge-patch+json" {
                        strategic_merge(&mut obj, &patch);
                    } else {
                        merge_patch(&mut obj, &patch);
                    }
                    if let Some(r) = immutable_type(&old, &obj, def, name) {
                        return r;
                    }
                    add_manager(&mut obj, params.get("fieldManager").map(String::as_str).unwrap_or("unknown"), "Update");
                    if same_except_managed(&obj, &old) {
                        return ok(200, old);
                    }
                    if dry_run {
                        return ok(200, obj);
                    }
                    ok(200, store.replace(res, ns, name, &old, obj))
                }
                other => status(
                    415,
                    "UnsupportedMediaType",
                    &format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json (not in the emulator), application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json; got {other:?}"),
                    None,
                ),
            }
        }
        _ => status(405, "MethodNotAllowed", "method not allowed", None),
    }
}

/// `GET pods/{name}/log`: plain text, once the container has run.
fn pod_log(shared: &Shared, _who: &str, method: &Method, ns: &str, name: &str) -> Response {
    if *method != Method::GET {
        return status(405, "MethodNotAllowed", "method not allowed", None);
    }
    let world = shared.world();
    let Some(pod) = world.kube.get("pods", ns, name) else {
        return not_found("pods", name);
    };
    if pod["status"]["phase"] == "Pending" {
        return status(
            400,
            "BadRequest",
            &format!(
                "container \"{name}\" in pod \"{name}\" is waiting to start: ContainerCreating"
            ),
            None,
        );
    }
    let text = world
        .kube
        .pod_runs
        .get(&(ns.to_string(), name.to_string()))
        .map(|(_, log)| log.clone())
        .unwrap_or_default();
    (StatusCode::OK, [("content-type", "text/plain")], text).into_response()
}

/// What az's canipull image would do on a node of `aks-mi` (Azure/aks-canipull
/// `main.go`): the final pod status and the log lines, `[RFC3339 time] ` prefixed.
fn canipull(shared: &Shared, body: &Bytes) -> (Value, String) {
    use crate::state::{ACRPULL, ACRPUSH, CONTRIBUTOR, OWNER, READER, REPO_READER};
    let pod: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let container = &pod["spec"]["containers"][0];
    let acr = container["args"]
        .as_array()
        .and_then(|a| a.last())
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let now = rfc3339_now();
    let mut log = String::new();
    let mut line = |s: &str| log.push_str(&format!("[{now}] {s}\n"));
    let host = acr
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(&acr)
        .to_string();
    let code = 'run: {
        if host.is_empty() || host.ends_with(".invalid") {
            line(&format!("Checking host name resolution ({acr}): FAILED"));
            line(&format!(
                "Failed to resolve {acr}: lookup {host}: no such host"
            ));
            break 'run 52;
        }
        line(&format!("Checking host name resolution ({acr}): SUCCEEDED"));
        line(&format!("Canonical name for ACR ({acr}): {host}."));
        let reg = shared.registries.iter().find(|r| {
            let ls = shared.flag_str(&r.name, "loginServer");
            r.login_server.eq_ignore_ascii_case(&acr) || ls.eq_ignore_ascii_case(&acr)
        });
        let location = reg
            .map(|r| shared.flag_str(&r.name, "location"))
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "westeurope".into());
        line(&format!("ACR location: {location}"));
        if !location.eq_ignore_ascii_case("westeurope") {
            line("WARNING: ACR and AKS are in different regions, which may cause high network costs and latency");
        }
        line("Loading azure.json file from /etc/kubernetes/azure.json");
        line("Checking managed identity...");
        line("Cluster cloud name: AzurePublicCloud");
        let Some(cluster) = shared.cluster("aks-mi") else {
            break 'run 10;
        };
        line(&format!(
            "Kubelet managed identity client ID: {}",
            cluster.info.kubelet_client_id
        ));
        line("Validating managed identity existance: SUCCEEDED");
        let allowed: &[&str] = match reg {
            Some(r)
                if shared.flag_str(&r.name, "roleAssignmentMode")
                    == "AbacRepositoryPermissions" =>
            {
                &[REPO_READER]
            }
            _ => &[ACRPULL, ACRPUSH, CONTRIBUTOR, OWNER, READER],
        };
        let can = reg.is_some_and(|r| {
            shared
                .roles_at(&cluster.info.kubelet_object_id, &r.resource_id)
                .iter()
                .any(|g| allowed.iter().any(|a| a.eq_ignore_ascii_case(g)))
        });
        if !can {
            line("Validating image pull permission: FAILED");
            line(&format!(
                "ACR {acr} rejected token exchange: failed to get refresh token: 401 Unauthorized"
            ));
            break 'run 60;
        }
        line("Validating image pull permission: SUCCEEDED");
        line("");
        line(&format!("Your cluster can pull images from {acr}!"));
        0
    };
    let name = container["name"].as_str().unwrap_or("canipull");
    let status = json!({
        "phase": if code == 0 { "Succeeded" } else { "Failed" },
        "containerStatuses": [{
            "name": name,
            "ready": false,
            "restartCount": 0,
            "image": container["image"],
            "imageID": "",
            "state": {"terminated": {
                "exitCode": code,
                "reason": if code == 0 { "Completed" } else { "Error" },
                "startedAt": now, "finishedAt": now,
            }},
        }],
    });
    (status, log)
}

fn same_except_managed(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v["metadata"].as_object_mut() {
            m.remove("managedFields");
            m.remove("resourceVersion");
        }
        v
    };
    strip(a) == strip(b)
}

fn check_rv(obj: &Value, old: &Value, res: &str, name: &str) -> Option<Response> {
    let want = obj["metadata"]["resourceVersion"].as_str()?;
    if Some(want) == old["metadata"]["resourceVersion"].as_str() {
        return None;
    }
    Some(status(
        409,
        "Conflict",
        &format!("Operation cannot be fulfilled on {res} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"),
        Some(json!({"name": name, "kind": res})),
    ))
}

fn immutable_type(old: &Value, new: &Value, def: &Resource, name: &str) -> Option<Response> {
    if def.name != "secrets" || old["type"] == new["type"] {
        return None;
    }
    Some(status(
        422,
        "Invalid",
        &format!(
            "Secret \"{name}\" is invalid: type: Invalid value: {}: field is immutable",
            new["type"]
        ),
        Some(json!({"name": name, "kind": "Secret"})),
    ))
}

/// Defaults and checks as the API server applies them (kind, apiVersion, Secret type,
/// base64 data, stringData folded into data).
#[allow(clippy::result_large_err)] // the error is the HTTP answer itself
fn normalize(def: &Resource, obj: &mut Value, name: &str) -> Result<(), Response> {
    obj["kind"] = json!(def.kind);
    obj["apiVersion"] = json!("v1");
    meta_mut(obj).insert("name".into(), json!(name));
    if def.name == "secrets" {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        if obj["type"].as_str().is_none_or(str::is_empty) {
            obj["type"] = json!("Opaque");
        }
        if let Some(data) = obj.get("data").and_then(Value::as_object) {
            for (k, v) in data {
                if v.as_str().is_none_or(|s| b64.decode(s).is_err()) {
                    return Err(status(
                        400,
                        "BadRequest",
                        &format!("Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data in data[{k:?}]"),
                        None,
                    ));
                }
            }
        }
        if let Some(sd) = obj
            .as_object_mut()
            .and_then(|o| o.remove("stringData"))
            .and_then(|v| v.as_object().cloned())
        {
            if !obj["data"].is_object() {
                obj["data"] = json!({});
            }
            for (k, v) in sd {
                obj["data"][k] = json!(b64.encode(v.as_str().unwrap_or_default()));
            }
        }
        if obj["type"] == "kubernetes.io/dockerconfigjson" {
            let ok = obj["data"][".dockerconfigjson"]
                .as_str()
                .and_then(|s| b64.decode(s).ok())
                .is_some_and(|b| serde_json::from_slice::<Value>(&b).is_ok());
            if !ok {
                return Err(status(
                    422,
                    "Invalid",
                    &format!("Secret \"{name}\" is invalid: data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": invalid character in JSON or missing key"),
                    None,
                ));
            }
        }
    }
    Ok(())
}

fn add_manager(obj: &mut Value, manager: &str, operation: &str) {
    let entry = json!({"manager": manager, "operation": operation, "apiVersion": "v1", "time": rfc3339_now(), "fieldsType": "FieldsV1"});
    let meta = meta_mut(obj);
    let list = meta.entry("managedFields").or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    let arr = list.as_array_mut().expect("array");
    arr.retain(|e| !(e["manager"] == manager && e["operation"] == operation));
    arr.push(entry);
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Strategic merge as far as acrctl and kubectl need it: lists of named references
/// (`imagePullSecrets`, `secrets`) merge by `name`; everything else is a merge patch.
fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if (k == "imagePullSecrets" || k == "secrets") && v.is_array() {
            let list = t.entry(k.clone()).or_insert_with(|| json!([]));
            if !list.is_array() {
                *list = json!([]);
            }
            let arr = list.as_array_mut().expect("array");
            for item in v.as_array().expect("array") {
                if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                    arr.retain(|e| e["name"] != item["name"]);
                } else if let Some(e) = arr.iter_mut().find(|e| e["name"] == item["name"]) {
                    merge_patch(e, item);
                } else {
                    arr.push(item.clone());
                }
            }
        } else if v.is_null() {
            t.remove(k);
        } else if v.is_object() {
            strategic_merge(t.entry(k.clone()).or_insert(Value::Null), v);
        } else {
            t.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategic_merge_keeps_existing_pull_secrets() {
        let mut sa = json!({"imagePullSecrets": [{"name": "a"}]});
        strategic_merge(
            &mut sa,
            &json!({"imagePullSecrets": [{"name": "b"}, {"name": "a"}]}),
        );
        assert_eq!(
            sa,
            json!({"imagePullSecrets": [{"name": "a"}, {"name": "b"}]})
        );
    }

    #[test]
    fn merge_patch_replaces_lists_and_removes_nulls() {
        let mut o = json!({"a": [1], "b": 1, "c": {"d": 1}});
        merge_patch(&mut o, &json!({"a": [2], "b": null, "c": {"e": 2}}));
        assert_eq!(o, json!({"a": [2], "c": {"d": 1, "e": 2}}));
    }
}
