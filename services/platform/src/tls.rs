//! TLS for gRPC: the server's identity and whom it trusts, and what this process presents and
//! trusts when it calls the other services, all read from PEM files named in `[tls]`.

use anyhow::Context as _;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::config::TlsSettings;

/// Where this process's own server answers `addr`'s port: `https://localhost:<port>` under
/// TLS (the name its certificate must carry), `http://<addr>` otherwise.
pub fn local_endpoint(settings: &TlsSettings, addr: std::net::SocketAddr) -> String {
    if settings.enabled() {
        format!("https://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}

fn read(what: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{what} {path}"))
}

fn identity(settings: &TlsSettings) -> anyhow::Result<Identity> {
    Ok(Identity::from_pem(
        read("tls.cert_file", &settings.cert_file)?,
        read("tls.key_file", &settings.key_file)?,
    ))
}

/// The server's TLS, or `None` for plaintext.
pub fn server(settings: &TlsSettings) -> anyhow::Result<Option<ServerTlsConfig>> {
    if !settings.enabled() {
        return Ok(None);
    }
    let mut config = ServerTlsConfig::new().identity(identity(settings)?);
    if !settings.client_ca_file.is_empty() {
        config = config.client_ca_root(Certificate::from_pem(read(
            "tls.client_ca_file",
            &settings.client_ca_file,
        )?));
    }
    Ok(Some(config))
}

/// How this process calls other services over https://: trusting `ca_file` (or the system's
/// roots), and presenting its own certificate when the suite runs mutual TLS.
pub fn client(settings: &TlsSettings) -> anyhow::Result<ClientTlsConfig> {
    let mut config = if settings.ca_file.is_empty() {
        ClientTlsConfig::new().with_native_roots()
    } else {
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(
            "tls.ca_file",
            &settings.ca_file,
        )?))
    };
    if settings.enabled() && !settings.client_ca_file.is_empty() {
        config = config.identity(identity(settings)?);
    }
    Ok(config)
}
