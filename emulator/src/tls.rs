//! Key material: the CA and the TLS leaf, and the RSA signing keys of the emulated services
//! (Entra, the OIDC issuer of federated tokens, the ACR token service, the certificate SP).

use anyhow::{Context, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_RSA_SHA256,
};

/// The CA and the leaf certificate served by every HTTPS listener.
pub struct TlsMaterial {
    pub ca_pem: String,
    pub leaf_cert_pem: String,
    pub leaf_key_pem: String,
}

pub fn make_tls() -> Result<TlsMaterial> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name = dn("acrctl-emulator CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate()?;
    // rcgen turns strings that parse as IP addresses into iPAddress SANs.
    let mut leaf = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
    ])?;
    leaf.distinguished_name = dn("127.0.0.1");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    Ok(TlsMaterial {
        ca_pem: ca_cert.pem(),
        leaf_cert_pem: leaf_cert.pem(),
        leaf_key_pem: leaf_key.serialize_pem(),
    })
}

pub fn server_config(m: &TlsMaterial) -> Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(m.leaf_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("leaf certificate")?;
    let key = PrivateKeyDer::from_pem_slice(m.leaf_key_pem.as_bytes()).context("leaf key")?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// An RSA key with a self-signed certificate, usable to sign (RS256) and verify JWTs.
pub struct RsaKey {
    pub kid: String,
    pub enc: EncodingKey,
    pub dec: DecodingKey,
    /// base64url modulus and exponent (JWK `n`, `e`).
    pub n: String,
    pub e: String,
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl RsaKey {
    pub fn generate(cn: &str) -> Result<RsaKey> {
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = dn(cn);
        let cert = params.self_signed(&key)?;
        let key_pem = key.serialize_pem();
        let (n, e) = rsa_components(&rcgen::PublicKeyData::subject_public_key_info(&key))
            .context("RSA public key")?;
        let (n, e) = (URL_SAFE_NO_PAD.encode(n), URL_SAFE_NO_PAD.encode(e));
        let cert_der = cert.der().to_vec();
        Ok(RsaKey {
            kid: x5t_sha1(&cert_der),
            enc: EncodingKey::from_rsa_pem(key_pem.as_bytes())?,
            dec: DecodingKey::from_rsa_components(&n, &e)?,
            n,
            e,
            cert_pem: cert.pem(),
            cert_der,
            key_pem,
        })
    }

    pub fn x5c(&self) -> Vec<String> {
        vec![STANDARD.encode(&self.cert_der)]
    }

    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "x5t": self.kid, "n": self.n, "e": self.e, "x5c": self.x5c(),
        })
    }
}

/// Entra's `kid`/`x5t` is the base64url SHA-1 thumbprint of the certificate.
pub fn x5t_sha1(der: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    URL_SAFE_NO_PAD.encode(d.as_ref())
}

pub fn x5t_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(sha256(der))
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

pub fn sha256_hex(data: &[u8]) -> String {
    sha256(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads one DER TLV; returns (tag, content, rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *input.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let content = input.get(hdr..hdr + len)?;
    Some((tag, content, &input[hdr + len..]))
}

/// Modulus and exponent (big-endian, no leading zero) of an RSA SubjectPublicKeyInfo.
fn rsa_components(spki: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (_, spki, _) = der_tlv(spki)?; // SEQUENCE
    let (_, _alg, rest) = der_tlv(spki)?; // AlgorithmIdentifier
    let (_, bits, _) = der_tlv(rest)?; // BIT STRING
    let (_, rsa, _) = der_tlv(bits.get(1..)?)?; // RSAPublicKey SEQUENCE
    let (_, n, rest) = der_tlv(rsa)?;
    let (_, e, _) = der_tlv(rest)?;
    let strip = |v: &[u8]| {
        let i = v.iter().position(|b| *b != 0).unwrap_or(v.len());
        v[i..].to_vec()
    };
    Some((strip(n), strip(e)))
}
