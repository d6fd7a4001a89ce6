//! `acrctl attach` / `detach` (az aks update --attach-acr / --detach-acr): grant or revoke a
//! cluster's pull access to a registry with one role assignment at the registry scope.
//! Unlike az, nothing on the cluster is written (no managedClusters PUT): least privilege,
//! seconds, and no risk of overwriting a concurrent cluster change (aks-arm-kube.md §1).
//!
//! Recipe: check the input offline; resolve the subscription, the registry (name or ID)
//! and, for each cluster concurrently, its principal (kubelet identity, or the service
//! principal through Graph); then create or delete the role assignment.

use crate::arm::{self, api, role_guid, Arm, CallError, ResourceId};
use crate::cli::{AksUpdateArgs, AttachArgs, ClusterAcrArgs, DetachArgs};
use crate::context::Context;
use crate::error::{AppError, Kind};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How many clusters are worked on at once.
const PARALLEL_CLUSTERS: usize = 16;

pub const ACRPULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
pub const ACRPUSH: &str = "8311e382-0749-4cb8-b61a-304f252e45ec";
/// "Container Registry Repository Reader", the pull role of ABAC registries. The GUID was
/// checked against several independent public sources (Bicep templates assigning it, and
/// built-in role tables), all agreeing.
pub const REPOSITORY_READER: &str = "b93aa761-3e63-49ed-ac28-beffa264f7ac";

const WRITE_ROLES: &str =
    "Owner, User Access Administrator or Role Based Access Control Administrator";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Attach,
    Detach,
}

pub struct Request {
    mode: Mode,
    common: ClusterAcrArgs,
    principal_type: Option<&'static str>,
}

impl Request {
    pub fn attach(a: AttachArgs) -> Request {
        Request {
            mode: Mode::Attach,
            common: a.common,
            principal_type: a.assignee_principal_type.map(|p| p.as_arm()),
        }
    }

    pub fn detach(a: DetachArgs) -> Request {
        Request {
            mode: Mode::Detach,
            common: a.common,
            principal_type: None,
        }
    }

    pub fn aks_update(a: AksUpdateArgs) -> Result<Request, AppError> {
        let (mode, acr) = match (a.attach_acr, a.detach_acr) {
            (Some(x), None) => (Mode::Attach, x),
            (None, Some(x)) => (Mode::Detach, x),
            // clap enforces exactly one; kept for safety.
            _ => {
                return Err(AppError::usage(
                    "Cannot specify \"--attach-acr\" and \"--detach-acr\" at the same time.",
                ))
            }
        };
        Ok(Request {
            mode,
            common: ClusterAcrArgs {
                clusters: a.names,
                resource_group: a.resource_group,
                acr,
                role: a.role,
            },
            principal_type: a.assignee_principal_type.map(|p| p.as_arm()),
        })
    }
}

/// The role to assign, by GUID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub guid: String,
    pub label: String,
}

impl Role {
    pub fn parse(value: &str) -> Result<Role, AppError> {
        let v = value.trim();
        let lower = v.to_ascii_lowercase();
        let known = |guid: &str, label: &str| Role {
            guid: guid.into(),
            label: label.into(),
        };
        let role = match lower.as_str() {
            "acrpull" => known(ACRPULL, "AcrPull"),
            "acrpush" => known(ACRPUSH, "AcrPush"),
            "repository-reader" | "container registry repository reader" => {
                known(REPOSITORY_READER, "Container Registry Repository Reader")
            }
            _ => {
                let guid = role_guid(v);
                if !arm::is_guid(&guid)
                    || (v.contains('/')
                        && !lower.contains("/providers/microsoft.authorization/roledefinitions/"))
                {
                    return Err(AppError::usage(format!("--role '{v}' is not acrpull, acrpush, repository-reader or a role definition GUID."))
                        .hint("E.g. --role acrpull (the default), or --role 7f951dda-4ed3-4680-a7ca-43fe172d538d."));
                }
                match guid.as_str() {
                    ACRPULL => known(ACRPULL, "AcrPull"),
                    ACRPUSH => known(ACRPUSH, "AcrPush"),
                    REPOSITORY_READER => {
                        known(REPOSITORY_READER, "Container Registry Repository Reader")
                    }
                    _ => Role {
                        label: format!("role {guid}"),
                        guid,
                    },
                }
            }
        };
        Ok(role)
    }

    /// AcrPull and AcrPush are not honoured by ABAC registries for data access.
    fn legacy(&self) -> bool {
        self.guid == ACRPULL || self.guid == ACRPUSH
    }
}

/// The registry as the role assignment needs it (and, for check-acr, as ARM returned it).
#[derive(Debug)]
pub(crate) struct Registry {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) subscription: String,
    pub(crate) abac: bool,
    pub(crate) json: Value,
}

/// The identity a cluster's nodes pull with.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    pub(crate) object_id: String,
    pub(crate) describe: String,
}

pub async fn run(ctx: Arc<Context>, req: Request) -> Result<u8, AppError> {
    // Everything that can be checked without the network first.
    let clusters = validate_clusters(&req.common.clusters)?;
    validate_resource_group(&req.common.resource_group)?;
    let role = Role::parse(&req.common.role)?;
    let acr_id = parse_acr(&req.common.acr)?;

    let arm = Arm::connect(&ctx).await?;
    let subscription = arm::resolve_subscription(&ctx, &arm).await?;
    let registry = match acr_id {
        Some(id) => get_registry(&arm, &id).await?,
        None => find_registry(&arm, &subscription, &req.common.acr).await?,
    };
    if req.mode == Mode::Attach && registry.abac && role.legacy() {
        return Err(AppError::new(
            Kind::Failure,
            format!(
                "Registry '{}' uses ABAC repository permissions (roleAssignmentMode AbacRepositoryPermissions), where {} grants no pull access; nothing was changed.",
                registry.name, role.label
            ),
        )
        .hint(format!(
            "Assign the repository role instead: --role repository-reader (Container Registry Repository Reader, {REPOSITORY_READER}), as Microsoft's docs say --attach-acr is not supported for such registries."
        )));
    }

    let registry = Arc::new(registry);
    let role = Arc::new(role);
    let arm = Arc::new(arm);
    let limit = Arc::new(Semaphore::new(PARALLEL_CLUSTERS));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, cluster) in clusters.iter().enumerate() {
        let (ctx, arm, registry, role, limit) = (
            ctx.clone(),
            arm.clone(),
            registry.clone(),
            role.clone(),
            limit.clone(),
        );
        let (cluster, subscription, rg, mode, ptype) = (
            cluster.clone(),
            subscription.clone(),
            req.common.resource_group.clone(),
            req.mode,
            req.principal_type,
        );
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let result = async {
                let principal = cluster_principal(&ctx, &arm, &subscription, &rg, &cluster).await?;
                match mode {
                    Mode::Attach => attach_one(&arm, &registry, &role, &cluster, &principal, ptype)
                        .await
                        .map(|v| vec![v]),
                    Mode::Detach => detach_one(&arm, &registry, &role, &cluster, &principal).await,
                }
            }
            .await;
            (index, result)
        });
    }
    let mut results: Vec<Option<Result<Vec<Value>, AppError>>> =
        (0..clusters.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined
            .map_err(|e| AppError::new(Kind::Failure, format!("A cluster task failed: {e}")))?;
        results[index] = Some(result);
    }

    let mut failures: Vec<AppError> = Vec::new();
    let mut data: Vec<Value> = Vec::new();
    for result in results {
        match result.expect("every task reports") {
            Ok(values) => data.extend(values),
            Err(e) => failures.push(e),
        }
    }
    // attach: the assignment (an array with several clusters); detach: the removed ones.
    let printed = match req.mode {
        Mode::Attach if clusters.len() == 1 => data.pop(),
        _ => Some(Value::Array(data)),
    };
    if let Some(v) = printed {
        ctx.printer.print(&v)?;
    }
    crate::commands::finish(failures, clusters.len())
}

/// AKS names: 1-63 letters, digits, `-` and `_`, starting and ending alphanumeric.
pub(crate) fn validate_clusters(names: &[String]) -> Result<Vec<String>, AppError> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let ok = !n.is_empty()
            && n.len() <= 63
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && n.starts_with(|c: char| c.is_ascii_alphanumeric())
            && n.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            return Err(AppError::usage(format!("'{n}' is not an AKS cluster name."))
                .hint("Cluster names have 1-63 letters, digits, '-' or '_'; pass the name, not a resource ID, with -g for its resource group."));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(n)) {
            out.push(n.clone());
        }
    }
    Ok(out)
}

pub(crate) fn validate_resource_group(rg: &str) -> Result<(), AppError> {
    let ok = !rg.is_empty()
        && rg.len() <= 90
        && !rg.ends_with('.')
        && rg
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.()".contains(c));
    if ok {
        Ok(())
    } else {
        Err(
            AppError::usage(format!("'{rg}' is not a resource group name."))
                .hint("Resource group names have 1-90 letters, digits, '-', '_', '.', '(' or ')'."),
        )
    }
}

/// A resource ID (`/subscriptions/…`) is parsed; a name is checked and looked up later.
pub(crate) fn parse_acr(acr: &str) -> Result<Option<ResourceId>, AppError> {
    let acr = acr.trim();
    if acr.starts_with('/') {
        return ResourceId::parse(acr, "Microsoft.ContainerRegistry", "registries")
            .map(Some)
            .ok_or_else(|| {
                AppError::usage(format!("'{acr}' is not a container registry resource ID."))
                    .hint("Expected /subscriptions/{subscription id}/resourceGroups/{group}/providers/Microsoft.ContainerRegistry/registries/{name}, or just the registry name.")
            });
    }
    if acr.is_empty() || acr.len() > 50 || !acr.chars().all(|c| c.is_ascii_alphanumeric()) {
        let hint = if acr.contains('.') {
            "Pass the registry name without its domain (myregistry, not myregistry.azurecr.io), or its resource ID."
        } else {
            "Registry names have 5-50 letters and digits; or pass the registry's resource ID."
        };
        return Err(
            AppError::usage(format!("'{acr}' is not a registry name or resource ID.")).hint(hint),
        );
    }
    Ok(None)
}

fn registry_from_json(v: &Value, fallback: &ResourceId) -> Registry {
    let id = v["id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| fallback.path());
    let abac = v["properties"]["roleAssignmentMode"]
        .as_str()
        .is_some_and(|m| m.eq_ignore_ascii_case("AbacRepositoryPermissions"));
    let subscription = ResourceId::parse(&id, "Microsoft.ContainerRegistry", "registries")
        .map(|r| r.subscription)
        .unwrap_or_else(|| fallback.subscription.clone());
    Registry {
        name: v["name"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| fallback.name.clone()),
        id,
        subscription,
        abac,
        json: v.clone(),
    }
}

/// `GET` the registry by ID, in the ID's own subscription (cross-subscription works).
pub(crate) async fn get_registry(arm: &Arm, id: &ResourceId) -> Result<Registry, AppError> {
    let what = format!("Reading registry '{}'", id.name);
    match arm.get(&id.path(), api::REGISTRIES, &what).await {
        Ok(v) => Ok(registry_from_json(&v, id)),
        Err(CallError::Api(e)) if e.status == 404 => Err(AppError::new(
            Kind::NotFound,
            format!(
                "Registry '{}' was not found in resource group '{}' of subscription {} ({}).",
                id.name, id.resource_group, id.subscription, e.code
            ),
        )
        .hint("Check the resource ID (az acr show -n NAME --query id).")
        .cause(e.message)),
        Err(e) => Err(e.into_app(&what)),
    }
}

/// Every registry of a subscription (resources of that type, all pages), as az lists them.
pub(crate) async fn list_registries(
    arm: &Arm,
    subscription: &str,
    what: &str,
) -> Result<Vec<Value>, AppError> {
    arm.list(
        &format!("/subscriptions/{subscription}/resources"),
        api::RESOURCES,
        Some("resourceType eq 'Microsoft.ContainerRegistry/registries'"),
        what,
    )
    .await
    .map_err(|e| e.into_app(what))
}

/// A bare name: list the subscription's registries (as az does) and match the name
/// case-insensitively; zero or several matches are errors naming what was found.
pub(crate) async fn find_registry(
    arm: &Arm,
    subscription: &str,
    name: &str,
) -> Result<Registry, AppError> {
    let what = format!("Looking up registry '{name}' in subscription {subscription}");
    // One request in the common case: ARM filters by name as well. Its name comparison
    // is not documented as case-insensitive, so a miss falls back to az's way (every
    // registry, matched here), which also gives the error its list of names.
    let named = arm
        .list(
            &format!("/subscriptions/{subscription}/resources"),
            api::RESOURCES,
            Some(&format!(
                "resourceType eq 'Microsoft.ContainerRegistry/registries' and name eq '{name}'"
            )),
            &what,
        )
        .await
        .map_err(|e| e.into_app(&what))?;
    let all = if named.iter().any(|r| {
        r["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    }) {
        named
    } else {
        list_registries(arm, subscription, &what).await?
    };
    let matches: Vec<&Value> = all
        .iter()
        .filter(|r| {
            r["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .collect();
    match matches.as_slice() {
        [one] => {
            let id_text = one["id"].as_str().unwrap_or("");
            let id = ResourceId::parse(id_text, "Microsoft.ContainerRegistry", "registries")
                .ok_or_else(|| {
                    AppError::new(
                        Kind::Failure,
                        format!("{what}: ARM listed it with an unusable ID '{id_text}'."),
                    )
                })?;
            get_registry(arm, &id).await
        }
        [] => {
            let seen: Vec<&str> = all.iter().filter_map(|r| r["name"].as_str()).collect();
            let seen = if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join(", ")
            };
            Err(AppError::new(
                Kind::NotFound,
                format!("Registry '{name}' was not found in subscription {subscription} (registries there: {seen})."),
            )
            .hint("Check the name, or pass the registry's full resource ID (--acr /subscriptions/…) if it is in another subscription."))
        }
        several => {
            let ids: Vec<&str> = several.iter().filter_map(|r| r["id"].as_str()).collect();
            Err(AppError::new(
                Kind::Failure,
                format!(
                    "{} registries are named '{name}' in subscription {subscription}: {}.",
                    ids.len(),
                    ids.join(", ")
                ),
            )
            .hint("Pass the full resource ID of the one you mean with --acr."))
        }
    }
}

/// The cluster's pull identity: the kubelet identity's object id for managed-identity
/// clusters; for service-principal clusters the SP's object id, found through Graph.
async fn cluster_principal(
    ctx: &Context,
    arm: &Arm,
    subscription: &str,
    rg: &str,
    cluster: &str,
) -> Result<Principal, AppError> {
    let mc = read_cluster(arm, subscription, rg, cluster).await?;
    principal_of(ctx, &mc, cluster).await
}

/// `GET` the managed cluster; 404s become not-found errors naming the cluster or group.
pub(crate) async fn read_cluster(
    arm: &Arm,
    subscription: &str,
    rg: &str,
    cluster: &str,
) -> Result<Value, AppError> {
    let what = format!("Reading cluster '{cluster}'");
    let path = format!("/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{cluster}");
    match arm.get(&path, api::MANAGED_CLUSTERS, &what).await {
        Ok(v) => Ok(v),
        Err(CallError::Api(e)) if e.status == 404 => {
            let message = if e.code.eq_ignore_ascii_case("ResourceGroupNotFound") {
                format!("Resource group '{rg}' was not found in subscription {subscription}.")
            } else {
                format!("Cluster '{cluster}' was not found in resource group '{rg}' of subscription {subscription}.")
            };
            Err(AppError::new(Kind::NotFound, message)
                .hint("Check -g and the cluster name (az aks list -o table), and --subscription.")
                .cause(e.message))
        }
        Err(e) => Err(e.into_app(&what)),
    }
}

/// The pulling principal of a cluster read with [`read_cluster`].
pub(crate) async fn principal_of(
    ctx: &Context,
    mc: &Value,
    cluster: &str,
) -> Result<Principal, AppError> {
    let props = &mc["properties"];
    let identity_type = mc["identity"]["type"].as_str().unwrap_or("");
    let is_msi =
        ["systemassigned", "userassigned"].contains(&identity_type.to_ascii_lowercase().as_str());
    if is_msi {
        let kubelet = &props["identityProfile"]["kubeletidentity"];
        return match kubelet["objectId"].as_str().filter(|s| arm::is_guid(s)) {
            Some(oid) => Ok(Principal {
                object_id: oid.to_ascii_lowercase(),
                describe: format!("kubelet identity {oid}"),
            }),
            None => Err(AppError::new(
                Kind::Failure,
                format!("Unexpected error getting kubelet's identity for cluster '{cluster}': its identityProfile has no kubeletidentity."),
            )
            .hint(format!("Grant or revoke access by hand for the identity named {cluster}-agentpool in the MC_ resource group (az role assignment create --assignee-object-id <its object id> --assignee-principal-type ServicePrincipal --role AcrPull --scope <registry id>)."))),
        };
    }
    let client_id = props["servicePrincipalProfile"]["clientId"]
        .as_str()
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("msi"));
    match client_id {
        Some(app_id) => {
            let cloud = ctx.cloud().await?;
            let oid = crate::graph::service_principal_object_id(ctx, cloud, app_id).await?;
            Ok(Principal {
                object_id: oid.to_ascii_lowercase(),
                describe: format!("service principal {app_id} (object id {oid})"),
            })
        }
        None => Err(AppError::new(
            Kind::Failure,
            format!("Cannot get the AKS cluster's service principal: cluster '{cluster}' has neither a managed identity nor a service principal."),
        )
        .hint("Grant or revoke access by hand for the identity its nodes use (az role assignment create --assignee-object-id <object id> --assignee-principal-type ServicePrincipal --role AcrPull --scope <registry id>).")),
    }
}

fn assignments_path(scope: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleAssignments")
}

fn same_scope(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// Whether an assignment is this principal's, with this role, exactly at the registry.
fn is_ours(a: &Value, registry: &Registry, role: &Role, principal: &Principal) -> bool {
    let p = &a["properties"];
    p["principalId"]
        .as_str()
        .is_some_and(|x| x.eq_ignore_ascii_case(&principal.object_id))
        && p["roleDefinitionId"]
            .as_str()
            .is_some_and(|r| role_guid(r) == role.guid)
        && p["scope"]
            .as_str()
            .is_some_and(|s| same_scope(s, &registry.id))
}

async fn existing(
    arm: &Arm,
    registry: &Registry,
    role: &Role,
    principal: &Principal,
) -> Result<Option<Value>, AppError> {
    let what = format!("Listing role assignments on registry '{}'", registry.name);
    let filter = format!("principalId eq '{}'", principal.object_id);
    let list = arm
        .list(
            &assignments_path(&registry.id),
            api::AUTHORIZATION,
            Some(&filter),
            &what,
        )
        .await
        .map_err(|e| e.into_app(&what))?;
    Ok(list
        .into_iter()
        .find(|a| is_ours(a, registry, role, principal)))
}

/// PrincipalNotFound backoff: 2, 4, … 20 s (az's schedule, about two minutes in all).
fn replication_delays() -> Vec<Duration> {
    (1..=10)
        .map(|x| arm::scaled(Duration::from_secs(2 * x)))
        .collect()
}

async fn attach_one(
    arm: &Arm,
    registry: &Registry,
    role: &Role,
    cluster: &str,
    principal: &Principal,
    principal_type: Option<&str>,
) -> Result<Value, AppError> {
    if let Some(a) = existing(arm, registry, role, principal).await? {
        crate::log::info(&format!(
            "Cluster '{cluster}' is already attached to registry '{}' ({} for its {}); nothing to do.",
            registry.name, role.label, principal.describe
        ));
        return Ok(a);
    }
    let what = format!(
        "Creating the {} role assignment on registry '{}' for cluster '{cluster}'",
        role.label, registry.name
    );
    let body = json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{}", registry.subscription, role.guid),
        "principalId": principal.object_id,
        "principalType": principal_type.unwrap_or("ServicePrincipal"),
    }});
    let delays = replication_delays();
    let mut attempt = 0usize;
    loop {
        let path = format!("{}/{}", assignments_path(&registry.id), arm::new_uuid());
        match arm.put(&path, api::AUTHORIZATION, &body, &what).await {
            Ok(v) => {
                crate::log::info(&format!(
                    "Attached cluster '{cluster}' to registry '{}': {} for its {}.",
                    registry.name, role.label, principal.describe
                ));
                return Ok(v);
            }
            Err(CallError::Api(e))
                if e.status == 409 && e.code.eq_ignore_ascii_case("RoleAssignmentExists") =>
            {
                // Created meanwhile (or by someone else): idempotent success.
                crate::log::info(&format!(
                    "Cluster '{cluster}' is already attached to registry '{}' ({}).",
                    registry.name, role.label
                ));
                return Ok(existing(arm, registry, role, principal).await?.unwrap_or_else(|| {
                    json!({"properties": {"scope": registry.id, "roleDefinitionId": body["properties"]["roleDefinitionId"], "principalId": principal.object_id}})
                }));
            }
            Err(CallError::Api(e)) if e.code.eq_ignore_ascii_case("PrincipalNotFound") => {
                let Some(delay) = delays.get(attempt) else {
                    return Err(AppError::new(
                        Kind::Failure,
                        format!("{what}: Azure RBAC still does not know the {} of cluster '{cluster}' after {} attempts (PrincipalNotFound).", principal.describe, attempt + 1),
                    )
                    .hint("A new identity can take a few minutes to replicate in Entra ID; run the command again later.")
                    .cause(e.message));
                };
                attempt += 1;
                crate::log::info(&format!(
                    "The {} of cluster '{cluster}' is not yet known to Azure RBAC (PrincipalNotFound, Entra replication delay); retrying in {:.1}s ({attempt}/{})…",
                    principal.describe,
                    delay.as_secs_f64(),
                    delays.len()
                ));
                tokio::time::sleep(*delay).await;
            }
            Err(CallError::Api(e)) if e.status == 403 => {
                return Err(AppError::new(
                    Kind::Auth,
                    format!("Not allowed to create role assignments on registry '{}': the identity lacks Microsoft.Authorization/roleAssignments/write there ({}).", registry.name, e.code),
                )
                .hint(format!("Have someone with {WRITE_ROLES} on the registry (or its resource group or subscription) run this, or grant you one of those roles."))
                .cause(e.message));
            }
            Err(e) => return Err(e.into_app(&what)),
        }
    }
}

async fn detach_one(
    arm: &Arm,
    registry: &Registry,
    role: &Role,
    cluster: &str,
    principal: &Principal,
) -> Result<Vec<Value>, AppError> {
    let what = format!("Listing role assignments on registry '{}'", registry.name);
    let list = arm
        .list(
            &assignments_path(&registry.id),
            api::AUTHORIZATION,
            Some("atScope()"),
            &what,
        )
        .await
        .map_err(|e| e.into_app(&what))?;
    let ours: Vec<Value> = list
        .into_iter()
        .filter(|a| is_ours(a, registry, role, principal))
        .collect();
    if ours.is_empty() {
        crate::log::info(&format!(
            "Cluster '{cluster}' has no {} assignment on registry '{}'; nothing to detach.",
            role.label, registry.name
        ));
        return Ok(vec![]);
    }
    let mut removed = Vec::new();
    for a in ours {
        let Some(id) = a["id"].as_str() else { continue };
        let what = format!(
            "Deleting role assignment {} on registry '{}'",
            role_guid(id),
            registry.name
        );
        match arm.delete(id, api::AUTHORIZATION, &what).await {
            Ok(_) => removed.push(a),
            // Gone meanwhile: the goal is reached.
            Err(CallError::Api(e)) if e.status == 404 => {}
            Err(CallError::Api(e)) if e.status == 403 => {
                return Err(AppError::new(
                    Kind::Auth,
                    format!("Not allowed to delete role assignments on registry '{}': the identity lacks Microsoft.Authorization/roleAssignments/delete there ({}).", registry.name, e.code),
                )
                .hint(format!("Have someone with {WRITE_ROLES} on the registry run this, or grant you one of those roles."))
                .cause(e.message));
            }
            Err(e) => return Err(e.into_app(&what)),
        }
    }
    crate::log::info(&format!(
        "Detached cluster '{cluster}' from registry '{}': removed {} {} assignment(s) of its {}.",
        registry.name,
        removed.len(),
        role.label,
        principal.describe
    ));
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert_eq!(Role::parse("AcrPull").unwrap().guid, ACRPULL);
        assert_eq!(Role::parse("acrpush").unwrap().guid, ACRPUSH);
        assert_eq!(
            Role::parse("repository-reader").unwrap().guid,
            REPOSITORY_READER
        );
        let r = Role::parse("7F951DDA-4ED3-4680-A7CA-43FE172D538D").unwrap();
        assert_eq!(r.guid, ACRPULL);
        assert!(r.legacy());
        let r = Role::parse("/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/b93aa761-3e63-49ed-ac28-beffa264f7ac").unwrap();
        assert_eq!(r.guid, REPOSITORY_READER);
        assert!(!r.legacy());
        assert_eq!(Role::parse("owner").unwrap_err().kind, Kind::Usage);
    }

    #[test]
    fn acr_argument() {
        assert!(parse_acr("myregistry").unwrap().is_none());
        assert!(parse_acr("/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r").unwrap().is_some());
        assert_eq!(
            parse_acr("/subscriptions/nope").unwrap_err().kind,
            Kind::Usage
        );
        let e = parse_acr("myregistry.azurecr.io").unwrap_err();
        assert!(
            e.one_line().contains("without its domain"),
            "{}",
            e.one_line()
        );
    }

    #[test]
    fn cluster_names_are_checked_and_deduplicated() {
        assert_eq!(
            validate_clusters(&["a".into(), "A".into(), "b-1".into()]).unwrap(),
            vec!["a", "b-1"]
        );
        assert!(validate_clusters(&["-x".into()]).is_err());
        assert!(validate_clusters(&["a/b".into()]).is_err());
    }

    #[test]
    fn replication_schedule_is_about_two_minutes() {
        std::env::remove_var("ACRCTL_ARM_RETRY_SCALE");
        let total: Duration = replication_delays().iter().sum();
        assert_eq!(total, Duration::from_secs(110));
    }
}
