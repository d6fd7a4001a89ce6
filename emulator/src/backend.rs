//! The real registry behind the first front: Debian's `docker-registry` (CNCF distribution
//! 2.8) with `auth.token` pointing at this emulator, seeded with `samples/hello:v1`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::tls::sha256_hex;

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Writes the config and starts `docker-registry serve`; returns the child and its base URL.
pub fn spawn(
    bin: &Path,
    state_dir: &Path,
    front_login_server: &str,
    token_cert: &Path,
) -> Result<(Child, String)> {
    let port = free_port()?;
    let data = state_dir.join("registry-data");
    std::fs::create_dir_all(&data)?;
    // relativeurls keeps the backend address out of Location headers.
    let config = format!(
        "version: 0.1\nlog: {{level: info}}\nstorage: {{filesystem: {{rootdirectory: {data}}}, delete: {{enabled: true}}}}\nhttp: {{addr: 127.0.0.1:{port}, relativeurls: true}}\nauth:\n  token: {{realm: \"https://{front}/oauth2/token\", service: \"{front}\", issuer: \"{iss}\", rootcertbundle: {cert}}}\n",
        data = data.display(),
        front = front_login_server,
        iss = crate::acr::ISSUER,
        cert = token_cert.display(),
    );
    let cfg_path = state_dir.join("registry-config.yml");
    std::fs::write(&cfg_path, config)?;
    let log = std::fs::File::create(state_dir.join("docker-registry.log"))?;
    let child = Command::new(bin)
        .arg("serve")
        .arg(&cfg_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok((child, format!("http://127.0.0.1:{port}")))
}

pub async fn wait_ready(http: &reqwest::Client, base: &str) -> Result<()> {
    let start = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/v2/")).send().await {
            if r.status().as_u16() == 401 || r.status().is_success() {
                return Ok(());
            }
        }
        if start.elapsed() > Duration::from_secs(15) {
            bail!("docker-registry at {base} did not come up (see docker-registry.log)");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One ustar entry plus the end-of-archive blocks.
fn tar_one(name: &str, content: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let oct = |h: &mut [u8; 512], off: usize, len: usize, v: u64| {
        let s = format!("{:0w$o}\0", v, w = len - 1);
        h[off..off + len].copy_from_slice(s.as_bytes());
    };
    oct(&mut h, 100, 8, 0o644);
    oct(&mut h, 108, 8, 0);
    oct(&mut h, 116, 8, 0);
    oct(&mut h, 124, 12, content.len() as u64);
    oct(&mut h, 136, 12, 1_700_000_000);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| *b as u32).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Pushes `samples/hello:v1` (OCI manifest, one gzip layer) with a push-capable token.
pub async fn seed(http: &reqwest::Client, base: &str, token: &str) -> Result<String> {
    let tar = tar_one("hello.txt", b"hello from acrctl-emulator\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar)?;
    let layer = gz.finish()?;
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&tar))]},
        "history": [{"created_by": "acrctl-emulator seed"}],
    }))?;
    let repo = "samples/hello";
    for blob in [&layer, &config] {
        let digest = format!("sha256:{}", sha256_hex(blob));
        let r = http
            .post(format!("{base}/v2/{repo}/blobs/uploads/"))
            .bearer_auth(token)
            .send()
            .await?;
        if r.status().as_u16() != 202 {
            bail!(
                "blob upload start: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        let loc = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .context("upload location")?
            .to_string();
        let mut url = if loc.starts_with("http") {
            loc
        } else {
            format!("{base}{loc}")
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={digest}"));
        let r = http
            .put(url)
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(blob.clone())
            .send()
            .await?;
        if r.status().as_u16() != 201 {
            bail!(
                "blob upload: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", sha256_hex(&config)), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": format!("sha256:{}", sha256_hex(&layer)), "size": layer.len()}],
    }))?;
    let r = http
        .put(format!("{base}/v2/{repo}/manifests/v1"))
        .bearer_auth(token)
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await?;
    if r.status().as_u16() != 201 {
        bail!(
            "manifest put: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    Ok(format!("sha256:{}", sha256_hex(&manifest)))
}

pub fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[allow(dead_code)]
pub fn log_path(state_dir: &Path) -> PathBuf {
    state_dir.join("docker-registry.log")
}
