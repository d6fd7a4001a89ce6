//! Reading (never verifying) the claims of a JWT: acrctl only needs the tenant and the
//! expiry of tokens it was just handed by Entra or the registry.

use base64::Engine;
use serde_json::Value;

/// The payload of a JWT as JSON, or `None` when the token is not a JWT.
pub fn claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.is_object().then_some(value)
}

/// The `exp` claim, in seconds since the epoch.
pub fn expires_at(token: &str) -> Option<i64> {
    claims(token)?.get("exp")?.as_i64()
}

/// The tenant of an Entra token (`tid`).
pub fn tenant(token: &str) -> Option<String> {
    claims(token)?.get("tid")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(payload: &str) -> String {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            e.encode(r#"{"alg":"none"}"#),
            e.encode(payload)
        )
    }

    #[test]
    fn reads_tid_and_exp() {
        let t = encode(r#"{"tid":"72f988bf","exp":1700000000}"#);
        assert_eq!(tenant(&t).as_deref(), Some("72f988bf"));
        assert_eq!(expires_at(&t), Some(1700000000));
    }

    #[test]
    fn not_a_jwt() {
        assert!(claims("opaque-token").is_none());
        assert!(claims("a.b").is_none());
        assert!(claims(&encode("[1,2]")).is_none());
        assert!(claims("a.!!!.c").is_none());
    }
}
