//! `acrctl create-pull-secret` (kubectl create secret docker-registry): the
//! credentials (a service principal or ACR token from stdin, or the current identity's
//! ACR refresh token), the `kubernetes.io/dockerconfigjson` Secret exactly as kubectl
//! makes it, server-side applied in each namespace, and optionally added to a service
//! account's `imagePullSecrets`. `--dry-run` prints the manifest without a cluster.

use crate::acr::{self, NULL_GUID_USERNAME};
use crate::cli::{CreatePullSecretArgs, OutputFormat};
use crate::commands::login::{acr_refresh_token, AudiencePlan};
use crate::context::Context;
use crate::error::AppError;
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
    if args.username.is_none() && !args.from_login {
        return Err(AppError::usage("No credential source given for the pull secret.").hint(
            "Pass --username APP_ID --password-stdin (a service principal or an ACR token), or --from-login (the current identity's ACR refresh token, valid about 3 hours).",
        ));
    }
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

    let server = if args.acr.contains('.') || args.acr.contains(':') {
        acr::login_server(&args.acr, args.suffix.as_deref(), "")?
    } else {
        acr::login_server(&args.acr, args.suffix.as_deref(), &ctx.acr_suffix().await?)?
    };

    let (username, password) = match basic {
        Some(pair) => pair,
        None => {
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
    fn names_are_checked() {
        assert!(validate_name("acr-secret", "--name", "Secret").is_ok());
        assert!(validate_name("a.b", "--name", "Secret").is_ok());
        assert!(validate_name("a.b", "--namespace", "namespace").is_err());
        assert!(validate_name("Bad", "--name", "Secret").is_err());
        assert!(validate_name("-x", "--name", "Secret").is_err());
    }
}
