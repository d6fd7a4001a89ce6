//! `acrctl check-acr` (az aks check-acr): can this cluster's nodes pull from this
//! registry, and if not, why not and what fixes it.
//!
//! Unlike az, which only runs the canipull image in the cluster, the checks run from the
//! operator's shell against ARM (the cluster and its pulling identity, the registry and its
//! network and permission settings, the role assignments of that identity on the registry
//! and every scope above it) and against the registry's endpoint (DNS, TLS, the `/v2/`
//! challenge). Each check is a row: PASS, WARN, FAIL or SKIP, the evidence, and for
//! anything not PASS the command that fixes it. The cluster can pull when no row FAILs.
//! `--in-cluster` adds az's probe: the canipull image as a short-lived pod (the pod spec
//! az builds), whose output is streamed and which is deleted afterwards
//! (aks-arm-kube.md §3).

use crate::acr;
use crate::arm::{self, api, role_guid, Arm, CallError};
use crate::cli::{CheckAcrCommon, OutputFormat};
use crate::commands::attach::{
    self, find_registry, get_registry, parse_acr, principal_of, read_cluster, Registry, ACRPULL,
    ACRPUSH, REPOSITORY_READER,
};
use crate::context::Context;
use crate::error::{AppError, Kind};
use crate::http;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const READER: &str = "acdd72a7-3c48-4a49-a4f2-a1c48b7a2d2b";
const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab8b-20f7382dd24c";
const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
/// The ABAC repository roles' built-in ids, the same in every tenant (as published in
/// many public role tables and templates; no Microsoft page lists them side by side).
const REPOSITORY_WRITER: &str = "2a1e307c-b015-4ebd-883e-5b7698a07328";
const REPOSITORY_CONTRIBUTOR: &str = "2efddaa5-3f1f-4df3-97df-af3f13818f4c";

/// Roles that allow pull in the legacy mode ("RBAC Registry Permissions").
const LEGACY_PULL_ROLES: &[&str] = &["AcrPull", "AcrPush", "Contributor", "Owner", "Reader"];
/// Roles that allow pull in the ABAC mode ("RBAC Registry + ABAC Repository Permissions").
const ABAC_PULL_ROLES: &[&str] = &[
    "Container Registry Repository Reader",
    "Container Registry Repository Writer",
    "Container Registry Repository Contributor",
];

const HINT_ONLY: &str =
    "checked from this shell: a hint only, the nodes' network, DNS and firewall may differ";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

#[derive(Debug)]
struct Row {
    check: String,
    status: Status,
    detail: String,
    fix: Option<String>,
}

#[derive(Default)]
struct Checklist {
    rows: Vec<Row>,
}

impl Checklist {
    fn add(&mut self, check: &str, status: Status, detail: impl Into<String>, fix: Option<String>) {
        self.rows.push(Row {
            check: check.to_string(),
            status,
            detail: detail.into(),
            fix: if status == Status::Pass { None } else { fix },
        });
    }
    fn pass(&mut self, check: &str, detail: impl Into<String>) {
        self.add(check, Status::Pass, detail, None);
    }
    fn can_pull(&self) -> bool {
        !self.rows.iter().any(|r| r.status == Status::Fail)
    }
    fn json(&self) -> Vec<Value> {
        self.rows
            .iter()
            .map(|r| {
                json!({"check": r.check, "status": r.status.as_str(), "detail": r.detail, "fix": r.fix})
            })
            .collect()
    }
}

/// How `--acr` names the registry.
enum AcrArg {
    Id(arm::ResourceId),
    Name(String),
    LoginServer(String),
}

fn parse_acr_arg(raw: &str, cloud_suffix: &str) -> Result<AcrArg, AppError> {
    let raw = raw.trim();
    if raw.starts_with('/') {
        return Ok(AcrArg::Id(parse_acr(raw)?.expect("an ID parses to Some")));
    }
    if raw.contains('.') || raw.contains(':') {
        return acr::login_server(raw, None, cloud_suffix).map(AcrArg::LoginServer);
    }
    parse_acr(raw)?;
    Ok(AcrArg::Name(raw.to_string()))
}

pub async fn run(ctx: &Context, cluster: String, args: CheckAcrCommon) -> Result<u8, AppError> {
    attach::validate_clusters(std::slice::from_ref(&cluster))?;
    attach::validate_resource_group(&args.resource_group)?;
    if args.acr.trim().contains("://") {
        return Err(AppError::usage(format!(
            "'{}' is a URL; --acr takes a registry name, login server or resource ID.",
            args.acr.trim()
        )));
    }
    if let Some(node) = &args.node_name {
        if node.is_empty() || node.len() > 253 || node.contains('/') {
            return Err(AppError::usage(format!("'{node}' is not a node name.")));
        }
    }
    let suffix = ctx.acr_suffix().await?;
    let acr_arg = parse_acr_arg(&args.acr, &suffix)?;

    let arm = Arm::connect(ctx).await?;
    let subscription = arm::resolve_subscription(ctx, &arm).await?;
    let rg = args.resource_group.clone();
    let mut list = Checklist::default();

    // 1. The cluster and the identity its nodes pull with.
    let mc = read_cluster(&arm, &subscription, &rg, &cluster).await?;
    let cluster_location = mc["location"].as_str().unwrap_or("").to_string();
    list.pass(
        "Cluster",
        format!(
            "'{cluster}' in resource group '{rg}' ({}), Kubernetes {}, provisioning state {}",
            if cluster_location.is_empty() {
                "location unknown"
            } else {
                &cluster_location
            },
            mc["properties"]["kubernetesVersion"]
                .as_str()
                .unwrap_or("?"),
            mc["properties"]["provisioningState"]
                .as_str()
                .unwrap_or("?"),
        ),
    );
    let principal = match principal_of(ctx, &mc, &cluster).await {
        Ok(p) => {
            list.pass(
                "Pulling identity",
                format!("the nodes pull as the {}", p.describe),
            );
            Some(p)
        }
        Err(e) if e.kind == Kind::Failure || e.kind == Kind::NotFound => {
            list.add(
                "Pulling identity",
                Status::Fail,
                e.message.clone(),
                e.hint.clone(),
            );
            None
        }
        Err(e) => return Err(e),
    };

    // 2. The registry.
    let registry = match &acr_arg {
        AcrArg::Id(id) => get_registry(&arm, id).await?,
        AcrArg::Name(n) => find_registry(&arm, &subscription, n).await?,
        AcrArg::LoginServer(ls) => find_by_login_server(&arm, &subscription, ls, &suffix).await?,
    };
    let props = registry.json["properties"].clone();
    let login_server = props["loginServer"]
        .as_str()
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| format!("{}.{suffix}", registry.name.to_ascii_lowercase()));
    let registry_location = registry.json["location"].as_str().unwrap_or("").to_string();
    let sku = registry.json["sku"]["name"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    list.pass(
        "Registry",
        format!(
            "'{}' ({}), login server {login_server}, SKU {sku}, location {}",
            registry.name,
            registry.id,
            if registry_location.is_empty() {
                "unknown"
            } else {
                &registry_location
            }
        ),
    );
    let name = registry.name.clone();
    let pe = private_endpoints(&props);
    let approved_pe = pe
        .iter()
        .filter(|(_, s)| s.eq_ignore_ascii_case("Approved"))
        .count();
    let public = props["publicNetworkAccess"]
        .as_str()
        .unwrap_or("Enabled")
        .to_string();
    let public_enabled = !public.eq_ignore_ascii_case("Disabled");
    if public_enabled {
        list.pass("Public network access", public.clone());
    } else if approved_pe > 0 {
        list.add(
            "Public network access",
            Status::Warn,
            format!("Disabled: pulls must come through the registry's private endpoint ({approved_pe} approved); the cluster's virtual network must reach it and resolve {login_server} to it (private DNS zone privatelink.{})", suffix),
            Some(format!("az network private-dns link vnet create -g <dns zone group> -z privatelink.{suffix} -n <link name> -v <cluster vnet id> -e false")),
        );
    } else {
        list.add(
            "Public network access",
            Status::Fail,
            "Disabled, and the registry has no approved private endpoint: the nodes have no way to reach it",
            Some(format!("az acr update -n {name} --public-network-enabled true   (or add a private endpoint in the cluster's virtual network: az network private-endpoint create --group-id registry --private-connection-resource-id {} …)", registry.id)),
        );
    }
    let default_action = props["networkRuleSet"]["defaultAction"]
        .as_str()
        .unwrap_or("Allow")
        .to_string();
    let ip_rules = props["networkRuleSet"]["ipRules"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    if !public_enabled {
        list.add("Network rules", Status::Skip, format!("default action {default_action}; not applied while public network access is disabled"), None);
    } else if default_action.eq_ignore_ascii_case("Deny") {
        list.add(
            "Network rules",
            Status::Warn,
            format!("default action Deny with {ip_rules} IP rule(s): the cluster's egress IP addresses must be allowed (AKS is not a trusted service that bypasses the firewall)"),
            Some(format!("az acr network-rule add -n {name} --ip-address <cluster egress IP>")),
        );
    } else {
        list.pass("Network rules", format!("default action {default_action}"));
    }
    if pe.is_empty() {
        list.pass("Private endpoints", "none (the public endpoint is used)");
    } else {
        let described: Vec<String> = pe.iter().map(|(n, s)| format!("{n} ({s})")).collect();
        let not_approved: Vec<&(String, String)> = pe
            .iter()
            .filter(|(_, s)| !s.eq_ignore_ascii_case("Approved"))
            .collect();
        if not_approved.is_empty() {
            list.pass("Private endpoints", described.join(", "));
        } else {
            list.add(
                "Private endpoints",
                Status::Warn,
                format!("{}; only approved connections carry traffic", described.join(", ")),
                Some(format!("az network private-endpoint-connection approve --resource-name {name} -g {} --type Microsoft.ContainerRegistry/registries -n {}", registry_rg(&registry.id), not_approved[0].0)),
            );
        }
    }
    let data_endpoint = props["dataEndpointEnabled"].as_bool().unwrap_or(false);
    let data_hosts: Vec<String> = props["dataEndpointHostNames"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if data_endpoint {
        list.pass(
            "Data endpoints",
            format!("enabled: layers are served from {} (firewalls in front of the nodes must allow them too)", if data_hosts.is_empty() { "the registry's regional data endpoints".to_string() } else { data_hosts.join(", ") }),
        );
    } else {
        list.pass(
            "Data endpoints",
            "disabled: layers are served from the registry's storage endpoints",
        );
    }
    let abac = registry.abac;
    list.pass(
        "Role assignment mode",
        if abac {
            "AbacRepositoryPermissions (RBAC Registry + ABAC Repository Permissions): only the repository roles grant pull; AcrPull, AcrPush, Owner, Contributor and Reader do not"
        } else {
            "LegacyRegistryPermissions (RBAC Registry Permissions): AcrPull, AcrPush, Contributor, Owner or Reader grant pull"
        },
    );
    if props["adminUserEnabled"].as_bool().unwrap_or(false) {
        list.add(
            "Admin user",
            Status::Warn,
            "enabled; the nodes do not use it (they pull with their identity), and a shared password is a standing risk",
            Some(format!("az acr update -n {name} --admin-enabled false")),
        );
    } else {
        list.pass(
            "Admin user",
            "disabled (not needed: the nodes pull with their identity)",
        );
    }
    let anonymous = props["anonymousPullEnabled"].as_bool().unwrap_or(false);

    // 3. Role assignments of the pulling identity on the registry and the scopes above it.
    match &principal {
        Some(p) => {
            let found = assignments_of(&arm, &registry, &p.object_id).await?;
            role_row(
                &mut list, &arm, &registry, p, &found, anonymous, &cluster, &rg, &args.acr,
            )
            .await;
        }
        None => list.add(
            "Pull permission",
            Status::Skip,
            "the cluster's pulling identity is unknown",
            None,
        ),
    }

    // 4-5. DNS, TLS and the /v2/ challenge, from this shell.
    let private_only = !public_enabled || approved_pe > 0;
    network_rows(
        &mut list,
        &login_server,
        &data_hosts,
        data_endpoint,
        private_only,
    )
    .await;

    // 6. Region.
    if cluster_location.is_empty() || registry_location.is_empty() {
        list.add(
            "Region",
            Status::Skip,
            "the location of the cluster or the registry is unknown",
            None,
        );
    } else if norm_region(&cluster_location) == norm_region(&registry_location) {
        list.pass(
            "Region",
            format!("cluster and registry are both in {registry_location}"),
        );
    } else {
        list.add(
            "Region",
            Status::Warn,
            format!("the registry is in {registry_location}, the cluster in {cluster_location}: pulls cross regions (egress cost, latency)"),
            Some(format!("az acr replication create -r {name} -l {cluster_location}   (geo-replication, Premium SKU)")),
        );
    }

    // 7. The in-cluster probe.
    let mut probe_error: Option<AppError> = None;
    let mut probe_data = Value::Null;
    if args.in_cluster {
        match in_cluster(&args, &login_server).await {
            Ok((row, data)) => {
                list.rows.push(row);
                probe_data = data;
            }
            Err(e) => {
                list.add(
                    "In-cluster probe",
                    Status::Skip,
                    format!("could not run: {}", e.message),
                    e.hint.clone(),
                );
                probe_error = Some(e);
            }
        }
    }

    let can_pull = list.can_pull();
    let mut data = json!({
        "canPull": can_pull,
        "cluster": cluster,
        "resourceGroup": rg,
        "registry": registry.name,
        "registryId": registry.id,
        "loginServer": login_server,
        "principal": principal.as_ref().map(|p| p.object_id.clone()),
        "checks": list.json(),
    });
    if args.in_cluster {
        data["inCluster"] = probe_data;
    }
    print(ctx, &data, &list, &cluster, &registry.name)?;
    if !can_pull {
        return Ok(1);
    }
    if let Some(e) = probe_error {
        crate::report_error(&e);
        return Ok(e.kind.exit_code());
    }
    Ok(0)
}

fn norm_region(r: &str) -> String {
    r.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn registry_rg(id: &str) -> String {
    arm::ResourceId::parse(id, "Microsoft.ContainerRegistry", "registries")
        .map(|r| r.resource_group)
        .unwrap_or_else(|| "<group>".into())
}

/// `(name, status)` of each private endpoint connection.
fn private_endpoints(props: &Value) -> Vec<(String, String)> {
    props["privateEndpointConnections"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    let name = c["name"]
                        .as_str()
                        .or_else(|| c["id"].as_str().and_then(|i| i.rsplit('/').next()))
                        .unwrap_or("?")
                        .to_string();
                    let status = c["properties"]["privateLinkServiceConnectionState"]["status"]
                        .as_str()
                        .unwrap_or("Unknown")
                        .to_string();
                    (name, status)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A login server: try the name it starts with first (one GET), else look at every
/// registry of the subscription for the one whose `properties.loginServer` matches.
async fn find_by_login_server(
    arm: &Arm,
    subscription: &str,
    server: &str,
    suffix: &str,
) -> Result<Registry, AppError> {
    let matches = |r: &Registry| {
        r.json["properties"]["loginServer"]
            .as_str()
            .is_some_and(|l| l.eq_ignore_ascii_case(server))
    };
    if let Some(first) = server.strip_suffix(&format!(".{suffix}")) {
        if !first.contains('.') && first.chars().all(|c| c.is_ascii_alphanumeric()) {
            if let Ok(r) = find_registry(arm, subscription, first).await {
                if matches(&r) {
                    return Ok(r);
                }
            }
        }
    }
    let what = format!(
        "Looking up the registry with login server '{server}' in subscription {subscription}"
    );
    let all = crate::commands::attach::list_registries(arm, subscription, &what).await?;
    for item in &all {
        let Some(id) = item["id"]
            .as_str()
            .and_then(|i| arm::ResourceId::parse(i, "Microsoft.ContainerRegistry", "registries"))
        else {
            continue;
        };
        let r = get_registry(arm, &id).await?;
        if matches(&r) {
            return Ok(r);
        }
    }
    let seen: Vec<&str> = all.iter().filter_map(|r| r["name"].as_str()).collect();
    Err(AppError::new(
        Kind::NotFound,
        format!(
            "No registry with login server '{server}' in subscription {subscription} (registries there: {}).",
            if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
        ),
    )
    .hint("Check the login server (az acr list --query [].loginServer), or pass the registry's resource ID if it is in another subscription."))
}

/// An assignment that applies to the registry, with what it means.
struct Found {
    role_name: String,
    scope: String,
    name: String,
    condition: Option<String>,
}

/// Whether an assignment at `scope` applies to the resource `id`: the same scope or a
/// parent (resource group, subscription), a management group, or the root.
fn covers(scope: &str, id: &str) -> bool {
    let s = scope.trim_end_matches('/').to_ascii_lowercase();
    let i = id.trim_end_matches('/').to_ascii_lowercase();
    s.is_empty()
        || s == i
        || (i.starts_with(&s) && i.as_bytes().get(s.len()) == Some(&b'/'))
        || s.starts_with("/providers/microsoft.management/managementgroups/")
}

/// "registry 'r'", "resource group 'rg'", "subscription S", "management group 'm'".
fn describe_scope(scope: &str, registry_id: &str) -> String {
    let segs: Vec<&str> = scope.trim_matches('/').split('/').collect();
    if scope
        .trim_end_matches('/')
        .eq_ignore_ascii_case(registry_id.trim_end_matches('/'))
    {
        return format!("registry '{}'", segs.last().unwrap_or(&""));
    }
    match segs.as_slice() {
        [""] => "the root scope".into(),
        [s, id] if s.eq_ignore_ascii_case("subscriptions") => format!("subscription {id}"),
        [s, _, r, rg]
            if s.eq_ignore_ascii_case("subscriptions")
                && r.eq_ignore_ascii_case("resourceGroups") =>
        {
            format!("resource group '{rg}'")
        }
        [p, m, g, name]
            if p.eq_ignore_ascii_case("providers")
                && m.eq_ignore_ascii_case("Microsoft.Management")
                && g.eq_ignore_ascii_case("managementGroups") =>
        {
            format!("management group '{name}'")
        }
        _ => format!("scope {scope}"),
    }
}

/// Scope depth, to list the narrowest grant first.
fn depth(scope: &str) -> usize {
    if scope
        .to_ascii_lowercase()
        .starts_with("/providers/microsoft.management")
    {
        return 0;
    }
    scope
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .count()
}

/// The principal's role assignments (listed at the registry's subscription with
/// `principalId eq`) that apply to the registry.
async fn assignments_of(
    arm: &Arm,
    registry: &Registry,
    object_id: &str,
) -> Result<Vec<Value>, AppError> {
    let what = format!("Listing the role assignments of {object_id}");
    let path = format!(
        "/subscriptions/{}/providers/Microsoft.Authorization/roleAssignments",
        registry.subscription
    );
    let filter = format!("principalId eq '{object_id}'");
    match arm.list(&path, api::AUTHORIZATION, Some(&filter), &what).await {
        Ok(list) => Ok(list
            .into_iter()
            .filter(|a| {
                a["properties"]["principalId"]
                    .as_str()
                    .is_none_or(|p| p.eq_ignore_ascii_case(object_id))
                    && a["properties"]["scope"]
                        .as_str()
                        .is_some_and(|s| covers(s, &registry.id))
            })
            .collect()),
        Err(CallError::Api(e)) if e.status == 403 => Err(AppError::new(
            Kind::Auth,
            format!(
                "Not allowed to read role assignments in subscription {} ({}), so whether the cluster may pull cannot be told.",
                registry.subscription, e.code
            ),
        )
        .hint("Any role with Microsoft.Authorization/roleAssignments/read there will do (Reader, for example).")
        .cause(e.message)),
        Err(e) => Err(e.into_app(&what)),
    }
}

fn builtin_role_name(guid: &str) -> Option<&'static str> {
    Some(match guid {
        ACRPULL => "AcrPull",
        ACRPUSH => "AcrPush",
        REPOSITORY_READER => "Container Registry Repository Reader",
        REPOSITORY_WRITER => "Container Registry Repository Writer",
        REPOSITORY_CONTRIBUTOR => "Container Registry Repository Contributor",
        READER => "Reader",
        CONTRIBUTOR => "Contributor",
        OWNER => "Owner",
        _ => return None,
    })
}

#[allow(clippy::too_many_arguments)]
async fn role_row(
    list: &mut Checklist,
    arm: &Arm,
    registry: &Registry,
    principal: &attach::Principal,
    assignments: &[Value],
    anonymous: bool,
    cluster: &str,
    rg: &str,
    acr_given: &str,
) {
    let mut names: HashMap<String, String> = HashMap::new();
    let mut found: Vec<Found> = Vec::new();
    for a in assignments {
        let p = &a["properties"];
        let guid = role_guid(p["roleDefinitionId"].as_str().unwrap_or(""));
        let role_name = match builtin_role_name(&guid) {
            Some(n) => n.to_string(),
            None => match names.get(&guid) {
                Some(n) => n.clone(),
                None => {
                    let path = format!(
                        "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
                        registry.subscription
                    );
                    let n = arm
                        .get(&path, api::AUTHORIZATION, "Reading a role definition")
                        .await
                        .ok()
                        .and_then(|v| v["properties"]["roleName"].as_str().map(str::to_string))
                        .unwrap_or_else(|| format!("role {guid}"));
                    names.insert(guid.clone(), n.clone());
                    n
                }
            },
        };
        found.push(Found {
            role_name,
            scope: p["scope"].as_str().unwrap_or("").to_string(),
            name: a["name"].as_str().unwrap_or("").to_string(),
            condition: p["condition"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(str::to_string),
        });
    }
    found.sort_by_key(|f| std::cmp::Reverse(depth(&f.scope)));
    let pull_roles = if registry.abac {
        ABAC_PULL_ROLES
    } else {
        LEGACY_PULL_ROLES
    };
    let grants = |f: &&Found| {
        pull_roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&f.role_name))
    };
    let describe = |f: &Found| {
        format!(
            "{} at {} (assignment {})",
            f.role_name,
            describe_scope(&f.scope, &registry.id),
            f.name
        )
    };
    let check = "Pull permission";
    if let Some(g) = found.iter().find(grants) {
        let others = found.iter().filter(grants).count() - 1;
        let more = if others > 0 {
            format!("; {others} more assignment(s) grant it too")
        } else {
            String::new()
        };
        match &g.condition {
            None => list.pass(check, format!("{} grants pull to the {}{more}", describe(g), principal.describe)),
            Some(c) => list.add(
                check,
                Status::Warn,
                format!("{} grants pull to the {} only where its condition holds ({c}){more}", describe(g), principal.describe),
                Some(format!("Check that the images the cluster runs are in the repositories the condition allows; or: acrctl attach --cluster {cluster} -g {rg} --acr {} --role repository-reader", acr_for_fix(acr_given, registry))),
            ),
        }
        return;
    }
    let seen = if found.is_empty() {
        "none on the registry, its resource group or subscription".to_string()
    } else {
        found.iter().map(describe).collect::<Vec<_>>().join(", ")
    };
    let mode_note = if registry.abac {
        " (the registry uses ABAC repository permissions: a repository role is needed)"
    } else {
        ""
    };
    let role_flag = if registry.abac {
        " --role repository-reader"
    } else {
        ""
    };
    let fix = format!(
        "acrctl attach --cluster {cluster} -g {rg} --acr {}{role_flag}",
        acr_for_fix(acr_given, registry)
    );
    if anonymous {
        list.add(
            check,
            Status::Warn,
            format!("no role assignment of the {} grants pull{mode_note}; anonymous pull is enabled on the registry, so pulls work without one (found: {seen})", principal.describe),
            Some(fix),
        );
    } else {
        list.add(
            check,
            Status::Fail,
            format!("no role assignment of the {} grants pull on registry '{}'{mode_note} (found: {seen})", principal.describe, registry.name),
            Some(fix),
        );
    }
}

/// What to pass `attach --acr`: the name as given, else the registry's resource ID.
fn acr_for_fix(given: &str, registry: &Registry) -> String {
    let g = given.trim();
    if !g.is_empty() && g.chars().all(|c| c.is_ascii_alphanumeric()) {
        g.to_string()
    } else {
        registry.id.clone()
    }
}

/// `host` of `host:port` (IPv6 in brackets kept bracketed), and the port (443 by default).
fn host_port(server: &str) -> (String, u16) {
    if let Some(rest) = server.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once(']') {
            let port = p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .unwrap_or(443);
            return (h.to_string(), port);
        }
    }
    match server.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().unwrap_or(443)),
        _ => (server.to_string(), 443),
    }
}

/// Resolves a host name with the system resolver, bounded in time.
async fn resolve(host: &str, port: u16) -> Result<Vec<std::net::IpAddr>, String> {
    use std::net::ToSocketAddrs;
    let h = host.to_string();
    let lookup = tokio::task::spawn_blocking(move || {
        (h.as_str(), port)
            .to_socket_addrs()
            .map(|a| a.map(|s| s.ip()).collect::<Vec<_>>())
    });
    match tokio::time::timeout(Duration::from_secs(10), lookup).await {
        Err(_) => Err("the lookup did not finish within 10 s".into()),
        Ok(Err(e)) => Err(format!("the lookup failed to run: {e}")),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Ok(Ok(mut ips))) => {
            ips.sort();
            ips.dedup();
            Ok(ips)
        }
    }
}

fn is_private(ip: &std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_private(),
        std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

async fn dns_row(
    list: &mut Checklist,
    check: &str,
    host: &str,
    port: u16,
    private_only: bool,
) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        list.pass(
            check,
            format!("{host} is an IP address; nothing to resolve"),
        );
        return true;
    }
    let why = match resolve(host, port).await {
        Ok(ips) if !ips.is_empty() => {
            let shown: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
            let private = if ips.iter().all(is_private) {
                " (private addresses: a private endpoint)"
            } else {
                ""
            };
            list.pass(
                check,
                format!(
                    "{host} resolves to {}{private}, from this shell",
                    shown.join(", ")
                ),
            );
            return true;
        }
        Ok(_) => "no address".to_string(),
        Err(e) => e,
    };
    {
        {
            if private_only {
                list.add(
                    check,
                    Status::Warn,
                    format!("{host} does not resolve from this shell ({why}); the registry is reached through a private endpoint, so only the cluster's virtual network may resolve it"),
                    Some(format!("Check from a node or with --in-cluster; the cluster's virtual network needs the private DNS zone for {host} linked")),
                );
            } else {
                list.add(
                    check,
                    Status::Fail,
                    format!("{host} does not resolve ({why}): nothing can pull from it"),
                    Some("Check the login server (az acr show -n <name> --query loginServer) and the DNS servers in use".to_string()),
                );
            }
            false
        }
    }
}

async fn network_rows(
    list: &mut Checklist,
    login_server: &str,
    data_hosts: &[String],
    data_endpoint: bool,
    private_only: bool,
) {
    let (host, port) = host_port(login_server);
    let resolved = dns_row(list, "DNS", &host, port, private_only).await;
    if data_endpoint {
        for h in data_hosts {
            dns_row(list, "DNS (data endpoint)", h, 443, private_only).await;
        }
    }
    if !resolved {
        for c in ["TLS", "Registry challenge", "Network reachability"] {
            list.add(
                c,
                Status::Skip,
                format!("{login_server} does not resolve from this shell"),
                None,
            );
        }
        return;
    }
    let url = match url::Url::parse(&format!("https://{login_server}/v2/")) {
        Ok(u) => u,
        Err(e) => {
            list.add(
                "TLS",
                Status::Skip,
                format!("'{login_server}' does not make a URL ({e})"),
                None,
            );
            return;
        }
    };
    let what = format!("Contacting registry '{login_server}'");
    let response = http::send(http::client().get(url), &what).await;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            let tls = e.message.contains("TLS");
            if tls {
                list.add(
                    "TLS",
                    Status::Warn,
                    format!("{} ({HINT_ONLY})", e.message),
                    Some("If a proxy here inspects TLS, point SSL_CERT_FILE at a bundle with its CA; the nodes trust the registry's public certificate".into()),
                );
            } else {
                list.add("TLS", Status::Skip, "no connection to try it on", None);
            }
            list.add(
                "Registry challenge",
                Status::Skip,
                "the registry could not be asked",
                None,
            );
            list.add(
                "Network reachability",
                Status::Warn,
                format!("{} ({HINT_ONLY})", e.message),
                Some(e.hint.clone().unwrap_or_else(|| {
                    "Check the firewall and proxies between the nodes and the registry".into()
                })),
            );
            return;
        }
    };
    list.pass(
        "TLS",
        format!("handshake with {login_server} succeeded and its certificate is trusted"),
    );
    list.pass(
        "Network reachability",
        format!("{login_server} answered over HTTPS ({HINT_ONLY})"),
    );
    let status = response.status().as_u16();
    let headers: Vec<String> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let check = "Registry challenge";
    match status {
        401 => {}
        403 => {
            list.add(
                check,
                Status::Warn,
                format!("/v2/ answered 403: the registry's firewall refuses this network ({HINT_ONLY})"),
                Some("Allow the cluster's egress IPs in the registry's network rules, or use a private endpoint".into()),
            );
            return;
        }
        200 => {
            list.add(
                check,
                Status::Warn,
                "/v2/ answered 200 without a challenge (anonymous access)",
                None,
            );
            return;
        }
        s => {
            list.add(
                check,
                Status::Warn,
                format!("/v2/ answered HTTP {s} instead of a challenge ({HINT_ONLY})"),
                None,
            );
            return;
        }
    }
    let bearer = headers
        .iter()
        .filter_map(|h| acr::parse_www_authenticate(h).ok())
        .flatten()
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"));
    match bearer {
        Some(c) => {
            let realm = c.param("realm").unwrap_or("").to_string();
            let service = c.param("service").unwrap_or("").to_string();
            if service.eq_ignore_ascii_case(login_server) {
                list.pass(check, format!("/v2/ answers with a bearer challenge for service {service} (realm {realm})"));
            } else {
                list.add(
                    check,
                    Status::Warn,
                    format!("bearer challenge for service '{service}' (realm {realm}), not for {login_server}: a proxy or another registry answers"),
                    Some("Check the login server and any proxy in between".into()),
                );
            }
        }
        None => list.add(
            check,
            Status::Fail,
            format!("/v2/ answered 401 without a bearer challenge ({}): not an Azure container registry endpoint", if headers.is_empty() { "no WWW-Authenticate".to_string() } else { headers.join("; ") }),
            Some("Check the login server; a proxy may be answering in the registry's place".into()),
        ),
    }
}

/// The probe pod, as az builds it with `kubectl run --overrides` (aks-arm-kube.md §3):
/// hostNetwork, root, the node's azure.json and CA stores mounted, tolerations so that it
/// lands on any Linux node, and node affinity when a node is named. Nothing attaches to
/// it, so it gets no stdin.
fn probe_pod(
    pod: &str,
    namespace: &str,
    image: &str,
    login_server: &str,
    node: Option<&str>,
) -> Value {
    let mut spec = json!({
        "restartPolicy": "Never",
        "hostNetwork": true,
        "containers": [{
            "name": pod,
            "image": image,
            "args": ["-v6", login_server],
            "securityContext": {"runAsUser": 0},
            "volumeMounts": [
                {"name": "azurejson", "mountPath": "/etc/kubernetes", "readOnly": true},
                {"name": "sslcerts", "mountPath": "/etc/ssl/certs", "readOnly": true},
                {"name": "pki", "mountPath": "/etc/pki", "readOnly": true}
            ]
        }],
        "volumes": [
            {"name": "azurejson", "hostPath": {"path": "/etc/kubernetes"}},
            {"name": "sslcerts", "hostPath": {"path": "/etc/ssl/certs"}},
            {"name": "pki", "hostPath": {"path": "/etc/pki", "type": "DirectoryOrCreate"}}
        ],
        "tolerations": [
            {"key": "CriticalAddonsOnly", "operator": "Exists"},
            {"effect": "NoExecute", "operator": "Exists"}
        ],
        "nodeSelector": {"kubernetes.io/os": "linux"}
    });
    if let Some(n) = node {
        spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [n]}]}]
        }}});
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "canipull", "app.kubernetes.io/managed-by": "acrctl"}
        },
        "spec": spec
    })
}

/// What canipull's exit codes mean (Azure/aks-canipull `pkg/exitcode`).
fn canipull_exit(code: i32) -> &'static str {
    match code {
        0 => "the node can pull",
        1..=3 => "the node's /etc/kubernetes/azure.json is missing or unreadable",
        4 => "unknown cloud in azure.json",
        10 => "the kubelet managed identity could not get a token",
        52 => "the node cannot resolve the login server (DNS)",
        60 => "the node's identity has no permission to pull",
        _ => "the probe failed",
    }
}

async fn in_cluster(args: &CheckAcrCommon, login_server: &str) -> Result<(Row, Value), AppError> {
    let cluster = crate::kube::connect(&crate::kube::KubeOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
    })
    .await?;
    let ns = args.namespace.as_str();
    let pod = format!("canipull-{}", arm::new_uuid());
    let manifest = probe_pod(
        &pod,
        ns,
        &args.image,
        login_server,
        args.node_name.as_deref(),
    );
    cluster.create_pod(ns, &manifest).await?;
    crate::log::info(&format!(
        "Started pod {ns}/{pod} ({}) on {}; its output follows.",
        args.image, cluster.server
    ));
    let outcome = watch_probe(&cluster, ns, &pod, Duration::from_secs(args.probe_timeout)).await;
    // Always removed, whatever happened.
    let deleted = cluster.delete_pod(ns, &pod).await;
    if let Err(e) = &deleted {
        crate::log::warn(&format!(
            "Could not delete pod {ns}/{pod}: {}",
            e.one_line()
        ));
    } else {
        crate::debug!("deleted pod {ns}/{pod}");
    }
    let (phase, exit_code, lines) = outcome?;
    let last = lines
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .cloned()
        .unwrap_or_default();
    let data = json!({
        "pod": pod, "namespace": ns, "image": args.image, "node": args.node_name,
        "phase": phase, "exitCode": exit_code, "log": lines, "deleted": deleted.is_ok(),
    });
    let check = "In-cluster probe".to_string();
    let row = match (phase.as_str(), exit_code) {
        ("Succeeded", _) | (_, Some(0)) => Row {
            check,
            status: Status::Pass,
            detail: format!("canipull on a node: {}", strip_time(&last)),
            fix: None,
        },
        ("Failed", code) => Row {
            check,
            status: Status::Fail,
            detail: format!(
                "canipull exited {}: {} (last line: {})",
                code.map(|c| c.to_string()).unwrap_or_else(|| "?".into()),
                canipull_exit(code.unwrap_or(-1)),
                strip_time(&last)
            ),
            fix: Some("See the probe's output above (or -o json: inCluster.log)".into()),
        },
        (p, _) => Row {
            check,
            status: Status::Warn,
            detail: format!("the probe pod did not finish within {} s (phase {p})", args.probe_timeout),
            fix: Some("Check that the image can be pulled on the nodes (mcr.microsoft.com reachable) and that a Linux node is schedulable; --probe-timeout sets the wait".into()),
        },
    };
    Ok((row, data))
}

/// canipull prefixes each line with `[RFC3339 time] `.
fn strip_time(line: &str) -> String {
    let t = line.trim();
    match (t.starts_with('['), t.find("] ")) {
        (true, Some(i)) => t[i + 2..].to_string(),
        _ => t.to_string(),
    }
}

/// Polls the pod until it ends or time runs out, printing new log lines to stderr as
/// they come. Returns the phase, the container's exit code and the log.
async fn watch_probe(
    cluster: &crate::kube::Cluster,
    ns: &str,
    pod: &str,
    limit: Duration,
) -> Result<(String, Option<i32>, Vec<String>), AppError> {
    let started = Instant::now();
    let mut printed = 0usize;
    let mut lines: Vec<String> = Vec::new();
    loop {
        let p = cluster.get_pod(ns, pod).await?;
        let status = p.status.unwrap_or_default();
        let phase = status.phase.unwrap_or_else(|| "Pending".into());
        if phase != "Pending" {
            if let Ok(text) = cluster.pod_log(ns, pod).await {
                lines = text.lines().map(crate::log::redact).collect();
                for l in &lines[printed.min(lines.len())..] {
                    eprintln!("  {l}");
                }
                printed = lines.len();
            }
        }
        let exit_code = status
            .container_statuses
            .unwrap_or_default()
            .iter()
            .find_map(|c| c.state.as_ref()?.terminated.as_ref().map(|t| t.exit_code));
        if phase == "Succeeded" || phase == "Failed" {
            return Ok((phase, exit_code, lines));
        }
        if started.elapsed() >= limit {
            return Ok((phase, exit_code, lines));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn print(
    ctx: &Context,
    data: &Value,
    list: &Checklist,
    cluster: &str,
    registry: &str,
) -> Result<(), AppError> {
    if ctx.printer.format != OutputFormat::Table || ctx.global.query.is_some() {
        return ctx.printer.print(data);
    }
    let rows: Vec<Value> = list
        .rows
        .iter()
        .map(|r| json!({"status": r.status.as_str(), "check": r.check, "detail": r.detail}))
        .collect();
    let mut out = crate::output::render(OutputFormat::Table, &Value::Array(rows));
    let fixes: Vec<&Row> = list.rows.iter().filter(|r| r.fix.is_some()).collect();
    if !fixes.is_empty() {
        out.push_str("\nTo fix:\n");
        for r in fixes {
            out.push_str(&format!(
                "  [{}] {}: {}\n",
                r.status.as_str(),
                r.check,
                r.fix.as_deref().unwrap_or("")
            ));
        }
    }
    out.push('\n');
    if list.can_pull() {
        out.push_str(&format!(
            "Cluster '{cluster}' can pull from registry '{registry}'.\n"
        ));
    } else {
        let n = list
            .rows
            .iter()
            .filter(|r| r.status == Status::Fail)
            .count();
        out.push_str(&format!(
            "Cluster '{cluster}' cannot pull from registry '{registry}': {n} check(s) failed.\n"
        ));
    }
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_cover_their_children_only() {
        let reg = "/subscriptions/s/resourceGroups/RG1/providers/Microsoft.ContainerRegistry/registries/r";
        assert!(covers("/subscriptions/s/resourcegroups/rg1", reg));
        assert!(covers("/subscriptions/S", reg));
        assert!(covers(reg, reg));
        assert!(covers("/", reg));
        assert!(covers(
            "/providers/Microsoft.Management/managementGroups/mg",
            reg
        ));
        assert!(!covers("/subscriptions/s/resourceGroups/rg", reg));
        assert!(!covers("/subscriptions/s/resourceGroups/RG1/providers/Microsoft.ContainerRegistry/registries/r2", reg));
        assert_eq!(
            describe_scope("/subscriptions/s/resourceGroups/RG1", reg),
            "resource group 'RG1'"
        );
        assert_eq!(describe_scope("/subscriptions/s", reg), "subscription s");
        assert_eq!(describe_scope(reg, reg), "registry 'r'");
    }

    #[test]
    fn host_and_port() {
        assert_eq!(host_port("r.azurecr.io"), ("r.azurecr.io".into(), 443));
        assert_eq!(host_port("127.0.0.1:5443"), ("127.0.0.1".into(), 5443));
        assert_eq!(host_port("[::1]:8443"), ("::1".into(), 8443));
    }

    #[test]
    fn probe_pod_is_what_az_runs() {
        let p = probe_pod(
            "canipull-x",
            "default",
            "img",
            "r.azurecr.io",
            Some("node1"),
        );
        assert_eq!(p["spec"]["hostNetwork"], true);
        assert_eq!(p["spec"]["restartPolicy"], "Never");
        assert_eq!(
            p["spec"]["containers"][0]["args"],
            json!(["-v6", "r.azurecr.io"])
        );
        assert_eq!(
            p["spec"]["containers"][0]["securityContext"]["runAsUser"],
            0
        );
        assert_eq!(p["spec"]["nodeSelector"]["kubernetes.io/os"], "linux");
        assert_eq!(
            p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchExpressions"][0]["values"][0],
            "node1"
        );
        assert!(probe_pod("a", "default", "img", "r", None)["spec"]
            .get("affinity")
            .is_none());
    }

    #[test]
    fn canipull_lines_lose_their_time() {
        assert_eq!(
            strip_time("[2025-01-01T00:00:00Z] Your cluster can pull images from r!"),
            "Your cluster can pull images from r!"
        );
        assert_eq!(strip_time("plain"), "plain");
    }
}
