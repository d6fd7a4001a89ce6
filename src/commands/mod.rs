//! One module per command; each is a recipe over the protocol modules.

pub mod attach;
pub mod auth;
pub mod cache_cmd;
pub mod check_acr;
pub mod completion;
pub mod configure_docker;
pub mod credential_helper;
pub mod kubelet_provider;
pub mod login;
pub mod logout;
pub mod pull_secret;

use crate::cli::{AcrCommand, AksCommand, AuthCommand, CacheCommand, Cli, Command, OutputFormat};
use crate::context::Context;
use crate::error::AppError;
use std::sync::Arc;

/// Runs the parsed command; `Ok` carries the exit code (a multi-registry login can
/// partly fail and still print what succeeded).
pub async fn run(cli: Cli) -> Result<u8, AppError> {
    match cli.command {
        Command::CredentialHelper { action } => {
            let ctx = Context::new(cli.global, OutputFormat::Json)?;
            Ok(credential_helper::run(&ctx, action).await)
        }
        Command::ConfigureDocker(args) => {
            let ctx = Context::new(cli.global, OutputFormat::Json)?;
            configure_docker::run(&ctx, args).await
        }
        Command::Cache {
            command: CacheCommand::Clear,
        } => {
            let ctx = Context::new(cli.global, OutputFormat::Json)?;
            cache_cmd::clear(&ctx)
        }
        Command::KubeletCredentialProvider => {
            let ctx = Context::new(cli.global, OutputFormat::Json)?;
            kubelet_provider::run(&ctx).await
        }
        Command::Auth { command } => match command {
            AuthCommand::Login(args) => {
                let ctx = Context::new(cli.global, OutputFormat::Json)?;
                auth::login(&ctx, args).await
            }
            AuthCommand::Status => {
                let ctx = Context::new(cli.global, OutputFormat::Table)?;
                auth::status(&ctx).await
            }
            AuthCommand::Logout => {
                let ctx = Context::new(cli.global, OutputFormat::Json)?;
                auth::logout(&ctx)
            }
        },
        Command::Completion { shell } => {
            completion::run(shell);
            Ok(0)
        }
        Command::Login(args)
        | Command::Acr {
            command: AcrCommand::Login(args),
        } => {
            let ctx = Arc::new(Context::new(cli.global, OutputFormat::Json)?);
            login::run(ctx, args).await
        }
        Command::Attach(args) => {
            let ctx = Arc::new(Context::new(cli.global, OutputFormat::Json)?);
            attach::run(ctx, attach::Request::attach(args)).await
        }
        Command::Detach(args) => {
            let ctx = Arc::new(Context::new(cli.global, OutputFormat::Json)?);
            attach::run(ctx, attach::Request::detach(args)).await
        }
        Command::Aks {
            command: AksCommand::Update(args),
        } => {
            let ctx = Arc::new(Context::new(cli.global, OutputFormat::Json)?);
            attach::run(ctx, attach::Request::aks_update(args)?).await
        }
        Command::CheckAcr(args) => {
            let ctx = Context::new(cli.global, OutputFormat::Table)?;
            check_acr::run(&ctx, args.cluster, args.common).await
        }
        Command::Aks {
            command: AksCommand::CheckAcr(args),
        } => {
            let ctx = Context::new(cli.global, OutputFormat::Table)?;
            check_acr::run(&ctx, args.name, args.common).await
        }
        Command::CreatePullSecret(args) => {
            let ctx = Context::new(cli.global, OutputFormat::Json)?;
            pull_secret::run(&ctx, args).await
        }
        Command::Logout(args)
        | Command::Acr {
            command: AcrCommand::Logout(args),
        } => {
            let ctx = Context::new(cli.global, OutputFormat::Json)?;
            logout::run(&ctx, args).await
        }
    }
}

/// With one item (registry, cluster, namespace) its error is the command's; with several,
/// each failure is reported on stderr, the others have done their work, and the exit code
/// is the first failure's.
pub(crate) fn finish(mut failures: Vec<AppError>, total: usize) -> Result<u8, AppError> {
    if failures.is_empty() {
        return Ok(0);
    }
    if total == 1 && failures.len() == 1 {
        return Err(failures.remove(0));
    }
    let code = failures[0].kind.exit_code();
    for f in &failures {
        crate::report_error(f);
    }
    Ok(code)
}

/// A password piped into `--password-stdin`: at most 64 KiB of UTF-8 (a larger input is a
/// file piped by mistake), without docker's one trailing newline; registered as a secret.
pub(crate) fn read_password_stdin(command: &str) -> Result<String, AppError> {
    use std::io::Read;
    const LIMIT: usize = 64 * 1024;
    let mut buf = Vec::new();
    std::io::stdin()
        .take(LIMIT as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| AppError::usage(format!("Could not read the password from stdin: {e}.")))?;
    if buf.len() > LIMIT {
        return Err(AppError::usage("The password on stdin is longer than 64 KiB.")
            .hint(format!("Pipe only the password, e.g. `echo \"$PASSWORD\" | acrctl {command} … --password-stdin`.")));
    }
    let text = String::from_utf8(buf)
        .map_err(|_| AppError::usage("The password on stdin is not UTF-8 text."))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text).to_string();
    if text.is_empty() {
        return Err(AppError::usage("The password is empty.")
            .hint("Pipe the password into --password-stdin."));
    }
    crate::log::register_secret(&text);
    Ok(text)
}
