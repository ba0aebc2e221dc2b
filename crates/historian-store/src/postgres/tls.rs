//! How a PostgreSQL link is secured: `sslmode` and `sslrootcert` from the connection URL,
//! enforced by a rustls connector (ring as its one crypto backend).
//!
//! tokio-postgres itself knows only `disable`, `prefer` and `require`, and encrypts with
//! whatever connector it is handed: so both parameters are taken out of the URL here, the
//! driver is told only whether to ask for TLS, and what is verified lives in the rustls
//! configuration of the connector.

use crate::store::StoreError;
use percent_encoding::percent_decode_str;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres::config::{Host, SslMode as DriverSslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The `sslmode` values understood, with libpq's meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain text only.
    Disable,
    /// TLS when the server offers it, plain text otherwise; the certificate is not checked
    /// (unless `sslrootcert` is given).
    Prefer,
    /// TLS or no connection; the certificate is not checked unless `sslrootcert` is given,
    /// in which case its chain must lead to that CA (as libpq does).
    Require,
    /// TLS, and the server's certificate chain must lead to a trusted CA; its name is not
    /// compared with the host.
    VerifyCa,
    /// TLS, a trusted chain, and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    /// Every accepted spelling, for error messages.
    const VALUES: &str = "disable, prefer, require, verify-ca, verify-full";

    fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "unknown sslmode {other:?}: expected one of {}",
                    Self::VALUES
                ));
            }
        })
    }

    /// The parameter value, as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn driver_mode(self) -> DriverSslMode {
        match self {
            SslMode::Disable => DriverSslMode::Disable,
            SslMode::Prefer => DriverSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverSslMode::Require,
        }
    }
}

/// A connection URL taken apart: the driver's settings with the TLS parameters removed,
/// and those parameters. Parsing reads no file, so a configuration check can use it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    config: tokio_postgres::Config,
    mode: SslMode,
    root_cert: Option<PathBuf>,
}

fn decode(text: &str, what: &str) -> Result<String, String> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|e| format!("{what} is not valid percent-encoded UTF-8: {e}"))
}

impl Target {
    /// Parses a `postgres://` or `postgresql://` URL. The key=value form is refused: its
    /// quoting rules are the driver's and the TLS parameters could not be taken out of it
    /// reliably. Without `sslmode`, the link is plain text as it always was here.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(
                "expected a postgres://USER@HOST:PORT/DB URL (key=value connection \
                        strings are not accepted)"
                    .into(),
            );
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut mode = None;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("parameter {pair:?} has no value (expected key=value)"))?;
            match decode(key, "a parameter name")?.as_str() {
                "sslmode" => mode = Some(SslMode::parse(&decode(value, "sslmode")?)?),
                "sslrootcert" => {
                    let path = decode(value, "sslrootcert")?;
                    if path.is_empty() {
                        return Err("sslrootcert is empty: give the CA certificate file".into());
                    }
                    root_cert = Some(PathBuf::from(path));
                }
                _ => kept.push(pair),
            }
        }
        let mode = match (mode, &root_cert) {
            (None, Some(_)) => {
                return Err(
                    "sslrootcert is given but sslmode is not: add sslmode=verify-full \
                            (or verify-ca)"
                        .into(),
                );
            }
            (Some(SslMode::Disable), Some(_)) => {
                return Err(
                    "sslrootcert is given with sslmode=disable, which never uses TLS".into(),
                );
            }
            (m, _) => m.unwrap_or(SslMode::Disable),
        };
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config: tokio_postgres::Config = rest.parse().map_err(|e| {
            let mut text = format!("{e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            text
        })?;
        config.ssl_mode(mode.driver_mode());
        Ok(Target {
            config,
            mode,
            root_cert,
        })
    }

    /// Where the link goes, for error messages: hosts, ports, database and sslmode.
    pub(crate) fn describe(&self) -> String {
        let ports = self.config.get_ports();
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let port = ports
                    .get(i)
                    .or_else(|| ports.first())
                    .copied()
                    .unwrap_or(5432);
                match h {
                    Host::Tcp(name) => format!("{name}:{port}"),
                    #[cfg(unix)]
                    Host::Unix(dir) => format!("{} (socket, port {port})", dir.display()),
                }
            })
            .collect();
        let database = self
            .config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("(default)");
        let hosts = if hosts.is_empty() {
            "(no host)".to_string()
        } else {
            hosts.join(",")
        };
        format!(
            "PostgreSQL at {hosts}, database {database:?} (sslmode={})",
            self.mode.as_str()
        )
    }
}

/// A ready connection target: the driver's settings and the TLS connector that enforces
/// `sslmode`. Cloning shares the connector.
#[derive(Clone)]
pub struct PgLink {
    target: Target,
    tls: MakeRustlsConnect,
}

impl std::fmt::Debug for PgLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The driver's config holds the password: show where the link goes, not what.
        f.debug_struct("PgLink")
            .field("target", &self.target.describe())
            .finish_non_exhaustive()
    }
}

impl PgLink {
    /// Parses `url` and loads the CA certificates its `sslmode` needs (`sslrootcert`, else
    /// the system's store for `verify-ca`/`verify-full`).
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let target = Target::parse(url).map_err(|reason| StoreError::BadUrl {
            url: crate::StorageUrl::Postgres(url.to_string()).to_string(),
            reason,
            source: None,
        })?;
        let tls = connector(&target).map_err(|reason| StoreError::Open {
            what: target.describe(),
            reason,
            source: None,
        })?;
        Ok(PgLink { target, tls })
    }

    /// The `sslmode` in force.
    pub fn ssl_mode(&self) -> SslMode {
        self.target.mode
    }

    /// Hosts, ports, database and `sslmode`, without credentials, for messages.
    pub fn describe(&self) -> String {
        self.target.describe()
    }

    /// The driver's settings (TLS parameters removed, `sslmode` mapped).
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.target.config
    }

    /// The connector to hand to the driver or a pool.
    pub fn tls(&self) -> MakeRustlsConnect {
        self.tls.clone()
    }

    /// Opens one session; a failure names where it went and why (the TLS or server error
    /// behind the driver's one-word summary).
    pub async fn connect(&self) -> Result<tokio_postgres::Client, StoreError> {
        let (client, conn) = self
            .target
            .config
            .connect(self.tls.clone())
            .await
            .map_err(|e| StoreError::Open {
                what: self.describe(),
                reason: crate::store::error_chain(&e),
                source: Some(Box::new(e)),
            })?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "PostgreSQL connection closed");
            }
        });
        Ok(client)
    }
}

/// ring, deprecated by rustls only for lacking post-quantum key exchange: it is the one
/// crypto backend already in the build (rcgen and the Redis client use it), where the
/// alternative would add a second, C-built one.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the PEM certificates of `path` into a trust store.
fn roots_from_file(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read sslrootcert {shown}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("sslrootcert {shown} is not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err(format!("sslrootcert {shown} holds no certificate"));
    }
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            format!(
                "sslrootcert {shown}: certificate {} cannot be a trust anchor: {e}",
                i + 1
            )
        })?;
    }
    Ok(roots)
}

/// The system's CA certificates (on Debian, those of the ca-certificates package).
fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(format!(
            "no system CA certificates found ({}); give the CA with sslrootcert=FILE",
            if why.is_empty() {
                "the store is empty".to_string()
            } else {
                why.join("; ")
            }
        ));
    }
    Ok(roots)
}

fn connector(target: &Target) -> Result<MakeRustlsConnect, String> {
    let provider = provider();
    let roots = match (&target.root_cert, target.mode) {
        (Some(path), _) => Some(roots_from_file(path)?),
        (None, SslMode::VerifyCa | SslMode::VerifyFull) => Some(system_roots()?),
        (None, _) => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match roots {
        None => Arc::new(EncryptOnly {
            algorithms: provider.signature_verification_algorithms,
        }),
        Some(roots) => {
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| format!("cannot build the certificate verifier: {e}"))?;
            if target.mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly { inner: webpki })
            }
        }
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// `verify-ca` (and `require` with a CA file): the chain must lead to a trusted CA, but the
/// certificate need not name the host, as libpq does.
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The name is compared only once the chain has been verified, so a name mismatch
        // means the chain itself was good.
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a CA: encrypted, but whoever answers is accepted, as
/// libpq does. The handshake signature is still checked against the presented key.
#[derive(Debug)]
struct EncryptOnly {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Target {
        Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn without_sslmode_the_link_stays_plain() {
        let t = parse("postgres://u@db.example:5433/h");
        assert_eq!(t.mode, SslMode::Disable);
        assert_eq!(t.config.get_ssl_mode(), DriverSslMode::Disable);
        assert_eq!(t.root_cert, None);
        assert_eq!(t.config.get_dbname(), Some("h"));
        assert_eq!(t.config.get_ports(), &[5433]);
    }

    #[test]
    fn every_sslmode_maps_to_what_the_driver_knows() {
        for (text, mode, driver) in [
            ("disable", SslMode::Disable, DriverSslMode::Disable),
            ("prefer", SslMode::Prefer, DriverSslMode::Prefer),
            ("require", SslMode::Require, DriverSslMode::Require),
            ("verify-ca", SslMode::VerifyCa, DriverSslMode::Require),
            ("verify-full", SslMode::VerifyFull, DriverSslMode::Require),
        ] {
            let t = parse(&format!("postgresql://u@h/db?sslmode={text}"));
            assert_eq!((t.mode, t.config.get_ssl_mode()), (mode, driver), "{text}");
            assert_eq!(mode.as_str(), text);
        }
    }

    #[test]
    fn tls_parameters_are_taken_out_and_the_rest_kept() {
        let t = parse(
            "postgres://u:p%40ss@h:5432/db?application_name=hist&sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fmy%20ca.pem&connect_timeout=7",
        );
        assert_eq!(t.mode, SslMode::VerifyFull);
        assert_eq!(t.root_cert, Some(PathBuf::from("/etc/my ca.pem")));
        assert_eq!(t.config.get_application_name(), Some("hist"));
        assert_eq!(
            t.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(7))
        );
        assert_eq!(t.config.get_password(), Some(&b"p@ss"[..]));
    }

    #[test]
    fn bad_tls_parameters_are_refused_with_the_reason() {
        let err = |url: &str| Target::parse(url).expect_err(url);
        assert_eq!(
            err("postgres://u@h/db?sslmode=verify_full"),
            "unknown sslmode \"verify_full\": expected one of disable, prefer, require, \
             verify-ca, verify-full"
        );
        assert!(err("postgres://u@h/db?sslrootcert=/ca.pem").contains("add sslmode=verify-full"));
        assert!(
            err("postgres://u@h/db?sslmode=disable&sslrootcert=/ca.pem")
                .contains("sslmode=disable")
        );
        assert!(err("postgres://u@h/db?sslmode=require&sslrootcert=").contains("empty"));
        assert!(err("postgres://u@h/db?sslmode").contains("no value"));
        assert!(
            err("host=h sslmode=verify-full").contains("key=value connection strings"),
            "key=value form"
        );
        assert!(err("postgres://u@h/db?sslcert=/c.pem").contains("sslcert"));
    }

    #[test]
    fn the_description_names_host_port_database_and_mode() {
        let t = parse("postgres://u:secret@db.example:6432/hist?sslmode=require");
        let d = t.describe();
        assert_eq!(
            d,
            "PostgreSQL at db.example:6432, database \"hist\" (sslmode=require)"
        );
        assert!(!d.contains("secret"));
        assert_eq!(
            parse("postgres://u@a,b:7/x").describe(),
            "PostgreSQL at a:5432,b:7, database \"x\" (sslmode=disable)"
        );
    }

    #[test]
    fn certificate_files_are_checked_when_the_link_is_made() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = dir.path().join("missing.pem");
        let e = PgLink::new(&format!(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert={}",
            missing.display()
        ))
        .expect_err("missing file");
        let text = e.to_string();
        assert!(
            text.starts_with("cannot open PostgreSQL at h:5432, database \"db\"")
                && text.contains("cannot read sslrootcert")
                && text.contains("missing.pem"),
            "{text}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let e = PgLink::new(&format!(
            "postgres://u@h/db?sslmode=verify-ca&sslrootcert={}",
            empty.display()
        ))
        .expect_err("no certificate");
        assert!(e.to_string().contains("holds no certificate"), "{e}");
        let e = PgLink::new("postgres://u@h/db?sslmode=bogus").expect_err("bad mode");
        assert!(
            e.to_string().starts_with("invalid storage URL") && e.to_string().contains("bogus"),
            "{e}"
        );
    }
}
