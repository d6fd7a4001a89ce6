//! acrctl: Azure Container Registry and AKS authentication in one fast binary.

mod acr;
mod arm;
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
mod stores;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
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
