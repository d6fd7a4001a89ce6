//! Client assertions for a service principal's certificate
//! (`AZURE_CLIENT_CERTIFICATE_PATH`): an RS256 JWT with the certificate's SHA-256
//! thumbprint in the `x5t#S256` header, as Entra documents it
//! (learn.microsoft.com/entra/identity-platform/certificate-credentials#assertion-format).
//! Signed here and handed to azure_identity's client-assertion credential, whose own
//! certificate credential needs openssl.

use crate::error::{AppError, Kind};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use azure_core::http::ClientMethodOptions;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;

pub struct AssertionSigner {
    key: RsaKeyPair,
    thumbprint_s256: String,
    client_id: String,
    audience: String,
}

impl std::fmt::Debug for AssertionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionSigner")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl AssertionSigner {
    /// Loads a PEM file holding the certificate and its unencrypted private key (PKCS#8 or
    /// PKCS#1), or a PKCS#12 file with its password.
    pub fn load(
        path: &Path,
        password: Option<&str>,
        client_id: &str,
        tenant: &str,
        authority: &url::Url,
    ) -> Result<Self, AppError> {
        let bad = |why: String| {
            AppError::new(Kind::Auth, format!("AZURE_CLIENT_CERTIFICATE_PATH {}: {why}.", path.display()))
                .hint("Give a PEM file with the certificate and its unencrypted private key, or a .pfx/.p12 file with AZURE_CLIENT_CERTIFICATE_PASSWORD.")
        };
        let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot be read ({e})")))?;
        let (cert_der, key) =
            if bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
                let cert = CertificateDer::from_pem_slice(&bytes)
                    .map_err(|_| bad("holds no PEM CERTIFICATE block".into()))?;
                let key = PrivateKeyDer::from_pem_slice(&bytes)
                    .map_err(|_| bad("holds no unencrypted PEM PRIVATE KEY block".into()))?;
                let key = match &key {
                    PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
                    PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
                    _ => return Err(bad("the private key is not an RSA key".into())),
                }
                .map_err(|e| bad(format!("the private key is not a usable RSA key ({e})")))?;
                (cert.to_vec(), key)
            } else {
                // PKCS#12 (.pfx/.p12), as exported by Key Vault, the portal or `openssl pkcs12`
                // (PBES2/AES or the legacy 3DES/RC2 schemes).
                let store = p12_keystore::KeyStore::from_pkcs12(
                    &bytes,
                    password.unwrap_or(""),
                    p12_keystore::Pkcs12ImportPolicy::Relaxed,
                )
                .map_err(|e| {
                    bad(format!(
                        "is not a PKCS#12 file that opens with {} ({e})",
                        if password.is_some() {
                            "AZURE_CLIENT_CERTIFICATE_PASSWORD"
                        } else {
                            "an empty password"
                        }
                    ))
                })?;
                let (_, chain) = store
                    .private_key_chain()
                    .ok_or_else(|| bad("holds no private key with its certificate".into()))?;
                let cert = chain
                    .certs()
                    .first()
                    .ok_or_else(|| bad("holds a private key but no certificate".into()))?;
                let key = RsaKeyPair::from_pkcs8(chain.key().as_der())
                    .map_err(|e| bad(format!("the private key is not a usable RSA key ({e})")))?;
                (cert.as_der().to_vec(), key)
            };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &cert_der);
        let audience = format!(
            "{}/{tenant}/oauth2/v2.0/token",
            authority.as_str().trim_end_matches('/')
        );
        Ok(AssertionSigner {
            key,
            thumbprint_s256: URL_SAFE_NO_PAD.encode(digest.as_ref()),
            client_id: client_id.to_string(),
            audience,
        })
    }

    /// A fresh assertion, valid for ten minutes.
    pub fn assertion(&self) -> Result<String, AppError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let rng = SystemRandom::new();
        let mut jti = [0u8; 16];
        rng.fill(&mut jti).map_err(|_| {
            AppError::new(
                Kind::Failure,
                "No randomness available for the client assertion.",
            )
        })?;
        let header =
            serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t#S256": self.thumbprint_s256});
        let claims = serde_json::json!({
            "aud": self.audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "nbf": now,
            "iat": now,
            "exp": now + 600,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| AppError::new(Kind::Failure, "Signing the client assertion failed."))?;
        let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
        crate::log::register_secret(&jwt);
        Ok(jwt)
    }
}

#[async_trait::async_trait]
impl azure_identity::ClientAssertion for AssertionSigner {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        self.assertion().map_err(|e| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, e.message)
        })
    }
}
