//! TLS to PostgreSQL (rustls, no OpenSSL), by `database.sslmode`:
//! - `disable` (default): plain TCP, as a local server needs;
//! - `require`: encrypted, the server's certificate not checked (libpq's `require`);
//! - `verify-full`: encrypted, the certificate checked against `database.ssl_root_cert` (a PEM
//!   file) or the system's roots, and the host name against it.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;

/// How to reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Require,
    VerifyFull,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode> {
        match s {
            "" | "disable" => Ok(Mode::Disable),
            "require" => Ok(Mode::Require),
            "verify-full" => Ok(Mode::VerifyFull),
            other => {
                bail!("database.sslmode {other:?} is not one of disable, require, verify-full")
            }
        }
    }

    pub fn ssl_mode(self) -> SslMode {
        match self {
            Mode::Disable => SslMode::Disable,
            Mode::Require | Mode::VerifyFull => SslMode::Require,
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration for `mode`.
pub fn client_config(mode: Mode, root_cert: &str) -> Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("failed to set up TLS")?;
    let config = match mode {
        // Never used for a handshake (sslmode=disable), but the connector needs one.
        Mode::Disable => builder
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth(),
        Mode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
            .with_no_client_auth(),
        Mode::VerifyFull => builder
            .with_root_certificates(roots(root_cert)?)
            .with_no_client_auth(),
    };
    Ok(config)
}

/// The roots of trust: a PEM file, or the system's.
pub fn roots(root_cert: &str) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    if root_cert.is_empty() {
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = store.add(cert);
        }
    } else {
        let pem = std::fs::read(root_cert)
            .with_context(|| format!("failed to read database.ssl_root_cert {root_cert}"))?;
        let mut reader = std::io::BufReader::new(pem.as_slice());
        for cert in rustls_pemfile_certs(&mut reader) {
            store.add(cert).with_context(|| {
                format!("database.ssl_root_cert {root_cert}: a certificate rustls rejects")
            })?;
        }
    }
    if store.is_empty() {
        bail!("no root certificates to verify the server with (set database.ssl_root_cert)");
    }
    Ok(store)
}

/// The certificates of a PEM stream.
fn rustls_pemfile_certs(reader: &mut dyn std::io::BufRead) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    let mut text = Vec::new();
    let _ = reader.read_to_end(&mut text);
    CertificateDer::pem_slice_iter(&text)
        .filter_map(|c| c.ok())
        .collect()
}

/// `sslmode=require`: any certificate, but the handshake's signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
