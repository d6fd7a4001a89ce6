//! `acrctl login` and `logout` against the emulator, driving the real binary.

mod support;

use acrctl_emulator::Fault;
use std::time::{Duration, Instant};
use support::*;

#[test]
fn expose_token_prints_the_az_shape_and_stores_nothing() {
    let env = TestEnv::start();
    let server = env.registry(0);
    let out = env
        .acrctl()
        .args(["login", "-n", &server, "--expose-token"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["accessToken", "loginServer", "refreshToken", "username"]
    );
    assert_eq!(v["loginServer"], server.as_str());
    assert_eq!(v["username"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(v["accessToken"], v["refreshToken"]);
    let claims = claims(v["accessToken"].as_str().unwrap());
    assert_eq!(claims["aud"], server.as_str());
    assert_eq!(claims["grant_type"], "refresh_token");
    assert!(
        stderr(&out).contains("--password-stdin"),
        "{}",
        stderr(&out)
    );
    assert!(!env.docker_config().exists());
    assert_no_secrets(&out, &env.secrets());
}

#[test]
fn expose_token_tsv_query_prints_the_bare_token() {
    let env = TestEnv::start();
    let out = env
        .acrctl()
        .args([
            "login",
            "-n",
            &env.registry(0),
            "--expose-token",
            "-o",
            "tsv",
            "--query",
            "accessToken",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1);
    assert!(text.ends_with('\n'));
    assert_eq!(claims(text.trim())["grant_type"], "refresh_token");
}

#[test]
fn login_writes_docker_config_keeping_other_entries() {
    let env = TestEnv::start();
    let server = env.registry(0);
    std::fs::create_dir_all(env.docker_config().parent().unwrap()).unwrap();
    std::fs::write(env.docker_config(), r#"{"auths":{"other.example":{"auth":"dXNlcjpwYXNz"}},"proxies":{"default":{"noProxy":"x"}},"experimental":"enabled"}"#).unwrap();
    let out = env
        .acrctl()
        .args(["login", "-n", &server])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Login Succeeded\n");
    let v = read_json(&env.docker_config());
    assert_eq!(v["auths"]["other.example"]["auth"], "dXNlcjpwYXNz");
    assert_eq!(v["proxies"]["default"]["noProxy"], "x");
    assert_eq!(v["experimental"], "enabled");
    let entry = &v["auths"][server.as_str()];
    assert_eq!(
        entry["auth"],
        "MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg=="
    );
    assert_eq!(
        claims(entry["identitytoken"].as_str().unwrap())["aud"],
        server.as_str()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(env.docker_config())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    assert_no_jwt(&stdout(&out));
    assert_no_jwt(&stderr(&out));
}

#[test]
fn output_none_silences_login_succeeded() {
    let env = TestEnv::start();
    let out = env
        .acrctl()
        .args(["login", "-n", &env.registry(0), "-o", "none"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn az_spelling_works() {
    let env = TestEnv::start();
    let out = env
        .acrctl()
        .args([
            "acr",
            "login",
            "-n",
            &env.registry(0),
            "--expose-token",
            "--query",
            "loginServer",
            "-o",
            "tsv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), env.registry(0));
}

#[test]
fn several_registries_in_order_and_one_failure_does_not_stop_the_others() {
    let env = TestEnv::with_registries(&["registry1", "registry2", "registry3"]);
    let names: Vec<String> = (0..3).map(|i| env.registry(i)).collect();
    let out = env
        .acrctl()
        .args([
            "login",
            "--expose-token",
            "-n",
            &names[2],
            "-n",
            &names[0],
            "-n",
            &names[1],
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let servers: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["loginServer"].as_str().unwrap())
        .collect();
    assert_eq!(
        servers,
        [names[2].as_str(), names[0].as_str(), names[1].as_str()]
    );

    // registry2 refuses everyone's exchange; the other two are still stored.
    env.emu.add_fault(
        Fault::new("/oauth2/exchange")
            .listener("registry:registry2")
            .status(401)
            .body(r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#),
    );
    let out = env
        .acrctl()
        .args([
            "login",
            "--no-cache",
            "-n",
            &names[0],
            "-n",
            &names[1],
            "-n",
            &names[2],
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("Registry '{}' refused the Entra token", names[1])),
        "{}",
        stderr(&out)
    );
    let v = read_json(&env.docker_config());
    assert!(v["auths"].get(&names[0]).is_some());
    assert!(v["auths"].get(&names[2]).is_some());
    assert!(v["auths"].get(&names[1]).is_none());
}

#[test]
fn identity_without_pull_role_is_refused_with_exit_4() {
    let env = TestEnv::start();
    let noaccess = env.info().sp_noaccess.clone();
    let out = env
        .acrctl()
        .env("AZURE_CLIENT_ID", &noaccess.client_id)
        .env("AZURE_CLIENT_SECRET", noaccess.secret.as_deref().unwrap())
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert!(err.starts_with("ERROR: "), "{err}");
    assert!(
        err.contains("refused the Entra token") && err.contains("AcrPull"),
        "{err}"
    );
    assert!(
        err.contains("ARM audience"),
        "the ARM audience retry is mentioned: {err}"
    );
    assert!(!env.docker_config().exists());
    assert_no_secrets(&out, &env.secrets());
}

#[test]
fn bad_client_secret_shows_the_aadsts_code_never_the_secret() {
    let env = TestEnv::start();
    let wrong = "this-is-not-the-secret-42";
    let out = env
        .acrctl()
        .env("AZURE_CLIENT_SECRET", wrong)
        .args(["login", "-n", &env.registry(0), "--debug"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert!(err.contains("AADSTS7000215"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("ERROR:")).count(),
        1,
        "{err}"
    );
    assert!(!err.contains(wrong), "{err}");
    assert_no_secrets(&out, &env.secrets());
}

#[test]
fn acr_audience_refused_falls_back_to_arm_unless_pinned() {
    let env = TestEnv::start();
    env.emu
        .set_registry_flag("registry1", "refuseAcrAudience", serde_json::json!(true));
    let out = env
        .acrctl()
        .args(["login", "-n", &env.registry(0), "--expose-token"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let out = env
        .acrctl()
        .args([
            "login",
            "-n",
            &env.registry(0),
            "--expose-token",
            "--audience",
            "acr",
            "--no-cache",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("AADSTS500011"), "{}", stderr(&out));
}

#[test]
fn certificate_service_principal() {
    let env = TestEnv::start();
    let sp = env.info().sp_cert.clone();
    let out = env
        .acrctl()
        .env_remove("AZURE_CLIENT_SECRET")
        .env("AZURE_CLIENT_ID", &sp.client_id)
        .env(
            "AZURE_CLIENT_CERTIFICATE_PATH",
            sp.cert_pem_path.as_ref().unwrap(),
        )
        .args(["login", "-n", &env.registry(0), "--expose-token"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        claims(v["refreshToken"].as_str().unwrap())["sub"],
        sp.object_id.as_str()
    );
}

#[test]
fn certificate_service_principal_from_pkcs12() {
    let env = TestEnv::start();
    let sp = env.info().sp_cert.clone();
    let pem = sp.cert_pem_path.clone().unwrap();
    let pfx = env.home.path().join("sp.pfx");
    // OpenSSL 3's default export: PBES2 with AES-256-CBC and PBKDF2.
    let made = std::process::Command::new("openssl")
        .args(["pkcs12", "-export", "-passout", "pass:pfx-password-1"])
        .arg("-in")
        .arg(&pem)
        .arg("-inkey")
        .arg(&pem)
        .arg("-out")
        .arg(&pfx)
        .status()
        .expect("openssl is installed");
    assert!(made.success());
    let run = |password: &str| {
        env.acrctl()
            .env_remove("AZURE_CLIENT_SECRET")
            .env("AZURE_CLIENT_ID", &sp.client_id)
            .env("AZURE_CLIENT_CERTIFICATE_PATH", &pfx)
            .env("AZURE_CLIENT_CERTIFICATE_PASSWORD", password)
            .args([
                "login",
                "-n",
                &env.registry(0),
                "--expose-token",
                "--no-cache",
            ])
            .output()
            .unwrap()
    };
    let out = run("pfx-password-1");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        claims(v["refreshToken"].as_str().unwrap())["sub"],
        sp.object_id.as_str()
    );

    let out = run("wrong-password-2");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("AZURE_CLIENT_CERTIFICATE_PASSWORD"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("wrong-password-2"));
}

#[test]
fn workload_identity() {
    let env = TestEnv::start();
    let wi = env.info().workload_identity.clone();
    let out = env
        .acrctl()
        .env_remove("AZURE_CLIENT_SECRET")
        .env("AZURE_CLIENT_ID", &wi.client_id)
        .env(
            "AZURE_FEDERATED_TOKEN_FILE",
            wi.federated_token_path.as_ref().unwrap(),
        )
        .args(["login", "-n", &env.registry(0), "--expose-token"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        claims(v["refreshToken"].as_str().unwrap())["sub"],
        wi.object_id.as_str()
    );
}

fn without_service_principal(env: &TestEnv) -> assert_cmd::Command {
    let mut cmd = env.acrctl();
    cmd.env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID");
    cmd
}

#[test]
fn managed_identity_app_service_and_vm_endpoints() {
    let env = TestEnv::start();
    let info = env.info().clone();
    let out = without_service_principal(&env)
        .env("IDENTITY_ENDPOINT", format!("{}/msi/token", info.mi_url))
        .env("IDENTITY_HEADER", &info.identity_header)
        .args(["login", "-n", &env.registry(0), "--expose-token", "--debug"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        claims(v["refreshToken"].as_str().unwrap())["sub"],
        info.system_mi.object_id.as_str()
    );
    assert_no_secrets(&out, &env.secrets());

    // The VM endpoint, found by the chain's probe, with a user-assigned identity.
    let out = without_service_principal(&env)
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &info.mi_url)
        .args([
            "login",
            "-n",
            &env.registry(0),
            "--expose-token",
            "--identity-id",
            &info.user_mi.client_id,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        claims(v["refreshToken"].as_str().unwrap())["sub"],
        info.user_mi.object_id.as_str()
    );

    // The same identity named by its object id (tried after the client id).
    let out = without_service_principal(&env)
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &info.mi_url)
        .args([
            "login",
            "-n",
            &env.registry(0),
            "--expose-token",
            "--no-cache",
            "--identity-id",
            &info.user_mi.object_id,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        claims(v["refreshToken"].as_str().unwrap())["sub"],
        info.user_mi.object_id.as_str()
    );

    // An identity the VM does not have.
    let out = without_service_principal(&env)
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &info.mi_url)
        .args([
            "login",
            "-n",
            &env.registry(0),
            "--auth",
            "managed-identity",
            "--identity-id",
            "11111111-2222-3333-4444-555555555555",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("--identity-id"), "{}", stderr(&out));
}

#[test]
fn azure_cli_source_through_a_fake_az() {
    let env = TestEnv::start();
    let info = env.info().clone();
    // A stand-in for `az account get-access-token`: asks the emulator's Entra for a token
    // with the service principal and prints it in az's JSON shape.
    env.script(
        "az",
        &format!(
            r#"#!/usr/bin/env python3
import json, ssl, sys, urllib.parse, urllib.request
args = sys.argv[1:]
scope = args[args.index("--scope") + 1] if "--scope" in args else args[args.index("--resource") + 1] + "/.default"
body = urllib.parse.urlencode({{"grant_type": "client_credentials", "client_id": "{cid}", "client_secret": "{secret}", "scope": scope}}).encode()
ctx = ssl.create_default_context(cafile="{ca}")
with urllib.request.urlopen("{authority}/{tenant}/oauth2/v2.0/token", body, context=ctx) as r:
    t = json.load(r)
import time
print(json.dumps({{"accessToken": t["access_token"], "expiresOn": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.localtime(time.time() + 3000)), "expires_on": int(time.time()) + 3000, "subscription": "{sub}", "tenant": "{tenant}", "tokenType": "Bearer"}}))
"#,
            cid = info.sp_secret.client_id,
            secret = info.sp_secret.secret.as_deref().unwrap(),
            ca = info.ca_pem.display(),
            authority = info.authority_url.trim_end_matches('/'),
            tenant = info.tenant_id,
            sub = info.subscription_id,
        ),
    );
    let out = without_service_principal(&env)
        .args(["login", "-n", &env.registry(0), "--expose-token", "--debug"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("credential source: Azure CLI"),
        "{}",
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        claims(v["refreshToken"].as_str().unwrap())["sub"],
        info.sp_secret.object_id.as_str()
    );
}

#[test]
fn no_credential_source_explains_each_one() {
    let env = TestEnv::start();
    let out = without_service_principal(&env)
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    for what in [
        "environment service principal",
        "AZURE_TENANT_ID",
        "workload identity",
        "managed identity",
        "Azure CLI",
        "`az` is not on PATH",
    ] {
        assert!(err.contains(what), "{what} missing: {err}");
    }
}

#[test]
fn explicit_source_that_is_not_configured() {
    let env = TestEnv::start();
    let out = env
        .acrctl()
        .args([
            "login",
            "-n",
            &env.registry(0),
            "--auth",
            "workload-identity",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("AZURE_FEDERATED_TOKEN_FILE is not set"),
        "{}",
        stderr(&out)
    );
    let out = env
        .acrctl()
        .env("AZURE_TOKEN_CREDENTIALS", "bogus")
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn usage_errors_exit_2_before_any_request() {
    let env = TestEnv::start();
    for (name, expect) in [
        ("https://myregistry.azurecr.io", "-n myregistry.azurecr.io"),
        ("my_registry", "not a valid registry name"),
        ("abc", "5 to 50"),
        ("myregistry.azurecr.io:99999", "port"),
    ] {
        let out = env.acrctl().args(["login", "-n", name]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{name}: {}", stderr(&out));
    }
    assert!(env.emu.requests().is_empty(), "{:?}", env.emu.requests());
    let out = env
        .acrctl()
        .args(["login", "-n", &env.registry(0), "--expose-token", "-u", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = env
        .acrctl()
        .args(["login", "-n", &env.registry(0), "--query", "[["])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = env
        .acrctl()
        .env("ACRCTL_ARM_ENDPOINT", "http://127.0.0.1:1/")
        .args(["login", "-n", "myregistry"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("https"), "{}", stderr(&out));
}

#[test]
fn name_gets_the_custom_cloud_suffix() {
    let env = TestEnv::start();
    let out = env
        .acrctl()
        .args(["login", "-n", "myregistry", "--suffix", "abc"])
        .output()
        .unwrap();
    // The emulator's suffix does not resolve: a DNS failure naming the full login server.
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let expected = format!("myregistry-abc.{}", env.info().acr_suffix);
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    assert!(stderr(&out).contains("DNS"), "{}", stderr(&out));
}

#[test]
fn network_failures_are_bounded_and_exit_5() {
    let env = TestEnv::start();
    let started = Instant::now();
    let out = env
        .acrctl()
        .args(["login", "-n", "127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("refused"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(5));

    env.emu
        .add_fault(Fault::new("/v2/").listener("registry:registry1").hang());
    let started = Instant::now();
    let out = env
        .acrctl()
        .env("ACRCTL_TIMEOUT", "1")
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did not answer in time"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn tls_failure_mentions_ssl_cert_file() {
    let env = TestEnv::start();
    let out = env
        .acrctl()
        .env("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("SSL_CERT_FILE"), "{}", stderr(&out));
}

#[test]
fn firewall_403_gets_the_network_access_hint() {
    let env = TestEnv::start();
    env.emu.set_registry_flag(
        "registry1",
        "publicNetworkAccess",
        serde_json::json!("Disabled"),
    );
    let out = env
        .acrctl()
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("publicNetworkAccess"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn registry_faults_give_clear_errors_and_write_nothing() {
    let env = TestEnv::start();
    env.emu.add_fault(
        Fault::new("/v2/")
            .listener("registry:registry1")
            .status(200)
            .body("{}"),
    );
    let out = env
        .acrctl()
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("did not issue a challenge"),
        "{}",
        stderr(&out)
    );
    env.emu.clear_faults();

    env.emu.add_fault(
        Fault::new("/oauth2/exchange")
            .listener("registry:registry1")
            .status(503)
            .body("<html>Service Unavailable</html>")
            .content_type("text/html"),
    );
    let out = env
        .acrctl()
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("HTTP 503"), "{}", stderr(&out));
    env.emu.clear_faults();

    env.emu.add_fault(
        Fault::new("/oauth2/exchange")
            .listener("registry:registry1")
            .status(200)
            .body("{\"refresh"),
    );
    let out = env
        .acrctl()
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not with a refresh token"),
        "{}",
        stderr(&out)
    );
    assert!(!env.docker_config().exists());
}

#[test]
fn malformed_config_is_named_and_left_alone() {
    let env = TestEnv::start();
    std::fs::create_dir_all(env.docker_config().parent().unwrap()).unwrap();
    std::fs::write(env.docker_config(), "{\"auths\": {\"x\": ").unwrap();
    let out = env
        .acrctl()
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&env.docker_config().display().to_string()),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(env.docker_config()).unwrap(),
        "{\"auths\": {\"x\": "
    );
}

#[test]
fn credential_helper_gets_the_token_on_stdin_not_argv() {
    let env = TestEnv::start();
    let record = env.home.path().join("helper-record");
    env.script(
        "docker-credential-fake",
        &format!(
            "#!/bin/sh\necho \"$@\" > {0}.args\ncat > {0}.stdin\n",
            record.display()
        ),
    );
    std::fs::create_dir_all(env.docker_config().parent().unwrap()).unwrap();
    std::fs::write(env.docker_config(), r#"{"credsStore":"fake"}"#).unwrap();
    let out = env
        .acrctl()
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(record.with_extension("args"))
            .unwrap()
            .trim(),
        "store"
    );
    let sent: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(record.with_extension("stdin")).unwrap())
            .unwrap();
    assert_eq!(sent["ServerURL"], env.registry(0).as_str());
    assert_eq!(sent["Username"], "<token>");
    assert_eq!(
        claims(sent["Secret"].as_str().unwrap())["grant_type"],
        "refresh_token"
    );
    let v = read_json(&env.docker_config());
    assert_eq!(v["credsStore"], "fake");
    assert_eq!(v["auths"][env.registry(0).as_str()], serde_json::json!({}));

    // A helper that is named but missing: the error names it and the config key.
    std::fs::write(
        env.docker_config(),
        r#"{"credHelpers":{"REG":"desktop"}}"#.replace("REG", &env.registry(0)),
    )
    .unwrap();
    let out = env
        .acrctl()
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("docker-credential-desktop") && stderr(&out).contains("credHelpers"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn credhelpers_acrctl_means_nothing_is_written() {
    let env = TestEnv::start();
    std::fs::create_dir_all(env.docker_config().parent().unwrap()).unwrap();
    let content = format!(r#"{{"credHelpers":{{"{}":"acrctl"}}}}"#, env.registry(0));
    std::fs::write(env.docker_config(), &content).unwrap();
    let out = env
        .acrctl()
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("credential helper"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(env.docker_config()).unwrap(),
        content
    );
}

#[test]
fn username_and_password_are_verified_then_stored() {
    let env = TestEnv::start();
    let reg = env.info().registries[0].clone();
    let out = env
        .acrctl()
        .args([
            "login",
            "-n",
            &reg.login_server,
            "-u",
            &reg.admin_username,
            "--password-stdin",
        ])
        .write_stdin(format!("{}\n", reg.admin_password))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    use base64::Engine;
    let expected = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", reg.admin_username, reg.admin_password));
    assert_eq!(
        read_json(&env.docker_config())["auths"][reg.login_server.as_str()]["auth"],
        expected.as_str()
    );

    let out = env
        .acrctl()
        .args([
            "login",
            "-n",
            &reg.login_server,
            "-u",
            &reg.admin_username,
            "--password-stdin",
        ])
        .write_stdin("wrong-password")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(!stderr(&out).contains("wrong-password"));

    let out = env
        .acrctl()
        .args([
            "login",
            "-n",
            &reg.login_server,
            "-u",
            &reg.admin_username,
            "--password-stdin",
        ])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env
        .acrctl()
        .args([
            "login",
            "-n",
            &reg.login_server,
            "-u",
            &reg.admin_username,
            "--password-stdin",
        ])
        .write_stdin("x".repeat(70_000))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let out = env
        .acrctl()
        .args([
            "login",
            "-n",
            &reg.login_server,
            "-u",
            &reg.admin_username,
            "-p",
            &reg.admin_password,
            "-o",
            "none",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--password-stdin"),
        "warns about argv: {}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(&reg.admin_password));
}

#[test]
fn podman_and_helm_targets() {
    let env = TestEnv::start();
    let helm = env.home.path().join("helm.json");
    let out = env
        .acrctl()
        .env("HELM_REGISTRY_CONFIG", &helm)
        .args([
            "login",
            "-n",
            &env.registry(0),
            "--target",
            "podman",
            "--target",
            "helm",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let podman = env.home.path().join("run/containers/auth.json");
    for file in [&podman, &helm] {
        assert!(
            read_json(file)["auths"][env.registry(0).as_str()]["identitytoken"].is_string(),
            "{}",
            file.display()
        );
    }
    assert!(!env.docker_config().exists());

    let out = env
        .acrctl()
        .env("HELM_REGISTRY_CONFIG", &helm)
        .args(["logout", "-n", &env.registry(0), "--target", "all"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(read_json(&podman)["auths"].get(env.registry(0)).is_none());
    assert!(read_json(&helm)["auths"].get(env.registry(0)).is_none());
}

#[test]
fn logout_removes_the_entry() {
    let env = TestEnv::start();
    let server = env.registry(0);
    env.acrctl()
        .args(["login", "-n", &server])
        .assert()
        .success();
    let out = env
        .acrctl()
        .args(["logout", "-n", &server])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        format!("Removing login credentials for {server}\n")
    );
    assert!(read_json(&env.docker_config())["auths"]
        .get(&server)
        .is_none());
    let out = env
        .acrctl()
        .args(["logout", "-n", &server])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), format!("Not logged in to {server}\n"));
}

#[test]
fn concurrent_logins_to_one_config_lose_nothing() {
    let env = TestEnv::with_registries(&[
        "registry1",
        "registry2",
        "registry3",
        "registry4",
        "registry5",
        "registry6",
        "registry7",
        "registry8",
    ]);
    let children: Vec<_> = (0..8)
        .map(|i| {
            env.acrctl_std()
                .args(["login", "-n", &env.registry(i), "-o", "none"])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let v = read_json(&env.docker_config());
    for i in 0..8 {
        assert!(
            v["auths"].get(env.registry(i)).is_some(),
            "entry {i} lost: {v}"
        );
    }
}

#[test]
fn debug_output_redacts_every_secret() {
    let env = TestEnv::start();
    let out = env
        .acrctl()
        .args(["login", "-n", &env.registry(0), "--debug"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("DEBUG: POST"), "{}", stderr(&out));
    assert_no_secrets(&out, &env.secrets());
    assert_no_jwt(&stderr(&out));
    assert_no_jwt(&stdout(&out));
}

#[test]
fn completion_and_version() {
    let env = TestEnv::start();
    let out = env.acrctl().args(["completion", "bash"]).output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains("acrctl"));
    let out = env.acrctl().arg("--version").output().unwrap();
    assert_eq!(
        stdout(&out).trim(),
        format!("acrctl {}", env!("CARGO_PKG_VERSION"))
    );
}

/// The real registry and real clients: skopeo and the docker CLI (no daemon) read what
/// acrctl wrote; the `--expose-token` output piped into `docker login` works the same.
#[test]
fn real_clients_pull_with_what_acrctl_wrote() {
    let Some(env) = TestEnv::with_real_registry() else {
        return;
    };
    let server = env.registry(0);
    env.acrctl()
        .args(["login", "-n", &server])
        .assert()
        .success();
    let image = format!("docker://{server}/samples/hello:v1");
    let certs = env.info().ca_pem.parent().unwrap().to_path_buf();

    if let Some(skopeo) = find_program("skopeo") {
        let out = std::process::Command::new(skopeo)
            .args(["inspect", "--authfile"])
            .arg(env.docker_config())
            .arg("--cert-dir")
            .arg(&certs)
            .arg(&image)
            .env("HOME", env.home.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["Architecture"], "amd64");
    } else if std::env::var_os("CI").is_some() {
        panic!("skopeo is not installed; .ci/run installs it");
    }

    if let Some(docker) = find_program("docker") {
        let manifest = |config: &std::path::Path| {
            std::process::Command::new(&docker)
                .arg("--config")
                .arg(config)
                .args([
                    "manifest",
                    "inspect",
                    "--insecure",
                    &format!("{server}/samples/hello:v1"),
                ])
                .env("HOME", env.home.path())
                .output()
                .unwrap()
        };
        let out = manifest(env.docker_config().parent().unwrap());
        assert!(
            out.status.success(),
            "docker manifest inspect: {}",
            stderr(&out)
        );
        assert!(stdout(&out).contains("layers"));

        let token = env
            .acrctl()
            .args([
                "login",
                "-n",
                &server,
                "--expose-token",
                "-o",
                "tsv",
                "--query",
                "accessToken",
            ])
            .output()
            .unwrap();
        assert!(token.status.success());
        let other = env.home.path().join("docker-login");
        let out = std::process::Command::new(&docker)
            .arg("--config")
            .arg(&other)
            .args([
                "login",
                &server,
                "-u",
                "00000000-0000-0000-0000-000000000000",
                "--password-stdin",
            ])
            .env("HOME", env.home.path())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(&token.stdout)?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(out.status.success(), "docker login: {}", stderr(&out));
        let out = manifest(&other);
        assert!(
            out.status.success(),
            "docker manifest inspect after docker login: {}",
            stderr(&out)
        );
    }
}

#[test]
fn authority_host_override_with_a_built_in_cloud() {
    let env = TestEnv::start();
    // The public cloud's endpoints, with Entra replaced by the emulator's: nothing but the
    // authority and the registry is contacted.
    let out = env
        .acrctl()
        .env_remove("ACRCTL_ARM_ENDPOINT")
        .env("AZURE_AUTHORITY_HOST", &env.info().authority_url)
        .args([
            "login",
            "-n",
            &env.registry(0),
            "--expose-token",
            "--cloud",
            "AzureCloud",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !env.emu
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/metadata")),
        "{:?}",
        env.emu.requests()
    );
}

#[test]
fn endpoint_picks_the_regional_endpoint_from_arm() {
    let env = TestEnv::start();
    let out = env
        .acrctl()
        .args([
            "login",
            "-n",
            "registry1",
            "--endpoint",
            "eastus",
            "--expose-token",
        ])
        .output()
        .unwrap();
    // Without regional endpoints enabled: a clear error, no guess.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no regional endpoints"),
        "{}",
        stderr(&out)
    );

    env.emu
        .set_registry_flag("registry1", "regionalEndpoints", serde_json::json!(true));
    let out = env
        .acrctl()
        .args([
            "login",
            "-n",
            "registry1",
            "--endpoint",
            "EastUS",
            "--expose-token",
        ])
        .output()
        .unwrap();
    // The emulator's regional hosts resolve nowhere: the DNS error names the host chosen.
    let expected = format!("registry1.eastus.geo.{}", env.info().acr_suffix);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));

    let out = env
        .acrctl()
        .args(["login", "-n", "registry1", "--endpoint", "japaneast"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("westeurope, eastus"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn only_show_errors_silences_warnings_and_hints() {
    let env = TestEnv::start();
    let reg = env.info().registries[0].clone();
    let out = env
        .acrctl()
        .args([
            "login",
            "-n",
            &reg.login_server,
            "-u",
            &reg.admin_username,
            "-p",
            &reg.admin_password,
            "--only-show-errors",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "no warning about -p");
    let out = env
        .acrctl()
        .args([
            "login",
            "-n",
            &reg.login_server,
            "--expose-token",
            "--only-show-errors",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(stderr(&out), "", "no docker login hint");
    let out = env
        .acrctl()
        .args(["login", "-n", "127.0.0.1:9", "--only-show-errors"])
        .output()
        .unwrap();
    assert!(stderr(&out).starts_with("ERROR: "), "errors still show");
}
