//! Faults, load and bad input (the proof issue): every endpoint family acrctl calls
//! answers badly in every way the emulator can; acrctl retries what is retryable, fails
//! clearly otherwise, never hangs, never panics, never writes a partial config, and never
//! shows a secret, even with --debug.

mod support;

use acrctl_emulator::Fault;
use std::time::{Duration, Instant};
use support::*;

/// What a fault did to one run.
struct Outcome {
    code: i32,
    stderr: String,
    elapsed: Duration,
}

fn login(env: &TestEnv, extra: &[&str]) -> (Outcome, std::process::Output) {
    let started = Instant::now();
    let out = env
        .acrctl()
        .env("ACRCTL_TIMEOUT", "2")
        .env("ACRCTL_ARM_RETRY_SCALE", "0.01")
        .args(["login", "-n", &env.registry(0), "--no-cache", "--debug"])
        .args(extra)
        .output()
        .unwrap();
    let o = Outcome {
        code: out.status.code().unwrap_or(-1),
        stderr: stderr(&out),
        elapsed: started.elapsed(),
    };
    (o, out)
}

/// The invariants every fault must keep.
fn check_invariants(env: &TestEnv, what: &str, o: &Outcome, out: &std::process::Output) {
    assert!(
        !o.stderr.contains("panicked"),
        "{what}: panic\n{}",
        o.stderr
    );
    assert_ne!(o.code, 101, "{what}: panic exit code");
    assert!(
        o.elapsed < Duration::from_secs(20),
        "{what}: took {:?}",
        o.elapsed
    );
    if o.code != 0 {
        assert!(
            o.stderr.lines().any(|l| l.starts_with("ERROR: ")),
            "{what}: no ERROR line\n{}",
            o.stderr
        );
    }
    assert_no_secrets(out, &env.secrets());
    assert_no_jwt(&o.stderr);
    // The config is absent, or valid JSON that still holds the entry seeded before.
    if env.docker_config().exists() {
        let v = read_json(&env.docker_config());
        assert!(
            v["auths"].get("keep.example").is_some(),
            "{what}: another registry's entry was lost"
        );
    }
}

fn seed_config(env: &TestEnv) {
    std::fs::create_dir_all(env.docker_config().parent().unwrap()).unwrap();
    std::fs::write(
        env.docker_config(),
        r#"{"auths":{"keep.example":{"auth":"a2VlcDprZWVw"}}}"#,
    )
    .unwrap();
}

/// Each endpoint family acrctl calls during a login, by listener and path.
fn families(env: &TestEnv) -> Vec<(&'static str, String, String)> {
    vec![
        (
            "cloud metadata",
            "main".into(),
            "/metadata/endpoints".into(),
        ),
        (
            "Entra token",
            "main".into(),
            format!("/{}/oauth2/v2.0/token", env.info().tenant_id),
        ),
        (
            "registry challenge",
            "registry:registry1".into(),
            "/v2/".into(),
        ),
        (
            "registry exchange",
            "registry:registry1".into(),
            "/oauth2/exchange".into(),
        ),
    ]
}

#[test]
fn every_fault_on_every_login_endpoint_is_handled() {
    let env = TestEnv::start();
    seed_config(&env);
    type MakeFault = Box<dyn Fn(Fault) -> Fault>;
    let kinds: Vec<(&str, MakeFault)> = vec![
        ("hang beyond the timeout", Box::new(|f: Fault| f.hang())),
        (
            "500",
            Box::new(|f: Fault| f.status(500).body(r#"{"error":"boom"}"#)),
        ),
        (
            "503 HTML page",
            Box::new(|f: Fault| {
                f.status(503)
                    .content_type("text/html")
                    .body("<html><body>Service Unavailable</body></html>")
            }),
        ),
        (
            "429 Retry-After",
            Box::new(|f: Fault| f.status(429).retry_after(1)),
        ),
        ("connection reset", Box::new(|f: Fault| f.reset())),
        (
            "truncated JSON",
            Box::new(|f: Fault| {
                f.status(200)
                    .content_type("application/json")
                    .body(r#"{"access_token":"#)
            }),
        ),
        (
            "not JSON",
            Box::new(|f: Fault| f.status(200).content_type("text/plain").body("hello")),
        ),
    ];
    for (family, listener, path) in families(&env) {
        for (kind, make) in &kinds {
            env.emu.clear_faults();
            env.emu
                .add_fault(make(Fault::new(path.clone()).listener(listener.clone())));
            let (o, out) = login(&env, &[]);
            let what = format!("{family} / {kind}");
            check_invariants(&env, &what, &o, &out);
            assert_ne!(o.code, 0, "{what}: a permanent fault cannot succeed");
            if *kind == "hang beyond the timeout" {
                assert_eq!(o.code, 5, "{what}: {}", o.stderr);
            }
        }
    }
}

#[test]
fn transient_faults_are_retried_to_success() {
    for (family, listener, path) in families(&TestEnv::start()) {
        for kind in ["429", "503", "reset"] {
            let env = TestEnv::start();
            seed_config(&env);
            let path = if family == "Entra token" {
                format!("/{}/oauth2/v2.0/token", env.info().tenant_id)
            } else {
                path.clone()
            };
            let fault = Fault::new(path).listener(listener.clone()).times(1);
            let fault = match kind {
                "429" => fault.status(429).retry_after(1),
                "503" => fault.status(503),
                _ => fault.reset(),
            };
            env.emu.add_fault(fault);
            let (o, out) = login(&env, &[]);
            let what = format!("{family} / {kind} once");
            check_invariants(&env, &what, &o, &out);
            // The cloud metadata is read once per process and not retried: a single
            // failure there is reported, which the next run repairs.
            if family == "cloud metadata" {
                continue;
            }
            assert_eq!(o.code, 0, "{what} should be retried: {}", o.stderr);
            assert!(
                read_json(&env.docker_config())["auths"]
                    .get(env.registry(0))
                    .is_some(),
                "{what}"
            );
        }
    }
}

#[test]
fn managed_identity_and_arm_faults() {
    let env = TestEnv::start();
    let info = env.info().clone();
    let mi = |env: &TestEnv| {
        env.acrctl()
            .env_remove("AZURE_CLIENT_SECRET")
            .env_remove("AZURE_CLIENT_ID")
            .env_remove("AZURE_TENANT_ID")
            .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &info.mi_url)
            .env("ACRCTL_TIMEOUT", "2")
            .args([
                "login",
                "-n",
                &env.registry(0),
                "--expose-token",
                "--no-cache",
                "--auth",
                "managed-identity",
            ])
            .output()
            .unwrap()
    };
    env.emu.add_fault(
        Fault::new("/metadata/identity")
            .listener("mi")
            .status(429)
            .times(1),
    );
    let out = mi(&env);
    assert!(
        out.status.success(),
        "IMDS 429 once is retried: {}",
        stderr(&out)
    );
    env.emu.add_fault(
        Fault::new("/metadata/identity")
            .listener("mi")
            .status(500)
            .body("<html>oops</html>"),
    );
    let started = Instant::now();
    let out = mi(&env);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(15));
    env.emu.clear_faults();

    // ARM: a permanent 503 on the cluster read fails clearly within the bounded time.
    env.emu.add_fault(
        Fault::new("/subscriptions/")
            .listener("main")
            .status(503)
            .body("<html>busy</html>")
            .content_type("text/html"),
    );
    let started = Instant::now();
    let out = env
        .acrctl()
        .env("ACRCTL_ARM_RETRY_SCALE", "0.01")
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
    assert_ne!(out.status.code(), Some(0));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("ERROR: "), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_no_secrets(&out, &env.secrets());
}

#[test]
fn thirty_two_concurrent_logins_to_one_config() {
    let names: Vec<String> = (1..=32).map(|i| format!("registry{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let env = TestEnv::with_registries(&refs);
    seed_config(&env);
    let children: Vec<_> = (0..32)
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
    for i in 0..32 {
        assert!(v["auths"].get(env.registry(i)).is_some(), "entry {i} lost");
    }
    assert!(v["auths"].get("keep.example").is_some());
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
}

#[test]
fn kill_dash_nine_mid_write_never_leaves_a_broken_config() {
    let env = TestEnv::with_registries(&["registry1", "registry2", "registry3"]);
    seed_config(&env);
    // Warm the token cache so that each run reaches the write quickly.
    env.acrctl()
        .args([
            "login",
            "-n",
            &env.registry(0),
            "-n",
            &env.registry(1),
            "-n",
            &env.registry(2),
            "-o",
            "none",
        ])
        .assert()
        .success();
    for i in 0..40u64 {
        let mut child = env
            .acrctl_std()
            .args([
                "login",
                "-n",
                &env.registry(0),
                "-n",
                &env.registry(1),
                "-n",
                &env.registry(2),
                "-o",
                "none",
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(500 * (i % 12)));
        let _ = child.kill();
        let _ = child.wait();
        let text =
            std::fs::read_to_string(env.docker_config()).expect("the config is never removed");
        let v: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("run {i}: broken config ({e}): {text:?}"));
        assert!(v["auths"].get("keep.example").is_some(), "run {i}");
    }
}

#[test]
fn unwritable_config_is_a_clear_error_and_the_old_file_stays() {
    let env = TestEnv::start();
    // A directory that cannot exist (its parent is a file), even for root.
    let out = env
        .acrctl()
        .env("DOCKER_CONFIG", "/dev/null/docker")
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/dev/null/docker"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("Login Succeeded"));

    #[cfg(unix)]
    {
        // Permissions stop everyone but root; as root this part is not meaningful.
        use std::os::unix::fs::PermissionsExt;
        if std::env::var("USER").as_deref() != Ok("root") && unsafe_is_not_root() {
            seed_config(&env);
            let dir = env.docker_config().parent().unwrap().to_path_buf();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
            let out = env
                .acrctl()
                .args(["login", "-n", &env.registry(0)])
                .output()
                .unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
            assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
            assert!(read_json(&env.docker_config())["auths"]
                .get("keep.example")
                .is_some());
        }
    }
}

/// Whether this process can be denied by file permissions (root cannot).
fn unsafe_is_not_root() -> bool {
    let probe = std::env::temp_dir().join(format!("acrctl-perm-probe-{}", std::process::id()));
    std::fs::create_dir_all(&probe).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o500)).unwrap();
    }
    let denied = std::fs::write(probe.join("x"), "x").is_err();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let _ = std::fs::remove_dir_all(&probe);
    denied
}

#[test]
fn bad_input_is_a_usage_error_before_any_request() {
    let env = TestEnv::start();
    let too_long = "a".repeat(51);
    let cases: Vec<Vec<&str>> = vec![
        vec!["login", "-n", "ab"],
        vec!["login", "-n", &too_long],
        vec!["login", "-n", "my-registry"],
        vec!["login", "-n", "https://r.azurecr.io"],
        vec!["login", "-n", "r.azurecr.io/path"],
        vec!["login", "-n", "r.azurecr.io:0"],
        vec!["logout", "-n", "oci://x"],
        vec![
            "attach",
            "--cluster",
            "c",
            "-g",
            "rg",
            "--acr",
            "/subscriptions/x/resourceGroups",
        ],
        vec![
            "attach",
            "--cluster",
            "c",
            "-g",
            "rg",
            "--acr",
            "https://r.azurecr.io",
        ],
        vec!["detach", "--cluster", "c", "-g", "rg", "--acr", "bad_name!"],
        vec!["configure-docker", "-n", "http://r.azurecr.io"],
        vec!["login", "-n", "registry1", "--endpoint", "east us!"],
        vec!["login", "-n", "registry1", "--audience", "ftp://x"],
    ];
    for args in cases {
        let out = env.acrctl().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("ERROR: ") || stderr(&out).starts_with("error: "),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert!(
        env.emu.requests().is_empty(),
        "requests were made: {:?}",
        env.emu.requests()
    );
}

#[test]
fn plain_http_is_refused_except_for_managed_identity() {
    let env = TestEnv::start();
    let out = env
        .acrctl()
        .env("AZURE_AUTHORITY_HOST", "http://127.0.0.1:1")
        .args(["login", "-n", &env.registry(0)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env
        .acrctl()
        .env(
            "IDENTITY_ENDPOINT",
            format!("{}/msi/token", env.info().mi_url),
        )
        .env("IDENTITY_HEADER", &env.info().identity_header)
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .args(["login", "-n", &env.registry(0), "--expose-token"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "managed identity over http works: {}",
        stderr(&out)
    );
}

/// `--debug` on every command, successful and failing: stderr never holds a secret or a
/// token, and stdout holds one only where printing it is the command's job.
#[test]
fn debug_on_every_command_shows_no_secret() {
    let env = TestEnv::start();
    let reg = env.registry(0);
    let kubeconfig = env.kube().kubeconfig_path.display().to_string();
    let admin_password = env.info().registries[0].admin_password.clone();
    // (arguments, stdin, whether stdout may carry a token)
    let runs: Vec<(Vec<&str>, String, bool)> = vec![
        (vec!["login", "-n", &reg], String::new(), false),
        (
            vec!["login", "-n", &reg, "--expose-token"],
            String::new(),
            true,
        ),
        (
            vec!["login", "-n", &reg, "-u", "registry1", "--password-stdin"],
            format!("{admin_password}\n"),
            false,
        ),
        (
            vec!["login", "-n", &reg, "-u", "registry1", "--password-stdin"],
            "wrong-password-xyz\n".into(),
            false,
        ),
        (vec!["logout", "-n", &reg], String::new(), false),
        (
            vec![
                "attach",
                "--cluster",
                "aks-mi",
                "-g",
                "rg1",
                "--acr",
                "registry1",
            ],
            String::new(),
            false,
        ),
        (
            vec![
                "detach",
                "--cluster",
                "aks-mi",
                "-g",
                "rg1",
                "--acr",
                "registry1",
            ],
            String::new(),
            false,
        ),
        (
            vec![
                "attach",
                "--cluster",
                "nosuch",
                "-g",
                "rg1",
                "--acr",
                "registry1",
            ],
            String::new(),
            false,
        ),
        (
            vec![
                "check-acr",
                "--cluster",
                "aks-mi",
                "-g",
                "rg1",
                "--acr",
                "registry1",
            ],
            String::new(),
            false,
        ),
        (
            vec![
                "create-pull-secret",
                "--acr",
                &reg,
                "--name",
                "s1",
                "--namespace",
                "default",
                "--kubeconfig",
                &kubeconfig,
                "--username",
                "u1",
                "--password-stdin",
            ],
            "pull-secret-password-1\n".into(),
            false,
        ),
        (
            vec![
                "create-pull-secret",
                "--acr",
                &reg,
                "--name",
                "s2",
                "--dry-run",
                "-o",
                "yaml",
                "--username",
                "u1",
                "--password-stdin",
            ],
            "pull-secret-password-2\n".into(),
            false,
        ),
        (
            vec![
                "create-pull-secret",
                "--acr",
                &reg,
                "--name",
                "s3",
                "--from-login",
                "--namespace",
                "default",
                "--kubeconfig",
                &kubeconfig,
            ],
            String::new(),
            false,
        ),
        (vec!["credential-helper", "get"], reg.clone(), true),
        (vec!["credential-helper", "list"], String::new(), false),
        (
            vec!["kubelet-credential-provider"],
            format!(
                r#"{{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"{reg}/a:1"}}"#
            ),
            true,
        ),
        (
            vec![
                "configure-docker",
                "-n",
                &reg,
                "--link-dir",
                env.bin.to_str().unwrap(),
            ],
            String::new(),
            false,
        ),
        (vec!["auth", "status"], String::new(), false),
        (vec!["cache", "clear"], String::new(), false),
    ];
    let mut secrets = env.secrets();
    secrets.extend([
        "pull-secret-password-1".to_string(),
        "pull-secret-password-2".to_string(),
        "wrong-password-xyz".to_string(),
    ]);
    for (args, stdin, stdout_may_hold_token) in runs {
        let out = env
            .acrctl()
            .args(&args)
            .arg("--debug")
            .write_stdin(stdin)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_no_jwt(&err);
        for s in &secrets {
            assert!(
                !err.contains(s.as_str()),
                "{args:?}: a secret in stderr:\n{err}"
            );
            if !stdout_may_hold_token {
                assert!(
                    !stdout(&out).contains(s.as_str()),
                    "{args:?}: a secret in stdout"
                );
            }
        }
        if !stdout_may_hold_token {
            assert_no_jwt(&stdout(&out));
        }
    }
}

/// The other endpoint families: Microsoft Graph (a service-principal cluster's appId →
/// object id, for attach) and the Kubernetes API (create-pull-secret).
#[test]
fn every_fault_on_graph_and_the_kubernetes_api_is_handled() {
    let env = TestEnv::start();
    let kubeconfig = env.kube().kubeconfig_path.display().to_string();
    type MakeFault = Box<dyn Fn(Fault) -> Fault>;
    let kinds: Vec<(&str, MakeFault)> = vec![
        ("hang", Box::new(|f: Fault| f.hang())),
        (
            "500",
            Box::new(|f: Fault| f.status(500).body(r#"{"error":{"code":"x"}}"#)),
        ),
        (
            "503 HTML",
            Box::new(|f: Fault| {
                f.status(503)
                    .content_type("text/html")
                    .body("<html>busy</html>")
            }),
        ),
        ("reset", Box::new(|f: Fault| f.reset())),
        (
            "truncated JSON",
            Box::new(|f: Fault| {
                f.status(200)
                    .content_type("application/json")
                    .body(r#"{"value":[{"id""#)
            }),
        ),
    ];
    let graph = |env: &TestEnv| {
        env.acrctl()
            .env("ACRCTL_TIMEOUT", "2")
            .env("ACRCTL_ARM_RETRY_SCALE", "0.01")
            .args([
                "attach",
                "--cluster",
                "aks-sp",
                "-g",
                "rg1",
                "--acr",
                "registry1",
                "--debug",
            ])
            .output()
            .unwrap()
    };
    let kube = |env: &TestEnv| {
        env.acrctl()
            .env("ACRCTL_TIMEOUT", "2")
            .args([
                "create-pull-secret",
                "--acr",
                &env.registry(0),
                "--name",
                "s",
                "--namespace",
                "default",
                "--kubeconfig",
                &kubeconfig,
                "--username",
                "u",
                "--password-stdin",
                "--debug",
            ])
            .write_stdin("fault-test-password\n")
            .output()
            .unwrap()
    };
    for (family, listener, path) in [
        ("Graph", "main", "/v1.0/servicePrincipals"),
        ("Kubernetes API", "kube", "/api/v1/namespaces/default"),
    ] {
        for (kind, make) in &kinds {
            env.emu.clear_faults();
            env.emu.add_fault(make(Fault::new(path).listener(listener)));
            let started = Instant::now();
            let out = if family == "Graph" {
                graph(&env)
            } else {
                kube(&env)
            };
            let what = format!("{family} / {kind}");
            let err = stderr(&out);
            assert!(!err.contains("panicked"), "{what}: {err}");
            assert_ne!(
                out.status.code(),
                Some(0),
                "{what}: a permanent fault cannot succeed"
            );
            assert!(
                err.lines().any(|l| l.starts_with("ERROR: ")),
                "{what}: {err}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{what}: {:?}",
                started.elapsed()
            );
            let mut secrets = env.secrets();
            secrets.push("fault-test-password".into());
            assert_no_secrets(&out, &secrets);
            assert_no_jwt(&err);
        }
    }
}
