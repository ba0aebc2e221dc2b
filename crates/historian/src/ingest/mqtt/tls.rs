//! The TLS client set-up of `mqtts://`: ring as the crypto backend (the one the whole build
//! uses), the configured CA or else the system's, and the client certificate if any.

use crate::config::MqttConfig;
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

/// The TLS settings of `[mqtt]` cannot be used.
#[derive(Debug, Error)]
pub enum MqttTlsError {
    /// The CA file cannot be read or holds no usable certificate.
    #[error("mqtt.ca_file: {0}")]
    CaFile(String),
    /// The system's CA store is empty or unreadable.
    #[error("mqtts: {0}")]
    SystemRoots(String),
    /// The client certificate or key cannot be read.
    #[error("mqtt.client_cert / mqtt.client_key: {0}")]
    ClientCert(String),
    /// rustls refused the settings.
    #[error("mqtts: {0}")]
    Rustls(#[from] rustls::Error),
}

fn ca_roots(path: &Path) -> Result<RootCertStore, MqttTlsError> {
    let pem = crate::pem::read_ca_file(path).map_err(MqttTlsError::CaFile)?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| MqttTlsError::CaFile(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| MqttTlsError::CaFile(format!("{}: {e}", path.display())))?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, MqttTlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(MqttTlsError::SystemRoots(
            "no system CA certificates found; give the broker's CA as mqtt.ca_file".into(),
        ));
    }
    Ok(roots)
}

/// The client configuration for `cfg`, or `None` for plain `mqtt://`.
#[allow(deprecated)] // rustls deprecates ring only for lacking post-quantum key exchange.
pub fn client_config(cfg: &MqttConfig) -> Result<Option<Arc<rustls::ClientConfig>>, MqttTlsError> {
    if !cfg.tls {
        return Ok(None);
    }
    let roots = match &cfg.ca_file {
        Some(path) => ca_roots(path)?,
        None => system_roots()?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match &cfg.client_cert {
        None => builder.with_no_client_auth(),
        Some(files) => {
            let read = |p: &Path| {
                std::fs::read(p)
                    .map_err(|e| MqttTlsError::ClientCert(format!("{}: {e}", p.display())))
            };
            let chain = CertificateDer::pem_slice_iter(&read(&files.cert)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| MqttTlsError::ClientCert(format!("{}: {e}", files.cert.display())))?;
            let key = PrivateKeyDer::from_pem_slice(&read(&files.key)?)
                .map_err(|e| MqttTlsError::ClientCert(format!("{}: {e}", files.key.display())))?;
            builder.with_client_auth_cert(chain, key)?
        }
    };
    Ok(Some(Arc::new(config)))
}
