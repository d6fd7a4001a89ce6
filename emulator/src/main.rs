//! `acrctl-emulator --state-dir DIR [--registry NAME]... [--docker-registry PATH] [--port PORT]`:
//! prints the env lines, then `ready`, and runs until SIGINT/SIGTERM.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(
    version,
    about = "Local Azure emulator for acrctl (Entra, managed identity, ARM, ACR)"
)]
struct Args {
    #[arg(long)]
    state_dir: PathBuf,
    #[arg(long = "registry")]
    registries: Vec<String>,
    #[arg(long)]
    docker_registry: Option<PathBuf>,
    /// Port of the main HTTPS listener (ARM, Entra, admin); ephemeral when absent.
    #[arg(long)]
    port: Option<u16>,
    #[arg(long, default_value_t = 3599)]
    entra_token_lifetime_secs: u64,
    /// Extra managed-identity clusters `fleet-1`…`fleet-N` in rg1.
    #[arg(long, default_value_t = 0)]
    fleet_clusters: usize,
    /// The device code flow's polling interval, in seconds (Entra: 5).
    #[arg(long, default_value_t = 5)]
    device_code_interval_secs: u64,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    if let Some(p) = a.port {
        std::env::set_var("ACRCTL_EMULATOR_PORT", p.to_string());
    }
    let emu = acrctl_emulator::Emulator::start(acrctl_emulator::Options {
        state_dir: a.state_dir,
        registries: a.registries,
        docker_registry: a.docker_registry,
        entra_token_lifetime_secs: a.entra_token_lifetime_secs,
        fleet_clusters: a.fleet_clusters,
        device_code_interval_secs: a.device_code_interval_secs,
        ..Default::default()
    })?;
    for (k, v) in emu.env() {
        println!("{k}={v}");
    }
    println!("ready");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })?;
    drop(emu);
    Ok(())
}
