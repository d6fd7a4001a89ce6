//! The registry side of ACR authentication (Azure/acr `docs/AAD-OAuth.md`):
//! the `/v2/` challenge, the exchange of an Entra token for an ACR refresh token at
//! `{realm origin}/oauth2/exchange`, and checking username/password credentials at the
//! token endpoint. Also the rules for registry names and login servers.

use crate::error::{AppError, Kind};
use crate::http::{self, Scheme};
use serde::Deserialize;
use url::Url;

/// The username that tells ACR (and docker) that the password is an ACR token
/// (AAD-OAuth.md, "Authenticating docker with an ACR refresh token").
pub const NULL_GUID_USERNAME: &str = "00000000-0000-0000-0000-000000000000";

/// Turns `-n` into a login server (`host` or `host:port`, lowercase): a registry name gets
/// the cloud's suffix (and the domain name label `--suffix`), a login server is kept.
/// Needs no network; errors are usage errors.
pub fn login_server(
    name: &str,
    dnl_suffix: Option<&str>,
    cloud_suffix: &str,
) -> Result<String, AppError> {
    let raw = name.trim();
    if raw.contains("://") {
        let host = raw.split("://").nth(1).unwrap_or("").trim_end_matches('/');
        return Err(AppError::usage(format!(
            "'{raw}' is a URL; -n takes a registry name or login server."
        ))
        .hint(format!("Use -n {host}.")));
    }
    if raw.is_empty() {
        return Err(AppError::usage("The registry name is empty.")
            .hint("Use -n myregistry or -n myregistry.azurecr.io."));
    }
    if raw.contains('.') || raw.contains(':') {
        if dnl_suffix.is_some() {
            return Err(AppError::usage(format!(
                "--suffix goes with a registry name, not with the login server '{raw}'."
            ))
            .hint("Give -n the registry name, e.g. -n myregistry --suffix abc."));
        }
        return validate_login_server(raw);
    }
    validate_registry_name(raw)?;
    let name = raw.to_ascii_lowercase();
    match dnl_suffix.map(str::trim) {
        Some(s) if !s.is_empty() => {
            if !s.chars().all(|c| c.is_ascii_alphanumeric()) || s.len() > 32 {
                return Err(AppError::usage(format!("--suffix '{s}' is not a valid domain name label suffix."))
                    .hint("It is the part after the dash in myregistry-abc123.azurecr.io: letters and digits only."));
            }
            Ok(format!("{name}-{}.{cloud_suffix}", s.to_ascii_lowercase()))
        }
        _ => Ok(format!("{name}.{cloud_suffix}")),
    }
}

/// Registry names: 5 to 50 letters and digits (ACR's naming rule).
pub fn validate_registry_name(name: &str) -> Result<(), AppError> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric());
    if !ok_chars || !(5..=50).contains(&name.len()) {
        let why = if !ok_chars {
            "may only contain letters and digits"
        } else {
            "must be 5 to 50 characters long"
        };
        return Err(AppError::usage(format!("'{name}' is not a valid registry name: it {why}."))
            .hint("Use the registry name (e.g. myregistry) or its login server (e.g. myregistry.azurecr.io)."));
    }
    Ok(())
}

fn validate_login_server(raw: &str) -> Result<String, AppError> {
    let lower = raw.to_ascii_lowercase();
    let bad = |why: &str| {
        AppError::usage(format!("'{raw}' is not a valid login server: {why}."))
            .hint("Use the registry name (e.g. myregistry) or its login server (e.g. myregistry.azurecr.io or host:port).")
    };
    let (host, port) = match lower.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.starts_with('[') => (h, Some(p)),
        _ => (lower.as_str(), None),
    };
    if let Some(p) = port {
        if p.parse::<u16>().map(|n| n == 0).unwrap_or(true) {
            return Err(bad("the port is not a number from 1 to 65535"));
        }
    }
    if host.is_empty() || host.len() > 253 {
        return Err(bad("the host name is empty or too long"));
    }
    if host.contains('/') || host.contains('@') {
        return Err(bad("it has a path or user part"));
    }
    let is_ipv6 = host.starts_with('[') && host.ends_with(']');
    if !is_ipv6 {
        for label in host.split('.') {
            if label.is_empty()
                || label.len() > 63
                || label.starts_with('-')
                || label.ends_with('-')
            {
                return Err(bad(
                    "a DNS label is empty, too long, or starts or ends with '-'",
                ));
            }
            if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(bad(
                    "host names may only contain letters, digits, '-' and '.'",
                ));
            }
        }
    }
    Ok(lower)
}

/// One challenge of a `WWW-Authenticate` header (RFC 7235 §4.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a `WWW-Authenticate` value into its challenges. Quoted strings may hold commas
/// and escaped quotes (`scope="repository:a:pull,push"`), which a naive split on ','
/// breaks. Parameters of several challenges in one header are told apart by the
/// `scheme name=value` shape.
pub fn parse_www_authenticate(header: &str) -> Result<Vec<Challenge>, String> {
    let s = header.as_bytes();
    let mut i = 0;
    let mut challenges: Vec<Challenge> = Vec::new();
    let is_tchar = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    let skip_ws = |i: &mut usize| {
        while *i < s.len() && (s[*i] == b' ' || s[*i] == b'\t') {
            *i += 1;
        }
    };
    let read_token = |i: &mut usize| -> String {
        let start = *i;
        while *i < s.len() && is_tchar(s[*i]) {
            *i += 1;
        }
        header[start..*i].to_string()
    };
    loop {
        while i < s.len() && (s[i] == b' ' || s[i] == b'\t' || s[i] == b',') {
            i += 1;
        }
        if i >= s.len() {
            break;
        }
        let scheme = read_token(&mut i);
        if scheme.is_empty() {
            return Err(format!("unexpected character '{}' at {i}", s[i] as char));
        }
        let mut challenge = Challenge {
            scheme,
            params: Vec::new(),
        };
        loop {
            skip_ws(&mut i);
            while i < s.len() && s[i] == b',' {
                i += 1;
                skip_ws(&mut i);
            }
            if i >= s.len() {
                break;
            }
            let mark = i;
            let name = read_token(&mut i);
            skip_ws(&mut i);
            if name.is_empty() || i >= s.len() || s[i] != b'=' {
                // Not `name=`: the start of the next challenge (or a token68, skipped).
                i = mark;
                if name.is_empty() {
                    return Err(format!("unexpected character '{}' at {i}", s[i] as char));
                }
                break;
            }
            i += 1; // '='
            skip_ws(&mut i);
            let value = if i < s.len() && s[i] == b'"' {
                i += 1;
                let mut v = Vec::new();
                loop {
                    if i >= s.len() {
                        return Err("unterminated quoted string".into());
                    }
                    match s[i] {
                        b'\\' if i + 1 < s.len() => {
                            v.push(s[i + 1]);
                            i += 2;
                        }
                        b'"' => {
                            i += 1;
                            break;
                        }
                        c => {
                            v.push(c);
                            i += 1;
                        }
                    }
                }
                String::from_utf8_lossy(&v).into_owned()
            } else {
                let start = i;
                while i < s.len() && s[i] != b',' && s[i] != b' ' && s[i] != b'\t' {
                    i += 1;
                }
                header[start..i].to_string()
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
        }
        challenges.push(challenge);
    }
    Ok(challenges)
}

/// What the registry's `/v2/` answered without credentials.
#[derive(Debug, Clone)]
pub enum RegistryChallenge {
    /// An OAuth2 bearer challenge: the token service's realm and the service name.
    Bearer { realm: Url, service: String },
    /// Only HTTP Basic (not an ACR-style registry; usable with username and password).
    Basic,
}

impl RegistryChallenge {
    /// `{realm origin}/oauth2/{path}`: az builds the exchange and token URLs from the
    /// realm's scheme, host and port (`_docker_utils.py`, `urlunparse`).
    pub fn oauth2_url(realm: &Url, path: &str) -> Url {
        let mut url = realm.clone();
        url.set_path(&format!("/oauth2/{path}"));
        url.set_query(None);
        url.set_fragment(None);
        url
    }
}

/// `GET https://{server}/v2/` without credentials.
pub async fn challenge(server: &str) -> Result<RegistryChallenge, AppError> {
    let url = Url::parse(&format!("https://{server}/v2/")).map_err(|e| {
        AppError::usage(format!(
            "'{server}' does not make a valid registry URL ({e})."
        ))
    })?;
    let what = format!("Contacting registry '{server}'");
    let response = http::send_retrying(|| http::client().get(url.clone()), &what).await.map_err(|e| {
        if e.kind == Kind::Network && e.message.contains("could not be resolved") {
            AppError::new(Kind::Network, format!("Registry '{server}' could not be resolved (DNS)."))
                .hint("Check the registry name; the login server is <name>.azurecr.io (or the name shown by `az acr show`). A registry with private endpoints needs its private DNS zone.")
                .cause(e.message)
        } else {
            e
        }
    })?;
    let status = response.status().as_u16();
    let headers: Vec<String> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    match status {
        401 => {}
        403 => {
            return Err(AppError::new(Kind::Auth, format!("Registry '{server}' refused access from this network (HTTP 403 on /v2/).")).hint(
                "The registry's firewall or disabled public network access blocks this client: check `az acr show -n <name> --query \"{publicNetworkAccess:publicNetworkAccess,networkRuleSet:networkRuleSet}\"`, or use a private endpoint.",
            ))
        }
        404 => {
            return Err(AppError::new(Kind::NotFound, format!("'{server}' answered 404 on /v2/: it is not a container registry.")).hint("Check the login server name."));
        }
        200 => {
            return Err(AppError::new(Kind::Failure, format!("Registry '{server}' did not issue a challenge (it allows anonymous access to /v2/).")).hint(
                "There is nothing to log in to; use the registry without credentials, or check that this is the right login server.",
            ))
        }
        s => {
            return Err(AppError::new(Kind::Failure, format!("Registry '{server}' answered HTTP {s} on /v2/ instead of a challenge."))
                .hint("The registry or a proxy in between is failing; try again, or check the login server name."))
        }
    }
    if headers.is_empty() {
        return Err(AppError::new(
            Kind::Failure,
            format!(
                "Registry '{server}' did not issue a challenge (401 without WWW-Authenticate)."
            ),
        )
        .hint("A proxy may be stripping the header; check HTTPS_PROXY."));
    }
    let mut saw_basic = false;
    for header in &headers {
        let challenges = parse_www_authenticate(header).map_err(|why| {
            AppError::new(
                Kind::Failure,
                format!("Registry '{server}' sent a malformed WWW-Authenticate header ({why})."),
            )
            .hint("Check the login server name; a proxy may be rewriting the answer.")
        })?;
        for c in challenges {
            if c.scheme.eq_ignore_ascii_case("bearer") {
                let (Some(realm), Some(service)) = (c.param("realm"), c.param("service")) else {
                    return Err(AppError::new(Kind::Failure, format!("Registry '{server}' does not support Entra login: its bearer challenge lacks realm or service.")));
                };
                let realm = Url::parse(realm).map_err(|e| {
                    AppError::new(
                        Kind::Failure,
                        format!(
                            "Registry '{server}' named a realm that is not a URL: '{realm}' ({e})."
                        ),
                    )
                })?;
                // The registry, not the user, chose this URL: a failure, not a usage error.
                http::check_scheme(
                    &realm,
                    &format!("Registry '{server}' token realm"),
                    Scheme::HttpsOnly,
                )
                .map_err(|mut e| {
                    e.kind = Kind::Failure;
                    e
                })?;
                return Ok(RegistryChallenge::Bearer {
                    realm,
                    service: service.to_string(),
                });
            }
            if c.scheme.eq_ignore_ascii_case("basic") {
                saw_basic = true;
            }
        }
    }
    if saw_basic {
        return Ok(RegistryChallenge::Basic);
    }
    Err(AppError::new(
        Kind::Failure,
        format!("Registry '{server}' did not ask properly for a basic or a bearer authentication."),
    ))
}

/// Why an exchange failed: `Refused` (HTTP 401) lets the caller try another audience.
#[derive(Debug)]
pub enum ExchangeError {
    Refused(AppError),
    Other(AppError),
}

#[derive(Deserialize)]
struct RefreshTokenResponse {
    refresh_token: String,
}

#[derive(Deserialize)]
struct AccessTokenResponse {
    access_token: Option<String>,
    token: Option<String>,
}

/// `POST {realm origin}/oauth2/exchange` with `grant_type=access_token`: Entra token in,
/// ACR refresh token out (AAD-OAuth.md; form fields as az sends them).
pub async fn exchange(
    server: &str,
    realm: &Url,
    service: &str,
    tenant: Option<&str>,
    entra_token: &str,
) -> Result<String, ExchangeError> {
    let url = RegistryChallenge::oauth2_url(realm, "exchange");
    let mut form = vec![("grant_type", "access_token"), ("service", service)];
    if let Some(t) = tenant {
        form.push(("tenant", t));
    }
    form.push(("access_token", entra_token));
    let what = format!("Exchanging the Entra token at registry '{server}'");
    let response = http::send_retrying(|| http::client().post(url.clone()).form(&form), &what)
        .await
        .map_err(ExchangeError::Other)?;
    let status = response.status().as_u16();
    let body = http::body_text(response, &what)
        .await
        .map_err(ExchangeError::Other)?;
    match status {
        200 => {
            let parsed: RefreshTokenResponse = serde_json::from_str(&body).map_err(|_| {
                ExchangeError::Other(AppError::new(Kind::Failure, format!("{what}: {} answered 200 but not with a refresh token.", http::display_url(&url))).hint("A proxy may be answering in the registry's place; check HTTPS_PROXY/NO_PROXY."))
            })?;
            crate::log::register_secret(&parsed.refresh_token);
            Ok(parsed.refresh_token)
        }
        401 | 403 => Err(ExchangeError::Refused(
            AppError::new(Kind::Auth, format!("Registry '{server}' refused the Entra token (HTTP {status} from /oauth2/exchange){}.", acr_error_detail(&body)))
                .hint("The identity needs a role that allows pull on the registry (AcrPull, or a repository role on ABAC registries), in the registry's tenant; role assignments can take a few minutes to apply."),
        )),
        s => Err(ExchangeError::Other(
            AppError::new(Kind::Failure, format!("Registry '{server}' failed the token exchange (HTTP {s} from /oauth2/exchange){}.", acr_error_detail(&body))).hint("Try again; if it persists, check the registry's health with `az acr check-health`."),
        )),
    }
}

/// Checks a username and password (admin user or ACR token credentials) at the token
/// endpoint before anything is stored: `GET {realm}?service=…` with Basic auth
/// (Azure/acr `docs/Token-BasicAuth.md`), or `GET /v2/` with Basic auth for a registry
/// that only offers Basic.
pub async fn verify_password(
    server: &str,
    challenge: &RegistryChallenge,
    username: &str,
    password: &str,
) -> Result<(), AppError> {
    let what = format!("Checking the credentials at registry '{server}'");
    let request = match challenge {
        RegistryChallenge::Bearer { realm, service } => http::client()
            .get(realm.clone())
            .query(&[("service", service.as_str())])
            .basic_auth(username, Some(password)),
        RegistryChallenge::Basic => http::client()
            .get(format!("https://{server}/v2/"))
            .basic_auth(username, Some(password)),
    };
    let response = http::send(request, &what).await?;
    let status = response.status().as_u16();
    let body = http::body_text(response, &what).await?;
    match status {
        200 => {
            if let RegistryChallenge::Bearer { .. } = challenge {
                let parsed: AccessTokenResponse = serde_json::from_str(&body).map_err(|_| AppError::new(Kind::Failure, format!("{what}: the token endpoint answered 200 but not with a token.")))?;
                if let Some(t) = parsed.access_token.as_deref().or(parsed.token.as_deref()) {
                    crate::log::register_secret(t);
                }
            }
            Ok(())
        }
        401 | 403 => Err(AppError::new(Kind::Auth, format!("Registry '{server}' refused username '{username}' and its password (HTTP {status}){}.", acr_error_detail(&body)))
            .hint("Check the admin user (az acr credential show) or the token's password, and that the admin user or the token is enabled.")),
        s => Err(AppError::new(Kind::Failure, format!("{what}: the token endpoint answered HTTP {s}{}.", acr_error_detail(&body)))),
    }
}

/// ACR's error bodies: `{"errors":[{"code","message"}]}`; a short, secret-free summary.
fn acr_error_detail(body: &str) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_str::<Errors>(body) {
        Ok(e) if !e.errors.is_empty() => {
            let first = &e.errors[0];
            let text = [first.code.as_deref(), first.message.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            let text: String = text.chars().take(200).collect();
            format!(": {}", crate::log::redact(&text))
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_the_cloud_suffix() {
        assert_eq!(
            login_server("MyRegistry", None, "azurecr.io").unwrap(),
            "myregistry.azurecr.io"
        );
        assert_eq!(
            login_server("myregistry", Some("abc123"), "azurecr.io").unwrap(),
            "myregistry-abc123.azurecr.io"
        );
        assert_eq!(
            login_server("myregistry", None, "azurecr.cn").unwrap(),
            "myregistry.azurecr.cn"
        );
    }

    #[test]
    fn login_servers_are_kept() {
        assert_eq!(
            login_server("MyReg.azurecr.io", None, "azurecr.io").unwrap(),
            "myreg.azurecr.io"
        );
        assert_eq!(
            login_server("127.0.0.1:5443", None, "azurecr.io").unwrap(),
            "127.0.0.1:5443"
        );
        assert_eq!(
            login_server("localhost:5000", None, "azurecr.io").unwrap(),
            "localhost:5000"
        );
    }

    #[test]
    fn bad_names_are_usage_errors() {
        for bad in [
            "https://myreg.azurecr.io",
            "my_reg",
            "abc",
            &"a".repeat(51),
            "reg.azurecr.io:0",
            "reg.azurecr.io:http",
            "re..g.io",
            "reg.io/path",
            "",
        ] {
            let err = login_server(bad, None, "azurecr.io").unwrap_err();
            assert_eq!(err.kind, Kind::Usage, "{bad}");
        }
        let err = login_server("https://myreg.azurecr.io/", None, "azurecr.io").unwrap_err();
        assert!(
            err.one_line().contains("-n myreg.azurecr.io"),
            "{}",
            err.one_line()
        );
        assert!(login_server("reg.azurecr.io", Some("x"), "azurecr.io").is_err());
        assert!(login_server("myregistry", Some("a-b"), "azurecr.io").is_err());
    }

    #[test]
    fn challenge_with_quoted_commas() {
        let c = parse_www_authenticate(r#"Bearer realm="https://r.azurecr.io/oauth2/token",service="r.azurecr.io",scope="repository:a/b:pull,push""#).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "Bearer");
        assert_eq!(
            c[0].param("realm"),
            Some("https://r.azurecr.io/oauth2/token")
        );
        assert_eq!(c[0].param("service"), Some("r.azurecr.io"));
        assert_eq!(c[0].param("scope"), Some("repository:a/b:pull,push"));
    }

    #[test]
    fn several_challenges_in_one_header() {
        let c = parse_www_authenticate(r#"Basic realm="x", Bearer realm="https://a/oauth2/token", service=a, error="invalid_token""#).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "Basic");
        assert_eq!(c[1].param("service"), Some("a"));
        assert_eq!(c[1].param("error"), Some("invalid_token"));
    }

    #[test]
    fn escaped_quotes_and_unquoted_values() {
        let c =
            parse_www_authenticate(r#"bearer REALM=https://a/t , service="say \"hi\"""#).unwrap();
        assert_eq!(c[0].param("realm"), Some("https://a/t"));
        assert_eq!(c[0].param("service"), Some(r#"say "hi""#));
    }

    #[test]
    fn malformed_headers_are_errors_not_panics() {
        assert!(parse_www_authenticate(r#"Bearer realm="unterminated"#).is_err());
        assert!(parse_www_authenticate("Bearer =x").is_err());
        assert_eq!(parse_www_authenticate("").unwrap(), vec![]);
        assert_eq!(
            parse_www_authenticate("Negotiate").unwrap()[0].params.len(),
            0
        );
    }

    #[test]
    fn oauth2_urls_use_the_realm_origin() {
        let realm = Url::parse("https://r.azurecr.io:8443/some/path/token?x=1").unwrap();
        assert_eq!(
            RegistryChallenge::oauth2_url(&realm, "exchange").as_str(),
            "https://r.azurecr.io:8443/oauth2/exchange"
        );
    }
}
