//! `acrctl attach` / `detach` (and `aks update --attach-acr/--detach-acr`) against the
//! emulator's ARM, Graph and ACR, driving the real binary.

mod support;

use acrctl_emulator::Fault;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::*;

const ACRPULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
const ACRPUSH: &str = "8311e382-0749-4cb8-b61a-304f252e45ec";
const READER: &str = "acdd72a7-3c48-4a49-a4f2-a1c48b7a2d2b";
const REPO_READER: &str = "b93aa761-3e63-49ed-ac28-beffa264f7ac";

fn registry_id(env: &TestEnv) -> String {
    env.info().registries[0].resource_id.clone()
}

/// This principal's assignments of `role` exactly at `scope`.
fn assignments(env: &TestEnv, scope: &str, principal: &str, role: &str) -> usize {
    env.emu
        .role_assignments()
        .iter()
        .filter(|a| {
            a.scope.eq_ignore_ascii_case(scope)
                && a.principal_id.eq_ignore_ascii_case(principal)
                && a.role.eq_ignore_ascii_case(role)
        })
        .count()
}

fn puts(env: &TestEnv) -> usize {
    env.emu
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .count()
}

#[test]
fn attach_assigns_acrpull_to_the_kubelet_identity_and_touches_nothing_else() {
    let env = TestEnv::start();
    let c = env.cluster("aks-mi");
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json_out(&out);
    let p = &v["properties"];
    assert_eq!(p["principalId"], c.kubelet_object_id.as_str());
    assert_eq!(p["principalType"], "ServicePrincipal");
    assert_eq!(
        p["roleDefinitionId"],
        format!(
            "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{ACRPULL}",
            env.info().subscription_id
        )
        .as_str()
    );
    assert_eq!(p["scope"], registry_id(&env).as_str());
    assert!(
        stderr(&out).contains("Attached cluster 'aks-mi'"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        assignments(&env, &registry_id(&env), &c.kubelet_object_id, ACRPULL),
        1
    );
    let reqs = env.emu.requests();
    for r in reqs
        .iter()
        .filter(|r| r.listener == "main" && r.path.starts_with("/subscriptions"))
    {
        assert!(r.query.contains("api-version="), "no api-version: {r:?}");
    }
    // Only the role assignment is written: no managedClusters PUT, unlike az.
    let writes: Vec<_> = reqs
        .iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/oauth2/v2.0/token"))
        .collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(writes[0]
        .path
        .contains("/providers/Microsoft.Authorization/roleAssignments/"));
    // The assignment name is a new GUID.
    let name = writes[0].path.rsplit('/').next().unwrap();
    assert_eq!(name.len(), 36);
    assert_eq!(v["name"], name);
}

#[test]
fn attach_is_idempotent_and_detach_removes_only_this_clusters_assignment() {
    let env = TestEnv::start();
    let c = env.cluster("aks-mi");
    let rid = registry_id(&env);
    let others_before = env.emu.role_assignments().len();
    let args = [
        "attach",
        "--cluster",
        "aks-mi",
        "-g",
        "rg1",
        "--acr",
        "registry1",
    ];
    assert!(run(&env, &args).status.success());

    env.emu.clear_requests();
    let out = run(&env, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already attached"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        json_out(&out)["properties"]["principalId"],
        c.kubelet_object_id.as_str()
    );
    assert_eq!(puts(&env), 0, "a second attach writes nothing");
    assert_eq!(assignments(&env, &rid, &c.kubelet_object_id, ACRPULL), 1);

    let detach = [
        "detach",
        "--cluster",
        "aks-mi",
        "-g",
        "rg1",
        "--acr",
        "registry1",
    ];
    let out = run(&env, &detach);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json_out(&out);
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(
        v[0]["properties"]["principalId"],
        c.kubelet_object_id.as_str()
    );
    assert_eq!(assignments(&env, &rid, &c.kubelet_object_id, ACRPULL), 0);
    // The seeded AcrPull assignments of other identities are still there.
    assert_eq!(env.emu.role_assignments().len(), others_before);
    assert!(env
        .emu
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.query.contains("atScope")));

    let out = run(&env, &detach);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing to detach"),
        "{}",
        stderr(&out)
    );
    assert_eq!(json_out(&out), serde_json::json!([]));
    assert_eq!(env.emu.role_assignments().len(), others_before);
}

#[test]
fn az_spelling_attaches_and_detaches() {
    let env = TestEnv::start();
    let c = env.cluster("aks-mi");
    let rid = registry_id(&env);
    let out = run(
        &env,
        &[
            "aks",
            "update",
            "-n",
            "aks-mi",
            "-g",
            "rg1",
            "--attach-acr",
            "registry1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(assignments(&env, &rid, &c.kubelet_object_id, ACRPULL), 1);
    let out = run(
        &env,
        &[
            "aks",
            "update",
            "-n",
            "aks-mi",
            "-g",
            "rg1",
            "--detach-acr",
            &rid,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(assignments(&env, &rid, &c.kubelet_object_id, ACRPULL), 0);

    env.emu.clear_requests();
    let out = run(
        &env,
        &[
            "aks",
            "update",
            "-n",
            "aks-mi",
            "-g",
            "rg1",
            "--attach-acr",
            "a",
            "--detach-acr",
            "b",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = run(&env, &["aks", "update", "-n", "aks-mi", "-g", "rg1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(env.emu.requests().is_empty());

    let help = run(&env, &["aks", "update", "--help"]);
    assert!(stdout(&help).contains("--attach-acr"));
    let help = run(&env, &["attach", "--help"]);
    assert!(
        stdout(&help).contains("acrctl attach --cluster myAKSCluster"),
        "{}",
        stdout(&help)
    );
}

#[test]
fn service_principal_cluster_is_resolved_through_graph() {
    let env = TestEnv::start();
    let c = env.cluster("aks-sp");
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-sp",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        json_out(&out)["properties"]["principalId"],
        c.sp_object_id.as_str()
    );
    // --debug shows every request, with no token or secret.
    let out = run(
        &env,
        &[
            "detach",
            "--cluster",
            "aks-sp",
            "-g",
            "rg1",
            "--acr",
            "registry1",
            "--debug",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("servicePrincipals"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-sp",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let graph: Vec<_> = env
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1.0/servicePrincipals")
        .collect();
    assert_eq!(graph.len(), 3);
    assert!(graph[0].query.contains(&c.sp_client_id), "{:?}", graph[0]);
    assert_eq!(graph[0].status, 200);
    let out = run(
        &env,
        &[
            "detach",
            "--cluster",
            "aks-sp",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        assignments(&env, &registry_id(&env), &c.sp_object_id, ACRPULL),
        0
    );
}

#[test]
fn clusters_without_a_usable_identity_get_azs_explanation() {
    let env = TestEnv::start();
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-nokubelet",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("kubelet") && e.contains("aks-nokubelet-agentpool"),
        "{e}"
    );
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-none",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Cannot get the AKS cluster's service principal"),
        "{}",
        stderr(&out)
    );
    assert_eq!(puts(&env), 0);
}

#[test]
fn not_found_cases_exit_3_and_name_what_exists() {
    let env = TestEnv::with_registries(&["registry1", "registry2"]);
    let sub = env.info().subscription_id.clone();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--cluster".into(), "nope".into(), "-g".into(), "rg1".into(), "--acr".into(), "registry1".into()],
            "Cluster 'nope' was not found",
        ),
        (
            vec!["--cluster".into(), "aks-mi".into(), "-g".into(), "rg9".into(), "--acr".into(), "registry1".into()],
            "Resource group 'rg9' was not found",
        ),
        (
            vec!["--cluster".into(), "aks-mi".into(), "-g".into(), "rg1".into(), "--acr".into(), "missing1".into()],
            "registries there: registry1, registry2",
        ),
        (
            vec![
                "--cluster".into(), "aks-mi".into(), "-g".into(), "rg1".into(), "--acr".into(),
                format!("/subscriptions/{sub}/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/missing1"),
            ],
            "Registry 'missing1' was not found",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["attach".to_string()];
        all.extend(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = run(&env, &refs);
        assert_eq!(out.status.code(), Some(3), "{refs:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{refs:?}: {}",
            stderr(&out)
        );
        assert_eq!(
            stderr(&out)
                .lines()
                .filter(|l| l.starts_with("ERROR:"))
                .count(),
            1
        );
    }
    assert_eq!(puts(&env), 0);
}

#[test]
fn usage_errors_exit_2_before_any_request() {
    let env = TestEnv::start();
    for (args, expected) in [
        (
            vec!["attach", "--cluster", "aks-mi", "-g", "rg1", "--acr", "/subscriptions/x/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/r"],
            "not a container registry resource ID",
        ),
        (
            vec!["attach", "--cluster", "aks-mi", "-g", "rg1", "--acr", "registry1.azurecr.io"],
            "without its domain",
        ),
        (
            vec!["attach", "--cluster", "aks-mi", "-g", "rg1", "--acr", "registry1", "--role", "owner"],
            "--role 'owner'",
        ),
        (
            vec!["attach", "--cluster", "bad/name", "-g", "rg1", "--acr", "registry1"],
            "not an AKS cluster name",
        ),
        (
            vec!["attach", "--cluster", "aks-mi", "-g", "rg1", "--acr", "registry1", "--assignee-principal-type", "Robot"],
            "Robot",
        ),
        (vec!["attach", "-g", "rg1", "--acr", "registry1"], "--cluster"),
    ] {
        let started = Instant::now();
        let out = run(&env, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{args:?}: {}", stderr(&out));
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    assert!(env.emu.requests().is_empty(), "{:?}", env.emu.requests());
}

#[test]
fn registry_by_id_and_by_name_case_insensitively_across_pages() {
    // Five registries and the emulator's two per page: the match is on the last page.
    let env = TestEnv::with_registries(&["alpha1", "bravo1", "charlie1", "delta1", "Echo1"]);
    let c = env.cluster("aks-mi");
    let echo = env.info().registries[4].resource_id.clone();
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "ECHO1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json_out(&out)["properties"]["scope"], echo.as_str());
    let listed: Vec<_> = env
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/resources"))
        .collect();
    // One request: ARM filters by type and name.
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(
        listed[0].query.contains("resourceType") && listed[0].query.contains("name+eq"),
        "{:?}",
        listed[0]
    );

    // A name ARM's filter does not return (ARM's name comparison is not documented as
    // case-insensitive; here a fault makes the filtered list empty): every registry is
    // listed, page by page, and matched case-insensitively.
    env.emu.clear_requests();
    env.emu.add_fault(
        acrctl_emulator::Fault::new(format!(
            "/subscriptions/{}/resources",
            env.info().subscription_id
        ))
        .listener("main")
        .method("GET")
        .status(200)
        .content_type("application/json")
        .body(r#"{"value":[]}"#)
        .times(1),
    );
    let out = run(
        &env,
        &[
            "detach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "ECHO1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: Vec<_> = env
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/resources"))
        .collect();
    assert!(listed.len() >= 3, "{listed:?}");
    assert!(
        listed.iter().any(|r| r.query.contains("skiptoken")),
        "{listed:?}"
    );

    // By resource ID (any casing of the fixed segments): no listing at all.
    env.emu.clear_requests();
    let id = env.info().registries[1]
        .resource_id
        .replace("resourceGroups", "resourcegroups");
    let out = run(
        &env,
        &["attach", "--cluster", "aks-mi", "-g", "rg1", "--acr", &id],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        assignments(
            &env,
            &env.info().registries[1].resource_id,
            &c.kubelet_object_id,
            ACRPULL
        ),
        1
    );
    assert!(!env
        .emu
        .requests()
        .iter()
        .any(|r| r.path.ends_with("/resources")));
}

#[test]
fn principal_not_found_is_retried_with_progress_then_gives_up() {
    let env = TestEnv::start();
    let c = env.cluster("aks-mi");
    env.emu.delay_principal_replication(&c.kubelet_object_id, 3);
    let args = [
        "attach",
        "--cluster",
        "aks-mi",
        "-g",
        "rg1",
        "--acr",
        "registry1",
    ];
    let out = run(&env, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let progress = stderr(&out)
        .lines()
        .filter(|l| l.contains("PrincipalNotFound"))
        .count();
    assert_eq!(progress, 3, "{}", stderr(&out));
    assert_eq!(puts(&env), 4);
    assert_eq!(
        assignments(&env, &registry_id(&env), &c.kubelet_object_id, ACRPULL),
        1
    );

    // Never replicated: ten retries on a 2..20 s schedule (x0.01 here), then a clear error.
    let c2 = env.cluster("aks-mi2");
    env.emu
        .delay_principal_replication(&c2.kubelet_object_id, 100);
    let started = Instant::now();
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi2",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(
        stderr(&out).contains("after 11 attempts"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_write_permission_fails_at_once_with_exit_4() {
    let env = TestEnv::start();
    let info = env.info().clone();
    // Reader on the subscription: can read the cluster and the registry, not assign roles.
    env.emu.assign_role(
        &format!("/subscriptions/{}", info.subscription_id),
        READER,
        &info.sp_noaccess.object_id,
    );
    let started = Instant::now();
    let out = env
        .acrctl()
        .env("AZURE_CLIENT_ID", &info.sp_noaccess.client_id)
        .env(
            "AZURE_CLIENT_SECRET",
            info.sp_noaccess.secret.as_deref().unwrap(),
        )
        .args([
            "attach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let e = stderr(&out);
    for needle in [
        "Microsoft.Authorization/roleAssignments/write",
        "Owner",
        "User Access Administrator",
        "Role Based Access Control Administrator",
    ] {
        assert!(e.contains(needle), "{needle}: {e}");
    }
    assert_eq!(e.lines().count(), 1, "{e}");
    assert_eq!(puts(&env), 1, "no retry on 403");
    assert_no_secrets(&out, &env.secrets());

    // Detaching needs the delete permission: attach as Owner, detach as the reader.
    assert!(run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1"
        ]
    )
    .status
    .success());
    let out = env
        .acrctl()
        .env("AZURE_CLIENT_ID", &info.sp_noaccess.client_id)
        .env(
            "AZURE_CLIENT_SECRET",
            info.sp_noaccess.secret.as_deref().unwrap(),
        )
        .args([
            "detach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("roleAssignments/delete"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn abac_registry_is_refused_unless_the_repository_role_is_chosen() {
    let env = TestEnv::start();
    env.emu.set_registry_flag(
        "registry1",
        "roleAssignmentMode",
        Value::String("AbacRepositoryPermissions".into()),
    );
    let c = env.cluster("aks-mi");
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("ABAC") && e.contains("--role repository-reader"),
        "{e}"
    );
    assert_eq!(puts(&env), 0);

    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
            "--role",
            "repository-reader",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(json_out(&out)["properties"]["roleDefinitionId"]
        .as_str()
        .unwrap()
        .ends_with(REPO_READER));
    assert_eq!(
        assignments(&env, &registry_id(&env), &c.kubelet_object_id, REPO_READER),
        1
    );
    // The kubelet identity can now pull from the ABAC registry.
    let out = kubelet_login(&env, &c.kubelet_client_id);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn role_and_principal_type_options() {
    let env = TestEnv::start();
    let c = env.cluster("aks-mi");
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
            "--role",
            "acrpush",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(json_out(&out)["properties"]["roleDefinitionId"]
        .as_str()
        .unwrap()
        .ends_with(ACRPUSH));
    // Detach with the default role leaves the AcrPush assignment alone.
    let out = run(
        &env,
        &[
            "detach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert!(out.status.success());
    assert_eq!(
        assignments(&env, &registry_id(&env), &c.kubelet_object_id, ACRPUSH),
        1
    );
    // A GUID in upper case finds it.
    let out = run(
        &env,
        &[
            "detach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
            "--role",
            &ACRPUSH.to_uppercase(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json_out(&out).as_array().unwrap().len(), 1);
    assert_eq!(
        assignments(&env, &registry_id(&env), &c.kubelet_object_id, ACRPUSH),
        0
    );

    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
            "--assignee-principal-type",
            "ServicePrincipal",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi2",
            "-g",
            "rg1",
            "--acr",
            "registry1",
            "--assignee-principal-type",
            "User",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("UnmatchedPrincipalType"),
        "{}",
        stderr(&out)
    );

    // Table output works for the assignment.
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
            "-o",
            "tsv",
            "--query",
            "properties.principalId",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), c.kubelet_object_id);
}

#[test]
fn several_clusters_run_concurrently_and_one_failure_does_not_stop_the_others() {
    let env = TestEnv::start();
    let sub = env.info().subscription_id.clone();
    // Each cluster read takes a second: in sequence three would take three.
    env.emu.add_fault(
        Fault::new(format!(
            "/subscriptions/{sub}/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/"
        ))
        .listener("main")
        .method("GET")
        .delay_ms(1000)
        .times(3),
    );
    let started = Instant::now();
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi",
            "--cluster",
            "aks-mi2",
            "--cluster",
            "aks-mi3",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    let elapsed = started.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(elapsed < Duration::from_millis(2600), "{elapsed:?}");
    let v = json_out(&out);
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["properties"]["principalId"].as_str().unwrap())
        .collect();
    let want: Vec<String> = ["aks-mi", "aks-mi2", "aks-mi3"]
        .iter()
        .map(|n| env.cluster(n).kubelet_object_id)
        .collect();
    assert_eq!(ids, want, "in the order given");

    let out = run(
        &env,
        &[
            "detach",
            "--cluster",
            "aks-mi",
            "--cluster",
            "nope",
            "--cluster",
            "aks-mi3",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("'nope'"), "{}", stderr(&out));
    assert_eq!(json_out(&out).as_array().unwrap().len(), 2);
    let rid = registry_id(&env);
    assert_eq!(assignments(&env, &rid, &want[0], ACRPULL), 0);
    assert_eq!(assignments(&env, &rid, &want[1], ACRPULL), 1);
    assert_eq!(assignments(&env, &rid, &want[2], ACRPULL), 0);
}

#[test]
fn throttling_and_server_errors_are_retried_within_bounds() {
    let env = TestEnv::start();
    let sub = env.info().subscription_id.clone();
    let cluster_path = format!(
        "/subscriptions/{sub}/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/"
    );
    env.emu.add_fault(
        Fault::new(&cluster_path)
            .listener("main")
            .status(429)
            .retry_after(1)
            .body(r#"{"error":{"code":"TooManyRequests","message":"slow down"}}"#)
            .content_type("application/json")
            .times(1),
    );
    env.emu.add_fault(
        Fault::new(format!(
            "/subscriptions/{sub}/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/"
        ))
        .listener("main")
        .status(503)
        .times(2),
    );
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // A server that keeps failing: a bounded number of tries, then the ARM error in one line.
    env.emu.add_fault(
        Fault::new(&cluster_path)
            .listener("main")
            .status(500)
            .body(r#"{"error":{"code":"InternalServerError","message":"boom"}}"#)
            .content_type("application/json"),
    );
    let started = Instant::now();
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        stderr(&out).contains("InternalServerError: boom"),
        "{}",
        stderr(&out)
    );
    let tries = env
        .emu
        .requests()
        .iter()
        .filter(|r| r.path.starts_with(&cluster_path) && r.status == 500)
        .count();
    assert_eq!(tries, 5, "one try and four retries");

    // 409 RoleAssignmentExists on the PUT is success.
    env.emu.clear_faults();
    let out = run(
        &env,
        &[
            "detach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert!(out.status.success());
    env.emu.add_fault(
        Fault::new(format!("{}/providers/Microsoft.Authorization/roleAssignments/", registry_id(&env)))
            .listener("main")
            .method("PUT")
            .status(409)
            .body(r#"{"error":{"code":"RoleAssignmentExists","message":"The role assignment already exists."}}"#)
            .content_type("application/json")
            .times(1),
    );
    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already attached"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn subscription_comes_from_the_flag_the_env_the_azure_cli_or_the_only_one() {
    let env = TestEnv::start();
    let sub = env.info().subscription_id.clone();
    let args = [
        "attach",
        "--cluster",
        "aks-mi",
        "-g",
        "rg1",
        "--acr",
        "registry1",
    ];
    // Only subscription visible.
    let out = cmd(&env)
        .env_remove("AZURE_SUBSCRIPTION_ID")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env
        .emu
        .requests()
        .iter()
        .any(|r| r.path == "/subscriptions"));

    // The Azure CLI's default, in a file with a byte-order mark, wins over the listing.
    let azure = env.home.path().join(".azure");
    std::fs::create_dir_all(&azure).unwrap();
    let other = "0b1f6471-1bf0-4dda-aec3-111122223333";
    std::fs::write(
        azure.join("azureProfile.json"),
        format!("\u{feff}{{\"subscriptions\":[{{\"id\":\"{sub}\",\"isDefault\":false}},{{\"id\":\"{other}\",\"isDefault\":true}}]}}"),
    )
    .unwrap();
    let out = cmd(&env)
        .env_remove("AZURE_SUBSCRIPTION_ID")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains(other), "{}", stderr(&out));
    // AZURE_SUBSCRIPTION_ID beats the file, and --subscription beats both.
    let out = cmd(&env).args(args).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cmd(&env)
        .args(args)
        .args(["--subscription", other])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = cmd(&env)
        .env_remove("AZURE_SUBSCRIPTION_ID")
        .args(args)
        .args(["--subscription", "Emulator Subscription"])
        .output()
        .unwrap();
    assert!(out.status.success(), "by name: {}", stderr(&out));
}

/// `acrctl login --expose-token` as the cluster's kubelet identity, through the VM
/// metadata endpoint, as a node would; without the token cache, so every call asks the
/// registry afresh.
fn kubelet_login(env: &TestEnv, kubelet_client_id: &str) -> std::process::Output {
    env.acrctl()
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &env.info().mi_url)
        .args([
            "login",
            "-n",
            &env.registry(0),
            "--expose-token",
            "--auth",
            "managed-identity",
            "--identity-id",
            kubelet_client_id,
            "--no-cache",
        ])
        .output()
        .unwrap()
}

#[test]
fn end_to_end_the_kubelet_identity_can_pull_only_while_attached() {
    let env = TestEnv::start();
    let c = env.cluster("aks-mi");
    let before = kubelet_login(&env, &c.kubelet_client_id);
    assert_eq!(before.status.code(), Some(4), "{}", stderr(&before));

    let out = run(
        &env,
        &[
            "attach",
            "--cluster",
            "aks-mi",
            "-g",
            "rg1",
            "--acr",
            "registry1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let during = kubelet_login(&env, &c.kubelet_client_id);
    assert!(during.status.success(), "{}", stderr(&during));
    let v: Value = serde_json::from_slice(&during.stdout).unwrap();
    assert_eq!(
        claims(v["refreshToken"].as_str().unwrap())["sub"],
        c.kubelet_object_id.as_str()
    );

    let out = run(
        &env,
        &[
            "aks",
            "update",
            "-n",
            "aks-mi",
            "-g",
            "rg1",
            "--detach-acr",
            "registry1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let after = kubelet_login(&env, &c.kubelet_client_id);
    assert_eq!(after.status.code(), Some(4), "{}", stderr(&after));
}
