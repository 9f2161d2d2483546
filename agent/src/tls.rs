//! TLS towards the server, in the three stages of trust:
//!
//! 1. before joining, nothing is trusted: the agent fetches the CA
//!    certificate over a connection it cannot verify, and checks the answer
//!    against the digest in its join token instead;
//! 2. joining, only that CA is trusted for the server's certificate;
//! 3. afterwards the agent also presents its own certificate (mutual TLS).
//!
//! The server's certificate is verified for the fixed cluster name
//! (`SERVER_NAME`), not the dialled address: nodes reach the server through
//! names it cannot know, and the pinned CA is what makes it trustworthy.

use std::sync::Arc;

use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{CryptoProvider, WebPkiSupportedAlgorithms},
    pki_types::{CertificateDer, ServerName, UnixTime},
};
use shoal_proto::wire::SERVER_NAME;

use crate::identity::Credentials;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn server_name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).expect("SERVER_NAME is a valid DNS name")
}

/// Stage 1: accepts any certificate. Only for fetching the CA, whose
/// digest the caller checks before trusting it.
pub fn unverified() -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = provider();
    let verifier = AcceptAnyCertificate {
        algorithms: provider.signature_verification_algorithms,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Stage 2: the pinned CA, no client certificate.
pub fn pinned(ca: &CertificateDer<'static>) -> Result<Arc<ClientConfig>, rustls::Error> {
    Ok(Arc::new(builder(ca)?.with_no_client_auth()))
}

/// Stage 3: the pinned CA and the node's own certificate.
pub fn node(credentials: Credentials) -> Result<Arc<ClientConfig>, rustls::Error> {
    let config =
        builder(&credentials.ca)?.with_client_auth_cert(vec![credentials.certificate], credentials.key)?;
    Ok(Arc::new(config))
}

fn builder(
    ca: &CertificateDer<'static>,
) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone())?;
    Ok(ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots))
}

/// Takes the server's certificate on faith; the handshake signature is still
/// checked, as the protocol requires.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
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
