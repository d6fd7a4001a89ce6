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
