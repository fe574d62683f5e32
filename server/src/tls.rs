//! TLS of both ports (gRPC and the HTTP sidecar) from PEM files, with rustls on the aws-lc-rs
//! provider (the one reqwest already brings).
use std::{path::PathBuf, sync::Arc, time::Duration};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Longest a TLS handshake may take on either port.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's certificate chain and private key, as PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A certificate or key that cannot be used, named by file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key")]
    NoKey { path: PathBuf },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The PEM text of both files, loaded once at startup.
pub struct TlsIdentity {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity([REDACTED])")
    }
}

impl TlsIdentity {
    /// Reads and checks both files.
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let read = |path: &PathBuf| std::fs::read(path).map_err(|source| TlsError::Read { path: path.clone(), source });
        let identity = Self { cert_pem: read(&files.cert)?, key_pem: read(&files.key)? };
        if identity.certificates().is_empty() {
            return Err(TlsError::NoCertificate { path: files.cert.clone() });
        }
        if PrivateKeyDer::from_pem_slice(&identity.key_pem).is_err() {
            return Err(TlsError::NoKey { path: files.key.clone() });
        }
        identity.sidecar_config()?;
        Ok(identity)
    }

    fn certificates(&self) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(&self.cert_pem).filter_map(Result::ok).collect()
    }

    /// For tonic's server.
    pub fn grpc_config(&self) -> tonic::transport::ServerTlsConfig {
        // A client that connects and never finishes its handshake must not hold a task forever.
        tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(&self.cert_pem, &self.key_pem))
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// For the sidecar: HTTP/2 and HTTP/1.1 by ALPN.
    pub fn sidecar_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem).map_err(|_| rustls::Error::NoCertificatesPresented)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.certificates(), key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Serves `router` over TLS until `stop`, then lets open connections finish their requests.
pub async fn serve_sidecar(
    listener: TcpListener,
    router: axum::Router,
    config: rustls::ServerConfig,
    stop: CancellationToken,
) -> std::io::Result<()> {
    use hyper_util::{
        rt::{TokioExecutor, TokioIo},
        server::{conn::auto::Builder, graceful::GracefulShutdown},
        service::TowerToHyperService,
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let graceful = GracefulShutdown::new();
    let builder = Builder::new(TokioExecutor::new());
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                // Out of descriptors, or a connection reset before accept: keep serving.
                Err(err) => {
                    tracing::warn!(error = %err, "sidecar: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let (acceptor, router, builder, watcher) =
            (acceptor.clone(), router.clone(), builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            // A client that never finishes its handshake must not hold a task forever.
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    tracing::debug!(error = %err, "sidecar: TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(router))
                .into_owned();
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(error = %err, "sidecar: connection ended with an error");
            }
        });
    }
    // In-flight requests finish; a connection idle past this is closed anyway.
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    Ok(())
}
