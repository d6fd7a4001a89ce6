//! `acrctl logout` (docker logout): removes what `login` stored for each registry, from
//! the auth files and from the credential helpers they name.

use crate::acr;
use crate::cli::LogoutArgs;
use crate::context::Context;
use crate::error::AppError;
use crate::stores::auth_file::AuthFile;
use crate::stores::Client;

pub async fn run(ctx: &Context, args: LogoutArgs) -> Result<u8, AppError> {
    let clients: Vec<Client> = {
        use crate::cli::Target::*;
        let mut v = Vec::new();
        for t in &args.targets {
            match t {
                Docker => v.push(Client::Docker),
                Podman => v.push(Client::Podman),
                Helm => v.push(Client::Helm),
                All => v.extend([Client::Docker, Client::Podman, Client::Helm]),
            }
        }
        v.sort();
        v.dedup();
        v
    };
    for n in &args.names {
        acr::login_server(n, args.suffix.as_deref(), "azurecr.io")?;
    }
    let needs_suffix = args
        .names
        .iter()
        .any(|n| !n.contains('.') && !n.contains(':'));
    let cloud_suffix = if needs_suffix {
        ctx.acr_suffix().await?
    } else {
        String::new()
    };
    let mut lines = Vec::new();
    for n in &args.names {
        let server = acr::login_server(n, args.suffix.as_deref(), &cloud_suffix)?;
        let mut removed = ctx
            .cache
            .remove_where(|k| crate::cache::key::acr_server(k) == Some(server.as_str()))
            > 0;
        for client in &clients {
            let file = AuthFile::new(ctx.locations.auth_file(*client)?);
            removed |= file.erase(&server)?;
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
