//! Test harness: one emulator per test (they start in milliseconds, and faults are per
//! instance), a private HOME, and the real acrctl binary with a clean environment.
#![allow(dead_code)]

use acrctl_emulator::{Emulator, Info, KubeInfo, Options};
use std::path::{Path, PathBuf};
use std::process::Output;

pub struct TestEnv {
    pub emu: Emulator,
    pub home: tempfile::TempDir,
    pub bin: PathBuf,
}

impl TestEnv {
    /// An emulator with `registry1` and no registry backend.
    pub fn start() -> TestEnv {
        Self::with_registries(&["registry1"])
    }

    pub fn with_registries(names: &[&str]) -> TestEnv {
        Self::build(names, None)
    }

    /// An emulator whose first registry is backed by the real Debian `docker-registry`,
    /// holding `samples/hello:v1`. `.ci/run` installs it; elsewhere the test is skipped
    /// with a note, unless `CI` is set, where its absence is a failure.
    pub fn with_real_registry() -> Option<TestEnv> {
        let Some(path) = find_program("docker-registry") else {
            if std::env::var_os("CI").is_some() {
                panic!("docker-registry is not installed; .ci/run installs it (apt-get install docker-registry)");
            }
            eprintln!(
                "skipped: docker-registry is not installed (apt-get install docker-registry)"
            );
            return None;
        };
        Some(Self::build(&["registry1"], Some(path)))
    }

    fn build(names: &[&str], docker_registry: Option<PathBuf>) -> TestEnv {
        Self::with_options(|o| {
            o.registries = names.iter().map(|s| s.to_string()).collect();
            o.docker_registry = docker_registry;
        })
    }

    /// An emulator with `registry1` and options changed by `change` (token lifetimes,
    /// the device code flow's interval and lifetime).
    pub fn with_options(change: impl FnOnce(&mut Options)) -> TestEnv {
        let home = tempfile::tempdir().expect("temp home");
        let bin = home.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let mut options = Options {
            state_dir: home.path().join("emulator"),
            registries: vec!["registry1".into()],
            ..Options::default()
        };
        change(&mut options);
        let emu = Emulator::start(options).expect("emulator starts");
        TestEnv { emu, home, bin }
    }

    /// Where `acrctl auth login` keeps its session in these tests (`ACRCTL_STATE_DIR`).
    pub fn state_dir(&self) -> PathBuf {
        self.home.path().join("state")
    }

    pub fn info(&self) -> &Info {
        self.emu.info()
    }

    pub fn registry(&self, index: usize) -> String {
        self.info().registries[index].login_server.clone()
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.home.path().join("cache")
    }

    pub fn docker_config(&self) -> PathBuf {
        self.home.path().join(".docker").join("config.json")
    }

    /// The acrctl binary with only the emulator's environment: the service principal
    /// with a secret, no managed identity endpoint (the VM endpoint points at a closed
    /// port), no Azure CLI.
    pub fn acrctl(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.acrctl_std())
    }

    /// The same as a plain `std::process::Command`, for spawning several at once.
    pub fn acrctl_std(&self) -> std::process::Command {
        self.command(assert_cmd::cargo::cargo_bin("acrctl"))
    }

    /// Any program with the environment acrctl gets (docker and skopeo run acrctl as
    /// their credential helper and pass their environment on).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        cmd.env_clear();
        cmd.env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", self.bin.display()),
        );
        cmd.env("HOME", self.home.path());
        cmd.env("DOCKER_CONFIG", self.home.path().join(".docker"));
        cmd.env("XDG_RUNTIME_DIR", self.home.path().join("run"));
        cmd.env("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9");
        cmd.env("ACRCTL_TIMEOUT", "10");
        cmd.env("ACRCTL_CACHE_DIR", self.cache_dir());
        cmd.env("ACRCTL_STATE_DIR", self.state_dir());
        for (k, v) in self.emu.env() {
            cmd.env(k, v);
        }
        cmd
    }

    /// The emulator's Kubernetes API subset.
    pub fn kube(&self) -> &KubeInfo {
        self.info()
            .kube
            .as_ref()
            .expect("the emulator serves a Kubernetes API")
    }

    /// The real kubectl with a clean environment, pointed at the emulator's kubeconfig.
    pub fn kubectl(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new("kubectl");
        cmd.env_clear();
        cmd.env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", self.bin.display()),
        );
        cmd.env("HOME", self.home.path());
        cmd.env("KUBECONFIG", &self.kube().kubeconfig_path);
        cmd
    }

    /// Every secret the emulator handed out, for leak checks.
    pub fn secrets(&self) -> Vec<String> {
        let i = self.info();
        let mut s: Vec<String> = [&i.sp_secret, &i.sp_noaccess]
            .iter()
            .filter_map(|p| p.secret.clone())
            .collect();
        s.push(i.identity_header.clone());
        for c in &i.clusters {
            s.extend(c.sp_secret.clone());
        }
        if let Some(k) = &i.kube {
            s.push(k.admin_token.clone());
            s.push(k.readonly_token.clone());
        }
        for r in &i.registries {
            s.push(r.admin_password.clone());
        }
        s
    }

    /// A seeded AKS cluster by name (`aks-mi`, `aks-mi2`, `aks-mi3`, `aks-sp`,
    /// `aks-nokubelet`, `aks-none`).
    pub fn cluster(&self, name: &str) -> acrctl_emulator::ClusterInfo {
        self.info()
            .clusters
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no seeded cluster {name}"))
            .clone()
    }

    /// Writes an executable script into the PATH directory every acrctl run sees first.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.bin.join(name);
        std::fs::write(&path, body).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        path
    }
}

pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts that none of the secrets appears in the process's output.
pub fn assert_no_secrets(o: &Output, secrets: &[String]) {
    let all = format!("{}\n{}", stdout(o), stderr(o));
    for s in secrets {
        assert!(
            !all.contains(s.as_str()),
            "a secret leaked into the output:\n{all}"
        );
    }
}

/// JWTs (`eyJ….….…`) in a text; none may appear where tokens must not be shown.
pub fn assert_no_jwt(text: &str) {
    let found = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .any(|w| w.starts_with("eyJ") && w.matches('.').count() >= 2 && w.len() > 40);
    assert!(!found, "a token appears in:\n{text}");
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("valid JSON")
}

/// The claims of a JWT (no verification).
pub fn claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// acrctl with ARM's backoff schedules shrunk a hundredfold (the ARM commands' tests).
pub fn cmd(env: &TestEnv) -> assert_cmd::Command {
    let mut c = env.acrctl();
    c.env("ACRCTL_ARM_RETRY_SCALE", "0.01");
    c
}

/// Runs acrctl (see [`cmd`]) and asserts that no secret and no token reached its output.
pub fn run(env: &TestEnv, args: &[&str]) -> Output {
    let out = cmd(env).args(args).output().unwrap();
    let mut secrets = env.secrets();
    secrets.retain(|s| !s.is_empty());
    assert_no_secrets(&out, &secrets);
    assert_no_jwt(&stdout(&out));
    assert_no_jwt(&stderr(&out));
    out
}

/// stdout as JSON, or a panic that shows what it was.
pub fn json_out(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(out)))
}
