//! `acrctl create-pull-secret` (kubectl create secret docker-registry): the
//! credentials (a service principal or ACR token from stdin, or the current identity's
//! ACR refresh token), the `kubernetes.io/dockerconfigjson` Secret exactly as kubectl
//! makes it, server-side applied in each namespace, and optionally added to a service
//! account's `imagePullSecrets`. `--dry-run` prints the manifest without a cluster.

use crate::acr::{self, NULL_GUID_USERNAME};
use crate::arm::{self, api, Arm, CallError};
use crate::cli::{CreatePullSecretArgs, OutputFormat};
use crate::commands::login::{acr_refresh_token, AudiencePlan};
use crate::context::Context;
use crate::error::{AppError, Kind};
use crate::kube::{Cluster, KubeOptions};
use base64::Engine;
use serde_json::{json, Value};

/// A password on stdin longer than this is a mistake (a file piped by accident).
const SECRET_TYPE: &str = "kubernetes.io/dockerconfigjson";
const SECRET_KEY: &str = ".dockerconfigjson";
const REDACTED: &str = "[REDACTED]";

pub async fn run(ctx: &Context, args: CreatePullSecretArgs) -> Result<u8, AppError> {
    // Everything that needs no network is checked first.
    validate_name(&args.name, "--name", "Secret")?;
    for ns in &args.namespaces {
        validate_name(ns, "--namespace", "namespace")?;
    }
    if let Some(sa) = &args.service_account {
        validate_name(sa, "--service-account", "service account")?;
    }
    if args.username.is_none() && !args.from_login && args.create_token.is_none() {
        return Err(AppError::usage("No credential source given for the pull secret.").hint(
            "Pass --username APP_ID --password-stdin (a service principal or an ACR token), --from-login (the current identity's ACR refresh token, valid about 3 hours), or --create-token NAME --repository REPO (a new repository-scoped ACR token).",
        ));
    }
    let token_plan = TokenPlan::parse(&args, time::OffsetDateTime::now_utc())?;
    let audience = AudiencePlan::parse(args.audience.as_deref())?;
    let basic = read_basic_credentials(&args)?;
    acr::login_server(&args.acr, args.suffix.as_deref(), "azurecr.io")?;
    let dry_run = args.dry_run.is_some();

    // Connect first (it needs no network until the first request) so that a missing
    // kubeconfig is reported before any Entra round trip.
    let cluster = if dry_run {
        None
    } else {
        Some(
            crate::kube::connect(&KubeOptions {
                kubeconfig: args.kubeconfig.clone(),
                context: args.context.clone(),
            })
            .await?,
        )
    };

    if let (Some(plan), true) = (&token_plan, dry_run) {
        if args.show_secrets {
            return Err(AppError::usage(
                "--show-secrets has nothing to show with --create-token in a dry run: the token's password is only generated when the command runs for real.",
            ));
        }
        crate::log::info(&plan.describe("would create or update"));
        crate::log::info(
            "Dry run: nothing was created in the registry; no password was generated.",
        );
    }

    let mut server = if args.acr.contains('.') || args.acr.contains(':') {
        acr::login_server(&args.acr, args.suffix.as_deref(), "")?
    } else {
        acr::login_server(&args.acr, args.suffix.as_deref(), &ctx.acr_suffix().await?)?
    };

    let (username, password) = match (basic, &token_plan) {
        (Some(pair), _) => pair,
        (None, Some(plan)) if dry_run => (plan.token.clone(), REDACTED.to_string()),
        (None, Some(plan)) => {
            let (login_server, pair) = create_token(ctx, plan).await?;
            if let Some(ls) = login_server {
                server = ls;
            }
            pair
        }
        (None, None) => {
            let token = acr_refresh_token(ctx, &server, &audience).await?;
            crate::log::register_secret(&token);
            let when = crate::jwt::expires_at(&token)
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .map(|t| format!(" (at {t})"))
                .unwrap_or_default();
            crate::log::warn(&format!(
                "--from-login puts the ACR refresh token of the current identity into the Secret; it expires in about 3 hours{when}, and pulls with this Secret fail after that. For a lasting pull secret use a service principal or an ACR token: --username … --password-stdin."
            ));
            (NULL_GUID_USERNAME.to_string(), token)
        }
    };

    let config = docker_config_json(&server, &username, &password, args.docker_email.as_deref());
    let encoded = base64::engine::general_purpose::STANDARD.encode(config.as_bytes());
    crate::log::register_secret(&encoded);
    crate::log::register_secret(
        &base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")),
    );

    let Some(cluster) = cluster else {
        return print_dry_run(ctx, &args, &encoded);
    };

    let namespaces = if args.namespaces.is_empty() {
        vec![cluster.default_namespace.clone()]
    } else {
        let mut v: Vec<String> = Vec::new();
        for ns in &args.namespaces {
            if !v.contains(ns) {
                v.push(ns.clone());
            }
        }
        v
    };

    let mut results: Vec<Value> = Vec::new();
    let mut failures: Vec<AppError> = Vec::new();
    for ns in &namespaces {
        match apply_in(&cluster, &args, ns, &encoded).await {
            Ok(r) => results.push(r),
            Err(e) => failures.push(e),
        }
    }

    if !results.is_empty() {
        ctx.printer.print(&json!({
            "name": args.name,
            "type": SECRET_TYPE,
            "server": server,
            "username": username,
            "serviceAccount": args.service_account,
            "namespaces": results,
        }))?;
    }
    crate::commands::finish(failures, namespaces.len())
}

/// The Secret and, when asked, the service account, in one namespace.
async fn apply_in(
    cluster: &Cluster,
    args: &CreatePullSecretArgs,
    namespace: &str,
    encoded: &str,
) -> Result<Value, AppError> {
    let manifest = secret_manifest(&args.name, Some(namespace), encoded);
    let applied = cluster
        .apply_secret(namespace, &args.name, &manifest)
        .await?;
    crate::log::info(&format!(
        "secret/{} applied in namespace {namespace}",
        args.name
    ));
    let mut result = json!({
        "namespace": namespace,
        "secret": "applied",
        "resourceVersion": applied.metadata.resource_version,
    });
    if let Some(sa) = &args.service_account {
        let changed = cluster
            .add_image_pull_secret(namespace, sa, &args.name)
            .await?;
        crate::log::info(&format!(
            "serviceaccount/{sa} {} in namespace {namespace}",
            if changed {
                "patched"
            } else {
                "unchanged (already lists the secret)"
            }
        ));
        result["serviceAccountPatched"] = json!(changed);
    }
    Ok(result)
}

fn print_dry_run(
    ctx: &Context,
    args: &CreatePullSecretArgs,
    encoded: &str,
) -> Result<u8, AppError> {
    let shown = if args.show_secrets { encoded } else { REDACTED };
    let mut items: Vec<Value> = if args.namespaces.is_empty() {
        vec![secret_manifest(&args.name, None, shown)]
    } else {
        args.namespaces
            .iter()
            .map(|ns| secret_manifest(&args.name, Some(ns), shown))
            .collect()
    };
    let data = if items.len() == 1 {
        items.remove(0)
    } else {
        json!({ "apiVersion": "v1", "kind": "List", "items": items, "metadata": {} })
    };
    if !args.show_secrets {
        crate::log::info(
            "The .dockerconfigjson value is redacted; pass --show-secrets to print it.",
        );
    }
    if let Some(sa) = &args.service_account {
        crate::log::info(&format!(
            "Dry run: service account {sa} would get the secret in imagePullSecrets."
        ));
    }
    if ctx.printer.format == OutputFormat::None {
        return Ok(0);
    }
    ctx.printer.print(&data)?;
    Ok(0)
}

/// The Secret as kubectl prints it (kind, apiVersion, metadata, data, type).
pub fn secret_manifest(name: &str, namespace: Option<&str>, encoded: &str) -> Value {
    let mut metadata = serde_json::Map::new();
    metadata.insert("name".into(), json!(name));
    if let Some(ns) = namespace {
        metadata.insert("namespace".into(), json!(ns));
    }
    json!({
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": metadata,
        "data": { SECRET_KEY: encoded },
        "type": SECRET_TYPE,
    })
}

/// `.dockerconfigjson` exactly as kubectl writes it: Go's `encoding/json` with the
/// entry's fields in struct order (username, password, email, auth), `email` only
/// when given, and Go's escaping of `<`, `>`, `&`, U+2028 and U+2029.
pub fn docker_config_json(
    server: &str,
    username: &str,
    password: &str,
    email: Option<&str>,
) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut out = String::from("{\"auths\":{");
    out.push_str(&go_json_string(server));
    out.push_str(":{");
    let mut fields: Vec<(&str, &str)> = Vec::new();
    if !username.is_empty() {
        fields.push(("username", username));
    }
    if !password.is_empty() {
        fields.push(("password", password));
    }
    if let Some(e) = email.filter(|e| !e.is_empty()) {
        fields.push(("email", e));
    }
    fields.push(("auth", &auth));
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&go_json_string(k));
        out.push(':');
        out.push_str(&go_json_string(v));
    }
    out.push_str("}}}");
    out
}

/// A JSON string literal as Go's `encoding/json` (HTML-safe, the default) writes it.
pub fn go_json_string(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                let b = c as u32 as u8;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A DNS-1123 subdomain (Secret, service account) or label (namespace), as the API
/// server would demand; checked here so a typo costs no request.
fn validate_name(value: &str, flag: &str, what: &str) -> Result<(), AppError> {
    let max = if what == "namespace" { 63 } else { 253 };
    let ok = !value.is_empty()
        && value.len() <= max
        && value.chars().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || c == '-'
                || (c == '.' && what != "namespace")
        })
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(AppError::usage(format!("{flag} '{value}' is not a valid {what} name.")).hint(
            "Use lower-case letters, digits and '-' (RFC 1123), starting and ending with a letter or digit.",
        ))
    }
}

/// `--create-token`: the token, its scope map's actions and the password's expiry, all
/// checked before any request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPlan {
    /// The registry's name, as ARM knows it (from `--acr`).
    pub registry: String,
    pub token: String,
    pub scope_map: String,
    pub actions: Vec<String>,
    /// RFC 3339 (UTC), or None: the password never expires.
    pub expiry: Option<String>,
}

/// The scope map actions ACR knows (`repositories/{repo}/{action}`).
const SCOPE_ACTIONS: &[&str] = &[
    "content/read",
    "content/write",
    "content/delete",
    "metadata/read",
    "metadata/write",
];

impl TokenPlan {
    pub fn parse(
        args: &CreatePullSecretArgs,
        now: time::OffsetDateTime,
    ) -> Result<Option<TokenPlan>, AppError> {
        let Some(token) = &args.create_token else {
            if !args.repositories.is_empty() || args.expiry.is_some() {
                return Err(AppError::usage(
                    "--repository and --expiry describe a token that --create-token NAME creates.",
                )
                .hint("Add --create-token NAME, or drop them for --username/--from-login."));
            }
            return Ok(None);
        };
        // ACR: 5-50 alphanumerics and '-'; the scope map (`{token}-scope-map`, as az
        // names it) has the same rule, which leaves 40 characters for the token.
        let ok = (5..=40).contains(&token.len())
            && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(AppError::usage(format!(
                "--create-token '{token}' is not a usable ACR token name."
            ))
            .hint("Use 5-40 letters, digits and '-' (ACR allows 50, and the scope map {token}-scope-map must fit too)."));
        }
        if args.repositories.is_empty() {
            return Err(AppError::usage("--create-token needs at least one --repository.")
                .hint("E.g. --repository awesomeapps/web (pull) or --repository awesomeapps/web:content/read,metadata/read."));
        }
        let mut actions: Vec<String> = Vec::new();
        for spec in &args.repositories {
            for a in parse_repository(spec)? {
                if !actions.contains(&a) {
                    actions.push(a);
                }
            }
        }
        let expiry = args
            .expiry
            .as_deref()
            .map(|e| parse_expiry(e, now))
            .transpose()?;
        Ok(Some(TokenPlan {
            registry: registry_name(&args.acr)?,
            token: token.clone(),
            scope_map: format!("{token}-scope-map"),
            actions,
            expiry,
        }))
    }

    fn describe(&self, verb: &str) -> String {
        format!(
            "Dry run: acrctl {verb} scope map '{}' ({}) and token '{}' in registry '{}', and generate its password1 ({}).",
            self.scope_map,
            self.actions.join(", "),
            self.token,
            self.registry,
            self.expiry
                .as_deref()
                .map(|e| format!("expiring {e}"))
                .unwrap_or_else(|| "never expiring".into())
        )
    }
}

/// `REPO[:ACTION,…]` into scope map actions; the default and `pull` are content/read +
/// metadata/read, `push` adds content/write + metadata/write, `delete` is content/delete.
fn parse_repository(spec: &str) -> Result<Vec<String>, AppError> {
    let bad = |why: &str| {
        AppError::usage(format!("--repository '{spec}' is not usable: {why}.")).hint(
            "Use REPO or REPO:ACTION[,ACTION…] with a lower-case repository name (e.g. samples/hello) and actions from content/read, content/write, content/delete, metadata/read, metadata/write, pull, push, delete.",
        )
    };
    let (repo, acts) = match spec.split_once(':') {
        Some((r, a)) => (r, Some(a)),
        None => (spec, None),
    };
    let repo_ok = !repo.is_empty()
        && repo.len() <= 256
        && repo.split('/').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
                && part.starts_with(|c: char| c.is_ascii_alphanumeric())
                && part.ends_with(|c: char| c.is_ascii_alphanumeric())
        });
    if !repo_ok {
        return Err(bad("the repository name is not valid"));
    }
    let mut out: Vec<String> = Vec::new();
    let mut add = |a: &str| {
        let full = format!("repositories/{repo}/{a}");
        if !out.contains(&full) {
            out.push(full);
        }
    };
    match acts {
        None => {
            add("content/read");
            add("metadata/read");
        }
        Some(list) => {
            if list.trim().is_empty() {
                return Err(bad("no action after ':'"));
            }
            for a in list.split(',').map(str::trim) {
                match a {
                    "pull" => {
                        add("content/read");
                        add("metadata/read");
                    }
                    "push" => {
                        for x in [
                            "content/read",
                            "metadata/read",
                            "content/write",
                            "metadata/write",
                        ] {
                            add(x);
                        }
                    }
                    "delete" => add("content/delete"),
                    a if SCOPE_ACTIONS.contains(&a) => add(a),
                    other => return Err(bad(&format!("unknown action '{other}'"))),
                }
            }
        }
    }
    Ok(out)
}

/// `--expiry`: a duration from now (`90d`, `12h`, `2w`, `1y`) or a date (RFC 3339, or
/// `YYYY-MM-DD` meaning midnight UTC); it must lie in the future.
fn parse_expiry(value: &str, now: time::OffsetDateTime) -> Result<String, AppError> {
    use time::format_description::well_known::Rfc3339;
    let v = value.trim();
    let bad = || {
        AppError::usage(format!(
            "--expiry '{value}' is neither a duration nor a date."
        ))
        .hint("Use e.g. 30d, 12h, 2w, 1y, 2027-01-31 or 2027-01-31T12:00:00Z.")
    };
    let when = if let Some(unit) = v.chars().last().filter(|c| "hdwy".contains(*c)) {
        let n: i64 = v[..v.len() - 1].parse().map_err(|_| bad())?;
        if n <= 0 || n > 100 * 366 * 24 {
            return Err(bad());
        }
        let hours = match unit {
            'h' => n,
            'd' => n * 24,
            'w' => n * 24 * 7,
            _ => n * 24 * 365,
        };
        now + time::Duration::hours(hours)
    } else if let Ok(t) = time::OffsetDateTime::parse(v, &Rfc3339) {
        t
    } else {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let d = time::Date::parse(v, &fmt).map_err(|_| bad())?;
        d.midnight().assume_utc()
    };
    if when <= now {
        return Err(
            AppError::usage(format!("--expiry '{value}' lies in the past."))
                .hint("Give a future date or a duration such as 90d."),
        );
    }
    when.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or_else(bad)
}

/// Why an ARM write for `--create-token` failed, with the permission it needs.
fn token_error(e: CallError, what: &str) -> AppError {
    match e {
        CallError::Api(a) if a.status == 403 => AppError::new(
            Kind::Auth,
            format!(
                "{what}: ARM answered 403 {}: {}",
                a.code,
                arm::one_line(&a.message)
            ),
        )
        .hint("--create-token needs Owner or Contributor on the registry (Microsoft.ContainerRegistry/registries/scopeMaps/write, tokens/write and generateCredentials/action)."),
        other => other.into_app(what),
    }
}

/// `--create-token`: the registry through ARM, the scope map and the token (PUT, both
/// long-running), then a new password1 (generateCredentials). Returns the registry's
/// login server as ARM knows it, and the username/password pair.
async fn create_token(
    ctx: &Context,
    plan: &TokenPlan,
) -> Result<(Option<String>, (String, String)), AppError> {
    let name = &plan.registry;
    let arm = Arm::connect(ctx).await?;
    let subscription = arm::resolve_subscription(ctx, &arm).await?;
    let registry = crate::commands::attach::find_registry(&arm, &subscription, name).await?;
    let login_server = registry.json["properties"]["loginServer"]
        .as_str()
        .map(str::to_string);

    let what = format!(
        "Creating scope map '{}' in registry '{}'",
        plan.scope_map, registry.name
    );
    let map_path = format!("{}/scopeMaps/{}", registry.id, plan.scope_map);
    let map = arm
        .put_lro(
            &map_path,
            api::REGISTRY_TOKENS,
            &json!({"properties": {
                "description": format!("acrctl create-pull-secret --create-token {}", plan.token),
                "actions": plan.actions,
            }}),
            &what,
        )
        .await
        .map_err(|e| token_error(e, &what))?;
    let map_id = map["id"].as_str().map(str::to_string).unwrap_or(map_path);
    crate::log::info(&format!(
        "scope map {} in registry {}: {}",
        plan.scope_map,
        registry.name,
        plan.actions.join(", ")
    ));

    let what = format!(
        "Creating token '{}' in registry '{}'",
        plan.token, registry.name
    );
    let token_path = format!("{}/tokens/{}", registry.id, plan.token);
    let token = arm
        .put_lro(
            &token_path,
            api::REGISTRY_TOKENS,
            &json!({"properties": {"scopeMapId": map_id, "status": "enabled"}}),
            &what,
        )
        .await
        .map_err(|e| token_error(e, &what))?;
    let token_id = token["id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or(token_path);

    let what = format!(
        "Generating a password for token '{}' in registry '{}'",
        plan.token, registry.name
    );
    let mut body = json!({"tokenId": token_id, "name": "password1"});
    if let Some(e) = &plan.expiry {
        body["expiry"] = json!(e);
    }
    let creds = arm
        .post_lro(
            &format!("{}/generateCredentials", registry.id),
            api::REGISTRY_TOKENS,
            &body,
            &what,
        )
        .await
        .map_err(|e| token_error(e, &what))?;
    let password = creds["passwords"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "password1")
        .or_else(|| creds["passwords"].get(0))
        .and_then(|p| p["value"].as_str())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            AppError::new(
                Kind::Failure,
                format!("{what}: ARM's answer holds no password."),
            )
        })?;
    crate::log::register_secret(&password);
    let username = creds["username"]
        .as_str()
        .filter(|u| !u.is_empty())
        .unwrap_or(&plan.token)
        .to_string();
    crate::log::info(&format!(
        "token {} in registry {}: password1 generated ({}); an earlier password1 of this token no longer works",
        plan.token,
        registry.name,
        plan.expiry
            .as_deref()
            .map(|e| format!("expires {e}"))
            .unwrap_or_else(|| "never expires".into())
    ));
    Ok((login_server, (username, password)))
}

/// The registry name ARM knows, from `--acr` (a name, or a login server `NAME.azurecr.io`).
fn registry_name(acr_arg: &str) -> Result<String, AppError> {
    let host = acr_arg.split(':').next().unwrap_or("");
    let first = host.split('.').next().unwrap_or("");
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    if !is_ip
        && !first.is_empty()
        && first.len() <= 50
        && first.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Ok(first.to_ascii_lowercase());
    }
    Err(AppError::usage(format!(
        "--create-token needs the registry's name, and '{acr_arg}' does not give it."
    ))
    .hint("Pass --acr with the registry name (myregistry) or its login server (myregistry.azurecr.io)."))
}

/// `--username` with `--password-stdin` (or `--password`, with a warning).
fn read_basic_credentials(
    args: &CreatePullSecretArgs,
) -> Result<Option<(String, String)>, AppError> {
    let Some(username) = &args.username else {
        return Ok(None);
    };
    if username.trim().is_empty() {
        return Err(AppError::usage("The username is empty.")
            .hint("Pass the service principal's app id or the ACR token name with --username."));
    }
    let password = if let Some(p) = &args.password {
        crate::log::register_secret(p);
        crate::log::warn("Using --password on the command line is insecure: other users can see it. Use --password-stdin.");
        p.clone()
    } else if args.password_stdin {
        crate::commands::read_password_stdin("create-pull-secret")?
    } else {
        return Err(AppError::usage("--username needs a password.")
            .hint("Pipe it in with --password-stdin."));
    };
    if password.is_empty() {
        return Err(AppError::usage("The password is empty.")
            .hint("Pipe the password into --password-stdin."));
    }
    crate::log::register_secret(&password);
    Ok(Some((username.clone(), password)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_escaping_matches_encoding_json() {
        assert_eq!(go_json_string("a<b>&\"\\"), r#""a\u003cb\u003e\u0026\"\\""#);
        assert_eq!(
            go_json_string("\n\t\u{1}\u{2028}é"),
            "\"\\n\\t\\u0001\\u2028é\""
        );
    }

    #[test]
    fn docker_config_has_kubectl_field_order() {
        assert_eq!(
            docker_config_json("r.azurecr.io", "u", "p", None),
            r#"{"auths":{"r.azurecr.io":{"username":"u","password":"p","auth":"dTpw"}}}"#
        );
        assert_eq!(
            docker_config_json("r.azurecr.io", "u", "p", Some("e@x")),
            r#"{"auths":{"r.azurecr.io":{"username":"u","password":"p","email":"e@x","auth":"dTpw"}}}"#
        );
    }

    #[test]
    fn repository_specs_become_scope_map_actions() {
        assert_eq!(
            parse_repository("samples/hello").unwrap(),
            vec![
                "repositories/samples/hello/content/read",
                "repositories/samples/hello/metadata/read"
            ]
        );
        assert_eq!(
            parse_repository("a:content/delete,metadata/write").unwrap(),
            vec![
                "repositories/a/content/delete",
                "repositories/a/metadata/write"
            ]
        );
        assert_eq!(parse_repository("a:push").unwrap().len(), 4);
        for bad in [
            "",
            "A",
            "a//b",
            "a/",
            "-a",
            "a:",
            "a:read",
            "a:content/read,",
            "a b",
        ] {
            assert!(parse_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expiries_are_durations_or_dates_in_the_future() {
        let now = time::macros::datetime!(2026-01-01 12:00:00.5 UTC);
        assert_eq!(parse_expiry("30d", now).unwrap(), "2026-01-31T12:00:00Z");
        assert_eq!(parse_expiry("12h", now).unwrap(), "2026-01-02T00:00:00Z");
        assert_eq!(parse_expiry("1w", now).unwrap(), "2026-01-08T12:00:00Z");
        assert_eq!(parse_expiry("1y", now).unwrap(), "2027-01-01T12:00:00Z");
        assert_eq!(
            parse_expiry("2027-03-04", now).unwrap(),
            "2027-03-04T00:00:00Z"
        );
        assert_eq!(
            parse_expiry("2027-03-04T10:00:00+02:00", now).unwrap(),
            "2027-03-04T08:00:00Z"
        );
        for bad in [
            "0d",
            "-1d",
            "d",
            "soon",
            "2025-12-31",
            "2026-01-01T11:00:00Z",
            "3x",
        ] {
            assert!(parse_expiry(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn registry_names_from_acr() {
        assert_eq!(registry_name("myregistry").unwrap(), "myregistry");
        assert_eq!(
            registry_name("MyRegistry.azurecr.io").unwrap(),
            "myregistry"
        );
        assert!(registry_name("127.0.0.1:5000").is_err());
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("acr-secret", "--name", "Secret").is_ok());
        assert!(validate_name("a.b", "--name", "Secret").is_ok());
        assert!(validate_name("a.b", "--namespace", "namespace").is_err());
        assert!(validate_name("Bad", "--name", "Secret").is_err());
        assert!(validate_name("-x", "--name", "Secret").is_err());
    }
}
