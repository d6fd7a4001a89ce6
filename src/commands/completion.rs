//! `acrctl completion bash|zsh|fish|powershell`.

use clap::CommandFactory;

pub fn run(shell: clap_complete::Shell) {
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(shell, &mut cmd, "acrctl", &mut std::io::stdout());
}
