//! HTTPS for the API: the certificate and key read from PEM files, and read again when the
//! files change, so a renewed certificate is served without a restart.

use crate::pem::{TlsFileError, TlsFiles, load_certified_key, provider};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// How often, at most, a handshake looks whether the files changed: a `stat` of two files
/// every few seconds costs nothing, and a renewal does not need to show sooner.
pub const RELOAD_CHECK: Duration = Duration::from_secs(2);

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
