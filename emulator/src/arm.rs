//! Azure Resource Manager subset: cloud metadata, subscriptions, resource listing,
//! container registries, role definitions and role assignments, with RBAC on the caller.
//! Error shape `{"error":{"code","message"}}` (ARM common error response).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::state::{
    rfc3339_now, role_def, scope_covers, ClusterKind, PrincipalKind, RoleAssignment, Shared,
    CONTRIBUTOR, OWNER, RBAC_ADMIN, READER, ROLES, UAA,
};

pub(crate) fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `{arm}/metadata/endpoints`: the document `az cloud register --endpoint-resource-manager` reads.
pub async fn metadata(State(s): State<Arc<Shared>>) -> Response {
    let i = &s.info;
    Json(json!({
        "name": "AcrctlEmulator",
        "portal": format!("{}/portal", i.authority_url),
        "resourceManager": i.arm_url,
        "authentication": {
            "loginEndpoint": format!("{}/", i.authority_url),
            "audiences": [i.arm_audience],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "media": "https://media.invalid/",
        "graphAudience": "https://graph.invalid/",
        "graph": "https://graph.invalid/",
        "microsoftGraphResourceId": i.graph_url,
        "activeDirectoryDataLake": "",
        "batch": "https://batch.invalid/",
        "gallery": "https://gallery.invalid/",
        "sqlManagement": "https://sql.invalid:8443/",
        "vmImageAliasDoc": "",
        "appInsightsResourceId": "", "appInsightsTelemetryChannelResourceId": "",
        "attestationResourceId": "", "synapseAnalyticsResourceId": "", "logAnalyticsResourceId": "",
        "ossrDbmsResourceId": "",
        "suffixes": {
            "acrLoginServer": i.acr_suffix,
            "keyVaultDns": "vault.invalid",
            "storage": "core.invalid",
            "sqlServerHostname": "database.invalid",
            "azureDatalakeStoreFileSystem": "", "azureDatalakeAnalyticsCatalogAndJob": "",
            "mhsmDns": "", "attestationEndpoint": "", "synapseAnalytics": "",
            "storageSyncEndpointSuffix": "", "mysqlServerEndpoint": "", "postgresqlServerEndpoint": "",
            "mariadbServerEndpoint": "",
        },
    }))
    .into_response()
}

struct Caller {
    oid: String,
}

#[allow(clippy::result_large_err)]
fn authenticate(s: &Shared, req: &Request) -> Result<Caller, Response> {
    let invalid = |m: &str| {
        let mut r = arm_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", m);
        r.headers_mut().insert(
            "www-authenticate",
            format!(
                "Bearer authorization_uri=\"{}/{}\", error=\"invalid_token\", error_description=\"{m}\"",
                s.info.authority_url, s.info.tenant_id
            )
            .parse()
            .unwrap_or(axum::http::HeaderValue::from_static("Bearer")),
        );
        r
    };
    let Some(tok) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    else {
        return Err(arm_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let Some(c) = crate::entra::verify(s, tok.trim()) else {
        return Err(invalid("The access token is invalid or has expired."));
    };
    let aud = c["aud"].as_str().unwrap_or("");
    if aud.trim_end_matches('/') != s.info.arm_audience.trim_end_matches('/') {
        return Err(invalid(&format!(
            "The access token has been obtained for wrong audience or resource '{aud}'. It should exactly match with one of the allowed audiences '{}'.",
            s.info.arm_audience
        )));
    }
    Ok(Caller {
        oid: c["oid"].as_str().unwrap_or("").to_string(),
    })
}

fn can_read(s: &Shared, c: &Caller, scope: &str) -> bool {
    s.roles_at(&c.oid, scope)
        .iter()
        .any(|r| [OWNER, CONTRIBUTOR, READER, UAA].contains(&r.as_str()))
}

fn forbidden(c: &Caller, action: &str, scope: &str) -> Response {
    forbidden_oid(&c.oid, action, scope)
}

pub(crate) fn forbidden_oid(oid: &str, action: &str, scope: &str) -> Response {
    arm_error(
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
        &format!(
            "The client '{0}' with object id '{0}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            oid
        ),
    )
}

/// Everything on the main port that is not Entra or admin lands here.
pub async fn dispatch(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if !path.to_ascii_lowercase().starts_with("/subscriptions") {
        return arm_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("The requested path '{path}' is not served by this emulator."),
        );
    }
    if !query.contains_key("api-version") {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    let caller = match authenticate(&s, &req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let method = req.method().clone();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    route(&s, &caller, &method, &path, &query, &body)
}

fn route(
    s: &Shared,
    c: &Caller,
    method: &Method,
    path: &str,
    q: &HashMap<String, String>,
    body: &Bytes,
) -> Response {
    let lower = path.to_ascii_lowercase();
    let sub_id = &s.info.subscription_id;
    let sub_scope = format!("/subscriptions/{sub_id}");
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();

    if let Some(i) = lower.find("/providers/microsoft.authorization/") {
        let scope = &path[..i];
        let rest: Vec<&str> = path[i + 1..].split('/').collect(); // providers, M.A, kind, [id]
        return authorization(s, c, method, scope, &rest[2..], q, body);
    }
    if segs.len() == 1 && *method == Method::GET {
        let subs: Vec<Value> = if s.has_role_under(&c.oid, &sub_scope) {
            vec![subscription_json(s)]
        } else {
            vec![]
        };
        return Json(json!({"value": subs, "count": {"type": "Total", "value": subs.len()}}))
            .into_response();
    }
    if !segs[1].eq_ignore_ascii_case(sub_id) || !s.has_role_under(&c.oid, &sub_scope) {
        return arm_error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            &format!("The subscription '{}' could not be found.", segs[1]),
        );
    }
    if segs.len() == 2 && *method == Method::GET {
        return Json(subscription_json(s)).into_response();
    }
    if segs.len() == 3 && segs[2].eq_ignore_ascii_case("resources") && *method == Method::GET {
        return list_resources(s, c, q);
    }
    // /subscriptions/{sub}/providers/Microsoft.ContainerService/locations/{loc}/operations/{id}:
    // the status of a managedCluster PUT (the emulator finishes them at once).
    if segs.len() == 8
        && segs[2].eq_ignore_ascii_case("providers")
        && segs[3].eq_ignore_ascii_case("Microsoft.ContainerService")
        && segs[4].eq_ignore_ascii_case("locations")
        && segs[6].eq_ignore_ascii_case("operations")
        && *method == Method::GET
    {
        let now = crate::state::rfc3339_now();
        return Json(
            json!({"name": segs[7], "status": "Succeeded", "startTime": now, "endTime": now}),
        )
        .into_response();
    }
    // /subscriptions/{sub}/providers/Microsoft.ContainerRegistry/locations/{loc}/
    // operationStatuses/{id} (Azure-AsyncOperation) and operationResults/{id} (Location).
    if segs.len() == 8
        && segs[2].eq_ignore_ascii_case("providers")
        && segs[3].eq_ignore_ascii_case("Microsoft.ContainerRegistry")
        && segs[4].eq_ignore_ascii_case("locations")
        && *method == Method::GET
    {
        return crate::acr_tokens::operation(s, segs[6], segs[7]);
    }
    // PUT of a whole managedCluster, as `az aks update` sends after any change (here only
    // the async-operation protocol matters: Azure-AsyncOperation, then Succeeded).
    if segs.len() == 8
        && segs[2].eq_ignore_ascii_case("resourceGroups")
        && segs[4].eq_ignore_ascii_case("providers")
        && segs[5].eq_ignore_ascii_case("Microsoft.ContainerService")
        && segs[6].eq_ignore_ascii_case("managedClusters")
        && *method == Method::PUT
    {
        let scope = format!("/{}", segs.join("/"));
        let Some(cl) = s.cluster(segs[7]) else {
            return arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", &format!("The Resource 'Microsoft.ContainerService/managedClusters/{}' under resource group '{}' was not found.", segs[7], segs[3]));
        };
        let roles = s.roles_at(&c.oid, &scope);
        if !roles.iter().any(|r| r == OWNER || r == CONTRIBUTOR) {
            return forbidden(
                c,
                "Microsoft.ContainerService/managedClusters/write",
                &scope,
            );
        }
        let mut op = url::Url::parse(&s.info.arm_url).expect("arm url");
        op.set_path(&format!("/subscriptions/{}/providers/Microsoft.ContainerService/locations/westeurope/operations/{}", segs[1], uuid::Uuid::new_v4()));
        op.set_query(Some("api-version=2024-09-01"));
        let mut response = Json(cluster_json(s, cl)).into_response();
        response.headers_mut().insert(
            "azure-asyncoperation",
            op.as_str().parse().expect("a URL is a header value"),
        );
        return response;
    }
    // /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}
    if segs.len() == 8
        && segs[2].eq_ignore_ascii_case("resourceGroups")
        && segs[4].eq_ignore_ascii_case("providers")
        && segs[5].eq_ignore_ascii_case("Microsoft.ContainerService")
        && segs[6].eq_ignore_ascii_case("managedClusters")
        && *method == Method::GET
    {
        if !segs[3].eq_ignore_ascii_case(&s.info.resource_group) {
            return arm_error(
                StatusCode::NOT_FOUND,
                "ResourceGroupNotFound",
                &format!("Resource group '{}' could not be found.", segs[3]),
            );
        }
        let scope = format!("/{}", segs.join("/"));
        let Some(cl) = s.cluster(segs[7]) else {
            return arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", &format!("The Resource 'Microsoft.ContainerService/managedClusters/{}' under resource group '{}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", segs[7], segs[3]));
        };
        if !can_read(s, c, &scope) {
            return forbidden(c, "Microsoft.ContainerService/managedClusters/read", &scope);
        }
        return Json(cluster_json(s, cl)).into_response();
    }
    // /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}[/listCredentials]
    if segs.len() >= 8
        && segs[2].eq_ignore_ascii_case("resourceGroups")
        && segs[4].eq_ignore_ascii_case("providers")
        && segs[5].eq_ignore_ascii_case("Microsoft.ContainerRegistry")
        && segs[6].eq_ignore_ascii_case("registries")
    {
        if !segs[3].eq_ignore_ascii_case(&s.info.resource_group) {
            return arm_error(
                StatusCode::NOT_FOUND,
                "ResourceGroupNotFound",
                &format!("Resource group '{}' could not be found.", segs[3]),
            );
        }
        let scope = segs[..8].join("/");
        let scope = format!("/{scope}");
        let Some(reg) = s.registry(segs[7]) else {
            return arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", &format!("The Resource 'Microsoft.ContainerRegistry/registries/{}' under resource group '{}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", segs[7], segs[3]));
        };
        if segs.len() == 8 && *method == Method::GET {
            if !can_read(s, c, &scope) {
                return forbidden(c, "Microsoft.ContainerRegistry/registries/read", &scope);
            }
            return Json(registry_json(s, reg)).into_response();
        }
        if segs.len() == 10
            && (segs[8].eq_ignore_ascii_case("scopeMaps") || segs[8].eq_ignore_ascii_case("tokens"))
        {
            return crate::acr_tokens::child(
                s, &c.oid, method, &scope, reg, segs[8], segs[9], body,
            );
        }
        if segs.len() == 9
            && segs[8].eq_ignore_ascii_case("generateCredentials")
            && *method == Method::POST
        {
            return crate::acr_tokens::generate_credentials(s, &c.oid, &scope, reg, body);
        }
        if segs.len() == 9
            && segs[8].eq_ignore_ascii_case("listCredentials")
            && *method == Method::POST
        {
            let roles = s.roles_at(&c.oid, &scope);
            if !roles.iter().any(|r| r == OWNER || r == CONTRIBUTOR) {
                return forbidden(
                    c,
                    "Microsoft.ContainerRegistry/registries/listCredentials/action",
                    &scope,
                );
            }
            if s.flag(&reg.name, "adminUserEnabled") == Some(Value::Bool(false)) {
                return arm_error(StatusCode::BAD_REQUEST, "UnAuthorizedForCredentialOperations", &format!("Cannot perform credential operations for {} as admin user is disabled. Kindly enable admin user as per docs: https://docs.microsoft.com/en-us/azure/container-registry/container-registry-authentication#admin-account", reg.resource_id));
            }
            return Json(json!({
                "username": reg.admin_username,
                "passwords": [
                    {"name": "password", "value": reg.admin_passwords[0]},
                    {"name": "password2", "value": reg.admin_passwords[1]},
                ],
            }))
            .into_response();
        }
    }
    arm_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("No route for '{method} {path}' in this emulator."),
    )
}

/// The fields of a managedCluster that role assignments care about, shaped as ARM returns them.
fn cluster_json(s: &Shared, cl: &crate::state::Cluster) -> Value {
    let i = &cl.info;
    let mut props = json!({
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
        "kubernetesVersion": "1.31.2",
        "dnsPrefix": i.name,
        "fqdn": format!("{}-dns-00000000.hcp.westeurope.azmk8s.io", i.name),
        "nodeResourceGroup": format!("MC_{}_{}_westeurope", i.resource_group, i.name),
        "agentPoolProfiles": [{"name": "nodepool1", "count": 1, "vmSize": "Standard_D2s_v3", "mode": "System", "osType": "Linux"}],
        "networkProfile": {"networkPlugin": "azure", "loadBalancerSku": "standard", "outboundType": "loadBalancer", "serviceCidr": "10.0.0.0/16", "dnsServiceIP": "10.0.0.10"},
    });
    let identity = match cl.kind {
        ClusterKind::ManagedIdentity => {
            props["servicePrincipalProfile"] = json!({"clientId": "msi"});
            props["identityProfile"] = json!({"kubeletidentity": {
                "resourceId": i.kubelet_resource_id,
                "clientId": i.kubelet_client_id,
                "objectId": i.kubelet_object_id,
            }});
            json!({"type": "SystemAssigned", "principalId": uuid::Uuid::new_v4().to_string(), "tenantId": s.info.tenant_id})
        }
        ClusterKind::ManagedIdentityWithoutKubelet => {
            props["servicePrincipalProfile"] = json!({"clientId": "msi"});
            json!({"type": "SystemAssigned", "principalId": uuid::Uuid::new_v4().to_string(), "tenantId": s.info.tenant_id})
        }
        ClusterKind::ServicePrincipal => {
            props["servicePrincipalProfile"] = json!({"clientId": i.sp_client_id});
            Value::Null
        }
        ClusterKind::Neither => Value::Null,
    };
    let mut out = json!({
        "id": i.resource_id,
        "name": i.name,
        "type": "Microsoft.ContainerService/ManagedClusters",
        "location": "westeurope",
        "sku": {"name": "Base", "tier": "Free"},
        "properties": props,
    });
    if !identity.is_null() {
        out["identity"] = identity;
    }
    out
}

fn subscription_json(s: &Shared) -> Value {
    json!({
        "id": format!("/subscriptions/{}", s.info.subscription_id),
        "subscriptionId": s.info.subscription_id,
        "tenantId": s.info.tenant_id,
        "displayName": "Emulator Subscription",
        "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
        "authorizationSource": "RoleBased",
    })
}

pub fn registry_json(s: &Shared, reg: &crate::state::Registry) -> Value {
    let f = |k: &str, d: &str| {
        let v = s.flag_str(&reg.name, k);
        if v.is_empty() {
            d.to_string()
        } else {
            v
        }
    };
    let list = |k: &str| match s.flag(&reg.name, k) {
        Some(v @ Value::Array(_)) => v,
        _ => json!([]),
    };
    let sku = f("sku", "Premium");
    json!({
        "id": reg.resource_id,
        "name": reg.name,
        "type": "Microsoft.ContainerRegistry/registries",
        "location": f("location", "westeurope"),
        "tags": {},
        "sku": {"name": sku, "tier": sku},
        "properties": {
            "loginServer": f("loginServer", &reg.login_server),
            "creationDate": "2024-01-01T00:00:00Z",
            "provisioningState": "Succeeded",
            "adminUserEnabled": s.flag(&reg.name, "adminUserEnabled") != Some(Value::Bool(false)),
            "publicNetworkAccess": f("publicNetworkAccess", "Enabled"),
            "networkRuleSet": {"defaultAction": f("networkRuleSetDefaultAction", "Allow"), "ipRules": list("ipRules")},
            "networkRuleBypassOptions": "AzureServices",
            "dataEndpointEnabled": s.flag_bool(&reg.name, "dataEndpointEnabled"),
            "dataEndpointHostNames": list("dataEndpointHostNames"),
            "anonymousPullEnabled": s.flag_bool(&reg.name, "anonymousPullEnabled"),
            "roleAssignmentMode": f("roleAssignmentMode", "LegacyRegistryPermissions"),
            "privateEndpointConnections": list("privateEndpointConnections"),
            // Regional endpoints (`az acr update --regional-endpoints enabled`): one host per
            // replica region; they resolve nowhere here, which tests use to see the choice.
            "regionalEndpoints": if s.flag_bool(&reg.name, "regionalEndpoints") { "Enabled" } else { "Disabled" },
            "regionalEndpointHostNames": if s.flag_bool(&reg.name, "regionalEndpoints") {
                json!(["westeurope", "eastus"].iter().map(|r| format!("{}.{r}.geo.{}", reg.name, s.info.acr_suffix)).collect::<Vec<_>>())
            } else {
                json!([])
            },
            "zoneRedundancy": "Disabled",
        },
    })
}

const PAGE: usize = 2;

fn list_resources(s: &Shared, c: &Caller, q: &HashMap<String, String>) -> Response {
    let filter = q.get("$filter").map(String::as_str).unwrap_or("");
    let mut want_type: Option<String> = None;
    let mut want_name: Option<String> = None;
    for clause in filter.split(" and ") {
        let parts: Vec<&str> = clause.trim().splitn(3, ' ').collect();
        if parts.len() == 3 && parts[1].eq_ignore_ascii_case("eq") {
            let v = parts[2].trim_matches('\'').to_string();
            match parts[0].to_ascii_lowercase().as_str() {
                "resourcetype" => want_type = Some(v),
                "name" => want_name = Some(v),
                _ => {}
            }
        }
    }
    let all: Vec<Value> = s
        .registries
        .iter()
        .filter(|r| can_read(s, c, &r.resource_id))
        .filter(|_| {
            want_type
                .as_deref()
                .is_none_or(|t| t.eq_ignore_ascii_case("Microsoft.ContainerRegistry/registries"))
        })
        .filter(|r| want_name.as_deref().is_none_or(|n| n.eq_ignore_ascii_case(&r.name)))
        .map(|r| {
            json!({"id": r.resource_id, "name": r.name, "type": "Microsoft.ContainerRegistry/registries",
                   "location": "westeurope", "sku": {"name": "Premium", "tier": "Premium"}, "tags": {}})
        })
        .collect();
    let skip: usize = q
        .get("$skiptoken")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = all.iter().skip(skip).take(PAGE).cloned().collect();
    let mut out = json!({"value": page});
    if skip + PAGE < all.len() {
        let mut u = url::Url::parse(&s.info.arm_url).expect("arm url");
        u.set_path(&format!(
            "/subscriptions/{}/resources",
            s.info.subscription_id
        ));
        {
            let mut qp = u.query_pairs_mut();
            for (k, v) in q {
                if k != "$skiptoken" {
                    qp.append_pair(k, v);
                }
            }
            qp.append_pair("$skiptoken", &(skip + PAGE).to_string());
        }
        out["nextLink"] = json!(u.to_string());
    }
    Json(out).into_response()
}

fn role_def_json(s: &Shared, r: &crate::state::RoleDef) -> Value {
    json!({
        "id": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{}", s.info.subscription_id, r.id),
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": r.id,
        "properties": {
            "roleName": r.name, "type": "BuiltInRole", "description": r.description,
            "assignableScopes": ["/"],
            "permissions": [{"actions": r.actions, "notActions": [], "dataActions": [], "notDataActions": []}],
            "createdOn": "2018-01-01T00:00:00Z", "updatedOn": "2024-01-01T00:00:00Z",
        },
    })
}

fn assignment_json(s: &Shared, a: &RoleAssignment) -> Value {
    json!({
        "id": a.id,
        "type": "Microsoft.Authorization/roleAssignments",
        "name": a.name,
        "properties": {
            "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{}", s.info.subscription_id, a.role),
            "principalId": a.principal_id,
            "principalType": a.principal_type,
            "scope": a.scope,
            "condition": null, "conditionVersion": null,
            "createdOn": a.created_on, "updatedOn": a.created_on,
            "createdBy": null, "updatedBy": null, "delegatedManagedIdentityResourceId": null, "description": null,
        },
    })
}

fn guid_tail(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn authorization(
    s: &Shared,
    c: &Caller,
    method: &Method,
    scope: &str,
    rest: &[&str],
    q: &HashMap<String, String>,
    body: &Bytes,
) -> Response {
    let filter = q.get("$filter").map(String::as_str).unwrap_or("");
    let quoted = |f: &str| f.split('\'').nth(1).unwrap_or("").to_string();
    let kind = rest
        .first()
        .map(|k| k.to_ascii_lowercase())
        .unwrap_or_default();
    let id = rest.get(1).copied();
    match (kind.as_str(), method.clone(), id) {
        ("roledefinitions", Method::GET, None) => {
            let name = filter
                .to_ascii_lowercase()
                .starts_with("rolename eq")
                .then(|| quoted(filter));
            let v: Vec<Value> = ROLES
                .iter()
                .filter(|r| {
                    name.as_deref()
                        .is_none_or(|n| n.eq_ignore_ascii_case(r.name))
                })
                .map(|r| role_def_json(s, r))
                .collect();
            Json(json!({"value": v})).into_response()
        }
        ("roledefinitions", Method::GET, Some(g)) => match role_def(g) {
            Some(r) => Json(role_def_json(s, r)).into_response(),
            None => arm_error(
                StatusCode::NOT_FOUND,
                "RoleDefinitionDoesNotExist",
                "The specified role definition with ID '{g}' does not exist."
                    .replace("{g}", g)
                    .as_str(),
            ),
        },
        ("roleassignments", Method::GET, None) => {
            if !s.has_role_under(&c.oid, scope) {
                return forbidden(c, "Microsoft.Authorization/roleAssignments/read", scope);
            }
            let fl = filter.to_ascii_lowercase();
            let w = s.world();
            let v: Vec<Value> = w
                .assignments
                .iter()
                .filter(|a| {
                    if fl.starts_with("atscope()") {
                        scope_covers(&a.scope, scope)
                    } else if fl.starts_with("principalid eq") {
                        a.principal_id.eq_ignore_ascii_case(&quoted(filter))
                            && (scope_covers(&a.scope, scope) || scope_covers(scope, &a.scope))
                    } else {
                        scope_covers(&a.scope, scope) || scope_covers(scope, &a.scope)
                    }
                })
                .map(|a| assignment_json(s, a))
                .collect();
            Json(json!({"value": v})).into_response()
        }
        ("roleassignments", Method::GET, Some(name)) => {
            let w = s.world();
            match w
                .assignments
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name) && a.scope.eq_ignore_ascii_case(scope))
            {
                Some(a) => Json(assignment_json(s, a)).into_response(),
                None => arm_error(
                    StatusCode::NOT_FOUND,
                    "RoleAssignmentNotFound",
                    &format!("The role assignment '{name}' is not found."),
                ),
            }
        }
        ("roleassignments", Method::PUT, Some(name)) => {
            let can_write = s
                .roles_at(&c.oid, scope)
                .iter()
                .any(|r| r == OWNER || r == UAA || r == RBAC_ADMIN);
            if !can_write {
                return forbidden(c, "Microsoft.Authorization/roleAssignments/write", scope);
            }
            if uuid::Uuid::parse_str(name).is_err() {
                return arm_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRoleAssignmentId",
                    &format!("The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."),
                );
            }
            let Ok(b) = serde_json::from_slice::<Value>(body) else {
                return arm_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized.",
                );
            };
            let p = &b["properties"];
            let role = guid_tail(p["roleDefinitionId"].as_str().unwrap_or("")).to_string();
            let principal = p["principalId"].as_str().unwrap_or("").to_string();
            if role_def(&role).is_none() {
                return arm_error(
                    StatusCode::BAD_REQUEST,
                    "RoleDefinitionDoesNotExist",
                    &format!("The specified role definition with ID '{role}' does not exist."),
                );
            }
            let delayed = {
                let mut w = s.world();
                match w.replication_delay.get_mut(&principal.to_ascii_lowercase()) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        true
                    }
                    _ => false,
                }
            };
            let found = s.principal_by_object_id(&principal).filter(|_| !delayed);
            let Some(pr) = found else {
                return arm_error(StatusCode::BAD_REQUEST, "PrincipalNotFound", &format!("Principal {} does not exist in the directory {}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype", principal.replace('-', ""), s.info.tenant_id));
            };
            let actual_type = match pr.kind {
                PrincipalKind::ServicePrincipal | PrincipalKind::ManagedIdentity => {
                    "ServicePrincipal"
                }
            };
            let given_type = p["principalType"].as_str().unwrap_or(actual_type);
            if ![
                "User",
                "Group",
                "ServicePrincipal",
                "ForeignGroup",
                "Device",
            ]
            .contains(&given_type)
            {
                return arm_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidPrincipalType",
                    &format!("The principal type '{given_type}' is not valid."),
                );
            }
            if given_type != actual_type {
                return arm_error(
                    StatusCode::BAD_REQUEST,
                    "UnmatchedPrincipalType",
                    &format!("The PrincipalId '{}' has type '{actual_type}' , which is different from specified PrincipalType '{given_type}'.", principal.replace('-', "")),
                );
            }
            let mut w = s.world();
            if w.assignments.iter().any(|a| {
                a.principal_id.eq_ignore_ascii_case(&principal)
                    && a.role.eq_ignore_ascii_case(&role)
                    && a.scope
                        .trim_end_matches('/')
                        .eq_ignore_ascii_case(scope.trim_end_matches('/'))
            }) {
                return arm_error(
                    StatusCode::CONFLICT,
                    "RoleAssignmentExists",
                    "The role assignment already exists.",
                );
            }
            let a = RoleAssignment {
                id: format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
                name: name.to_string(),
                scope: scope.to_string(),
                role,
                principal_id: pr.object_id.clone(),
                principal_type: given_type.to_string(),
                created_on: rfc3339_now(),
            };
            let out = assignment_json(s, &a);
            w.assignments.push(a);
            (StatusCode::CREATED, Json(out)).into_response()
        }
        ("roleassignments", Method::DELETE, Some(name)) => {
            let can_write = s
                .roles_at(&c.oid, scope)
                .iter()
                .any(|r| r == OWNER || r == UAA || r == RBAC_ADMIN);
            if !can_write {
                return forbidden(c, "Microsoft.Authorization/roleAssignments/delete", scope);
            }
            let mut w = s.world();
            match w.assignments.iter().position(|a| {
                a.name.eq_ignore_ascii_case(name) && a.scope.eq_ignore_ascii_case(scope)
            }) {
                Some(i) => {
                    let a = w.assignments.remove(i);
                    Json(assignment_json(s, &a)).into_response()
                }
                None => StatusCode::NO_CONTENT.into_response(),
            }
        }
        _ => arm_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "No such authorization resource in this emulator.",
        ),
    }
}
