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
  acrctl attach --cluster myAKSCluster -g myResourceGroup --acr myregistry
  acrctl aks update -n myAKSCluster -g myResourceGroup --attach-acr myregistry
  acrctl check-acr --cluster myAKSCluster -g myResourceGroup --acr myregistry
  echo \"$SP_SECRET\" | acrctl create-pull-secret --acr myregistry --name acr-secret \\
      --namespace awesomeapps --username \"$SP_APP_ID\" --password-stdin
  acrctl configure-docker -n myregistry           # docker pulls never need a login again
  acrctl auth login                               # sign in without the Azure CLI

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
    /// Let a cluster's nodes pull from a registry: an AcrPull role assignment for its
    /// kubelet identity (az aks update --attach-acr).
    Attach(AttachArgs),
    /// Remove that role assignment again (az aks update --detach-acr).
    Detach(DetachArgs),
    /// Tell whether a cluster can pull from a registry, and why not: a checklist with the
    /// evidence and the fix for each problem (az aks check-acr).
    CheckAcr(CheckAcrArgs),
    /// Create or update an image pull secret for a registry in any Kubernetes cluster
    /// (kubectl create secret docker-registry).
    CreatePullSecret(CreatePullSecretArgs),
    /// Point docker (and podman) at acrctl's credential helper for these registries.
    ConfigureDocker(ConfigureDockerArgs),
    /// Answer docker's credential-helper protocol (also run as `docker-credential-acrctl`).
    CredentialHelper {
        #[arg(value_enum)]
        action: HelperAction,
    },
    /// Kubelet image credential provider (credentialprovider.kubelet.k8s.io/v1) on stdin/stdout.
    KubeletCredentialProvider,
    /// Sign in to Entra ID without the Azure CLI, and stay signed in (az login,
    /// az account show, az logout).
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// The token cache.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// az-style spellings: `acrctl acr login …`.
    Acr {
        #[command(subcommand)]
        command: AcrCommand,
    },
    /// az-style spellings: `acrctl aks update -n C -g RG --attach-acr X`.
    Aks {
        #[command(subcommand)]
        command: AksCommand,
    },
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

const AUTH_LOGIN_EXAMPLES: &str = "\
Examples:
  acrctl auth login                               # browser sign-in, device code where no display
  acrctl auth login --use-device-code             # over SSH: enter the code on another device
  acrctl auth login --tenant contoso.onmicrosoft.com
  acrctl login -n myregistry                      # then: no az needed, milliseconds when cached

The refresh token is kept in $ACRCTL_STATE_DIR (else ~/.local/state/acrctl), 0600;
`acrctl auth logout` removes it. The session is used before managed identity and az.";

const AUTH_STATUS_EXAMPLES: &str = "\
Examples:
  acrctl auth status                              # who, tenant, cached audiences and expiry
  acrctl auth status -o json --query user

Exit codes: 0 signed in, 4 not signed in (or the session file is corrupt).";

#[derive(Subcommand, Debug)]
pub enum AuthCommand {
    /// Sign in as a user: browser (authorization code + PKCE) or device code.
    #[command(after_help = AUTH_LOGIN_EXAMPLES)]
    Login(AuthLoginArgs),
    /// Who is signed in, and which tokens are cached until when (no secrets).
    #[command(after_help = AUTH_STATUS_EXAMPLES)]
    Status,
    /// Sign out: drop the session and every token obtained through it.
    #[command(after_help = "Examples:\n  acrctl auth logout")]
    Logout,
}

#[derive(Args, Debug, Clone)]
pub struct AuthLoginArgs {
    /// Use the device code flow even where a browser could be opened.
    #[arg(long)]
    pub use_device_code: bool,

    /// Tenant id or domain (default: organizations, any work or school tenant).
    #[arg(long, short = 't', value_name = "TENANT")]
    pub tenant: Option<String>,

    /// Public client (application) id (default: the Azure CLI's, 04b07795-8ddb-461a-bbee-02f9e1bf7b46).
    #[arg(long, value_name = "CLIENT_ID")]
    pub client_id: Option<String>,

    /// Extra scopes to ask consent for at sign-in; repeatable.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
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

#[derive(Subcommand, Debug)]
pub enum AksCommand {
    /// `--attach-acr X` or `--detach-acr X`, as in az; acrctl touches only the role
    /// assignment, never the cluster itself.
    Update(AksUpdateArgs),
    /// Same as `acrctl check-acr` (az aks check-acr -n C -g RG --acr X).
    CheckAcr(AksCheckAcrArgs),
}

const ATTACH_EXAMPLES: &str = "\
Examples:
  # The cluster's nodes can pull from myregistry (AcrPull for its kubelet identity).
  acrctl attach --cluster myAKSCluster -g myResourceGroup --acr myregistry

  # A registry in another subscription, by resource ID; several clusters at once.
  acrctl attach --cluster aks1 --cluster aks2 -g myResourceGroup \\
      --acr /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.ContainerRegistry/registries/myregistry

  # An ABAC registry (RBAC Registry + ABAC Repository Permissions): the repository role.
  acrctl attach --cluster myAKSCluster -g myResourceGroup --acr myregistry --role repository-reader

  # Pasted from Microsoft's docs: the az spelling.
  acrctl aks update -n myAKSCluster -g myResourceGroup --attach-acr myregistry

Needs Microsoft.Authorization/roleAssignments/write on the registry (Owner, User Access
Administrator or Role Based Access Control Administrator). Nothing on the cluster changes.";

const DETACH_EXAMPLES: &str = "\
Examples:
  acrctl detach --cluster myAKSCluster -g myResourceGroup --acr myregistry
  acrctl aks update -n myAKSCluster -g myResourceGroup --detach-acr myregistry

Only this cluster's assignments of the role (AcrPull unless --role) at the registry are
removed; assignments made by others or at other scopes stay.";

/// What attach and detach share: the clusters, their resource group, the registry, the role.
#[derive(Args, Debug, Clone)]
pub struct ClusterAcrArgs {
    /// AKS cluster name; repeat for several clusters in the same resource group.
    #[arg(long = "cluster", short = 'c', required = true, value_name = "CLUSTER")]
    pub clusters: Vec<String>,

    /// The clusters' resource group.
    #[arg(short = 'g', long = "resource-group", value_name = "GROUP")]
    pub resource_group: String,

    /// Registry name (looked up in the current subscription) or full resource ID (any subscription).
    #[arg(long, value_name = "NAME_OR_ID")]
    pub acr: String,

    /// Role: acrpull (default), acrpush, repository-reader (ABAC registries), or a role definition GUID.
    #[arg(long, default_value = "acrpull", value_name = "ROLE")]
    pub role: String,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalType {
    #[value(name = "User")]
    User,
    #[value(name = "ServicePrincipal")]
    ServicePrincipal,
    #[value(name = "Group")]
    Group,
}

impl PrincipalType {
    pub fn as_arm(self) -> &'static str {
        match self {
            PrincipalType::User => "User",
            PrincipalType::ServicePrincipal => "ServicePrincipal",
            PrincipalType::Group => "Group",
        }
    }
}

#[derive(Args, Debug, Clone)]
#[command(after_help = ATTACH_EXAMPLES)]
pub struct AttachArgs {
    #[command(flatten)]
    pub common: ClusterAcrArgs,

    /// principalType of the assignment (default ServicePrincipal, which kubelet identities
    /// and cluster service principals are).
    #[arg(long, value_enum, value_name = "TYPE")]
    pub assignee_principal_type: Option<PrincipalType>,
}

#[derive(Args, Debug, Clone)]
#[command(after_help = DETACH_EXAMPLES)]
pub struct DetachArgs {
    #[command(flatten)]
    pub common: ClusterAcrArgs,
}

#[derive(Args, Debug, Clone)]
#[command(after_help = ATTACH_EXAMPLES)]
#[command(group(clap::ArgGroup::new("acr_action").required(true).args(["attach_acr", "detach_acr"])))]
pub struct AksUpdateArgs {
    /// Cluster name (as in az); repeatable.
    #[arg(short = 'n', long = "name", required = true, value_name = "CLUSTER")]
    pub names: Vec<String>,

    /// The cluster's resource group.
    #[arg(short = 'g', long = "resource-group", value_name = "GROUP")]
    pub resource_group: String,

    /// Grant the cluster's kubelet identity AcrPull on this registry (name or resource ID).
    #[arg(long, value_name = "NAME_OR_ID", conflicts_with = "detach_acr")]
    pub attach_acr: Option<String>,

    /// Remove that role assignment.
    #[arg(long, value_name = "NAME_OR_ID")]
    pub detach_acr: Option<String>,

    /// principalType of the assignment (with --attach-acr).
    #[arg(long, value_enum, value_name = "TYPE", requires = "attach_acr")]
    pub assignee_principal_type: Option<PrincipalType>,

    /// Role (acrctl extension): acrpull (default), acrpush, repository-reader, or a GUID.
    #[arg(long, default_value = "acrpull", value_name = "ROLE")]
    pub role: String,
}

const CHECK_ACR_EXAMPLES: &str = "\
Examples:
  # Can the cluster's nodes pull from myregistry? A checklist, each line PASS/WARN/FAIL
  # with the evidence, and the command that fixes anything not PASS.
  acrctl check-acr --cluster myAKSCluster -g myResourceGroup --acr myregistry

  # The registry by login server or resource ID; the checks as data for scripts.
  acrctl check-acr --cluster myAKSCluster -g myResourceGroup --acr myregistry.azurecr.io -o json
  acrctl check-acr --cluster myAKSCluster -g myResourceGroup -o json --query canPull \\
      --acr /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.ContainerRegistry/registries/myregistry

  # Also run az's canipull probe as a short-lived pod on a node (needs a kubeconfig);
  # its output is streamed and the pod deleted afterwards.
  acrctl check-acr --cluster myAKSCluster -g myResourceGroup --acr myregistry --in-cluster \\
      --node-name aks-nodepool1-12345678-vmss000000

  # Pasted from Microsoft's docs: the az spelling.
  acrctl aks check-acr -n myAKSCluster -g myResourceGroup --acr myregistry.azurecr.io

Exit codes: 0 the cluster can pull, 1 it cannot (see the FAIL lines), 3 cluster or
registry not found, 4 not allowed to read them, 5 network. Without --in-cluster nothing
is created anywhere; network checks from this shell are hints (the nodes' network may differ).";

/// What both spellings of check-acr share.
#[derive(Args, Debug, Clone)]
pub struct CheckAcrCommon {
    /// The cluster's resource group.
    #[arg(short = 'g', long = "resource-group", value_name = "GROUP")]
    pub resource_group: String,

    /// Registry name, login server (myregistry.azurecr.io) or full resource ID.
    #[arg(long, value_name = "NAME_OR_LOGIN_SERVER")]
    pub acr: String,

    /// Also run the canipull probe as a short-lived pod in the cluster (needs a kubeconfig).
    #[arg(long)]
    pub in_cluster: bool,

    /// Image of the in-cluster probe (az's default).
    #[arg(long, default_value = CANIPULL_IMAGE, requires = "in_cluster", value_name = "IMAGE")]
    pub image: String,

    /// Pin the probe pod to this node (kubernetes.io/hostname).
    #[arg(long, requires = "in_cluster", value_name = "NODE")]
    pub node_name: Option<String>,

    /// Namespace of the probe pod.
    #[arg(
        long,
        default_value = "default",
        requires = "in_cluster",
        value_name = "NS"
    )]
    pub namespace: String,

    /// How long to wait for the probe pod to finish, in seconds.
    #[arg(
        long,
        default_value_t = 180,
        requires = "in_cluster",
        value_name = "SECONDS"
    )]
    pub probe_timeout: u64,

    /// Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE", requires = "in_cluster")]
    pub kubeconfig: Option<std::path::PathBuf>,

    /// Kubeconfig context (default: its current context).
    #[arg(long, requires = "in_cluster")]
    pub context: Option<String>,
}

/// The image `az aks check-acr` runs (azure-cli acs `_consts.py`, CONST_CANIPULL_IMAGE).
pub const CANIPULL_IMAGE: &str = "mcr.microsoft.com/aks/canipull:v0.1.0";

#[derive(Args, Debug, Clone)]
#[command(after_help = CHECK_ACR_EXAMPLES)]
pub struct CheckAcrArgs {
    /// AKS cluster name.
    #[arg(long = "cluster", short = 'c', value_name = "CLUSTER")]
    pub cluster: String,

    #[command(flatten)]
    pub common: CheckAcrCommon,
}

#[derive(Args, Debug, Clone)]
#[command(after_help = CHECK_ACR_EXAMPLES)]
pub struct AksCheckAcrArgs {
    /// Cluster name (as in az).
    #[arg(short = 'n', long = "name", value_name = "CLUSTER")]
    pub name: String,

    #[command(flatten)]
    pub common: CheckAcrCommon,
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

    /// Log in to the registry's regional endpoint in this region (`<name>.<region>.geo.azurecr.io`,
    /// read from ARM), for registries with regional endpoints enabled.
    #[arg(long, value_name = "REGION")]
    pub endpoint: Option<String>,

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

const CREATE_PULL_SECRET_EXAMPLES: &str = "\
Examples:
  # A service principal (app id + client secret) or ACR token credentials:
  echo \"$SP_SECRET\" | acrctl create-pull-secret --acr myregistry --name acr-secret \\
      --namespace awesomeapps --username \"$SP_APP_ID\" --password-stdin

  # Also let every pod of the default service account use it, in two namespaces:
  echo \"$SP_SECRET\" | acrctl create-pull-secret --acr myregistry --name acr-secret \\
      --namespace dev --namespace prod --service-account default \\
      --username \"$SP_APP_ID\" --password-stdin

  # The ACR refresh token of your current identity (expires in about 3 hours):
  acrctl create-pull-secret --acr myregistry --name acr-secret --from-login

  # Print the manifest instead of applying it (the password is redacted unless
  # --show-secrets is given); no cluster needed:
  echo \"$PW\" | acrctl create-pull-secret --acr myregistry --name acr-secret \\
      --username u --password-stdin --dry-run -o yaml

  # A new repository-scoped ACR token (through ARM: a scope map, the token, a
  # generated password) whose credentials go into the Secret; pull-only by default:
  acrctl create-pull-secret --acr myregistry --name acr-secret \
      --create-token awesomeapps-pull --repository awesomeapps/web \
      --repository awesomeapps/api:content/read,metadata/read --expiry 90d

  # kubectl's flags work too:
  acrctl create-pull-secret --name acr-secret --docker-server myregistry.azurecr.io \\
      --docker-username \"$SP_APP_ID\" --password-stdin

The Secret is what `kubectl create secret docker-registry` makes, byte for byte; it is
created or updated with server-side apply (field manager acrctl), so running the
command again updates it and a new password rotates it.

--create-token needs Owner or Contributor on the registry (scopeMaps/write,
tokens/write, generateCredentials/action); the scope map is named TOKEN-scope-map as
az acr token create names it. Actions of --repository: content/read, content/write,
content/delete, metadata/read, metadata/write, or the shorthands pull (content/read +
metadata/read, the default), push (pull + content/write + metadata/write) and delete.
--expiry is a duration (30d, 12h, 2w, 1y) or a date (2027-01-31, RFC 3339); without
it the password never expires. The password is shown nowhere but in the Secret.";

#[derive(Args, Debug, Clone)]
#[command(after_help = CREATE_PULL_SECRET_EXAMPLES)]
pub struct CreatePullSecretArgs {
    /// Registry name (`myregistry`) or login server (`myregistry.azurecr.io`, `host:port`).
    #[arg(long, visible_alias = "docker-server", value_name = "REGISTRY")]
    pub acr: String,

    /// Domain name label suffix: `--acr myregistry --suffix abc` means `myregistry-abc.azurecr.io`.
    #[arg(long)]
    pub suffix: Option<String>,

    /// Name of the Secret.
    #[arg(long, value_name = "SECRET")]
    pub name: String,

    /// Namespace; repeatable (default: the kubeconfig context's namespace, else `default`).
    #[arg(long = "namespace", value_name = "NS")]
    pub namespaces: Vec<String>,

    /// Username: a service principal's app id or an ACR token name (with --password-stdin).
    #[arg(long, visible_alias = "docker-username", conflicts_with = "from_login")]
    pub username: Option<String>,

    /// Password on the command line (visible to other processes; prefer --password-stdin).
    #[arg(
        long,
        visible_alias = "docker-password",
        requires = "username",
        conflicts_with = "password_stdin"
    )]
    pub password: Option<String>,

    /// Read the password (client secret or token password) from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,

    /// Email in the docker config entry (kubectl's --docker-email); left out unless given.
    #[arg(long)]
    pub docker_email: Option<String>,

    /// Use the ACR refresh token of the current Entra identity (expires in about 3 hours).
    #[arg(long)]
    pub from_login: bool,

    /// Create (or update) an ACR repository-scoped token of this name through ARM and put
    /// a newly generated password of it into the Secret (needs --repository).
    #[arg(
        long,
        value_name = "TOKEN_NAME",
        conflicts_with_all = ["username", "password", "password_stdin", "from_login"]
    )]
    pub create_token: Option<String>,

    /// With --create-token: a repository the token may use, with its actions
    /// (REPO[:ACTION,…], default pull); repeatable.
    #[arg(
        long = "repository",
        value_name = "REPO[:ACTIONS]",
        requires = "create_token"
    )]
    pub repositories: Vec<String>,

    /// With --create-token: when the password expires, a duration (30d, 12h, 1y) or a
    /// date (RFC 3339 or YYYY-MM-DD); default: never.
    #[arg(long, value_name = "DURATION_OR_DATE", requires = "create_token")]
    pub expiry: Option<String>,

    /// Entra audience for --from-login: `acr` (default), `arm`, or a URI.
    #[arg(long, env = "ACRCTL_ACR_AUDIENCE", requires = "from_login")]
    pub audience: Option<String>,

    /// Also add the Secret to this service account's imagePullSecrets in each namespace.
    #[arg(long, value_name = "SA")]
    pub service_account: Option<String>,

    /// Print the Secret instead of applying it (`client` is the only mode); no cluster is contacted.
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "client",
        value_parser = ["client"]
    )]
    pub dry_run: Option<String>,

    /// With --dry-run: show the real .dockerconfigjson instead of a redacted one.
    #[arg(long, requires = "dry_run")]
    pub show_secrets: bool,

    /// Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<std::path::PathBuf>,

    /// Kubeconfig context (default: its current context).
    #[arg(long)]
    pub context: Option<String>,
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
    fn aks_update_needs_exactly_one_of_attach_and_detach() {
        let base = ["acrctl", "aks", "update", "-n", "c", "-g", "rg"];
        let parse = |extra: &[&str]| Cli::try_parse_from(base.iter().chain(extra.iter()));
        assert_eq!(
            parse(&[]).unwrap_err().kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            parse(&["--attach-acr", "a", "--detach-acr", "b"])
                .unwrap_err()
                .kind(),
            clap::error::ErrorKind::ArgumentConflict
        );
        match parse(&["--attach-acr", "a"]).unwrap().command {
            Command::Aks {
                command: AksCommand::Update(a),
            } => assert_eq!(a.attach_acr.as_deref(), Some("a")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn attach_takes_repeated_clusters() {
        let cli = Cli::try_parse_from([
            "acrctl",
            "attach",
            "--cluster",
            "a",
            "--cluster",
            "b",
            "-g",
            "rg",
            "--acr",
            "r",
            "--assignee-principal-type",
            "ServicePrincipal",
        ])
        .unwrap();
        match cli.command {
            Command::Attach(a) => {
                assert_eq!(a.common.clusters, vec!["a", "b"]);
                assert_eq!(a.common.role, "acrpull");
                assert_eq!(
                    a.assignee_principal_type,
                    Some(PrincipalType::ServicePrincipal)
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn create_pull_secret_takes_kubectl_aliases_and_has_no_short_n() {
        let cli = Cli::try_parse_from([
            "acrctl",
            "create-pull-secret",
            "--name",
            "s",
            "--docker-server",
            "r.azurecr.io",
            "--docker-username",
            "u",
            "--docker-password",
            "p",
            "--namespace",
            "a",
            "--namespace",
            "b",
        ])
        .unwrap();
        match cli.command {
            Command::CreatePullSecret(a) => {
                assert_eq!(a.acr, "r.azurecr.io");
                assert_eq!(a.username.as_deref(), Some("u"));
                assert_eq!(a.password.as_deref(), Some("p"));
                assert_eq!(a.namespaces, vec!["a", "b"]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            Cli::try_parse_from(["acrctl", "create-pull-secret", "--acr", "r", "-n", "s"]).is_err()
        );
    }

    #[test]
    fn check_acr_has_both_spellings() {
        let cli = Cli::try_parse_from([
            "acrctl",
            "check-acr",
            "--cluster",
            "c",
            "-g",
            "rg",
            "--acr",
            "r.azurecr.io",
        ])
        .unwrap();
        match cli.command {
            Command::CheckAcr(a) => {
                assert_eq!(a.cluster, "c");
                assert_eq!(a.common.acr, "r.azurecr.io");
                assert!(!a.common.in_cluster);
                assert_eq!(a.common.image, CANIPULL_IMAGE);
            }
            other => panic!("unexpected {other:?}"),
        }
        let cli = Cli::try_parse_from([
            "acrctl",
            "aks",
            "check-acr",
            "-n",
            "c",
            "-g",
            "rg",
            "--acr",
            "r",
            "--in-cluster",
            "--node-name",
            "n1",
        ])
        .unwrap();
        match cli.command {
            Command::Aks {
                command: AksCommand::CheckAcr(a),
            } => {
                assert_eq!(a.name, "c");
                assert!(a.common.in_cluster);
                assert_eq!(a.common.node_name.as_deref(), Some("n1"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(Cli::try_parse_from([
            "acrctl",
            "check-acr",
            "--cluster",
            "c",
            "-g",
            "rg",
            "--acr",
            "r",
            "--image",
            "x",
        ])
        .is_err());
    }

    #[test]
    fn expose_token_conflicts_with_username() {
        let err = Cli::try_parse_from(["acrctl", "login", "-n", "r", "--expose-token", "-u", "x"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
