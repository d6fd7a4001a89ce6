//! acrctl-emulator: a local Azure for acrctl's tests and demos. Entra ID (client
//! credentials with secret, certificate or federated assertion), managed identity (App
//! Service and VM metadata styles), an ARM subset, and one ACR front per registry, the
//! first optionally backed by a real docker-registry. See README in the module docs.

mod acr;
mod acr_tokens;
mod admin;
mod arm;
mod backend;
mod entra;
mod faults;
mod graph;
mod kube;
mod managed_identity;
mod seed;
mod server;
mod state;
mod tls;
mod user;

use std::path::PathBuf;
use std::process::Child;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::routing::get;
use axum::Router;

pub use faults::Fault;
pub use kube::KubeInfo;
pub use state::RoleAssignment;
pub use state::{AcrToken, ScopeMap, TokenPassword};
pub use state::{
    ClusterInfo, Info, LoggedRequest, ManagedIdentity, RegistryInfo, ServicePrincipal, UserInfo,
};

use state::Shared;

pub struct Options {
    /// Created if missing; the CA, env file, info.json and credential files go here.
    pub state_dir: PathBuf,
    /// Registry names; empty means `["registry1"]`.
    pub registries: Vec<String>,
    /// Debian's docker-registry binary; when set, the first registry is backed by it and
    /// seeded with `samples/hello:v1`.
    pub docker_registry: Option<PathBuf>,
    pub entra_token_lifetime_secs: u64,
    /// Extra managed-identity clusters `fleet-1`…`fleet-N` (scale benchmarks).
    pub fleet_clusters: usize,
    /// Device code flow: the `interval` handed out (Entra: 5) and a code's lifetime (900).
    pub device_code_interval_secs: u64,
    pub device_code_lifetime_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            state_dir: std::env::temp_dir()
                .join(format!("acrctl-emulator-{}", uuid::Uuid::new_v4().simple())),
            registries: vec![],
            docker_registry: None,
            entra_token_lifetime_secs: 3599,
            fleet_clusters: 0,
            device_code_interval_secs: 5,
            device_code_lifetime_secs: 900,
        }
    }
}

pub struct Emulator {
    shared: Arc<Shared>,
    child: Mutex<Option<Child>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Started = (Arc<Shared>, Option<Child>);

impl Emulator {
    /// Starts every listener on its own tokio runtime (a background thread) and returns once
    /// they are up and the backend registry, if any, is seeded. The main port is ephemeral
    /// unless `ACRCTL_EMULATOR_PORT` is set (the binary's `--port`).
    pub fn start(opts: Options) -> Result<Emulator> {
        let (tx, rx) = std::sync::mpsc::channel::<Result<Started>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("acrctl-emulator".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e.into()));
                        return;
                    }
                };
                rt.block_on(async move {
                    match setup(opts).await {
                        Ok(started) => {
                            let _ = tx.send(Ok(started));
                            let _ = stop_rx.await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
                rt.shutdown_timeout(std::time::Duration::from_millis(200));
            })?;
        let (shared, child) = rx.recv().context("emulator thread died")??;
        Ok(Emulator {
            shared,
            child: Mutex::new(child),
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn info(&self) -> &Info {
        &self.shared.info
    }

    pub fn env(&self) -> Vec<(String, String)> {
        env_lines(&self.shared.info)
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.world().log.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.world().log.clear();
    }

    pub fn add_fault(&self, fault: Fault) {
        self.shared.world().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.world().faults.clear();
    }

    /// E.g. `("registry1", "publicNetworkAccess", "Disabled")`, `("registry1",
    /// "refuseAcrAudience", true)`, `adminUserEnabled`, `roleAssignmentMode`,
    /// `anonymousPullEnabled`, `dataEndpointEnabled`, `networkRuleSetDefaultAction`; ARM's
    /// view of the registry also takes `location`, `sku`, `loginServer` (ARM only: the
    /// front keeps its port), and the arrays `ipRules`, `dataEndpointHostNames` and
    /// `privateEndpointConnections` (ARM's shape: `{"name", "properties":
    /// {"privateLinkServiceConnectionState": {"status": "Approved"}}}`).
    pub fn set_registry_flag(&self, registry: &str, flag: &str, value: serde_json::Value) {
        let name = self
            .shared
            .registry(registry)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| registry.to_string());
        self.shared
            .world()
            .flags
            .entry(name)
            .or_default()
            .insert(flag.to_string(), value);
    }

    /// The next `times` role-assignment PUTs for this principal (object id) answer 400
    /// PrincipalNotFound, as ARM does while Entra has not replicated a new identity.
    pub fn delay_principal_replication(&self, object_id: &str, times: u32) {
        self.shared
            .world()
            .replication_delay
            .insert(object_id.to_ascii_lowercase(), times);
    }

    /// Adds a role assignment directly (test setup), e.g. Reader on the subscription for
    /// `sp_noaccess`, so that it can read but not write role assignments.
    pub fn assign_role(&self, scope: &str, role_guid: &str, principal_object_id: &str) {
        let name = uuid::Uuid::new_v4().to_string();
        self.shared.world().assignments.push(state::RoleAssignment {
            id: format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
            name,
            scope: scope.to_string(),
            role: role_guid.to_string(),
            principal_id: principal_object_id.to_string(),
            principal_type: "ServicePrincipal".into(),
            created_on: state::rfc3339_now(),
        });
    }

    /// ACR scope maps created through ARM.
    pub fn scope_maps(&self) -> Vec<state::ScopeMap> {
        self.shared.world().scope_maps.clone()
    }

    /// ACR tokens created through ARM (with their passwords).
    pub fn acr_tokens(&self) -> Vec<state::AcrToken> {
        self.shared.world().tokens.clone()
    }

    /// How many status polls each new ContainerRegistry operation answers `InProgress`
    /// (default 0: done at the first poll).
    pub fn set_operation_polls(&self, polls: u32) {
        self.shared.world().operation_polls = polls;
    }

    /// The `access` claim the registry's token service (`/oauth2/token`, password grant)
    /// grants these credentials for `scope` (e.g. `repository:samples/hello:pull`); None
    /// when it refuses them.
    pub fn registry_access(
        &self,
        registry: &str,
        user: &str,
        password: &str,
        scope: &str,
    ) -> Option<serde_json::Value> {
        let idx = self
            .shared
            .registries
            .iter()
            .position(|r| r.name.eq_ignore_ascii_case(registry))?;
        acr::password_access(&self.shared, idx, user, password, scope)
    }

    /// Role assignments currently in the world (id, scope, role GUID, principal).
    pub fn role_assignments(&self) -> Vec<state::RoleAssignment> {
        self.shared.world().assignments.clone()
    }

    /// A Kubernetes object as the API subset stores it (`resource` is the plural, e.g.
    /// "secrets"; namespaces have `ns` "").
    pub fn kube_object(&self, resource: &str, ns: &str, name: &str) -> Option<serde_json::Value> {
        self.shared.world().kube.get(resource, ns, name).cloned()
    }

    /// Puts a Kubernetes object directly (test setup), as a create or an update would.
    pub fn kube_put(&self, resource: &str, ns: &str, name: &str, obj: serde_json::Value) {
        self.shared.world().kube.put(resource, ns, name, obj);
    }

    /// Mints a fresh federated token (also rewrites the federated token file).
    pub fn federated_token(&self) -> String {
        let t =
            entra::federated_token(&self.shared, seed::WI_SUBJECT, seed::WI_AUDIENCE, 24 * 3600);
        if let Some(p) = &self.shared.info.workload_identity.federated_token_path {
            let _ = std::fs::write(p, &t);
        }
        t
    }

    /// The seeded user of the device code and browser flows.
    pub fn user(&self) -> &UserInfo {
        &self.shared.info.user
    }

    /// The seeded user approves a pending device code (as if they had typed it at the
    /// verification page and signed in); false when no pending code matches.
    pub fn approve_device_code(&self, user_code: &str) -> bool {
        user::settle_device_code(&self.shared, user_code, true)
    }

    /// The seeded user declines a pending device code.
    pub fn decline_device_code(&self, user_code: &str) -> bool {
        user::settle_device_code(&self.shared, user_code, false)
    }

    /// The next `times` device-code polls answer `slow_down` whatever their timing.
    pub fn slow_down_device_polls(&self, times: u32) {
        self.shared.world().forced_slow_downs = times;
    }

    /// Revokes every refresh token of a user (object id); returns how many there were.
    pub fn revoke_user(&self, object_id: &str) -> usize {
        user::revoke_user(&self.shared, object_id)
    }

    /// Refresh tokens currently valid (tests check rotation with it).
    pub fn refresh_token_count(&self) -> usize {
        self.shared.world().refresh_tokens.len()
    }

    /// Stops the listeners and kills the docker-registry child.
    pub fn shutdown(&mut self) {
        if let Some(c) = self
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            backend::kill(c);
        }
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub fn env_lines(i: &Info) -> Vec<(String, String)> {
    let mut v = vec![
        ("ACRCTL_ARM_ENDPOINT", i.arm_url.clone()),
        ("SSL_CERT_FILE", i.ca_pem.display().to_string()),
        ("AZURE_TENANT_ID", i.tenant_id.clone()),
        ("AZURE_CLIENT_ID", i.sp_secret.client_id.clone()),
        (
            "AZURE_CLIENT_SECRET",
            i.sp_secret.secret.clone().unwrap_or_default(),
        ),
        ("AZURE_SUBSCRIPTION_ID", i.subscription_id.clone()),
    ];
    if let Some(r) = i.registries.first() {
        v.push(("ACRCTL_EMULATOR_REGISTRY", r.login_server.clone()));
    }
    v.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

async fn setup(opts: Options) -> Result<Started> {
    let dir = opts.state_dir.clone();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let names = if opts.registries.is_empty() {
        vec!["registry1".to_string()]
    } else {
        opts.registries.clone()
    };

    let tls_m = tls::make_tls()?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls::server_config(&tls_m)?));
    let (entra_key, oidc_key, acr_key) = (
        tls::RsaKey::generate("acrctl-emulator entra")?,
        tls::RsaKey::generate("acrctl-emulator oidc issuer")?,
        tls::RsaKey::generate("acrctl-emulator acr token")?,
    );
    std::fs::write(dir.join("ca.pem"), &tls_m.ca_pem)?;
    std::fs::write(dir.join("ca.crt"), &tls_m.ca_pem)?;
    let token_cert = dir.join("acr-token.crt");
    std::fs::write(&token_cert, &acr_key.cert_pem)?;

    let main_port: u16 = std::env::var("ACRCTL_EMULATOR_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let bind = |p: u16| tokio::net::TcpListener::bind(("127.0.0.1", p));
    let main_l = bind(main_port).await.context("binding the main port")?;
    let mi_l = bind(0).await?;
    let kube_l = bind(0).await.context("binding the Kubernetes API port")?;
    let mut reg_ls = vec![];
    for _ in &names {
        reg_ls.push(bind(0).await?);
    }
    let ports = seed::Ports {
        main: main_l.local_addr()?.port(),
        mi: mi_l.local_addr()?.port(),
        registries: reg_ls
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<Result<_, _>>()?,
    };

    let mut child = None;
    let mut backends: Vec<Option<String>> = vec![None; names.len()];
    if let Some(bin) = &opts.docker_registry {
        let front = format!("127.0.0.1:{}", ports.registries[0]);
        let (c, url) = backend::spawn(bin, &dir, &front, &token_cert)?;
        child = Some(c);
        backends[0] = Some(url);
    }
    let mut shared = seed::build(
        &dir,
        &names,
        &ports,
        &backends,
        entra_key,
        oidc_key,
        acr_key,
        opts.entra_token_lifetime_secs,
        opts.fleet_clusters,
    )?;
    shared.device_interval = opts.device_code_interval_secs;
    shared.device_lifetime = opts.device_code_lifetime_secs;
    let kube_info = KubeInfo {
        server: format!("https://127.0.0.1:{}", kube_l.local_addr()?.port()),
        admin_token: format!("emu-kube-admin~{}", uuid::Uuid::new_v4().simple()),
        readonly_token: format!("emu-kube-readonly~{}", uuid::Uuid::new_v4().simple()),
        kubeconfig_path: dir.join("kubeconfig"),
    };
    std::fs::write(
        &kube_info.kubeconfig_path,
        kube::kubeconfig_yaml(
            &kube_info.server,
            tls_m.ca_pem.as_bytes(),
            &kube_info.admin_token,
            &kube_info.readonly_token,
        ),
    )?;
    shared.info.kube = Some(kube_info);
    let shared = Arc::new(shared);

    let main_router = Router::new()
        .merge(entra::routes())
        .merge(user::routes())
        .merge(admin::routes())
        .route("/metadata/endpoints", get(arm::metadata))
        .route("/v1.0/servicePrincipals", get(graph::service_principals))
        .fallback(arm::dispatch)
        .with_state(shared.clone());
    let mi_router = managed_identity::routes().with_state(shared.clone());
    tokio::spawn(server::serve(
        main_l,
        Some(acceptor.clone()),
        "main".into(),
        main_router,
        shared.clone(),
    ));
    tokio::spawn(server::serve(
        mi_l,
        None,
        "mi".into(),
        mi_router,
        shared.clone(),
    ));
    tokio::spawn(server::serve(
        kube_l,
        Some(acceptor.clone()),
        "kube".into(),
        kube::routes(shared.clone()),
        shared.clone(),
    ));
    for (i, l) in reg_ls.into_iter().enumerate() {
        let name = format!("registry:{}", shared.registries[i].name);
        let router = acr::routes(shared.clone(), i);
        tokio::spawn(server::serve(
            l,
            Some(acceptor.clone()),
            name,
            router,
            shared.clone(),
        ));
    }

    let fed = entra::federated_token(&shared, seed::WI_SUBJECT, seed::WI_AUDIENCE, 24 * 3600);
    std::fs::write(dir.join("federated-token"), fed)?;
    let env: String = env_lines(&shared.info)
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    std::fs::write(dir.join("env"), env)?;
    std::fs::write(
        dir.join("info.json"),
        serde_json::to_vec_pretty(&shared.info)?,
    )?;

    if let Some(url) = &backends[0] {
        let seeded = async {
            backend::wait_ready(&shared.http, url).await?;
            let tok = acr::admin_access_token(&shared, 0, "repository:samples/hello:pull,push");
            backend::seed(&shared.http, url, &tok).await
        }
        .await;
        if let Err(e) = seeded {
            if let Some(c) = child.as_mut() {
                backend::kill(c);
            }
            return Err(e);
        }
    }
    Ok((shared, child))
}
