//! Opening a PostgreSQL connection, with TLS when the URL asks for it. diesel-async speaks no
//! TLS itself, so a TLS connection is opened by tokio-postgres with rustls and handed over.
//! `sslmode` follows libpq: `disable`, `allow` and `prefer` (the default) connect in clear;
//! `require` encrypts without checking the certificate unless `sslrootcert` is given (then it
//! checks the chain, as libpq does); `verify-ca` checks the chain, `verify-full` the chain and
//! the host name. Roots come from `sslrootcert`, else the platform's trust store.
use std::sync::Arc;

use diesel::{ConnectionError, ConnectionResult};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject as _},
};

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encrypted, certificate unchecked (`require` without a root certificate).
    Nothing,
    /// The chain, not the host name (`verify-ca`, or `require` with `sslrootcert`).
    Chain,
    /// The chain and the host name (`verify-full`).
    Full,
}

/// What a URL's parameters ask for, and the URL to hand to tokio-postgres, which knows only
/// `disable`/`prefer`/`require` and no `sslrootcert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// In clear (or whatever tokio-postgres does without TLS for `prefer`).
    Clear { url: String },
    /// TLS, checked as `verify` says.
    Tls(TlsRequest),
}

/// A TLS connection's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRequest {
    pub verify: Verify,
    pub root_cert: Option<String>,
    pub url: String,
}

fn bad(message: String) -> ConnectionError {
    ConnectionError::InvalidConnectionUrl(message)
}

/// Reads `sslmode` and `sslrootcert` from `url`. The rest of the URL is passed on byte for byte
/// (multi-host lists and percent-encoded options included): only those two parameters are
/// taken out of the query, by splitting it, not by re-encoding it.
pub fn transport(url: &str) -> ConnectionResult<Transport> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok(Transport::Clear { url: url.to_owned() });
    };
    let mut mode = None;
    let mut root_cert = None;
    let mut kept: Vec<&str> = Vec::new();
    for part in query.split('&') {
        let decoded = url::form_urlencoded::parse(part.as_bytes()).next();
        match decoded {
            Some((key, value)) if key == "sslmode" => mode = Some(value.into_owned()),
            Some((key, value)) if key == "sslrootcert" => root_cert = Some(value.into_owned()),
            _ if part.is_empty() => {}
            _ => kept.push(part),
        }
    }
    let with = |sslmode: &str| {
        let mut parts = kept.clone();
        let param = format!("sslmode={sslmode}");
        parts.push(&param);
        format!("{base}?{}", parts.join("&"))
    };
    let verify = match mode.as_deref() {
        None if kept.is_empty() => return Ok(Transport::Clear { url: base.to_owned() }),
        None => return Ok(Transport::Clear { url: format!("{base}?{}", kept.join("&")) }),
        Some("disable" | "allow") => return Ok(Transport::Clear { url: with("disable") }),
        Some("prefer") => return Ok(Transport::Clear { url: with("prefer") }),
        Some("require") if root_cert.is_some() => Verify::Chain,
        Some("require") => Verify::Nothing,
        Some("verify-ca") => Verify::Chain,
        Some("verify-full") => Verify::Full,
        Some(other) => return Err(bad(format!("sslmode={other} is not a libpq sslmode"))),
    };
    Ok(Transport::Tls(TlsRequest { verify, root_cert, url: with("require") }))
}

/// Opens a connection to `url`, with TLS as its `sslmode` asks.
pub async fn establish(url: &str) -> ConnectionResult<AsyncPgConnection> {
    // The common case, no TLS parameter at all, hands the URL over untouched.
    if !(url.contains("sslmode") || url.contains("sslrootcert")) {
        return AsyncPgConnection::establish(url).await;
    }
    let request = match transport(url)? {
        Transport::Clear { url } => return AsyncPgConnection::establish(&url).await,
        Transport::Tls(request) => request,
    };
    let config = client_config(&request)?;
    let (client, connection) =
        tokio_postgres::connect(&request.url, tokio_postgres_rustls::MakeRustlsConnect::new(config))
            .await
            .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}

fn client_config(request: &TlsRequest) -> ConnectionResult<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?;
    if request.verify == Verify::Nothing {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth());
    }
    let mut roots = RootCertStore::empty();
    match &request.root_cert {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(format!("sslrootcert {path}: {e}")))?
                .collect::<Result<_, _>>()
                .map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
            roots.add_parsable_certificates(certs);
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    if roots.is_empty() {
        return Err(bad("no root certificate to verify the database server with (set sslrootcert)".into()));
    }
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let builder = builder.dangerous();
    Ok(match request.verify {
        Verify::Full => builder.with_custom_certificate_verifier(webpki).with_no_client_auth(),
        _ => builder.with_custom_certificate_verifier(Arc::new(ChainOnly(webpki))).with_no_client_auth(),
    })
}

/// `sslmode=require`: the channel is encrypted and the handshake signed, the certificate is
/// taken as it comes (what libpq does).
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the name may differ.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
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
    fn sslmode_follows_libpq() {
        let clear = |url: &str| match transport(url).unwrap() {
            Transport::Clear { url } => url,
            Transport::Tls(_) => panic!("TLS for {url}"),
        };
        let tls = |url: &str| match transport(url).unwrap() {
            Transport::Tls(request) => request,
            Transport::Clear { .. } => panic!("clear for {url}"),
        };
        assert_eq!(clear("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(clear("postgres://u@h/db?sslmode=prefer"), "postgres://u@h/db?sslmode=prefer");
        assert_eq!(clear("postgres://u@h/db?sslmode=allow&sslrootcert=/ca.pem"), "postgres://u@h/db?sslmode=disable");
        let r = tls("postgres://u@h/db?sslmode=require&application_name=x");
        assert_eq!(r.verify, Verify::Nothing);
        assert_eq!(r.url, "postgres://u@h/db?application_name=x&sslmode=require");
        let r = tls("postgres://u@h/db?sslmode=require&sslrootcert=%2Fetc%2Fca.pem");
        assert_eq!((r.verify, r.root_cert.as_deref()), (Verify::Chain, Some("/etc/ca.pem")));
        assert_eq!(r.url, "postgres://u@h/db?sslmode=require");
        assert_eq!(tls("postgres://u@h/db?sslmode=verify-full").verify, Verify::Full);
        assert!(transport("postgres://u@h/db?sslmode=sometimes").is_err());
        // What tokio-postgres reads itself stays byte for byte: hosts lists, encoded options.
        let r = tls("postgres://u@h1:5432,h2:5432/db?options=-c%20statement_timeout%3D5s&sslmode=verify-ca");
        assert_eq!(r.url, "postgres://u@h1:5432,h2:5432/db?options=-c%20statement_timeout%3D5s&sslmode=require");
    }
}
