//! The command tree: clap types only. Commands live in `commands/`, protocols in their
//! own modules; nothing here does I/O.

use clap::{Args, Parser, Subcommand, ValueEnum};

const ROOT_EXAMPLES: &str = "\
Examples:
  acrctl login -n myregistry                      # then docker/podman/skopeo pull just work
  acrctl login -n myregistry --expose-token -o tsv --query accessToken
  acrctl login -n reg1 -n reg2 --target docker --target podman
  acrctl logout -n myregistry
  acrctl acr login -n myregistry                  # the az spelling works too

Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 auth refused, 5 network/TLS.";

#[derive(Parser, Debug)]
#[command(
    name = "acrctl",
    version,
    about = "Azure Container Registry and AKS authentication, fast and without a Docker daemon",
    after_help = ROOT_EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum)]
    pub output: Option<OutputFormat>,

    /// JMESPath query applied to the output data, as in az (e.g. `accessToken`).
    #[arg(long, global = true, value_name = "JMESPATH")]
    pub query: Option<String>,

    /// Show every request and decision on stderr (secrets are redacted).
    #[arg(long, global = true)]
    pub debug: bool,

    /// Only show errors, suppressing warnings and progress.
    #[arg(long, global = true)]
    pub only_show_errors: bool,

    /// Subscription id or name (default: AZURE_SUBSCRIPTION_ID, then the Azure CLI's default).
    #[arg(long, global = true)]
    pub subscription: Option<String>,

    /// Cloud: AzureCloud, AzureChinaCloud, AzureUSGovernment (a custom cloud comes from ACRCTL_ARM_ENDPOINT).
    #[arg(long, global = true, env = "ACRCTL_CLOUD")]
    pub cloud: Option<String>,

    /// Use only this credential source instead of the chain (also AZURE_TOKEN_CREDENTIALS).
    #[arg(long, global = true, value_enum)]
    pub auth: Option<AuthChoice>,

    /// User-assigned managed identity: client id, object id or resource id.
    #[arg(long, global = true, value_name = "ID")]
    pub identity_id: Option<String>,

    /// Neither read nor write the token cache (ACRCTL_CACHE_DIR, else ~/.cache/acrctl).
    #[arg(long, global = true)]
    pub no_cache: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Json,
    Jsonc,
    Tsv,
    Yaml,
    Table,
    None,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthChoice {
    /// Service principal from AZURE_TENANT_ID/AZURE_CLIENT_ID and a secret or certificate.
    Env,
    /// AZURE_FEDERATED_TOKEN_FILE + AZURE_CLIENT_ID + AZURE_TENANT_ID.
    WorkloadIdentity,
    /// The session of `acrctl auth login`.
    Session,
    /// IDENTITY_ENDPOINT/IDENTITY_HEADER, else the VM metadata endpoint.
    ManagedIdentity,
    /// The Azure CLI's login (`az account get-access-token`).
    AzureCli,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Log in to one or more registries with your Entra identity (az acr login).
    Login(LoginArgs),
    /// Remove what `login` stored for a registry (docker logout).
    Logout(LogoutArgs),
    /// az-style spellings: `acrctl acr login …`.
    Acr {
        #[command(subcommand)]
        command: AcrCommand,
    },
    /// Answer docker's credential-helper protocol (also run as `docker-credential-acrctl`).
    CredentialHelper {
        #[arg(value_enum)]
        action: HelperAction,
    },
    /// Point docker (and podman) at acrctl's credential helper for these registries.
    ConfigureDocker(ConfigureDockerArgs),
    /// The token cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Kubelet image credential provider (credentialprovider.kubelet.k8s.io/v1) on stdin/stdout.
    KubeletCredentialProvider,
    /// Print a shell completion script.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperAction {
    Get,
    Store,
    Erase,
    List,
    Version,
}

#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Drop every cached token (the `acrctl auth login` session is kept).
    Clear,
}

const CONFIGURE_DOCKER_EXAMPLES: &str = "\
Examples:
  acrctl configure-docker -n myregistry           # docker pull myregistry.azurecr.io/... just works
  acrctl configure-docker -n reg1 -n reg2 --target all
  acrctl configure-docker -n myregistry --remove";

#[derive(Args, Debug, Clone)]
#[command(after_help = CONFIGURE_DOCKER_EXAMPLES)]
pub struct ConfigureDockerArgs {
    /// Registry name or login server; repeatable.
    #[arg(short = 'n', long = "name", required = true, value_name = "REGISTRY")]
    pub names: Vec<String>,

    /// Whose config to change: docker (default), podman, or all.
    #[arg(long = "target", value_enum, default_value = "docker")]
    pub targets: Vec<Target>,

    /// Remove the credHelpers entries instead.
    #[arg(long)]
    pub remove: bool,

    /// Where to create the docker-credential-acrctl link (default: next to acrctl, else a writable directory on PATH).
    #[arg(long, value_name = "DIR")]
    pub link_dir: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum AcrCommand {
    /// Same as `acrctl login`.
    Login(LoginArgs),
    /// Same as `acrctl logout`.
    Logout(LogoutArgs),
}

const LOGIN_EXAMPLES: &str = "\
Examples:
  # Log in with the identity of the environment (service principal, workload or
  # managed identity, Azure CLI); docker, podman, skopeo, helm then pull.
  acrctl login -n myregistry

  # CI: print the token instead of storing it.
  TOKEN=$(acrctl login -n myregistry --expose-token -o tsv --query accessToken)
  echo \"$TOKEN\" | docker login myregistry.azurecr.io \\
      -u 00000000-0000-0000-0000-000000000000 --password-stdin

  # Several registries at once, for docker and podman.
  acrctl login -n reg1 -n reg2.azurecr.io --target docker --target podman

  # Admin user or repository-scoped token credentials.
  echo \"$PASSWORD\" | acrctl login -n myregistry -u mytoken --password-stdin";

#[derive(Args, Debug, Clone)]
#[command(after_help = LOGIN_EXAMPLES)]
pub struct LoginArgs {
    /// Registry name (`myregistry`) or login server (`myregistry.azurecr.io`, `host:port`); repeatable.
    #[arg(short = 'n', long = "name", required = true, value_name = "REGISTRY")]
    pub names: Vec<String>,

    /// Domain name label suffix: `-n myregistry --suffix abc` logs in to `myregistry-abc.azurecr.io`.
    #[arg(long)]
    pub suffix: Option<String>,

    /// Print the ACR refresh token as JSON instead of storing it; needs no Docker.
    #[arg(long, conflicts_with_all = ["username", "password", "password_stdin"])]
    pub expose_token: bool,

    /// Username: the admin user or an ACR token name (with --password-stdin).
    #[arg(short = 'u', long)]
    pub username: Option<String>,

    /// Password on the command line (visible to other processes; prefer --password-stdin).
    #[arg(
        short = 'p',
        long,
        requires = "username",
        conflicts_with = "password_stdin"
    )]
    pub password: Option<String>,

    /// Read the password from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,

    /// Where to store the credentials; repeatable.
    #[arg(long = "target", value_enum, default_value = "docker")]
    pub targets: Vec<Target>,

    /// Entra audience for the exchange: `acr` (default), `arm`, or a URI.
    #[arg(long, env = "ACRCTL_ACR_AUDIENCE")]
    pub audience: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Docker,
    Podman,
    Helm,
    All,
}

const LOGOUT_EXAMPLES: &str = "\
Examples:
  acrctl logout -n myregistry
  acrctl logout -n myregistry.azurecr.io --target all";

#[derive(Args, Debug, Clone)]
#[command(after_help = LOGOUT_EXAMPLES)]
pub struct LogoutArgs {
    /// Registry name or login server; repeatable.
    #[arg(short = 'n', long = "name", required = true, value_name = "REGISTRY")]
    pub names: Vec<String>,

    /// Domain name label suffix, as for login.
    #[arg(long)]
    pub suffix: Option<String>,

    /// Where to remove the credentials from; repeatable.
    #[arg(long = "target", value_enum, default_value = "docker")]
    pub targets: Vec<Target>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn az_spelling_parses_like_login() {
        let cli = Cli::try_parse_from(["acrctl", "acr", "login", "-n", "reg1", "--expose-token"])
            .unwrap();
        match cli.command {
            Command::Acr {
                command: AcrCommand::Login(args),
            } => {
                assert_eq!(args.names, vec!["reg1"]);
                assert!(args.expose_token);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn expose_token_conflicts_with_username() {
        let err = Cli::try_parse_from(["acrctl", "login", "-n", "r", "--expose-token", "-u", "x"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
