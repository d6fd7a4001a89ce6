//! `acrctl create-pull-secret` against the emulator's Kubernetes API subset, with the
//! real kubectl as the oracle for the Secret's bytes and as a reader of what acrctl wrote.

mod support;

use acrctl_emulator::Fault;
use base64::Engine;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::*;

const SERVER: &str = "myregistry.azurecr.io";
const USERNAME: &str = "6f1c2d3e-app-id";
/// Characters Go's encoding/json escapes (<, >, &) and JSON must escape (", \).
const NASTY_PASSWORD: &str = "p<a>s&s\"w\\o'rd~1";

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

/// Runs a command with `stdin` piped in.
fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `acrctl create-pull-secret --username U --password-stdin` plus `extra`.
fn create(env: &TestEnv, password: &str, extra: &[&str]) -> Output {
    let mut cmd = env.acrctl_std();
    cmd.args([
        "create-pull-secret",
        "--acr",
        SERVER,
        "--name",
        "acr-secret",
        "--username",
        USERNAME,
        "--password-stdin",
    ]);
    cmd.args(extra);
    run_with_stdin(cmd, password)
}

fn kubeconfig_arg(env: &TestEnv) -> String {
    env.kube().kubeconfig_path.display().to_string()
}

/// The decoded `.dockerconfigjson` kubectl makes for the same inputs (no server needed).
fn kubectl_oracle(env: &TestEnv, server: &str, user: &str, password: &str) -> Vec<u8> {
    let out = env
        .kubectl()
        .env("KUBECONFIG", "/nonexistent")
        .args([
            "create",
            "secret",
            "docker-registry",
            "acr-secret",
            &format!("--docker-server={server}"),
            &format!("--docker-username={user}"),
            &format!("--docker-password={password}"),
            "--dry-run=client",
            "-o",
            "json",
        ])
        .output()
        .expect("kubectl runs");
    assert!(out.status.success(), "kubectl: {}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["type"], "kubernetes.io/dockerconfigjson");
    b64(v["data"][".dockerconfigjson"].as_str().unwrap())
}

fn stored_secret(env: &TestEnv, ns: &str) -> Value {
    env.emu
        .kube_object("secrets", ns, "acr-secret")
        .unwrap_or_else(|| panic!("no secret acr-secret in {ns}"))
}

fn stored_config(env: &TestEnv, ns: &str) -> Vec<u8> {
    b64(stored_secret(env, ns)["data"][".dockerconfigjson"]
        .as_str()
        .unwrap())
}

/// A copy of the emulator's kubeconfig with `from` replaced by `to`.
fn kubeconfig_variant(env: &TestEnv, name: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(&env.kube().kubeconfig_path).unwrap();
    assert!(text.contains(from));
    let path = env.home.path().join(name);
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}

#[test]
fn secret_is_byte_for_byte_what_kubectl_makes_and_applied_server_side() {
    let env = TestEnv::start();
    let kc = kubeconfig_arg(&env);
    let out = create(
        &env,
        NASTY_PASSWORD,
        &["--namespace", "awesomeapps", "--kubeconfig", &kc],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let secret = stored_secret(&env, "awesomeapps");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, [".dockerconfigjson"]);
    let ours = stored_config(&env, "awesomeapps");
    let theirs = kubectl_oracle(&env, SERVER, USERNAME, NASTY_PASSWORD);
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
    assert_eq!(ours, theirs);
    // Go's escaping really is in there.
    assert!(String::from_utf8_lossy(&ours).contains("\\u003c"));

    // Server-side apply, field manager acrctl, forced; JSON, never protobuf.
    let writes: Vec<_> = env
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.listener == "kube" && r.method != "GET")
        .collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    let w = &writes[0];
    assert_eq!(w.method, "PATCH");
    assert_eq!(w.path, "/api/v1/namespaces/awesomeapps/secrets/acr-secret");
    assert_eq!(
        w.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert!(w.query.contains("fieldManager=acrctl"), "{}", w.query);
    assert!(w.query.contains("force=true"), "{}", w.query);
    let managers: Vec<&str> = secret["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["acrctl"]);

    // The summary on stdout names what was done and holds no secret.
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(v["name"], "acr-secret");
    assert_eq!(v["server"], SERVER);
    assert_eq!(v["namespaces"][0]["namespace"], "awesomeapps");
    assert_no_secrets(&out, &[NASTY_PASSWORD.to_string()]);
    assert_no_secrets(&out, &env.secrets());
}

#[test]
fn kubectl_docker_flags_and_control_characters_match_too() {
    let env = TestEnv::start();
    let kc = kubeconfig_arg(&env);
    let password = "tab\there\u{1}bell\u{2028}é";
    let mut cmd = env.acrctl_std();
    cmd.args([
        "create-pull-secret",
        "--name",
        "acr-secret",
        "--docker-server",
        SERVER,
        "--docker-username",
        "tok&en",
        "--password-stdin",
        "--kubeconfig",
        &kc,
    ]);
    let out = run_with_stdin(cmd, password);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stored_config(&env, "default"),
        kubectl_oracle(&env, SERVER, "tok&en", password)
    );
}

#[test]
fn kubectl_reads_what_acrctl_wrote() {
    let env = TestEnv::start();
    let out = create(
        &env,
        NASTY_PASSWORD,
        &[
            "--namespace",
            "awesomeapps",
            "--kubeconfig",
            &kubeconfig_arg(&env),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let got = env
        .kubectl()
        .args([
            "get",
            "secret",
            "acr-secret",
            "-n",
            "awesomeapps",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(got.status.success(), "kubectl: {}", stderr(&got));
    let v: Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(v["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(
        b64(v["data"][".dockerconfigjson"].as_str().unwrap()),
        kubectl_oracle(&env, SERVER, USERNAME, NASTY_PASSWORD)
    );
    let list = env
        .kubectl()
        .args(["get", "secrets", "-n", "awesomeapps", "-o", "json"])
        .output()
        .unwrap();
    assert!(list.status.success(), "kubectl: {}", stderr(&list));
    let v: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let sa = env
        .kubectl()
        .args(["get", "serviceaccount", "default", "-o", "json"])
        .output()
        .unwrap();
    assert!(sa.status.success(), "kubectl: {}", stderr(&sa));
}

#[test]
fn exec_credential_plugin_supplies_the_token() {
    let env = TestEnv::start();
    let token = env.kube().admin_token.clone();
    env.script(
        "fake-kubelogin",
        &format!(
            "#!/bin/sh\necho \"$@\" > \"$HOME/exec-args\"\ncat <<'EOF'\n{{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{token}\"}}}}\nEOF\n"
        ),
    );
    let text = std::fs::read_to_string(&env.kube().kubeconfig_path).unwrap();
    let exec_user = "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: fake-kubelogin\n      args: [get-token, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]\n      interactiveMode: Never\n";
    let kc = text.replace(&format!("    token: {token}\n"), exec_user);
    assert!(!kc.contains(&token));
    let path = env.home.path().join("exec-kubeconfig");
    std::fs::write(&path, kc).unwrap();

    let mut cmd = env.acrctl_std();
    cmd.env("KUBECONFIG", &path); // found through $KUBECONFIG this time
    cmd.args([
        "create-pull-secret",
        "--acr",
        SERVER,
        "--name",
        "acr-secret",
        "--username",
        USERNAME,
        "--password-stdin",
        "--debug",
    ]);
    let out = run_with_stdin(cmd, "pw-exec-1");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.home.path().join("exec-args").exists());
    assert!(std::fs::read_to_string(env.home.path().join("exec-args"))
        .unwrap()
        .contains("get-token"));
    assert!(env
        .emu
        .kube_object("secrets", "default", "acr-secret")
        .is_some());
    assert_no_secrets(&out, &env.secrets());
}

#[test]
fn reruns_are_idempotent_and_a_new_password_rotates() {
    let env = TestEnv::start();
    let kc = kubeconfig_arg(&env);
    let args = ["--namespace", "awesomeapps", "--kubeconfig", kc.as_str()];
    let first = create(&env, "first-password", &args);
    assert!(first.status.success(), "{}", stderr(&first));
    let rv1 = stored_secret(&env, "awesomeapps")["metadata"]["resourceVersion"].clone();

    let again = create(&env, "first-password", &args);
    assert!(again.status.success(), "{}", stderr(&again));
    let s = stored_secret(&env, "awesomeapps");
    assert_eq!(
        s["metadata"]["resourceVersion"], rv1,
        "a no-op apply changes nothing"
    );

    let rotated = create(&env, "second-password", &args);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let s = stored_secret(&env, "awesomeapps");
    assert_ne!(s["metadata"]["resourceVersion"], rv1);
    assert_eq!(
        stored_config(&env, "awesomeapps"),
        kubectl_oracle(&env, SERVER, USERNAME, "second-password")
    );
}

#[test]
fn service_account_keeps_existing_entries_and_never_duplicates() {
    let env = TestEnv::start();
    env.emu.kube_put(
        "serviceaccounts",
        "awesomeapps",
        "default",
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "awesomeapps"}, "imagePullSecrets": [{"name": "existing"}]}),
    );
    let kc = kubeconfig_arg(&env);
    let args = [
        "--namespace",
        "awesomeapps",
        "--namespace",
        "default",
        "--service-account",
        "default",
        "--kubeconfig",
        kc.as_str(),
    ];
    let out = create(&env, "pw-sa-1", &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["namespaces"][0]["serviceAccountPatched"], true);
    let pulls = |ns: &str| {
        env.emu
            .kube_object("serviceaccounts", ns, "default")
            .unwrap()["imagePullSecrets"]
            .clone()
    };
    assert_eq!(
        pulls("awesomeapps"),
        json!([{"name": "existing"}, {"name": "acr-secret"}])
    );
    assert_eq!(pulls("default"), json!([{"name": "acr-secret"}]));

    let again = create(&env, "pw-sa-1", &args);
    assert!(again.status.success(), "{}", stderr(&again));
    let v: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["namespaces"][0]["serviceAccountPatched"], false);
    assert_eq!(
        pulls("awesomeapps"),
        json!([{"name": "existing"}, {"name": "acr-secret"}])
    );

    // A missing service account is "not found", exit 3.
    let out = create(
        &env,
        "pw-sa-1",
        &["--service-account", "nobody", "--kubeconfig", kc.as_str()],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn several_namespaces_in_one_call() {
    let env = TestEnv::start();
    let kc = kubeconfig_arg(&env);
    let out = create(
        &env,
        "pw-multi",
        &[
            "--namespace",
            "default",
            "--namespace",
            "awesomeapps",
            "--kubeconfig",
            &kc,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for ns in ["default", "awesomeapps"] {
        assert_eq!(
            stored_config(&env, ns),
            kubectl_oracle(&env, SERVER, USERNAME, "pw-multi")
        );
    }
    // One namespace missing: the other still gets it, the exit code says "not found".
    let out = create(
        &env,
        "pw-multi-2",
        &[
            "--namespace",
            "nope",
            "--namespace",
            "awesomeapps",
            "--kubeconfig",
            &kc,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Namespace 'nope' not found"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stored_config(&env, "awesomeapps"),
        kubectl_oracle(&env, SERVER, USERNAME, "pw-multi-2")
    );
}

#[test]
fn dry_run_needs_no_cluster_and_redacts_unless_asked() {
    let env = TestEnv::start();
    // No kubeconfig anywhere: HOME has none and KUBECONFIG is unset.
    let out = create(&env, NASTY_PASSWORD, &["--dry-run", "-o", "yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("kind: Secret"), "{text}");
    assert!(text.contains("kubernetes.io/dockerconfigjson"), "{text}");
    assert!(text.contains("[REDACTED]"), "{text}");
    let real = base64::engine::general_purpose::STANDARD.encode(kubectl_oracle(
        &env,
        SERVER,
        USERNAME,
        NASTY_PASSWORD,
    ));
    assert!(!text.contains(&real), "{text}");
    assert!(stderr(&out).contains("--show-secrets"), "{}", stderr(&out));
    assert_no_secrets(&out, &[NASTY_PASSWORD.to_string()]);

    let out = create(
        &env,
        NASTY_PASSWORD,
        &[
            "--dry-run=client",
            "--show-secrets",
            "-o",
            "json",
            "--namespace",
            "awesomeapps",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "Secret");
    assert_eq!(v["metadata"]["namespace"], "awesomeapps");
    assert_eq!(v["data"][".dockerconfigjson"], real.as_str());
    assert!(env.emu.requests().iter().all(|r| r.listener != "kube"));
}

#[test]
fn usage_errors() {
    let env = TestEnv::start();
    let kc = kubeconfig_arg(&env);
    // No credential source.
    let out = env
        .acrctl()
        .args([
            "create-pull-secret",
            "--acr",
            SERVER,
            "--name",
            "s",
            "--kubeconfig",
            &kc,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--password-stdin"),
        "{}",
        stderr(&out)
    );
    // No -n at all.
    let out = env
        .acrctl()
        .args([
            "create-pull-secret",
            "--acr",
            SERVER,
            "-n",
            "s",
            "--from-login",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A bad Secret name costs no request.
    let out = create(&env, "pw", &["--kubeconfig", &kc, "--namespace", "Bad_NS"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(env.emu.requests().iter().all(|r| r.listener != "kube"));
}

#[test]
fn no_kubeconfig_is_a_clear_error() {
    let env = TestEnv::start();
    let out = create(&env, "pw", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("No kubeconfig found"),
        "{}",
        stderr(&out)
    );
    let out = create(&env, "pw", &["--kubeconfig", "/nonexistent/kubeconfig"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/nonexistent/kubeconfig"),
        "{}",
        stderr(&out)
    );
    let out = create(
        &env,
        "pw",
        &["--kubeconfig", &kubeconfig_arg(&env), "--context", "nope"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("emulator-readonly"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unreachable_and_hanging_api_servers_fail_in_bounded_time() {
    let env = TestEnv::start();
    let server = env.kube().server.clone();
    let closed = kubeconfig_variant(&env, "closed", &server, "https://127.0.0.1:9");
    let started = Instant::now();
    let out = create(&env, "pw", &["--kubeconfig", closed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("127.0.0.1:9"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(10));

    env.emu
        .add_fault(Fault::new("/api/v1/").listener("kube").hang());
    let started = Instant::now();
    let mut cmd = env.acrctl_std();
    cmd.env("ACRCTL_TIMEOUT", "2");
    cmd.args([
        "create-pull-secret",
        "--acr",
        SERVER,
        "--name",
        "acr-secret",
        "--username",
        USERNAME,
        "--password-stdin",
        "--kubeconfig",
        &kubeconfig_arg(&env),
    ]);
    let out = run_with_stdin(cmd, "pw");
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn unauthorized_and_forbidden_exit_4_and_name_the_rbac_rule() {
    let env = TestEnv::start();
    let token = env.kube().admin_token.clone();
    let bad = kubeconfig_variant(&env, "bad-token", &token, "not-a-valid-token");
    let out = create(&env, "pw", &["--kubeconfig", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));

    let out = create(
        &env,
        "pw",
        &[
            "--kubeconfig",
            &kubeconfig_arg(&env),
            "--context",
            "emulator-readonly",
            "--namespace",
            "awesomeapps",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("Forbidden"), "{err}");
    assert!(
        err.contains("create, patch") && err.contains("secrets") && err.contains("awesomeapps"),
        "{err}"
    );
    assert_no_secrets(&out, &env.secrets());
}

#[test]
fn namespace_not_found_exits_3() {
    let env = TestEnv::start();
    let out = create(
        &env,
        "pw",
        &[
            "--kubeconfig",
            &kubeconfig_arg(&env),
            "--namespace",
            "missing",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Namespace 'missing' not found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn debug_output_shows_no_secret() {
    let env = TestEnv::start();
    let out = create(
        &env,
        NASTY_PASSWORD,
        &[
            "--kubeconfig",
            &kubeconfig_arg(&env),
            "--service-account",
            "default",
            "--debug",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("DEBUG"), "{err}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(kubectl_oracle(
        &env,
        SERVER,
        USERNAME,
        NASTY_PASSWORD,
    ));
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{USERNAME}:{NASTY_PASSWORD}"));
    let mut secrets = env.secrets();
    secrets.extend([NASTY_PASSWORD.to_string(), encoded, auth]);
    assert_no_secrets(&out, &secrets);
}

#[test]
fn from_login_stores_the_acr_refresh_token_and_warns_about_its_lifetime() {
    let env = TestEnv::start();
    let registry = env.registry(0);
    let out = env
        .acrctl()
        .args([
            "create-pull-secret",
            "--acr",
            &registry,
            "--name",
            "acr-secret",
            "--from-login",
            "--kubeconfig",
            &kubeconfig_arg(&env),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("WARNING") && err.contains("3 hours"), "{err}");
    assert_no_jwt(&err);
    assert_no_jwt(&stdout(&out));
    assert_no_secrets(&out, &env.secrets());

    let config: Value = serde_json::from_slice(&stored_config(&env, "default")).unwrap();
    let entry = &config["auths"][registry.as_str()];
    assert_eq!(entry["username"], "00000000-0000-0000-0000-000000000000");
    let token = entry["password"].as_str().unwrap();
    assert_eq!(claims(token)["grant_type"], "refresh_token");
    assert_eq!(
        stored_config(&env, "default"),
        kubectl_oracle(
            &env,
            &registry,
            "00000000-0000-0000-0000-000000000000",
            token
        )
    );
}

/// The emulator's Reader role (test setup for an identity that can read, not write).
const READER: &str = "acdd72a7-3c48-4a49-a4f2-a1c48b7a2d2b";

/// `create-pull-secret --acr registry1 --name acr-secret --create-token …` plus `extra`,
/// with ARM's backoff shrunk (see `support::cmd`).
fn create_token(env: &TestEnv, extra: &[&str]) -> Output {
    let mut c = cmd(env);
    c.args([
        "create-pull-secret",
        "--acr",
        "registry1",
        "--name",
        "acr-secret",
    ]);
    c.args(extra);
    c.output().unwrap()
}

#[test]
fn create_token_makes_a_scoped_token_whose_credentials_pull_only_its_repository() {
    let env = TestEnv::start();
    // Each ContainerRegistry operation answers InProgress once: acrctl has to poll.
    env.emu.set_operation_polls(1);
    let out = create_token(
        &env,
        &[
            "--create-token",
            "app-pull",
            "--repository",
            "samples/hello",
            "--repository",
            "samples/world:metadata/read",
            "--expiry",
            "30d",
            "--kubeconfig",
            &kubeconfig_arg(&env),
            "--debug",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let maps = env.emu.scope_maps();
    assert_eq!(maps.len(), 1, "{maps:?}");
    assert_eq!(maps[0].name, "app-pull-scope-map");
    assert_eq!(
        maps[0].actions,
        vec![
            "repositories/samples/hello/content/read",
            "repositories/samples/hello/metadata/read",
            "repositories/samples/world/metadata/read",
        ]
    );
    let tokens = env.emu.acr_tokens();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let token = &tokens[0];
    assert_eq!(token.name, "app-pull");
    assert_eq!(token.status, "enabled");
    assert_eq!(token.scope_map_id, maps[0].id);
    assert_eq!(token.passwords.len(), 1);
    let password = token.passwords[0].value.clone();
    let expiry = token.passwords[0].expiry.clone().expect("an expiry");
    assert!(expiry.ends_with('Z'), "{expiry}");
    // The operations were polled, not assumed done.
    assert!(
        env.emu
            .requests()
            .iter()
            .any(|r| r.path.contains("/operationStatuses/")),
        "no operation status was polled"
    );

    // The Secret: username = token name, password = the generated one, for the login
    // server ARM reports; byte for byte what kubectl makes.
    let registry = env.registry(0);
    let config: Value = serde_json::from_slice(&stored_config(&env, "default")).unwrap();
    let entry = &config["auths"][registry.as_str()];
    assert_eq!(entry["username"], "app-pull");
    assert_eq!(entry["password"], password.as_str());
    assert_eq!(
        stored_config(&env, "default"),
        kubectl_oracle(&env, &registry, "app-pull", &password)
    );

    // No password, Secret content or token in the output, even with --debug.
    let err = stderr(&out);
    assert!(err.contains("DEBUG"), "{err}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(stored_config(&env, "default"));
    let mut secrets = env.secrets();
    secrets.extend([password.clone(), encoded]);
    assert_no_secrets(&out, &secrets);
    assert_no_jwt(&err);

    // The registry's token service: pull on samples/hello, nothing on another repository,
    // no push anywhere.
    let access = |scope: &str| {
        env.emu
            .registry_access("registry1", "app-pull", &password, scope)
            .expect("the token's credentials are accepted")
    };
    assert_eq!(
        access("repository:samples/hello:pull")[0]["actions"],
        json!(["pull"])
    );
    assert_eq!(
        access("repository:samples/hello:pull,push")[0]["actions"],
        json!(["pull"])
    );
    assert_eq!(
        access("repository:other/repo:pull")[0]["actions"],
        json!([])
    );
    assert_eq!(
        access("repository:samples/world:pull")[0]["actions"],
        json!([])
    );
    assert!(env
        .emu
        .registry_access(
            "registry1",
            "app-pull",
            "wrong",
            "repository:samples/hello:pull"
        )
        .is_none());

    // And over HTTP: acrctl login with the token's credentials (Basic auth at /oauth2/token).
    let mut login = env.acrctl_std();
    login.args([
        "login",
        "-n",
        &registry,
        "-u",
        "app-pull",
        "--password-stdin",
    ]);
    let out = run_with_stdin(login, &password);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut login = env.acrctl_std();
    login.args([
        "login",
        "-n",
        &registry,
        "-u",
        "app-pull",
        "--password-stdin",
    ]);
    let out = run_with_stdin(login, "not-the-password");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    // A second run updates the same scope map and token and rotates password1.
    let out = create_token(
        &env,
        &[
            "--create-token",
            "app-pull",
            "--repository",
            "samples/hello",
            "--kubeconfig",
            &kubeconfig_arg(&env),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.emu.scope_maps().len(), 1);
    let tokens = env.emu.acr_tokens();
    assert_eq!(tokens.len(), 1);
    let rotated = tokens[0].passwords[0].value.clone();
    assert_ne!(rotated, password);
    assert_eq!(tokens[0].passwords[0].expiry, None);
    let config: Value = serde_json::from_slice(&stored_config(&env, "default")).unwrap();
    assert_eq!(
        config["auths"][registry.as_str()]["password"],
        rotated.as_str()
    );
    assert!(env
        .emu
        .registry_access(
            "registry1",
            "app-pull",
            &password,
            "repository:samples/hello:pull"
        )
        .is_none());
}

#[test]
fn create_token_without_rights_exits_4_and_names_the_permission() {
    let env = TestEnv::start();
    let info = env.info().clone();
    env.emu.assign_role(
        &format!("/subscriptions/{}", info.subscription_id),
        READER,
        &info.sp_noaccess.object_id,
    );
    let out = cmd(&env)
        .env("AZURE_CLIENT_ID", &info.sp_noaccess.client_id)
        .env(
            "AZURE_CLIENT_SECRET",
            info.sp_noaccess.secret.as_deref().unwrap(),
        )
        .args([
            "create-pull-secret",
            "--acr",
            "registry1",
            "--name",
            "acr-secret",
            "--create-token",
            "app-pull",
            "--repository",
            "samples/hello",
            "--kubeconfig",
            &kubeconfig_arg(&env),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Microsoft.ContainerRegistry/registries/scopeMaps/write"),
        "{err}"
    );
    assert!(err.contains("Owner or Contributor"), "{err}");
    assert!(env.emu.scope_maps().is_empty());
    assert!(env.emu.acr_tokens().is_empty());
    assert!(env
        .emu
        .kube_object("secrets", "default", "acr-secret")
        .is_none());
    assert_no_secrets(&out, &env.secrets());
}

#[test]
fn create_token_usage_errors_come_before_any_request() {
    let env = TestEnv::start();
    env.emu.clear_requests();
    let cases: &[&[&str]] = &[
        &[
            "--create-token",
            "app-pull",
            "--repository",
            "Samples/Hello",
        ],
        &[
            "--create-token",
            "app-pull",
            "--repository",
            "samples/hello:bogus",
        ],
        &[
            "--create-token",
            "app-pull",
            "--repository",
            "samples/hello:",
        ],
        &["--create-token", "app-pull", "--repository", "/samples"],
        &["--create-token", "app-pull"],
        &["--create-token", "ab", "--repository", "samples/hello"],
        &[
            "--create-token",
            "app_pull",
            "--repository",
            "samples/hello",
        ],
        &[
            "--create-token",
            "app-pull",
            "--repository",
            "samples/hello",
            "--expiry",
            "2001-01-01",
        ],
        &[
            "--create-token",
            "app-pull",
            "--repository",
            "samples/hello",
            "--expiry",
            "soon",
        ],
        &[
            "--create-token",
            "app-pull",
            "--repository",
            "samples/hello",
            "--username",
            "u",
            "--password",
            "p",
        ],
        &[
            "--create-token",
            "app-pull",
            "--repository",
            "samples/hello",
            "--from-login",
        ],
        &["--repository", "samples/hello", "--from-login"],
    ];
    for extra in cases {
        let mut args: Vec<&str> = extra.to_vec();
        let kc = kubeconfig_arg(&env);
        args.extend(["--kubeconfig", &kc]);
        let out = create_token(&env, &args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
    }
    // A login server without the registry's name in it (the emulator's 127.0.0.1:port).
    let mut c = cmd(&env);
    c.args([
        "create-pull-secret",
        "--acr",
        &env.registry(0),
        "--name",
        "acr-secret",
        "--create-token",
        "app-pull",
        "--repository",
        "samples/hello",
        "--kubeconfig",
        &kubeconfig_arg(&env),
    ]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("registry's name"), "{}", stderr(&out));
    let out = create_token(
        &env,
        &[
            "--create-token",
            "app-pull",
            "--repository",
            "samples/hello:pull,bogus",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown action 'bogus'"),
        "{}",
        stderr(&out)
    );
    assert!(
        env.emu.requests().is_empty(),
        "{:?}",
        env.emu
            .requests()
            .iter()
            .map(|r| &r.path)
            .collect::<Vec<_>>()
    );
    assert!(env.emu.scope_maps().is_empty());
}

#[test]
fn create_token_dry_run_creates_nothing_and_says_what_it_would_do() {
    let env = TestEnv::start();
    env.emu.clear_requests();
    let out = create_token(
        &env,
        &[
            "--create-token",
            "app-pull",
            "--repository",
            "samples/hello",
            "--expiry",
            "2099-01-31",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("would create"), "{err}");
    assert!(err.contains("app-pull-scope-map"), "{err}");
    assert!(err.contains("2099-01-31T00:00:00Z"), "{err}");
    let manifest = json_out(&out);
    assert_eq!(manifest["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(manifest["data"][".dockerconfigjson"], "[REDACTED]");
    assert!(env.emu.scope_maps().is_empty());
    assert!(env.emu.acr_tokens().is_empty());
    assert!(
        !env.emu
            .requests()
            .iter()
            .any(|r| r.method != "GET" || r.path.contains("Microsoft.ContainerRegistry")),
        "{:?}",
        env.emu
            .requests()
            .iter()
            .map(|r| (&r.method, &r.path))
            .collect::<Vec<_>>()
    );

    let out = create_token(
        &env,
        &[
            "--create-token",
            "app-pull",
            "--repository",
            "samples/hello",
            "--dry-run",
            "--show-secrets",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn create_token_flags_parse_without_the_network() {
    let env = TestEnv::start();
    let out = env
        .acrctl()
        .args([
            "create-pull-secret",
            "--acr",
            "registry1",
            "--name",
            "acr-secret",
            "--expiry",
            "3d",
            "--from-login",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--create-token"), "{}", stderr(&out));
}
