//! Never log in again: the credential helper, the token cache, configure-docker and the
//! kubelet credential provider, against the emulator and the real docker CLI and skopeo.

mod support;

use std::io::Write;
use std::process::{Output, Stdio};
use support::*;

fn helper(env: &TestEnv, action: &str, stdin: &str) -> Output {
    env.acrctl()
        .args(["credential-helper", action])
        .write_stdin(stdin.to_string())
        .output()
        .unwrap()
}

fn registry_requests(env: &TestEnv) -> usize {
    env.emu.requests().len()
}

#[test]
fn get_answers_the_protocol_and_a_warm_get_needs_no_network() {
    let env = TestEnv::start();
    let server = env.registry(0);
    let out = helper(&env, "get", &format!("https://{server}\n"));
    assert!(out.status.success(), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ServerURL"], format!("https://{server}"));
    assert_eq!(v["Username"], "<token>");
    assert_eq!(
        claims(v["Secret"].as_str().unwrap())["aud"],
        server.as_str()
    );
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));

    env.emu.clear_requests();
    let again = helper(&env, "get", &server);
    assert!(again.status.success());
    let w: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(w["Secret"], v["Secret"]);
    assert_eq!(
        registry_requests(&env),
        0,
        "a warm get made requests: {:?}",
        env.emu.requests()
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.cache_dir().join("tokens.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn expired_entries_are_refreshed_and_a_corrupt_cache_is_rebuilt() {
    let env = TestEnv::start();
    let server = env.registry(0);
    assert!(helper(&env, "get", &server).status.success());
    let path = env.cache_dir().join("tokens.json");
    let mut doc = read_json(&path);
    for (_, e) in doc["entries"].as_object_mut().unwrap().iter_mut() {
        e["expires_on"] = serde_json::json!(1);
    }
    std::fs::write(&path, doc.to_string()).unwrap();
    env.emu.clear_requests();
    let out = helper(&env, "get", &server);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        env.emu
            .requests()
            .iter()
            .any(|r| r.path == "/oauth2/exchange"),
        "an expired token is renewed"
    );

    std::fs::write(&path, "\u{0}garbage{").unwrap();
    let out = helper(&env, "get", &server);
    assert!(out.status.success(), "{}", stdout(&out));
    read_json(&path);
}

#[test]
fn protocol_edge_cases() {
    let env = TestEnv::start();
    let out = helper(&env, "get", "");
    assert_eq!(out.status.code(), Some(1));
    assert!(!stdout(&out).is_empty(), "errors go to stdout");

    // A host that is not a registry acrctl serves gets the protocol's not-found answer.
    let out = helper(&env, "get", "https://index.docker.invalid/v1/");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out).trim(),
        "credentials not found in native keychain"
    );

    let out = helper(
        &env,
        "store",
        r#"{"ServerURL":"x","Username":"u","Secret":"s"}"#,
    );
    assert!(out.status.success());

    assert!(helper(&env, "get", &env.registry(0)).status.success());
    let out = helper(&env, "list", "");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[env.registry(0).as_str()], "<token>");

    assert!(helper(&env, "erase", &env.registry(0)).status.success());
    let listed: serde_json::Value =
        serde_json::from_slice(&helper(&env, "list", "").stdout).unwrap();
    assert!(listed.as_object().unwrap().is_empty(), "{listed}");

    let out = helper(&env, "version", "");
    assert!(stdout(&out).contains("acrctl"));

    // Refused identities: exit 1, the message on stdout, no secret.
    let noaccess = env.info().sp_noaccess.clone();
    let out = env
        .acrctl()
        .env("AZURE_CLIENT_ID", &noaccess.client_id)
        .env("AZURE_CLIENT_SECRET", noaccess.secret.as_deref().unwrap())
        .args(["credential-helper", "get"])
        .write_stdin(env.registry(0))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("refused"), "{}", stdout(&out));
    assert_no_secrets(&out, &env.secrets());
}

#[test]
fn twenty_concurrent_gets_share_one_valid_cache() {
    let env = TestEnv::start();
    let server = env.registry(0);
    let children: Vec<_> = (0..20)
        .map(|_| {
            let mut c = env
                .acrctl_std()
                .args(["credential-helper", "get"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin
                .take()
                .unwrap()
                .write_all(server.as_bytes())
                .unwrap();
            c
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stdout(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            claims(v["Secret"].as_str().unwrap())["grant_type"],
            "refresh_token"
        );
    }
    let doc = read_json(&env.cache_dir().join("tokens.json"));
    assert!(
        doc["entries"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("acr|")),
        "{doc}"
    );
}

#[test]
fn login_with_credhelpers_acrctl_warms_the_cache() {
    let env = TestEnv::start();
    let server = env.registry(0);
    let out = env
        .acrctl()
        .args(["configure-docker", "-n", &server, "--link-dir"])
        .arg(&env.bin)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let config = read_json(&env.docker_config());
    assert_eq!(config["credHelpers"][server.as_str()], "acrctl");
    assert!(env.bin.join("docker-credential-acrctl").exists());

    let out = env
        .acrctl()
        .args(["login", "-n", &server])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        read_json(&env.docker_config()).get("auths").is_none(),
        "nothing is stored in the file"
    );
    env.emu.clear_requests();
    // Run as docker runs it: by the helper's name, through the link.
    let mut child = env
        .command(env.bin.join("docker-credential-acrctl"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(server.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(env.emu.requests().len(), 0);

    let out = env
        .acrctl()
        .args(["configure-docker", "-n", &server, "--remove"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(read_json(&env.docker_config())["credHelpers"]
        .get(&server)
        .is_none());
}

#[test]
fn real_docker_and_skopeo_use_the_helper() {
    let Some(env) = TestEnv::with_real_registry() else {
        return;
    };
    let server = env.registry(0);
    let out = env
        .acrctl()
        .args(["configure-docker", "-n", &server, "--link-dir"])
        .arg(&env.bin)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let image = format!("{server}/samples/hello:v1");

    if let Some(docker) = find_program("docker") {
        let out = env
            .command(docker)
            .arg("--config")
            .arg(env.docker_config().parent().unwrap())
            .args(["manifest", "inspect", "--insecure", &image])
            .output()
            .unwrap();
        assert!(out.status.success(), "docker: {}", stderr(&out));
        assert!(stdout(&out).contains("layers"));
    }
    let skopeo = match find_program("skopeo") {
        Some(s) => s,
        None if std::env::var_os("CI").is_some() => {
            panic!("skopeo is not installed; .ci/run installs it")
        }
        None => return,
    };
    let out = env
        .command(skopeo)
        .args(["inspect", "--authfile"])
        .arg(env.docker_config())
        .arg("--cert-dir")
        .arg(env.info().ca_pem.parent().unwrap())
        .arg(format!("docker://{image}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo: {}", stderr(&out));
}

#[test]
fn kubelet_credential_provider_answers_a_request() {
    let env = TestEnv::start();
    let server = env.registry(0);
    let request = serde_json::json!({"apiVersion": "credentialprovider.kubelet.k8s.io/v1", "kind": "CredentialProviderRequest", "image": format!("{server}/samples/hello:v1")});
    let out = env
        .acrctl()
        .arg("kubelet-credential-provider")
        .write_stdin(request.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["apiVersion"], "credentialprovider.kubelet.k8s.io/v1");
    assert_eq!(v["kind"], "CredentialProviderResponse");
    assert_eq!(v["cacheKeyType"], "Registry");
    let duration = v["cacheDuration"].as_str().unwrap();
    let secs: i64 = duration.trim_end_matches('s').parse().unwrap();
    assert!(secs > 3600 && secs < 3 * 3600, "{duration}");
    let auth = &v["auth"][server.as_str()];
    assert_eq!(auth["username"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(
        claims(auth["password"].as_str().unwrap())["aud"],
        server.as_str()
    );

    let out = env.acrctl().arg("kubelet-credential-provider").write_stdin(r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1alpha1","kind":"CredentialProviderRequest","image":"a.io/b"}"#).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = env
        .acrctl()
        .arg("kubelet-credential-provider")
        .write_stdin("not json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn no_cache_bypasses_and_cache_clear_drops() {
    let env = TestEnv::start();
    let server = env.registry(0);
    env.acrctl()
        .args(["login", "-n", &server, "--expose-token"])
        .assert()
        .success();
    env.emu.clear_requests();
    env.acrctl()
        .args(["login", "-n", &server, "--expose-token", "--no-cache"])
        .assert()
        .success();
    assert!(env
        .emu
        .requests()
        .iter()
        .any(|r| r.path == "/oauth2/exchange"));
    let out = env.acrctl().args(["cache", "clear"]).output().unwrap();
    assert!(stdout(&out).starts_with("Removed "), "{}", stdout(&out));
    env.emu.clear_requests();
    env.acrctl()
        .args(["login", "-n", &server, "--expose-token"])
        .assert()
        .success();
    assert!(
        env.emu
            .requests()
            .iter()
            .any(|r| r.path == "/oauth2/exchange"),
        "the cache was cleared"
    );
}
