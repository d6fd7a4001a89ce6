//! `acrctl logout` (docker logout): removes what `login` stored for each registry, from
//! the auth files and from the credential helpers they name.

use crate::cli::LogoutArgs;
use crate::context::Context;
use crate::error::AppError;
use crate::stores::auth_file::AuthFile;

pub async fn run(ctx: &Context, args: LogoutArgs) -> Result<u8, AppError> {
    let clients = crate::commands::login::clients(&args.targets);
    let servers =
        crate::commands::login::login_servers(ctx, &args.names, args.suffix.as_deref()).await?;
    let mut lines = Vec::new();
    for server in &servers {
        let mut removed = ctx
            .cache
            .remove_where(|k| crate::cache::key::acr_server(k) == Some(server.as_str()))
            > 0;
        for client in &clients {
            let file = AuthFile::new(ctx.locations.auth_file(*client)?);
            removed |= file.erase(server)?;
        }
        lines.push(if removed {
            format!("Removing login credentials for {server}")
        } else {
            format!("Not logged in to {server}")
        });
    }
    if ctx.printer.format != crate::cli::OutputFormat::None {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(0)
}
