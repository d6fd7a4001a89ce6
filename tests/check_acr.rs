//! `acrctl check-acr` (and `aks check-acr`) against the emulator's ARM, Graph, ACR front
//! and Kubernetes API, driving the real binary.

mod support;

use serde_json::{json, Value};
use support::*;

const ACRPULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
const REPO_READER: &str = "b93aa761-3e63-49ed-ac28-beffa264f7ac";

fn check(env: &TestEnv, cluster: &str, acr: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "check-acr",
        "--cluster",
        cluster,
        "-g",
        "rg1",
        "--acr",
        acr,
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = run(env, &args);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            stdout(&out),
            stderr(&out)
        )
    });
    (out.status.code().unwrap(), v)
}

fn row<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == name)
        .unwrap_or_else(|| panic!("no check '{name}' in {v:#}"))
}

fn attach(env: &TestEnv, cluster: &str) {
    let out = run(
        env,
        &[
            "attach",
            "--cluster",
            cluster,
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

fn rg_scope(env: &TestEnv) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/rg1",
        env.info().subscription_id
    )
}

#[test]
fn attached_cluster_can_pull_and_the_table_says_so() {
    let env = TestEnv::start();
    attach(&env, "aks-mi");
    let (code, v) = check(&env, "aks-mi", "registry1", &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["canPull"], true);
    let pull = row(&v, "Pull permission");
    assert_eq!(pull["status"], "PASS");
    let detail = pull["detail"].as_str().unwrap();
    assert!(
        detail.contains("AcrPull at registry 'registry1'"),
        "{detail}"
    );
    assert!(
        detail.contains(&env.cluster("aks-mi").kubelet_object_id),
        "{detail}"
    );
    assert_eq!(row(&v, "Registry challenge")["status"], "PASS");
    assert_eq!(row(&v, "TLS")["status"], "PASS");
    assert!(row(&v, "Network reachability")["detail"]
        .as_str()
        .unwrap()
        .contains("hint only"));
    assert_eq!(row(&v, "Region")["status"], "PASS");

    // Default output: a human table, status first, and a verdict.
    let out = run(
        &env,
        &[
            "check-acr",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("Status"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("PASS ") && l.contains("Pull permission")),
        "{text}"
    );
    assert!(
        text.contains("Cluster 'aks-mi' can pull from registry 'registry1'."),
        "{text}"
    );
    // No cluster object is created without --in-cluster.
    assert!(env.emu.requests().iter().all(|r| r.listener != "kube"));
    // Only reads.
    let writes: Vec<_> = env
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.listener == "main" && r.method != "GET" && !r.path.contains("/oauth2/"))
        .collect();
    assert_eq!(writes.len(), 1, "only attach writes: {writes:?}");
}

#[test]
fn cluster_without_a_role_cannot_pull_and_gets_the_attach_command() {
    let env = TestEnv::start();
    let (code, v) = check(&env, "aks-mi2", "registry1", &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["canPull"], false);
    let pull = row(&v, "Pull permission");
    assert_eq!(pull["status"], "FAIL");
    assert_eq!(
        pull["fix"],
        "acrctl attach --cluster aks-mi2 -g rg1 --acr registry1"
    );

    let out = run(
        &env,
        &[
            "check-acr",
            "--cluster",
            "aks-mi2",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL ") && l.contains("Pull permission")),
        "{text}"
    );
    assert!(text.contains("To fix:"), "{text}");
    assert!(
        text.contains("acrctl attach --cluster aks-mi2 -g rg1 --acr registry1"),
        "{text}"
    );
    assert!(text.contains("cannot pull"), "{text}");

    // The fix works.
    attach(&env, "aks-mi2");
    assert_eq!(check(&env, "aks-mi2", "registry1", &[]).0, 0);
}

#[test]
fn role_at_resource_group_scope_passes_and_is_named() {
    let env = TestEnv::start();
    let c = env.cluster("aks-mi3");
    env.emu
        .assign_role(&rg_scope(&env), ACRPULL, &c.kubelet_object_id);
    let assignment = env
        .emu
        .role_assignments()
        .into_iter()
        .find(|a| a.principal_id == c.kubelet_object_id)
        .unwrap();
    let (code, v) = check(&env, "aks-mi3", "registry1", &[]);
    assert_eq!(code, 0, "{v:#}");
    let pull = row(&v, "Pull permission");
    assert_eq!(pull["status"], "PASS");
    let d = pull["detail"].as_str().unwrap();
    assert!(d.contains("AcrPull at resource group 'rg1'"), "{d}");
    assert!(d.contains(&assignment.name), "{d}");
}

#[test]
fn abac_registry_needs_a_repository_role() {
    let env = TestEnv::start();
    env.emu.set_registry_flag(
        "registry1",
        "roleAssignmentMode",
        json!("AbacRepositoryPermissions"),
    );
    let c = env.cluster("aks-mi");
    let rid = env.info().registries[0].resource_id.clone();
    env.emu.assign_role(&rid, ACRPULL, &c.kubelet_object_id);
    let (code, v) = check(&env, "aks-mi", "registry1", &[]);
    assert_eq!(code, 1, "{v:#}");
    let pull = row(&v, "Pull permission");
    assert_eq!(pull["status"], "FAIL");
    assert!(pull["detail"]
        .as_str()
        .unwrap()
        .contains("AcrPull at registry 'registry1'"));
    assert!(pull["detail"].as_str().unwrap().contains("ABAC"));
    assert_eq!(
        pull["fix"],
        "acrctl attach --cluster aks-mi -g rg1 --acr registry1 --role repository-reader"
    );
    assert!(row(&v, "Role assignment mode")["detail"]
        .as_str()
        .unwrap()
        .starts_with("AbacRepositoryPermissions"));

    env.emu.assign_role(&rid, REPO_READER, &c.kubelet_object_id);
    let (code, v) = check(&env, "aks-mi", "registry1", &[]);
    assert_eq!(code, 0, "{v:#}");
    assert!(row(&v, "Pull permission")["detail"]
        .as_str()
        .unwrap()
        .contains("Container Registry Repository Reader at registry 'registry1'"));
}

#[test]
fn public_network_access_disabled() {
    let env = TestEnv::start();
    attach(&env, "aks-mi");
    env.emu
        .set_registry_flag("registry1", "publicNetworkAccess", json!("Disabled"));
    let (code, v) = check(&env, "aks-mi", "registry1", &[]);
    assert_eq!(code, 1, "{v:#}");
    let r = row(&v, "Public network access");
    assert_eq!(r["status"], "FAIL");
    assert!(r["fix"]
        .as_str()
        .unwrap()
        .contains("--public-network-enabled true"));
    assert_eq!(row(&v, "Network rules")["status"], "SKIP");

    // With an approved private endpoint it is reachable from the cluster's network.
    env.emu.set_registry_flag(
        "registry1",
        "privateEndpointConnections",
        json!([{"name": "pe1", "properties": {"privateLinkServiceConnectionState": {"status": "Approved"}}},
               {"name": "pe2", "properties": {"privateLinkServiceConnectionState": {"status": "Pending"}}}]),
    );
    let (code, v) = check(&env, "aks-mi", "registry1", &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(row(&v, "Public network access")["status"], "WARN");
    let pe = row(&v, "Private endpoints");
    assert_eq!(pe["status"], "WARN");
    assert!(pe["detail"].as_str().unwrap().contains("pe1 (Approved)"));
    assert!(pe["fix"].as_str().unwrap().contains("approve"));
}

#[test]
fn firewall_region_and_admin_user_are_warnings() {
    let env = TestEnv::start();
    attach(&env, "aks-mi");
    env.emu
        .set_registry_flag("registry1", "networkRuleSetDefaultAction", json!("Deny"));
    env.emu
        .set_registry_flag("registry1", "location", json!("eastus"));
    let (code, v) = check(&env, "aks-mi", "registry1", &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(row(&v, "Network rules")["status"], "WARN");
    let region = row(&v, "Region");
    assert_eq!(region["status"], "WARN");
    assert!(region["detail"].as_str().unwrap().contains("eastus"));
    assert!(region["fix"]
        .as_str()
        .unwrap()
        .contains("az acr replication create"));
    // The emulator's registries have the admin user enabled unless told otherwise.
    assert_eq!(row(&v, "Admin user")["status"], "WARN");
}

#[test]
fn dns_failure_is_a_fail() {
    let env = TestEnv::start();
    attach(&env, "aks-mi");
    env.emu.set_registry_flag(
        "registry1",
        "loginServer",
        json!("registry1.azurecr.invalid"),
    );
    let (code, v) = check(&env, "aks-mi", "registry1", &[]);
    assert_eq!(code, 1, "{v:#}");
    let dns = row(&v, "DNS");
    assert_eq!(dns["status"], "FAIL");
    assert!(dns["detail"]
        .as_str()
        .unwrap()
        .contains("registry1.azurecr.invalid"));
    assert_eq!(row(&v, "TLS")["status"], "SKIP");
    assert_eq!(row(&v, "Registry challenge")["status"], "SKIP");
}

#[test]
fn json_shape() {
    let env = TestEnv::start();
    let (code, v) = check(&env, "aks-mi2", "registry1", &[]);
    assert_eq!(code, 1);
    for key in [
        "canPull",
        "cluster",
        "resourceGroup",
        "registry",
        "registryId",
        "loginServer",
        "principal",
        "checks",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {v:#}");
    }
    assert_eq!(v["cluster"], "aks-mi2");
    assert_eq!(v["registry"], "registry1");
    assert_eq!(v["loginServer"], env.registry(0).as_str());
    assert_eq!(
        v["principal"],
        env.cluster("aks-mi2").kubelet_object_id.as_str()
    );
    assert!(v.get("inCluster").is_none());
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.len() >= 12, "{checks:#?}");
    for c in checks {
        let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["check", "status", "detail", "fix"]);
        let status = c["status"].as_str().unwrap();
        assert!(["PASS", "WARN", "FAIL", "SKIP"].contains(&status), "{c}");
        assert!(!c["detail"].as_str().unwrap().is_empty());
        if status == "PASS" {
            assert!(c["fix"].is_null(), "{c}");
        }
        if status == "FAIL" {
            assert!(!c["fix"].as_str().unwrap().is_empty(), "{c}");
        }
    }
    // --query and the other formats see the same data.
    let out = run(
        &env,
        &[
            "check-acr",
            "--cluster",
            "aks-mi2",
            "-g",
            "rg1",
            "--acr",
            "registry1",
            "-o",
            "tsv",
            "--query",
            "canPull",
        ],
    );
    assert_eq!(stdout(&out), "False\n");
    assert_eq!(out.status.code(), Some(1));
    let out = run(
        &env,
        &[
            "check-acr",
            "--cluster",
            "aks-mi2",
            "-g",
            "rg1",
            "--acr",
            "registry1",
            "-o",
            "yaml",
        ],
    );
    assert!(stdout(&out).contains("canPull: false"), "{}", stdout(&out));
}

#[test]
fn az_spelling_with_a_login_server_and_a_resource_id() {
    let env = TestEnv::start();
    attach(&env, "aks-mi");
    let ls = env.registry(0);
    let out = run(
        &env,
        &[
            "aks",
            "check-acr",
            "-n",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            &ls,
            "-o",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["registry"], "registry1");
    let rid = env.info().registries[0].resource_id.clone();
    let (code, v) = check(&env, "aks-mi", &rid, &[]);
    assert_eq!(code, 0);
    assert_eq!(v["registryId"], rid.as_str());
    let help = cmd(&env)
        .args(["aks", "check-acr", "--help"])
        .output()
        .unwrap();
    assert!(stdout(&help).contains("acrctl aks check-acr -n myAKSCluster"));
}

#[test]
fn what_cannot_be_checked_has_its_own_exit_code() {
    let env = TestEnv::start();
    let out = run(
        &env,
        &[
            "check-acr",
            "--cluster",
            "nosuch",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = run(
        &env,
        &[
            "check-acr",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "nosuchregistry",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = run(
        &env,
        &[
            "check-acr",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "https://x.azurecr.io",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = run(
        &env,
        &[
            "check-acr",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
            "--node-name",
            "n1",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "--node-name needs --in-cluster");
}

#[test]
fn clusters_without_a_known_identity_and_service_principal_clusters() {
    let env = TestEnv::start();
    let (code, v) = check(&env, "aks-nokubelet", "registry1", &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(row(&v, "Pulling identity")["status"], "FAIL");
    assert_eq!(row(&v, "Pull permission")["status"], "SKIP");

    let (code, v) = check(&env, "aks-sp", "registry1", &[]);
    assert_eq!(code, 1, "{v:#}");
    assert!(row(&v, "Pulling identity")["detail"]
        .as_str()
        .unwrap()
        .contains("service principal"));
    attach(&env, "aks-sp");
    let (code, v) = check(&env, "aks-sp", "registry1", &[]);
    assert_eq!(code, 0, "{v:#}");
}

fn kube_requests(env: &TestEnv) -> Vec<acrctl_emulator::LoggedRequest> {
    env.emu
        .requests()
        .into_iter()
        .filter(|r| r.listener == "kube")
        .collect()
}

#[test]
fn in_cluster_probe_runs_as_a_pod_streams_its_log_and_is_deleted() {
    let env = TestEnv::start();
    attach(&env, "aks-mi");
    let kubeconfig = env.kube().kubeconfig_path.display().to_string();
    let out = run(
        &env,
        &[
            "check-acr",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
            "-o",
            "json",
            "--in-cluster",
            "--kubeconfig",
            &kubeconfig,
            "--node-name",
            "aks-nodepool1-0",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let probe = row(&v, "In-cluster probe");
    assert_eq!(probe["status"], "PASS", "{v:#}");
    assert!(probe["detail"]
        .as_str()
        .unwrap()
        .contains("Your cluster can pull images from"));
    let ic = &v["inCluster"];
    assert_eq!(ic["image"], "mcr.microsoft.com/aks/canipull:v0.1.0");
    assert_eq!(ic["exitCode"], 0);
    assert_eq!(ic["deleted"], true);
    let pod = ic["pod"].as_str().unwrap();
    assert!(pod.starts_with("canipull-"));
    // Streamed to stderr as it came.
    assert!(
        stderr(&out).contains("Validating image pull permission: SUCCEEDED"),
        "{}",
        stderr(&out)
    );

    let reqs = kube_requests(&env);
    let path = format!("/api/v1/namespaces/default/pods/{pod}");
    assert!(
        reqs.iter()
            .any(|r| r.method == "POST" && r.path == "/api/v1/namespaces/default/pods"),
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.method == "GET" && r.path == format!("{path}/log")),
        "{reqs:?}"
    );
    assert!(
        reqs.iter().any(|r| r.method == "DELETE" && r.path == path),
        "{reqs:?}"
    );
    assert!(
        env.emu.kube_object("pods", "default", pod).is_none(),
        "the pod is gone"
    );
}

#[test]
fn in_cluster_probe_failure_is_a_fail_and_the_pod_is_still_deleted() {
    let env = TestEnv::start();
    let kubeconfig = env.kube().kubeconfig_path.display().to_string();
    let out = run(
        &env,
        &[
            "check-acr",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
            "-o",
            "json",
            "--in-cluster",
            "--kubeconfig",
            &kubeconfig,
            "--image",
            "example.invalid/canipull:test",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let probe = row(&v, "In-cluster probe");
    assert_eq!(probe["status"], "FAIL");
    assert!(
        probe["detail"].as_str().unwrap().contains("exited 60"),
        "{probe}"
    );
    assert_eq!(v["inCluster"]["image"], "example.invalid/canipull:test");
    let pod = v["inCluster"]["pod"].as_str().unwrap();
    assert!(env.emu.kube_object("pods", "default", pod).is_none());

    // A user who may not create pods: the checklist still prints, the exit code says why.
    attach(&env, "aks-mi");
    let out = run(
        &env,
        &[
            "check-acr",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
            "-o",
            "json",
            "--in-cluster",
            "--kubeconfig",
            &kubeconfig,
            "--context",
            "emulator-readonly",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(row(&v, "In-cluster probe")["status"], "SKIP");
    assert!(stderr(&out).contains("pods"), "{}", stderr(&out));
}

#[test]
fn data_endpoints_are_resolved_and_anonymous_pull_softens_a_missing_role() {
    let env = TestEnv::start();
    env.emu
        .set_registry_flag("registry1", "dataEndpointEnabled", json!(true));
    env.emu.set_registry_flag(
        "registry1",
        "dataEndpointHostNames",
        json!(["registry1.westeurope.data.azurecr.invalid"]),
    );
    env.emu
        .set_registry_flag("registry1", "anonymousPullEnabled", json!(true));
    let (code, v) = check(&env, "aks-mi2", "registry1", &[]);
    assert_eq!(code, 1, "{v:#}");
    let dns = row(&v, "DNS (data endpoint)");
    assert_eq!(dns["status"], "FAIL");
    assert!(dns["detail"]
        .as_str()
        .unwrap()
        .contains("registry1.westeurope.data.azurecr.invalid"));
    assert!(row(&v, "Data endpoints")["detail"]
        .as_str()
        .unwrap()
        .contains("enabled"));
    let pull = row(&v, "Pull permission");
    assert_eq!(pull["status"], "WARN", "{pull}");
    assert!(pull["detail"].as_str().unwrap().contains("anonymous pull"));
}
