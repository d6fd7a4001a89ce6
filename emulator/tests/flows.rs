//! End-to-end flows against a running emulator.

use acrctl_emulator::{Emulator, Fault, Options};
use serde_json::Value;

fn client(emu: &Emulator) -> reqwest::Client {
    let pem = std::fs::read(&emu.info().ca_pem).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .no_proxy()
        .build()
        .unwrap()
}

async fn entra_token(
    emu: &Emulator,
    c: &reqwest::Client,
    client_id: &str,
    secret: &str,
    resource: &str,
) -> (u16, Value) {
    let i = emu.info();
    let r = c
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            i.authority_url, i.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", &format!("{resource}/.default")),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn exchange(emu: &Emulator, c: &reqwest::Client, aad: &str) -> (u16, Value) {
    let ls = &emu.info().registries[0].login_server;
    let r = c
        .post(format!("https://{ls}/oauth2/exchange"))
        .form(&[
            ("grant_type", "access_token"),
            ("service", ls.as_str()),
            ("tenant", emu.info().tenant_id.as_str()),
            ("access_token", aad),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn access_token(emu: &Emulator, c: &reqwest::Client, refresh: &str, scope: &str) -> String {
    let ls = &emu.info().registries[0].login_server;
    let r: Value = c
        .post(format!("https://{ls}/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("service", ls.as_str()),
            ("scope", scope),
            ("refresh_token", refresh),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn secret_exchange_token_v2() {
    let emu = Emulator::start(Options::default()).unwrap();
    let c = client(&emu);
    let sp = emu.info().sp_secret.clone();
    let (st, t) = entra_token(
        &emu,
        &c,
        &sp.client_id,
        sp.secret.as_deref().unwrap(),
        "https://containerregistry.azure.net",
    )
    .await;
    assert_eq!(st, 200, "{t}");
    let (st, rt) = exchange(&emu, &c, t["access_token"].as_str().unwrap()).await;
    assert_eq!(st, 200, "{rt}");
    let at = access_token(
        &emu,
        &c,
        rt["refresh_token"].as_str().unwrap(),
        "repository:samples/hello:pull",
    )
    .await;
    let ls = &emu.info().registries[0].login_server;
    let r = c.get(format!("https://{ls}/v2/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let wa = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        wa,
        format!("Bearer realm=\"https://{ls}/oauth2/token\",service=\"{ls}\"")
    );
    let r = c
        .get(format!("https://{ls}/v2/"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    emu.set_registry_flag("registry1", "publicNetworkAccess", "Disabled".into());
    let r = c.get(format!("https://{ls}/v2/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(
        emu.requests()
            .iter()
            .any(|r| r.path == "/oauth2/exchange"
                && r.form_keys.contains(&"access_token".to_string()))
    );
}

#[tokio::test]
async fn noaccess_refused_and_wrong_secret_shape() {
    let emu = Emulator::start(Options::default()).unwrap();
    let c = client(&emu);
    let sp = emu.info().sp_noaccess.clone();
    let (st, t) = entra_token(
        &emu,
        &c,
        &sp.client_id,
        sp.secret.as_deref().unwrap(),
        "https://containerregistry.azure.net",
    )
    .await;
    assert_eq!(st, 200);
    let (st, body) = exchange(&emu, &c, t["access_token"].as_str().unwrap()).await;
    assert_eq!(st, 401);
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");

    let (st, e) = entra_token(
        &emu,
        &c,
        &sp.client_id,
        "wrong",
        "https://containerregistry.azure.net",
    )
    .await;
    assert_eq!(st, 401);
    assert_eq!(e["error"], "invalid_client");
    assert_eq!(e["error_codes"][0], 7000215);
    let d = e["error_description"].as_str().unwrap();
    assert!(
        d.starts_with("AADSTS7000215: ")
            && d.contains("\r\nTrace ID: ")
            && d.contains("\r\nCorrelation ID: ")
    );

    emu.set_registry_flag("registry1", "refuseAcrAudience", true.into());
    let s = emu.info().sp_secret.clone();
    let (st, e) = entra_token(
        &emu,
        &c,
        &s.client_id,
        s.secret.as_deref().unwrap(),
        "https://containerregistry.azure.net",
    )
    .await;
    assert_eq!((st, e["error_codes"][0].as_u64()), (400, Some(500011)));
}

#[tokio::test]
async fn fault_fires_once() {
    let emu = Emulator::start(Options::default()).unwrap();
    let c = client(&emu);
    let i = emu.info().clone();
    emu.add_fault(
        Fault::new(format!("/{}/oauth2", i.tenant_id))
            .status(503)
            .retry_after(1)
            .times(1),
    );
    let s = i.sp_secret.clone();
    let r = c
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            i.authority_url, i.tenant_id
        ))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let (st, _) = entra_token(
        &emu,
        &c,
        &s.client_id,
        s.secret.as_deref().unwrap(),
        &i.arm_audience,
    )
    .await;
    assert_eq!(st, 200);
    let log = emu.requests();
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![503, 200]
    );
}

#[tokio::test]
async fn managed_identity_and_arm() {
    let emu = Emulator::start(Options {
        registries: vec!["a".into(), "b".into(), "c".into()],
        ..Options::default()
    })
    .unwrap();
    let c = client(&emu);
    let i = emu.info().clone();
    let r = c
        .get(format!(
            "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}",
            i.mi_url, i.arm_audience
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r: Value = c.get(format!("{}/msi/token?api-version=2019-08-01&resource=https://containerregistry.azure.net&client_id={}", i.mi_url, i.user_mi.client_id))
        .header("X-IDENTITY-HEADER", &i.identity_header).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["client_id"], i.user_mi.client_id.as_str());
    let s = i.sp_secret.clone();
    let (_, t) = entra_token(
        &emu,
        &c,
        &s.client_id,
        s.secret.as_deref().unwrap(),
        &i.arm_audience,
    )
    .await;
    let arm = t["access_token"].as_str().unwrap();
    let mut url = format!("{}subscriptions/{}/resources?api-version=2021-04-01&$filter=resourceType eq 'Microsoft.ContainerRegistry/registries'", i.arm_url, i.subscription_id);
    let mut names = vec![];
    loop {
        let page: Value = c
            .get(&url)
            .bearer_auth(arm)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        names.extend(
            page["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["name"].as_str().unwrap().to_string()),
        );
        match page["nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    assert_eq!(names, ["a", "b", "c"]);
    let reg = &i.registries[0].resource_id;
    let put = |id: &str| {
        c.put(format!("{}{reg}/providers/Microsoft.Authorization/roleAssignments/{id}?api-version=2022-04-01", i.arm_url.trim_end_matches('/')))
        .bearer_auth(arm)
        .json(&serde_json::json!({"properties": {"roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d", i.subscription_id), "principalId": i.sp_noaccess.object_id, "principalType": "ServicePrincipal"}}))
    };
    assert_eq!(
        put("11111111-1111-1111-1111-111111111111")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        201
    );
    assert_eq!(
        put("22222222-2222-2222-2222-222222222222")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        409
    );
    let r = c
        .get(format!("{}subscriptions?foo=1", i.arm_url))
        .bearer_auth(arm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn backend_manifest_through_front() {
    let bin = std::path::Path::new("/usr/bin/docker-registry");
    if !bin.exists() {
        eprintln!("docker-registry not installed; skipping");
        return;
    }
    let emu = Emulator::start(Options {
        docker_registry: Some(bin.into()),
        ..Options::default()
    })
    .unwrap();
    let c = client(&emu);
    let wi = emu.info().sp_cert.clone();
    let _ = wi;
    let s = emu.info().sp_secret.clone();
    let (_, t) = entra_token(
        &emu,
        &c,
        &s.client_id,
        s.secret.as_deref().unwrap(),
        "https://containerregistry.azure.net",
    )
    .await;
    let (_, rt) = exchange(&emu, &c, t["access_token"].as_str().unwrap()).await;
    let at = access_token(
        &emu,
        &c,
        rt["refresh_token"].as_str().unwrap(),
        "repository:samples/hello:pull",
    )
    .await;
    let ls = &emu.info().registries[0].login_server;
    let url = format!("https://{ls}/v2/samples/hello/manifests/v1");
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains(&format!("realm=\"https://{ls}/oauth2/token\"")));
    let r = c
        .get(&url)
        .bearer_auth(&at)
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["schemaVersion"], 2);
}

#[tokio::test]
async fn clusters_graph_and_role_assignment_strictness() {
    let emu = Emulator::start(Options::default()).unwrap();
    let c = client(&emu);
    let i = emu.info().clone();
    let s = i.sp_secret.clone();
    let (_, t) = entra_token(
        &emu,
        &c,
        &s.client_id,
        s.secret.as_deref().unwrap(),
        &i.arm_audience,
    )
    .await;
    let arm = t["access_token"].as_str().unwrap().to_string();
    let base = i.arm_url.trim_end_matches('/').to_string();
    let cluster = |name: &str| {
        format!("{base}/subscriptions/{}/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/{name}?api-version=2024-09-01", i.subscription_id)
    };

    // A managed-identity cluster carries its kubelet identity; an SP cluster its appId.
    let mi = i.clusters.iter().find(|c| c.name == "aks-mi").unwrap();
    let v: Value = c
        .get(cluster("aks-mi"))
        .bearer_auth(&arm)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["identity"]["type"], "SystemAssigned");
    assert_eq!(
        v["properties"]["identityProfile"]["kubeletidentity"]["objectId"],
        mi.kubelet_object_id.as_str()
    );
    let sp = i.clusters.iter().find(|c| c.name == "aks-sp").unwrap();
    let v: Value = c
        .get(cluster("aks-sp"))
        .bearer_auth(&arm)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["properties"]["servicePrincipalProfile"]["clientId"],
        sp.sp_client_id.as_str()
    );
    assert!(v.get("identity").is_none());
    let r = c
        .get(cluster("nope"))
        .bearer_auth(&arm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // The kubelet identity gets tokens from the VM endpoint.
    let r = c
        .get(format!(
            "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}&client_id={}",
            i.mi_url, i.arm_audience, mi.kubelet_client_id
        ))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // Graph resolves the appId with a token for the Graph resource named in the metadata.
    let meta: Value = c
        .get(format!("{base}/metadata/endpoints?api-version=2022-09-01"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let graph = meta["microsoftGraphResourceId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(graph, i.graph_url);
    let (_, gt) = entra_token(
        &emu,
        &c,
        &s.client_id,
        s.secret.as_deref().unwrap(),
        graph.trim_end_matches('/'),
    )
    .await;
    let gt = gt["access_token"].as_str().unwrap().to_string();
    let url = format!(
        "{graph}v1.0/servicePrincipals?$filter=appId eq '{}'",
        sp.sp_client_id
    );
    let v: Value = c
        .get(&url)
        .bearer_auth(&gt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["value"][0]["id"], sp.sp_object_id.as_str());
    let r = c.get(&url).bearer_auth(&arm).send().await.unwrap();
    assert_eq!(
        r.status().as_u16(),
        401,
        "an ARM token is not a Graph token"
    );

    // Role assignment PUT: GUID names, replication delay, principal type must match.
    let reg = &i.registries[0].resource_id;
    let put = |name: &str, ptype: &str| {
        c.put(format!("{base}{reg}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"))
            .bearer_auth(&arm)
            .json(&serde_json::json!({"properties": {"roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d", i.subscription_id), "principalId": mi.kubelet_object_id, "principalType": ptype}}))
            .send()
    };
    let r = put("not-a-guid", "ServicePrincipal").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    emu.delay_principal_replication(&mi.kubelet_object_id, 1);
    let r: Value = put("33333333-3333-3333-3333-333333333333", "ServicePrincipal")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["error"]["code"], "PrincipalNotFound");
    let r: Value = put("33333333-3333-3333-3333-333333333333", "User")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["error"]["code"], "UnmatchedPrincipalType");
    let r = put("33333333-3333-3333-3333-333333333333", "ServicePrincipal")
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
}
