//! acrctl: Azure Container Registry and AKS authentication in one fast binary.
//!
//! The binary (`main.rs`) only calls [`main`]; the modules are a library so that the
//! fuzz targets (`fuzz/`) reach the parsers through [`fuzzing`].

mod acr;
mod arm;
mod auth_flow;
mod cache;
mod certificate;
mod cli;
mod cloud;
mod commands;
mod context;
mod credential;
mod error;
mod fsutil;
mod graph;
mod http;
mod jwt;
mod kube;
mod log;
mod managed_identity;
mod output;
mod session;
mod stores;

/// Entry points for the fuzz targets: the parsers that read what other programs and
/// servers write. Nothing else is public.
pub mod fuzzing {
    /// A `WWW-Authenticate` header value.
    pub fn www_authenticate(header: &str) {
        let _ = crate::acr::parse_www_authenticate(header);
    }

    /// Merging an entry into an arbitrary existing docker `config.json`: must never panic,
    /// and must either refuse the file (leaving it as it was) or write valid JSON that
    /// keeps every other entry.
    pub fn docker_config_merge(existing: &[u8]) {
        use crate::stores::auth_file::{AuthFile, Credential};
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.json");
        std::fs::write(&path, existing).expect("write");
        let file = AuthFile::new(path.clone());
        let result = file.store(&[("r.azurecr.io".into(), Credential::IdentityToken("T".into()))]);
        let after = std::fs::read(&path).expect("read");
        match result {
            Err(_) => assert_eq!(after, existing, "a refused file must be left as it was"),
            Ok(_) => {
                let v: serde_json::Value =
                    serde_json::from_slice(&after).expect("valid JSON after a store");
                assert_eq!(v["auths"]["r.azurecr.io"]["identitytoken"], "T");
                if let Ok(serde_json::Value::Object(old)) =
                    serde_json::from_slice::<serde_json::Value>(existing)
                {
                    for key in old.keys() {
                        assert!(v.get(key).is_some(), "key {key} was dropped");
                    }
                }
            }
        }
    }

    /// ARM's `metadata/endpoints` document.
    pub fn cloud_metadata(body: &str) {
        let arm = url::Url::parse("https://management.example/").expect("static URL");
        let _ = crate::cloud::parse_metadata(body, &arm);
    }

    /// The claims of a JWT-shaped string.
    pub fn jwt_claims(token: &str) {
        let _ = crate::jwt::claims(token);
        let _ = crate::jwt::expires_at(token);
        let _ = crate::jwt::tenant(token);
    }
}

use clap::Parser;
use std::process::ExitCode;

/// Parses the command line, runs the command, and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse_from(arguments()) {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version (exit 0) and usage errors (exit 2) itself.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                error::Kind::Usage.exit_code()
            } else {
                0
            });
        }
    };
    log::set_debug(cli.global.debug);
    log::set_quiet(cli.global.only_show_errors);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error(&format!("Could not start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            report_error(&err);
            ExitCode::from(err.kind.exit_code())
        }
    }
}

/// Invoked as `docker-credential-acrctl get`, the binary is the credential helper.
fn arguments() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args.first().and_then(|a| {
        std::path::Path::new(a)
            .file_name()
            .map(|f| f.to_os_string())
    });
    if invoked_as.as_deref()
        == Some(std::ffi::OsStr::new(
            commands::configure_docker::HELPER_NAME,
        ))
    {
        args[0] = "acrctl".into();
        args.insert(1, "credential-helper".into());
    }
    args
}

/// Prints an error as one `ERROR:` line; with `--debug`, its causes follow.
pub fn report_error(err: &error::AppError) {
    log::error(&err.one_line());
    if log::debug_enabled() {
        for cause in &err.causes {
            log::debug(&format!("caused by: {cause}"));
        }
    }
}
