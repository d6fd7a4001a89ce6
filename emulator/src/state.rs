//! Public data types of the emulator and its mutable world (flags, role assignments,
//! request log, faults).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::faults::Fault;
use crate::tls::RsaKey;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Info {
    pub arm_url: String,
    pub authority_url: String,
    pub mi_url: String,
    pub ca_pem: PathBuf,
    pub tenant_id: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub arm_audience: String,
    pub acr_suffix: String,
    pub registries: Vec<RegistryInfo>,
    pub sp_secret: ServicePrincipal,
    pub sp_cert: ServicePrincipal,
    pub sp_noaccess: ServicePrincipal,
    pub workload_identity: ServicePrincipal,
    pub system_mi: ManagedIdentity,
    pub user_mi: ManagedIdentity,
    pub identity_header: String,
    /// Issuer of the federated (Kubernetes service account) tokens.
    pub oidc_issuer: String,
    /// AKS clusters in the resource group (managed-identity and service-principal kinds).
    #[serde(default)]
    pub clusters: Vec<ClusterInfo>,
    /// Microsoft Graph on the main port (`microsoftGraphResourceId` in the metadata); also
    /// the audience of Graph tokens.
    #[serde(default)]
    pub graph_url: String,
    /// The Kubernetes API subset (its own listener).
    #[serde(default)]
    pub kube: Option<crate::kube::KubeInfo>,
    /// The seeded user who signs in with the device code or browser flow (AcrPull on every
    /// registry, Reader on the subscription).
    #[serde(default)]
    pub user: UserInfo,
    /// The public client the user flows accept (the Azure CLI's well-known client id).
    #[serde(default)]
    pub public_client_id: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UserInfo {
    pub upn: String,
    pub object_id: String,
    pub display_name: String,
}

/// Where a device code stands (RFC 8628).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceStatus {
    Pending,
    Approved,
    Declined,
    Redeemed,
}

pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub client_id: String,
    pub scope: String,
    pub expires_at: u64,
    pub interval_secs: u64,
    pub last_poll: Option<std::time::Instant>,
    pub status: DeviceStatus,
}

/// An authorization code issued by the authorize endpoint (single use).
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: String,
    pub object_id: String,
    pub expires_at: u64,
}

/// What a refresh token stands for; rotated on every use, dropped on revocation.
#[derive(Clone)]
pub struct RefreshGrant {
    pub object_id: String,
    pub client_id: String,
}

/// A seeded AKS cluster: the kubelet identity of a managed-identity cluster (a
/// user-assigned identity the MI endpoint issues tokens for), or the service principal of
/// an SP cluster (with a secret). Empty strings where the kind has none.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterInfo {
    pub name: String,
    pub resource_group: String,
    pub resource_id: String,
    pub kubelet_client_id: String,
    pub kubelet_object_id: String,
    pub kubelet_resource_id: String,
    pub sp_client_id: String,
    pub sp_object_id: String,
    pub sp_secret: Option<String>,
}

/// How a cluster's nodes authenticate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterKind {
    /// `identity.type` SystemAssigned with a kubelet identity in `identityProfile`.
    ManagedIdentity,
    /// `servicePrincipalProfile.clientId` is an app id.
    ServicePrincipal,
    /// `identity.type` SystemAssigned but no `identityProfile` (az's "unexpected error").
    ManagedIdentityWithoutKubelet,
    /// No identity and no service principal.
    Neither,
}

pub struct Cluster {
    pub info: ClusterInfo,
    pub kind: ClusterKind,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegistryInfo {
    pub name: String,
    pub login_server: String,
    pub resource_id: String,
    pub admin_username: String,
    pub admin_password: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ServicePrincipal {
    pub client_id: String,
    pub object_id: String,
    pub secret: Option<String>,
    pub cert_pem_path: Option<PathBuf>,
    pub federated_token_path: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ManagedIdentity {
    pub client_id: String,
    pub object_id: String,
    pub resource_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub listener: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub form_keys: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoleAssignment {
    /// Full ARM id: `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    pub id: String,
    pub name: String,
    pub scope: String,
    /// GUID of the role definition.
    pub role: String,
    pub principal_id: String,
    pub principal_type: String,
    pub created_on: String,
}

/// A federated identity credential of an app registration.
#[derive(Clone, Debug)]
pub struct FederatedCredential {
    pub issuer: String,
    pub subject: String,
    pub audience: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    ServicePrincipal,
    ManagedIdentity,
}

#[allow(dead_code)]
pub struct Principal {
    pub kind: PrincipalKind,
    pub name: String,
    pub client_id: String,
    pub object_id: String,
    pub secret: Option<String>,
    /// Certificate credential (its key and self-signed certificate).
    pub cert: Option<RsaKey>,
    pub federated: Vec<FederatedCredential>,
    pub mi_resource_id: Option<String>,
}

pub struct Registry {
    pub name: String,
    pub login_server: String,
    pub resource_id: String,
    pub admin_username: String,
    pub admin_passwords: [String; 2],
    /// `http://127.0.0.1:PORT` of the docker-registry behind this front, if any.
    pub backend: Option<String>,
}

#[derive(Default)]
pub struct World {
    pub flags: HashMap<String, Map<String, Value>>,
    pub assignments: Vec<RoleAssignment>,
    pub log: Vec<LoggedRequest>,
    pub faults: Vec<Fault>,
    /// Principal object id (lowercase) -> how many more role-assignment PUTs for it answer
    /// PrincipalNotFound (Entra replication delay).
    pub replication_delay: HashMap<String, u32>,
    pub kube: crate::kube::Store,
    pub device_codes: Vec<DeviceCode>,
    pub auth_codes: HashMap<String, AuthCode>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    /// The next N device-code polls answer `slow_down` whatever their timing.
    pub forced_slow_downs: u32,
    /// ACR scope maps (`registries/{r}/scopeMaps/{name}`).
    pub scope_maps: Vec<ScopeMap>,
    /// ACR repository-scoped tokens (`registries/{r}/tokens/{name}`).
    pub tokens: Vec<AcrToken>,
    /// Long-running ContainerRegistry operations by id: how many more status polls
    /// answer `InProgress`, and the result a POST's `Location` finally returns.
    pub operations: HashMap<String, Operation>,
    /// How many status polls every new ContainerRegistry operation answers `InProgress`.
    pub operation_polls: u32,
}

/// An ACR scope map: repository actions (`repositories/{repo}/content/read`, …).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScopeMap {
    pub registry: String,
    pub name: String,
    pub id: String,
    pub description: String,
    pub actions: Vec<String>,
    pub created: String,
}

/// An ACR token: a scope map and up to two passwords.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AcrToken {
    pub registry: String,
    pub name: String,
    pub id: String,
    pub scope_map_id: String,
    pub status: String,
    pub passwords: Vec<TokenPassword>,
    pub created: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenPassword {
    pub name: String,
    pub value: String,
    pub created: String,
    /// RFC 3339, as given to generateCredentials (none: never expires).
    pub expiry: Option<String>,
}

/// A long-running operation of the emulator's ARM.
#[derive(Clone, Debug)]
pub struct Operation {
    pub polls_left: u32,
    pub result: Option<Value>,
}

pub struct Shared {
    pub info: Info,
    pub entra_key: RsaKey,
    pub oidc_key: RsaKey,
    pub acr_key: RsaKey,
    pub principals: Vec<Principal>,
    pub registries: Vec<Registry>,
    pub clusters: Vec<Cluster>,
    pub entra_lifetime: u64,
    /// Device code flow: the polling interval and the lifetime of a code, in seconds.
    pub device_interval: u64,
    pub device_lifetime: u64,
    pub world: Mutex<World>,
    pub http: reqwest::Client,
}

pub const ACR_AUDIENCE: &str = "https://containerregistry.azure.net";
pub const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";

impl Shared {
    pub fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn principal_by_client_id(&self, id: &str) -> Option<&Principal> {
        self.principals
            .iter()
            .find(|p| p.client_id.eq_ignore_ascii_case(id))
    }

    pub fn principal_by_object_id(&self, id: &str) -> Option<&Principal> {
        self.principals
            .iter()
            .find(|p| p.object_id.eq_ignore_ascii_case(id))
    }

    pub fn registry(&self, name: &str) -> Option<&Registry> {
        self.registries
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }

    pub fn flag(&self, registry: &str, flag: &str) -> Option<Value> {
        self.world()
            .flags
            .get(registry)
            .and_then(|m| m.get(flag))
            .cloned()
    }

    pub fn flag_str(&self, registry: &str, flag: &str) -> String {
        match self.flag(registry, flag) {
            Some(Value::String(s)) => s,
            Some(v) => v.to_string(),
            None => String::new(),
        }
    }

    pub fn flag_bool(&self, registry: &str, flag: &str) -> bool {
        matches!(self.flag(registry, flag), Some(Value::Bool(true)))
            || self.flag_str(registry, flag).eq_ignore_ascii_case("true")
    }

    /// `refuseAcrAudience` set on any registry makes Entra refuse the ACR audience.
    pub fn acr_audience_refused(&self) -> bool {
        self.world().flags.values().any(|m| {
            matches!(m.get("refuseAcrAudience"), Some(Value::Bool(true)))
                || m.get("refuseAcrAudience").and_then(|v| v.as_str()) == Some("true")
        })
    }

    /// Role-definition GUIDs the principal holds at `scope` or above.
    pub fn roles_at(&self, principal_oid: &str, scope: &str) -> Vec<String> {
        self.world()
            .assignments
            .iter()
            .filter(|a| a.principal_id.eq_ignore_ascii_case(principal_oid))
            .filter(|a| scope_covers(&a.scope, scope))
            .map(|a| a.role.clone())
            .collect()
    }

    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters
            .iter()
            .find(|c| c.info.name.eq_ignore_ascii_case(name))
    }

    pub fn has_role_under(&self, principal_oid: &str, scope: &str) -> bool {
        self.world().assignments.iter().any(|a| {
            a.principal_id.eq_ignore_ascii_case(principal_oid)
                && (scope_covers(scope, &a.scope) || scope_covers(&a.scope, scope))
        })
    }
}

/// True when `outer` equals `inner` or is one of its ancestors (ARM scopes are
/// case-insensitive paths).
pub fn scope_covers(outer: &str, inner: &str) -> bool {
    let o = outer.trim_end_matches('/').to_ascii_lowercase();
    let i = inner.trim_end_matches('/').to_ascii_lowercase();
    o.is_empty() || i == o || (i.starts_with(&o) && i.as_bytes().get(o.len()) == Some(&b'/'))
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Built-in roles the emulator knows (ids are Azure's built-in role GUIDs).
pub struct RoleDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub actions: &'static [&'static str],
}

pub const ACRPULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
pub const ACRPUSH: &str = "8311e382-0749-4cb8-b61a-304f252e45ec";
pub const READER: &str = "acdd72a7-3c48-4a49-a4f2-a1c48b7a2d2b";
pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab8b-20f7382dd24c";
pub const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
pub const UAA: &str = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
pub const RBAC_ADMIN: &str = "f58310d9-a9f6-439a-9e8d-f62e7b41a168";
/// "Container Registry Repository Reader", the pull role of ABAC registries.
pub const REPO_READER: &str = "b93aa761-3e63-49ed-ac28-beffa264f7ac";

pub const ROLES: &[RoleDef] = &[
    RoleDef {
        id: ACRPULL,
        name: "AcrPull",
        description: "acr pull",
        actions: &["Microsoft.ContainerRegistry/registries/pull/read"],
    },
    RoleDef {
        id: ACRPUSH,
        name: "AcrPush",
        description: "acr push",
        actions: &[
            "Microsoft.ContainerRegistry/registries/pull/read",
            "Microsoft.ContainerRegistry/registries/push/write",
        ],
    },
    RoleDef {
        id: READER,
        name: "Reader",
        description: "View all resources, but does not allow you to make any changes.",
        actions: &["*/read"],
    },
    RoleDef {
        id: CONTRIBUTOR,
        name: "Contributor",
        description: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
        actions: &["*"],
    },
    RoleDef {
        id: OWNER,
        name: "Owner",
        description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
        actions: &["*"],
    },
    RoleDef {
        id: UAA,
        name: "User Access Administrator",
        description: "Lets you manage user access to Azure resources.",
        actions: &["*/read", "Microsoft.Authorization/*"],
    },
    RoleDef {
        id: RBAC_ADMIN,
        name: "Role Based Access Control Administrator",
        description: "Manage access to Azure resources by assigning roles using Azure RBAC.",
        actions: &[
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/delete",
            "*/read",
        ],
    },
    RoleDef {
        id: REPO_READER,
        name: "Container Registry Repository Reader",
        description: "Allows read access to Azure Container Registry repositories (ABAC registries).",
        actions: &[],
    },
];

pub fn role_def(guid: &str) -> Option<&'static RoleDef> {
    ROLES.iter().find(|r| r.id.eq_ignore_ascii_case(guid))
}
