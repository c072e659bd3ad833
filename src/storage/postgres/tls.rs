//! TLS to PostgreSQL, read from the connection string as libpq reads it, so a URL copied from
//! a hosting provider means the same here: `sslmode=disable | prefer (default) | require |
//! verify-ca | verify-full` and `sslrootcert=FILE | system`. tokio-postgres knows only three of
//! the five modes and no root file, so both parameters are taken out of the string here and
//! the rest is handed to it. Like libpq, `prefer` and `require` encrypt without checking the
//! server's certificate (`require` with a root file checks as `verify-ca`); `verify-ca` checks
//! the chain against the root file it needs; `verify-full` checks the chain and the host name
//! against the root file, or the Mozilla roots (`system`, or no file — where libpq would look
//! for `~/.postgresql/root.crt`). As in libpq, `system` roots go only with `verify-full`: the
//! public roots without the name check would accept anyone's certificate. TLS is rustls on
//! ring, like every other outgoing connection of the binary.

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
    /// The roots file (`sslrootcert`); `None` for the Mozilla roots (`verify-full` only).
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
            (Mode::VerifyCa, None) => return Err("sslmode=verify-ca needs sslrootcert=FILE".into()),
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
    let (mut mode, mut root): (Option<Mode>, Option<String>) = (None, None);
    let mut take = |key: &str, value: &str| -> Result<bool, String> {
        match key {
            "sslmode" => {
                mode = Some(match value {
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
                });
                Ok(true)
            }
            "sslrootcert" => {
                root = Some(value.to_owned());
                Ok(true)
            }
            _ => Ok(false),
        }
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_owned(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    // Percent-decoding only, as libpq (a `+` stays a `+`).
                    let v = percent_encoding::percent_decode_str(v)
                        .decode_utf8()
                        .map_err(|_| format!("{k}: not UTF-8 once decoded"))?;
                    if !take(k, &v)? {
                        kept.push(pair);
                    }
                }
                match kept.is_empty() {
                    true => base.to_owned(),
                    false => format!("{base}?{}", kept.join("&")),
                }
            }
        }
    } else {
        let mut kept = Vec::new();
        for (k, v, text) in key_values(url)? {
            if !take(&k, &v)? {
                kept.push(text);
            }
        }
        kept.join(" ")
    };
    Ok((rest, resolve(mode, root)?))
}

/// The mode and roots a connection string's parameters mean, refusing the combinations libpq
/// refuses.
fn resolve(mode: Option<Mode>, root: Option<String>) -> Result<Tls, String> {
    let system = root.as_deref() == Some("system");
    let root = root.filter(|r| r != "system").map(PathBuf::from);
    let mode = match (mode, system) {
        (None | Some(Mode::VerifyFull), true) => Mode::VerifyFull,
        (Some(_), true) => {
            return Err(
                "sslrootcert=system needs sslmode=verify-full: the public roots \
                        without the host name check would accept anyone's certificate"
                    .into(),
            );
        }
        (None, false) => Mode::Prefer,
        (Some(Mode::Require), false) if root.is_some() => Mode::VerifyCa,
        (Some(Mode::VerifyCa), false) if root.is_none() => {
            return Err(
                "sslmode=verify-ca needs sslrootcert=FILE, the CA that signed the \
                        server's certificate (or use verify-full)"
                    .into(),
            );
        }
        (Some(m), false) => m,
    };
    Ok(Tls { mode, root })
}

/// The `key = value` pairs of a libpq keyword/value string (values may be single-quoted, with
/// `\'` and `\\` escapes), each with its original text.
fn key_values(s: &str) -> Result<Vec<(String, String, &str)>, String> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return Ok(out);
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(format!(
                "missing \"=\" after {key:?} in the connection string"
            ));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
        let mut end = s.len();
        let mut closed = !quoted;
        while let Some(&(i, c)) = chars.peek() {
            if !quoted && c.is_whitespace() {
                end = i;
                break;
            }
            chars.next();
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        value.push(e);
                    }
                }
                '\'' if quoted => {
                    closed = true;
                    end = chars.peek().map_or(s.len(), |(j, _)| *j);
                    break;
                }
                c => value.push(c),
            }
        }
        if !closed {
            return Err(format!(
                "unterminated quoted value of {key:?} in the connection string"
            ));
        }
        out.push((key, value, &s[start..end]));
    }
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
        let (rest, tls) = split(
            "postgres://u:p%40ss@db:5432/shop?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca+1.pem",
        )
        .expect("url");
        assert_eq!(rest, "postgres://u:p%40ss@db:5432/shop?application_name=x");
        assert_eq!(tls.mode, Mode::VerifyFull);
        assert_eq!(
            tls.root,
            Some(PathBuf::from("/etc/ca+1.pem")),
            "a + is not a space"
        );
        let (rest, tls) = split("postgres://db/shop?sslmode=require").expect("url");
        assert_eq!(
            (rest.as_str(), tls.mode, tls.root),
            ("postgres://db/shop", Mode::Require, None)
        );
        let (rest, tls) =
            split("postgres://db/shop?sslmode=require&sslrootcert=/ca.pem").expect("url");
        assert_eq!(
            (rest.as_str(), tls.mode),
            ("postgres://db/shop", Mode::VerifyCa)
        );
        let (rest, tls) =
            split("host=db dbname=shop sslmode=verify-full sslrootcert=system").expect("kv");
        assert_eq!(
            (rest.as_str(), tls.mode, tls.root),
            ("host=db dbname=shop", Mode::VerifyFull, None)
        );
        let (rest, tls) = split("host=db sslrootcert=system").expect("system alone");
        assert_eq!((rest.as_str(), tls.mode), ("host=db", Mode::VerifyFull));
        let (rest, tls) = split("postgres://db/shop").expect("url");
        assert_eq!(
            (rest.as_str(), tls.mode),
            ("postgres://db/shop", Mode::Prefer)
        );
        assert_eq!(tls.ssl_mode(), SslMode::Prefer);
        assert!(split("postgres://db/shop?sslmode=maybe").is_err());
    }

    #[test]
    fn quoted_values_keep_their_spaces_and_never_hide_a_mode() {
        let (rest, tls) = split(
            r"host=db password='a b sslmode=disable \' c' sslrootcert = '/my certs/ca.pem' sslmode=verify-full",
        )
        .expect("kv");
        assert_eq!(rest, r"host=db password='a b sslmode=disable \' c'");
        assert_eq!(tls.mode, Mode::VerifyFull);
        assert_eq!(tls.root, Some(PathBuf::from("/my certs/ca.pem")));
        assert!(split("host=db password='open").is_err());
        assert!(split("host=db lonely").is_err());
    }

    #[test]
    fn weak_checks_against_the_public_roots_are_refused() {
        for url in [
            "postgres://db/shop?sslmode=verify-ca",
            "postgres://db/shop?sslmode=verify-ca&sslrootcert=system",
            "postgres://db/shop?sslmode=require&sslrootcert=system",
            "host=db sslmode=prefer sslrootcert=system",
        ] {
            assert!(split(url).is_err(), "{url} accepted");
        }
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
