//! Certificates and keys read from PEM files: the API's HTTPS pair, client certificates
//! and private CAs. A leaf module, so the configuration check and the links that use the
//! files load them the same way without depending on each other.

use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// The PEM files the API serves HTTPS with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, the server's own certificate first (`api.tls_cert`).
    pub cert: PathBuf,
    /// Its private key (`api.tls_key`).
    pub key: PathBuf,
}

/// Why a certificate or key file cannot be served.
#[derive(Debug, Error)]
pub enum TlsFileError {
    /// The certificate file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadCert {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The certificate file is not valid PEM, or its certificate cannot be parsed.
    #[error("{}: not a usable certificate: {reason}", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadKey {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file holds no PEM private key.
    #[error("{}: no PEM private key in it (expected PKCS#8, PKCS#1 or SEC1, e.g. -----BEGIN PRIVATE KEY-----)", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The key file is not valid PEM, or its key type is not supported.
    #[error("{}: not a usable private key: {reason}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key is not the one the certificate was issued for.
    #[error("{}: this key does not belong to the certificate in {}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
}

impl TlsFileError {
    /// True when the key file (not the certificate file) is the one to fix.
    pub fn about_key(&self) -> bool {
        matches!(
            self,
            TlsFileError::ReadKey { .. }
                | TlsFileError::NoKey { .. }
                | TlsFileError::BadKey { .. }
                | TlsFileError::Mismatch { .. }
        )
    }
}

/// The one crypto provider of the process: ring, which `rcgen` already brings in. rustls
/// now prefers aws-lc-rs (for post-quantum key exchange), but that one needs a C/CMake
/// build; ring's classical key exchange is what every HTTPS client also offers.
#[allow(deprecated)]
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// Reads `cert` (a PEM chain, the server's certificate first) and `key` (its PEM private
/// key) and checks that they belong together.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsFileError> {
    let cert_pem = std::fs::read(cert).map_err(|source| TlsFileError::ReadCert {
        path: cert.to_path_buf(),
        source,
    })?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsFileError::BadCertificate {
            path: cert.to_path_buf(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsFileError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let key_pem = std::fs::read(key).map_err(|source| TlsFileError::ReadKey {
        path: key.to_path_buf(),
        source,
    })?;
    let der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsFileError::NoKey {
            path: key.to_path_buf(),
        },
        other => TlsFileError::BadKey {
            path: key.to_path_buf(),
            reason: other.to_string(),
        },
    })?;
    let signer =
        provider()
            .key_provider
            .load_private_key(der)
            .map_err(|e| TlsFileError::BadKey {
                path: key.to_path_buf(),
                reason: e.to_string(),
            })?;
    let certified = CertifiedKey::new(chain, signer);
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsFileError::Mismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            })
        }
        // ring always knows a key's public half; anything else is the certificate's fault.
        Err(e) => Err(TlsFileError::BadCertificate {
            path: cert.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// Reads a PEM file of CA certificates and checks that it holds at least one.
pub fn read_ca_file(path: &Path) -> Result<Vec<u8>, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{shown} is not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{shown} holds no PEM certificate"));
    }
    Ok(pem)
}
