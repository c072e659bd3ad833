//! TLS to PostgreSQL, read from the connection string as libpq reads it, so a URL copied from
//! a hosting provider means the same here: `sslmode=disable | prefer (default) | require |
//! verify-ca | verify-full` and `sslrootcert=FILE | system`. tokio-postgres knows only three of
//! the five modes and no root file, so both parameters are taken out of the string here and
//! the rest is handed to it. Like libpq, `prefer` and `require` encrypt without checking the
//! server's certificate (unless `require` names a root file: then as `verify-ca`);
//! `verify-ca` checks the chain, `verify-full` the chain and the host name. Roots: the file
//! given, or the Mozilla roots (`system`, or no file). TLS is rustls on ring, like every other
//! outgoing connection of the binary.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's TLS modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, unverified.
    Prefer,
    /// TLS always, unverified.
    Require,
    /// TLS always, the chain checked against the roots.
    VerifyCa,
    /// TLS always, the chain and the host name checked.
    VerifyFull,
}

/// What the connection string asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tls {
    /// The mode (`sslmode`).
    pub(crate) mode: Mode,
    /// The roots file (`sslrootcert`); `None` for the Mozilla roots.
    pub(crate) root: Option<PathBuf>,
}

impl Tls {
    /// The mode tokio-postgres negotiates with.
    pub(crate) fn ssl_mode(&self) -> SslMode {
        match self.mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        }
    }

    /// The connector for every connection of the backend.
    pub(crate) fn connector(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let mode = match (self.mode, &self.root) {
            (Mode::Require, Some(_)) => Mode::VerifyCa,
            (m, _) => m,
        };
        let verifier: Arc<dyn ServerCertVerifier> = match mode {
            Mode::Disable | Mode::Prefer | Mode::Require => Arc::new(Unverified(provider)),
            Mode::VerifyCa | Mode::VerifyFull => {
                let checked =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(self.roots()?), provider)
                        .build()
                        .map_err(|e| e.to_string())?;
                match mode {
                    Mode::VerifyCa => Arc::new(ChainOnly(checked)),
                    _ => checked,
                }
            }
        };
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, String> {
        let Some(path) = &self.root else {
            return Ok(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            });
        };
        let named = |e: String| format!("sslrootcert {}: {e}", path.display());
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| named(e.to_string()))? {
            roots
                .add(cert.map_err(|e| named(e.to_string()))?)
                .map_err(|e| named(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(named("no PEM certificate in it".into()));
        }
        Ok(roots)
    }
}

/// Takes `sslmode` and `sslrootcert` out of a connection string (URL or `key=value` form) and
/// returns the rest with what they asked for.
pub(crate) fn split(url: &str) -> Result<(String, Tls), String> {
    let mut tls = Tls {
        mode: Mode::Prefer,
        root: None,
    };
    let mut take = |key: &str, value: &str| -> Result<bool, String> {
        match key {
            "sslmode" => {
                tls.mode = match value {
                    "disable" => Mode::Disable,
                    "prefer" | "allow" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode {other:?} is not one of disable, prefer, require, verify-ca, verify-full"
                        ));
                    }
                };
                Ok(true)
            }
            "sslrootcert" => {
                tls.root = (value != "system").then(|| PathBuf::from(value));
                Ok(true)
            }
            _ => Ok(false),
        }
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), tls));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded: String = url::form_urlencoded::parse(format!("v={v}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            if !take(k, &decoded)? {
                kept.push(pair);
            }
        }
        match kept.is_empty() {
            true => base.to_owned(),
            false => format!("{base}?{}", kept.join("&")),
        }
    } else {
        let mut kept = Vec::new();
        for token in url.split_whitespace() {
            let (k, v) = token.split_once('=').unwrap_or((token, ""));
            if !take(k.trim(), v.trim_matches('\''))? {
                kept.push(token);
            }
        }
        kept.join(" ")
    };
    Ok((rest, tls))
}

/// `prefer` and `require`: encrypted, the certificate not checked (libpq's meaning).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms())
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

impl Unverified {
    fn algorithms(&self) -> WebPkiSupportedAlgorithms {
        self.0.signature_verification_algorithms
    }
}

/// `verify-ca`: the chain must lead to a root; the host name may differ.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
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
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_parameters_are_taken_out_of_both_forms() {
        let (rest, tls) =
            split("postgres://u:p%40ss@db:5432/shop?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem")
                .expect("url");
        assert_eq!(rest, "postgres://u:p%40ss@db:5432/shop?application_name=x");
        assert_eq!(tls.mode, Mode::VerifyFull);
        assert_eq!(tls.root, Some(PathBuf::from("/etc/ca.pem")));
        let (rest, tls) = split("postgres://db/shop?sslmode=require").expect("url");
        assert_eq!(
            (rest.as_str(), tls.mode, tls.root),
            ("postgres://db/shop", Mode::Require, None)
        );
        let (rest, tls) =
            split("host=db dbname=shop sslmode=verify-ca sslrootcert=system").expect("kv");
        assert_eq!(
            (rest.as_str(), tls.mode, tls.root),
            ("host=db dbname=shop", Mode::VerifyCa, None)
        );
        let (rest, tls) = split("postgres://db/shop").expect("url");
        assert_eq!(
            (rest.as_str(), tls.mode),
            ("postgres://db/shop", Mode::Prefer)
        );
        assert_eq!(tls.ssl_mode(), SslMode::Prefer);
        assert!(split("postgres://db/shop?sslmode=maybe").is_err());
    }

    #[test]
    fn a_roots_file_without_certificates_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate").expect("write");
        let tls = Tls {
            mode: Mode::VerifyFull,
            root: Some(path),
        };
        let err = tls.connector().err().expect("refused");
        assert!(err.contains("empty.pem"), "{err}");
        let missing = Tls {
            mode: Mode::VerifyCa,
            root: Some(dir.path().join("missing.pem")),
        };
        assert!(missing.connector().is_err());
        let mozilla = Tls {
            mode: Mode::VerifyFull,
            root: None,
        };
        assert!(mozilla.connector().is_ok());
    }
}
