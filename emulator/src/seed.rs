//! The seeded world: one tenant, one subscription, resource group `rg1`, the registries and
//! the test identities with their role assignments.

use std::path::Path;

use anyhow::Result;

use crate::state::*;
use crate::tls::RsaKey;

pub const WI_SUBJECT: &str = "system:serviceaccount:default:acrctl";
pub const WI_AUDIENCE: &str = "api://AzureADTokenExchange";
pub const ARM_AUDIENCE: &str = "https://management.acrctl-emulator.test/";
pub const ACR_SUFFIX: &str = "azurecr.acrctl-emulator.test";
/// The Azure CLI's well-known public client id, the one public client the user flows accept.
pub const PUBLIC_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

pub struct Ports {
    pub main: u16,
    pub mi: u16,
    pub registries: Vec<u16>,
}

fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn secret() -> String {
    format!("emu~{}", uuid::Uuid::new_v4().simple())
}

#[allow(clippy::too_many_arguments)]
pub fn build(
    state_dir: &Path,
    names: &[String],
    ports: &Ports,
    backends: &[Option<String>],
    entra_key: RsaKey,
    oidc_key: RsaKey,
    acr_key: RsaKey,
    entra_lifetime: u64,
    fleet_clusters: usize,
) -> Result<Shared> {
    let origin = format!("https://127.0.0.1:{}", ports.main);
    let tenant_id = id();
    let subscription_id = id();
    let rg = "rg1".to_string();
    let rg_scope = format!("/subscriptions/{subscription_id}/resourceGroups/{rg}");
    let oidc_issuer = format!("{origin}/oidc/");

    let registries: Vec<Registry> = names
        .iter()
        .zip(&ports.registries)
        .zip(backends)
        .map(|((name, port), backend)| Registry {
            name: name.clone(),
            login_server: format!("127.0.0.1:{port}"),
            resource_id: format!(
                "{rg_scope}/providers/Microsoft.ContainerRegistry/registries/{name}"
            ),
            admin_username: name.clone(),
            admin_passwords: [secret(), secret()],
            backend: backend.clone(),
        })
        .collect();

    let sp = |name: &str, secret: Option<String>| Principal {
        kind: PrincipalKind::ServicePrincipal,
        name: name.into(),
        client_id: id(),
        object_id: id(),
        secret,
        cert: None,
        federated: vec![],
        mi_resource_id: None,
    };
    let sp_secret = sp("sp-secret", Some(secret()));
    let mut sp_cert = sp("sp-cert", None);
    sp_cert.cert = Some(RsaKey::generate("acrctl-emulator sp-cert")?);
    let sp_noaccess = sp("sp-noaccess", Some(secret()));
    let mut wi = sp("workload-identity", None);
    wi.federated.push(FederatedCredential {
        issuer: oidc_issuer.clone(),
        subject: WI_SUBJECT.into(),
        audience: WI_AUDIENCE.into(),
    });
    let mi = |name: &str, rid: String| Principal {
        kind: PrincipalKind::ManagedIdentity,
        name: name.into(),
        client_id: id(),
        object_id: id(),
        secret: None,
        cert: None,
        federated: vec![],
        mi_resource_id: Some(rid),
    };
    let system_mi = mi(
        "system-mi",
        format!("{rg_scope}/providers/Microsoft.Web/sites/app1"),
    );
    let user_mi = mi(
        "user-mi",
        format!("{rg_scope}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"),
    );

    // AKS clusters: three with a kubelet identity (a user-assigned identity in the node
    // resource group, as AKS creates it), one with a service principal, and two broken ones.
    let mut cluster_principals: Vec<Principal> = vec![];
    let mut clusters: Vec<Cluster> = vec![];
    // A fleet of further managed-identity clusters for scale benchmarks (`fleet-1`…).
    let fleet: Vec<(String, ClusterKind)> = (1..=fleet_clusters)
        .map(|i| (format!("fleet-{i}"), ClusterKind::ManagedIdentity))
        .collect();
    let seeded = [
        ("aks-mi", ClusterKind::ManagedIdentity),
        ("aks-mi2", ClusterKind::ManagedIdentity),
        ("aks-mi3", ClusterKind::ManagedIdentity),
        ("aks-sp", ClusterKind::ServicePrincipal),
        ("aks-nokubelet", ClusterKind::ManagedIdentityWithoutKubelet),
        ("aks-none", ClusterKind::Neither),
    ];
    for (name, kind) in seeded
        .iter()
        .map(|(n, k)| (n.to_string(), k.clone()))
        .chain(fleet)
    {
        let name = name.as_str();
        let mut ci = ClusterInfo {
            name: name.into(),
            resource_group: rg.clone(),
            resource_id: format!(
                "{rg_scope}/providers/Microsoft.ContainerService/managedClusters/{name}"
            ),
            ..ClusterInfo::default()
        };
        match kind {
            ClusterKind::ManagedIdentity => {
                let p = mi(
                    &format!("{name}-agentpool"),
                    format!("/subscriptions/{subscription_id}/resourceGroups/MC_{rg}_{name}_westeurope/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}-agentpool"),
                );
                ci.kubelet_client_id = p.client_id.clone();
                ci.kubelet_object_id = p.object_id.clone();
                ci.kubelet_resource_id = p.mi_resource_id.clone().unwrap_or_default();
                cluster_principals.push(p);
            }
            ClusterKind::ServicePrincipal => {
                let p = sp(&format!("{name}-sp"), Some(secret()));
                ci.sp_client_id = p.client_id.clone();
                ci.sp_object_id = p.object_id.clone();
                ci.sp_secret = p.secret.clone();
                cluster_principals.push(p);
            }
            _ => {}
        }
        clusters.push(Cluster { info: ci, kind });
    }

    let user_oid = id();
    let cert_path = state_dir.join("sp-cert.pem");
    if let Some(c) = &sp_cert.cert {
        std::fs::write(&cert_path, format!("{}{}", c.cert_pem, c.key_pem))?;
    }
    let to_sp = |p: &Principal| ServicePrincipal {
        client_id: p.client_id.clone(),
        object_id: p.object_id.clone(),
        secret: p.secret.clone(),
        cert_pem_path: None,
        federated_token_path: None,
    };
    let to_mi = |p: &Principal| ManagedIdentity {
        client_id: p.client_id.clone(),
        object_id: p.object_id.clone(),
        resource_id: p.mi_resource_id.clone().unwrap_or_default(),
    };
    let info = Info {
        arm_url: format!("{origin}/"),
        authority_url: origin.clone(),
        mi_url: format!("http://127.0.0.1:{}", ports.mi),
        ca_pem: state_dir.join("ca.pem"),
        tenant_id: tenant_id.clone(),
        subscription_id: subscription_id.clone(),
        resource_group: rg,
        arm_audience: ARM_AUDIENCE.into(),
        acr_suffix: ACR_SUFFIX.into(),
        registries: registries
            .iter()
            .map(|r| RegistryInfo {
                name: r.name.clone(),
                login_server: r.login_server.clone(),
                resource_id: r.resource_id.clone(),
                admin_username: r.admin_username.clone(),
                admin_password: r.admin_passwords[0].clone(),
            })
            .collect(),
        sp_secret: to_sp(&sp_secret),
        sp_cert: ServicePrincipal {
            cert_pem_path: Some(cert_path),
            ..to_sp(&sp_cert)
        },
        sp_noaccess: to_sp(&sp_noaccess),
        workload_identity: ServicePrincipal {
            federated_token_path: Some(state_dir.join("federated-token")),
            ..to_sp(&wi)
        },
        system_mi: to_mi(&system_mi),
        user_mi: to_mi(&user_mi),
        identity_header: uuid::Uuid::new_v4().simple().to_string(),
        oidc_issuer,
        clusters: clusters.iter().map(|c| c.info.clone()).collect(),
        graph_url: format!("{origin}/"),
        kube: None,
        user: UserInfo {
            upn: "dev@acrctl-emulator.test".into(),
            object_id: user_oid.clone(),
            display_name: "Emulated Developer".into(),
        },
        public_client_id: PUBLIC_CLIENT_ID.into(),
    };

    let mut world = World::default();
    let assign = |w: &mut World, scope: &str, role: &str, p: &Principal| {
        let name = id();
        w.assignments.push(RoleAssignment {
            id: format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
            name,
            scope: scope.into(),
            role: role.into(),
            principal_id: p.object_id.clone(),
            principal_type: "ServicePrincipal".into(),
            created_on: rfc3339_now(),
        });
    };
    assign(
        &mut world,
        &format!("/subscriptions/{subscription_id}"),
        OWNER,
        &sp_secret,
    );
    for r in &registries {
        for p in [&sp_cert, &wi, &system_mi, &user_mi] {
            assign(&mut world, &r.resource_id, ACRPULL, p);
        }
        world.flags.insert(r.name.clone(), Default::default());
    }
    // The seeded user: AcrPull on every registry, Reader on the subscription.
    let mut user_assign = |scope: &str, role: &str| {
        let name = id();
        world.assignments.push(RoleAssignment {
            id: format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"),
            name,
            scope: scope.into(),
            role: role.into(),
            principal_id: user_oid.clone(),
            principal_type: "User".into(),
            created_on: rfc3339_now(),
        });
    };
    for r in &registries {
        user_assign(&r.resource_id, ACRPULL);
    }
    user_assign(&format!("/subscriptions/{subscription_id}"), READER);

    Ok(Shared {
        info,
        entra_key,
        oidc_key,
        acr_key,
        principals: vec![sp_secret, sp_cert, sp_noaccess, wi, system_mi, user_mi]
            .into_iter()
            .chain(cluster_principals)
            .collect(),
        registries,
        clusters,
        entra_lifetime,
        device_interval: 5,
        device_lifetime: 900,
        world: std::sync::Mutex::new(world),
        http: reqwest::Client::builder().no_proxy().build()?,
    })
}
