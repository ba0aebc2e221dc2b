//! Certificates made at test time: a certificate authority, a server certificate it signed
//! for the names a test connects to, and a second authority that signed nothing (for the
//! "wrong CA is refused" half of a test). Never a private key in the repository.

use crate::TestkitError;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// A CA, a server certificate and key signed by it, and an unrelated CA, as PEM files.
#[derive(Debug)]
pub struct TestPki {
    dir: tempfile::TempDir,
    /// The CA's certificate, PEM.
    pub ca_pem: String,
    /// The server's certificate, PEM.
    pub cert_pem: String,
    /// The server's private key, PKCS#8 PEM.
    pub key_pem: String,
}

fn failed(what: &str) -> impl FnOnce(rcgen::Error) -> TestkitError + '_ {
    move |e| TestkitError::Failed(format!("{what}: {e}"))
}

fn authority(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>, TestkitError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(failed("CA params"))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().map_err(failed("CA key"))?;
    CertifiedIssuer::self_signed(params, key).map_err(failed("CA certificate"))
}

impl TestPki {
    /// Makes a CA and a server certificate valid for `hosts` (DNS names or IP addresses).
    pub fn new(hosts: &[&str]) -> Result<Self, TestkitError> {
        let ca = authority("historian test CA")?;
        let names: Vec<String> = hosts.iter().map(|h| (*h).to_string()).collect();
        let mut params = CertificateParams::new(names).map_err(failed("server params"))?;
        params.distinguished_name.push(
            DnType::CommonName,
            hosts.first().copied().unwrap_or("localhost"),
        );
        let key = KeyPair::generate().map_err(failed("server key"))?;
        let cert = params
            .signed_by(&key, &ca)
            .map_err(failed("server certificate"))?;
        let dir = tempfile::tempdir()
            .map_err(|e| TestkitError::Failed(format!("certificate folder: {e}")))?;
        let pki = Self {
            dir,
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        let other = authority("unrelated test CA")?;
        pki.write("ca.pem", &pki.ca_pem)?;
        pki.write("cert.pem", &pki.cert_pem)?;
        pki.write("key.pem", &pki.key_pem)?;
        pki.write("other-ca.pem", &other.pem())?;
        Ok(pki)
    }

    fn write(&self, name: &str, pem: &str) -> Result<(), TestkitError> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, pem)
            .map_err(|e| TestkitError::Failed(format!("{}: {e}", path.display())))?;
        // PostgreSQL refuses a key file that others can read.
        #[cfg(unix)]
        if name == "key.pem" {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| TestkitError::Failed(format!("{}: {e}", path.display())))?;
        }
        Ok(())
    }

    /// The folder holding the PEM files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// The CA certificate file.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
    /// The server certificate file.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
    /// The server key file (mode 0600).
    pub fn key_path(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
    /// A CA certificate that signed nothing here: verifying against it must fail.
    pub fn other_ca_path(&self) -> PathBuf {
        self.dir.path().join("other-ca.pem")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_ca_a_server_pair_and_an_unrelated_ca() {
        let pki = TestPki::new(&["localhost", "127.0.0.1"]).expect("pki");
        for p in [
            pki.ca_path(),
            pki.cert_path(),
            pki.key_path(),
            pki.other_ca_path(),
        ] {
            let text = std::fs::read_to_string(&p).expect("read");
            assert!(text.starts_with("-----BEGIN "), "{}", p.display());
        }
        assert_ne!(
            std::fs::read(pki.ca_path()).expect("ca"),
            std::fs::read(pki.other_ca_path()).expect("other")
        );
    }
}
