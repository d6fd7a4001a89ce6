//! One module per command; each is a recipe over the protocol modules.

pub mod completion;
pub mod login;
pub mod logout;
pub mod pull_secret;

use crate::cli::{AcrCommand, Cli, Command, OutputFormat};
use crate::context::Context;
use crate::error::AppError;
use std::sync::Arc;

/// Runs the parsed command; `Ok` carries the exit code (a multi-registry login can
/// partly fail and still print what succeeded).
pub async fn run(cli: Cli) -> Result<u8, AppError> {
    match cli.command {
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
