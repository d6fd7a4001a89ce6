//! `acrctl auth login | status | logout` and the session source of the credential chain,
//! against the emulator's seeded user. The tests play the person: they read the device
//! code from stderr and approve it, or follow the browser redirect themselves.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::*;

/// acrctl as a developer on a workstation runs it: no service principal in the
/// environment and nothing but the test's own bin directory on PATH (so no `az`).
fn user_std(env: &TestEnv) -> std::process::Command {
    let mut cmd = env.acrctl_std();
    for k in ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"] {
        cmd.env_remove(k);
    }
    cmd.env("PATH", &env.bin);
    cmd
}

fn user(env: &TestEnv) -> assert_cmd::Command {
    assert_cmd::Command::from_std(user_std(env))
}

fn session_file(env: &TestEnv) -> std::path::PathBuf {
    env.state_dir().join("session.json")
}

fn refresh_token(env: &TestEnv) -> String {
    read_json(&session_file(env))["refreshToken"]
        .as_str()
        .expect("a refresh token in the session")
        .to_string()
}

/// Runs `acrctl <args>`, handing every stderr line to `on_line` while it runs.
fn run_interactive(
    env: &TestEnv,
    args: &[&str],
    extra_env: &[(&str, &str)],
    mut on_line: impl FnMut(&str),
) -> Output {
    let mut cmd = user_std(env);
    cmd.args(args)
        .envs(extra_env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("acrctl starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => on_line(&line),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let mut out = child.wait_with_output().unwrap();
    out.stderr = reader.join().unwrap().into_bytes();
    out
}

/// The code in Entra's message: "... and enter the code ABCDEFGHI to authenticate."
fn user_code(line: &str) -> Option<String> {
    let rest = line.split("enter the code ").nth(1)?;
    Some(rest.split_whitespace().next()?.to_string())
}

/// Signs the seeded user in with the device code flow, approving the code as it appears.
fn device_login(env: &TestEnv) -> Output {
    let mut approved = false;
    let out = run_interactive(env, &["auth", "login", "--use-device-code"], &[], |line| {
        if let Some(code) = user_code(line) {
            assert!(env.emu.approve_device_code(&code), "unknown code {code}");
            approved = true;
        }
    });
    assert!(approved, "no device code on stderr:\n{}", stderr(&out));
    out
}

/// Every stderr must be free of the session's refresh token and of any JWT.
fn assert_clean(out: &Output, env: &TestEnv) {
    let err = stderr(out);
    assert_no_jwt(&err);
    if session_file(env).exists() {
        let rt = refresh_token(env);
        assert!(!err.contains(&rt), "the refresh token leaked:\n{err}");
    }
    assert_no_secrets(out, &env.secrets());
}

fn fast_device_codes() -> TestEnv {
    TestEnv::with_options(|o| o.device_code_interval_secs = 1)
}

#[test]
fn device_code_sign_in_then_registry_login_status_and_logout() {
    let env = fast_device_codes();
    let out = device_login(&env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_clean(&out, &env);
    let account: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(account["user"], env.emu.user().upn.as_str());
    assert_eq!(account["objectId"], env.emu.user().object_id.as_str());
    assert_eq!(account["tenant"], env.info().tenant_id.as_str());
    assert!(stderr(&out).contains("Signed in as"), "{}", stderr(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&session_file(&env)), 0o600);
        assert_eq!(mode(&env.state_dir()), 0o700);
    }
    let session = read_json(&session_file(&env));
    assert_eq!(session["clientId"], "04b07795-8ddb-461a-bbee-02f9e1bf7b46");

    // `acrctl login` with no service principal and no az: the session is the source.
    let server = env.registry(0);
    let out = user(&env)
        .args(["login", "-n", &server, "--expose-token", "--debug"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("credential source: acrctl auth login session"),
        "{}",
        stderr(&out)
    );
    assert_clean(&out, &env);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["loginServer"], server.as_str());

    // A warm cache: no request to Entra or the registry at all.
    env.emu.clear_requests();
    let out = user(&env)
        .args(["login", "-n", &server, "--expose-token"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env.emu.requests().is_empty(), "{:?}", env.emu.requests());

    // Status: a table by default, data with -o json; never a secret.
    let out = user(&env).args(["auth", "status"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&env.emu.user().upn), "{text}");
    assert!(text.contains("ACR refresh token"), "{text}");
    assert!(!text.contains(&refresh_token(&env)), "{text}");
    assert_no_jwt(&text);
    let out = user(&env)
        .args(["auth", "status", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in [
        "user",
        "objectId",
        "tenant",
        "authority",
        "clientId",
        "signedInAt",
        "sessionFile",
        "lastRefresh",
        "cachedTokens",
    ] {
        assert!(v.get(k).is_some(), "{k} missing in {v}");
    }
    let cached = v["cachedTokens"].as_array().unwrap();
    assert!(cached
        .iter()
        .any(|c| c["kind"] == "acr" && c["resource"] == server.as_str()));
    assert!(cached
        .iter()
        .any(|c| c["kind"] == "entra" && c["resource"] == "https://containerregistry.azure.net"));
    assert!(!stdout(&out).contains(&refresh_token(&env)));
    assert_no_jwt(&stdout(&out));

    // `cache clear` keeps the session; logout drops it and its tokens.
    let out = user(&env).args(["cache", "clear"]).output().unwrap();
    assert!(out.status.success());
    assert!(session_file(&env).exists());
    let out = user(&env)
        .args(["login", "-n", &server, "--expose-token"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = user(&env).args(["auth", "logout"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Signed out"), "{}", stderr(&out));
    assert!(!session_file(&env).exists());
    let cache = std::fs::read_to_string(env.cache_dir().join("tokens.json")).unwrap();
    assert!(!cache.contains("session:"), "{cache}");
    let out = user(&env).args(["auth", "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("acrctl auth login"),
        "{}",
        stderr(&out)
    );
    let out = user(&env)
        .args(["login", "-n", &server, "--expose-token"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[test]
fn slow_down_makes_the_poll_wait_five_seconds_more() {
    let env = fast_device_codes();
    env.emu.slow_down_device_polls(1);
    let started = Instant::now();
    let out = device_login(&env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        started.elapsed() >= Duration::from_secs(6),
        "polled again after {:?}",
        started.elapsed()
    );
    let polls = env
        .emu
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .count();
    assert_eq!(polls, 2, "{:?}", env.emu.requests());
    assert_clean(&out, &env);
}

#[test]
fn an_expired_device_code_is_refused_with_a_clear_message() {
    let env = TestEnv::with_options(|o| {
        o.device_code_interval_secs = 1;
        o.device_code_lifetime_secs = 2;
    });
    let out = run_interactive(&env, &["auth", "login", "--use-device-code"], &[], |_| {});
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("expired"), "{err}");
    assert!(err.contains("acrctl auth login"), "{err}");
    assert!(!session_file(&env).exists());
    assert_clean(&out, &env);
}

#[test]
fn without_a_display_login_falls_back_to_the_device_code() {
    let env = fast_device_codes();
    let mut saw_code = false;
    let out = run_interactive(&env, &["auth", "login"], &[], |line| {
        if let Some(code) = user_code(line) {
            saw_code = env.emu.approve_device_code(&code);
        }
    });
    assert!(saw_code, "{}", stderr(&out));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("no display"), "{}", stderr(&out));
}

/// Plays the browser: GETs the authorize URL (after `tamper`), and follows the redirect
/// to acrctl's loopback listener. Returns the code the redirect carried.
fn play_browser(env: &TestEnv, authorize: &str, tamper: impl Fn(url::Url) -> url::Url) -> String {
    let url = tamper(url::Url::parse(authorize).unwrap());
    let ca = std::fs::read(&env.info().ca_pem).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        let r = client.get(url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 302, "{:?}", r.text().await);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with("http://127.0.0.1:"), "{location}");
        let code = url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("a code in the redirect");
        let page = client.get(&location).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 200);
        code
    })
}

fn browser_login(env: &TestEnv, tamper: impl Fn(url::Url) -> url::Url) -> (Output, String) {
    let mut code = String::new();
    let out = run_interactive(
        env,
        &["auth", "login"],
        &[("ACRCTL_BROWSER", "none")],
        |line| {
            if line.starts_with("https://") && line.contains("/oauth2/v2.0/authorize") {
                code = play_browser(env, line.trim(), &tamper);
            }
        },
    );
    assert!(
        !code.is_empty(),
        "no authorize URL on stderr:\n{}",
        stderr(&out)
    );
    (out, code)
}

#[test]
fn browser_sign_in_with_pkce_over_the_loopback_redirect() {
    let env = TestEnv::start();
    let (out, code) = browser_login(&env, |u| u);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains(&code),
        "the code leaked:\n{}",
        stderr(&out)
    );
    assert_clean(&out, &env);
    let account: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(account["user"], env.emu.user().upn.as_str());
    let authorize = env
        .emu
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/oauth2/v2.0/authorize"))
        .unwrap();
    assert!(authorize.query.contains("code_challenge_method=S256"));
    assert!(authorize
        .query
        .contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"));
    let out = user(&env)
        .args(["login", "-n", &env.registry(0), "--expose-token"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_pkce_mismatch_is_refused() {
    let env = TestEnv::start();
    let (out, _) = browser_login(&env, |mut u| {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "code_challenge" {
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
        u
    });
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("AADSTS50148"), "{}", stderr(&out));
    assert!(!session_file(&env).exists());
    assert_clean(&out, &env);
}

#[test]
fn tokens_are_refreshed_after_expiry_and_the_refresh_token_rotates() {
    // Tokens that live 2 s are never reused from the cache (its margin is 5 minutes).
    let env = TestEnv::with_options(|o| {
        o.device_code_interval_secs = 1;
        o.entra_token_lifetime_secs = 2;
    });
    assert!(device_login(&env).status.success());
    let first = refresh_token(&env);
    std::thread::sleep(Duration::from_secs(2));
    for _ in 0..2 {
        let before = refresh_token(&env);
        let out = user(&env)
            .args([
                "--no-cache",
                "login",
                "-n",
                &env.registry(0),
                "--expose-token",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_clean(&out, &env);
        assert_ne!(
            refresh_token(&env),
            before,
            "the rotated refresh token is stored"
        );
        assert_eq!(
            env.emu.refresh_token_count(),
            1,
            "the old one no longer works"
        );
    }
    assert_ne!(refresh_token(&env), first);
}

#[test]
fn a_revoked_session_says_to_sign_in_again() {
    let env = fast_device_codes();
    assert!(device_login(&env).status.success());
    assert_eq!(env.emu.revoke_user(&env.emu.user().object_id.clone()), 1);
    let out = user(&env)
        .args(["login", "-n", &env.registry(0), "--expose-token"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("Run `acrctl auth login` again"), "{err}");
    assert!(err.contains("AADSTS50173"), "{err}");
    assert_clean(&out, &env);
}

#[test]
fn a_corrupt_session_is_an_error_that_says_to_sign_in_again() {
    let env = TestEnv::start();
    std::fs::create_dir_all(env.state_dir()).unwrap();
    std::fs::write(session_file(&env), "{not json").unwrap();
    let out = user(&env)
        .args(["login", "-n", &env.registry(0), "--expose-token"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("acrctl auth login"),
        "{}",
        stderr(&out)
    );
    let out = user(&env).args(["auth", "logout"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!session_file(&env).exists());
}

#[test]
fn a_service_principal_in_the_environment_still_comes_first() {
    let env = fast_device_codes();
    assert!(device_login(&env).status.success());
    let out = env
        .acrctl()
        .args(["login", "-n", &env.registry(0), "--expose-token", "--debug"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("credential source: environment service principal"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn several_registries_at_once_share_one_refresh_without_losing_the_session() {
    let env = TestEnv::with_options(|o| {
        o.device_code_interval_secs = 1;
        o.registries = vec!["registry1".into(), "registry2".into(), "registry3".into()];
    });
    assert!(device_login(&env).status.success());
    for _ in 0..2 {
        let out = user(&env)
            .args(["--no-cache", "login", "--expose-token"])
            .args([
                "-n",
                &env.registry(0),
                "-n",
                &env.registry(1),
                "-n",
                &env.registry(2),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 3);
        assert_eq!(env.emu.refresh_token_count(), 1);
    }
}
