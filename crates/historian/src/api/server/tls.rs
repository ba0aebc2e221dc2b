//! HTTPS for the API: the certificate and key read from PEM files, and read again when the
//! files change, so a renewed certificate is served without a restart.

use crate::config::TlsFiles;
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};
use thiserror::Error;

/// How often, at most, a handshake looks whether the files changed: a `stat` of two files
/// every few seconds costs nothing, and a renewal does not need to show sooner.
pub const RELOAD_CHECK: Duration = Duration::from_secs(2);

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
fn provider() -> Arc<CryptoProvider> {
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

/// What identifies a file's content cheaply: its modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// When the files were last looked at, and how they were then.
#[derive(Debug)]
struct Seen {
    checked: Instant,
    stamps: (Stamp, Stamp),
}

/// The served certificate: the files' content at start, replaced when a handshake finds
/// the files changed and the new pair loads. A pair that does not load (written half-way,
/// or a wrong key) leaves the previous certificate in service, with a warning.
#[derive(Debug)]
pub struct ReloadingCert {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
    seen: Mutex<Seen>,
}

impl ReloadingCert {
    /// Loads `files` now; an error here stops the start.
    pub fn new(files: TlsFiles) -> Result<Self, TlsFileError> {
        let stamps = (stamp(&files.cert), stamp(&files.key));
        let current = load_certified_key(&files.cert, &files.key)?;
        Ok(Self {
            files,
            current: RwLock::new(current),
            seen: Mutex::new(Seen {
                checked: Instant::now(),
                stamps,
            }),
        })
    }

    /// Reloads the pair if the files changed since the last look, at most every
    /// [`RELOAD_CHECK`].
    fn refresh(&self) {
        // A handshake that finds another one looking goes on with the current pair.
        let Ok(mut seen) = self.seen.try_lock() else {
            return;
        };
        if seen.checked.elapsed() < RELOAD_CHECK {
            return;
        }
        seen.checked = Instant::now();
        let stamps = (stamp(&self.files.cert), stamp(&self.files.key));
        if stamps == seen.stamps {
            return;
        }
        // Remembered even when the load fails: the same broken pair is not tried at every
        // handshake, and the next write to either file is.
        seen.stamps = stamps;
        match load_certified_key(&self.files.cert, &self.files.key) {
            Ok(fresh) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
                tracing::info!(cert = %self.files.cert.display(), "API certificate reloaded");
            }
            Err(e) => tracing::warn!(
                error = %e,
                "the API certificate files changed but cannot be used; still serving the previous certificate"
            ),
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

/// The TLS side of the API's server: HTTP/1.1 over TLS 1.2 or 1.3 with `cert`.
pub fn server_config(cert: ReloadingCert) -> Result<rustls::ServerConfig, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(cert));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use historian_testkit::TestPki;

    #[test]
    fn a_pair_that_belongs_together_loads_and_every_fault_names_its_file() {
        let pki = TestPki::new(&["localhost"]).expect("pki");
        load_certified_key(&pki.cert_path(), &pki.key_path()).expect("the pair");

        let other = TestPki::new(&["localhost"]).expect("pki");
        let e = load_certified_key(&pki.cert_path(), &other.key_path()).expect_err("mismatch");
        assert!(matches!(e, TlsFileError::Mismatch { .. }), "{e}");
        assert!(e.about_key());

        let e = load_certified_key(&pki.dir().join("absent.pem"), &pki.key_path())
            .expect_err("missing");
        assert!(matches!(e, TlsFileError::ReadCert { .. }), "{e}");
        assert!(!e.about_key());

        // A key where the certificate belongs, and the other way round.
        let e = load_certified_key(&pki.key_path(), &pki.key_path()).expect_err("no cert");
        assert!(matches!(e, TlsFileError::NoCertificate { .. }), "{e}");
        let e = load_certified_key(&pki.cert_path(), &pki.cert_path()).expect_err("no key");
        assert!(matches!(e, TlsFileError::NoKey { .. }), "{e}");
        assert!(e.to_string().contains("cert.pem"), "{e}");

        let garbage = pki.dir().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let e = load_certified_key(&garbage, &pki.key_path()).expect_err("garbage");
        assert!(matches!(e, TlsFileError::BadCertificate { .. }), "{e}");
    }
}
