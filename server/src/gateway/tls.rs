//! The gateway's TLS: TLS 1.3 only (both ends are Shoal's), a certificate
//! from the cluster CA, and client certificates from that CA when a node
//! presents one. Joining agents have none yet, so a certificate is optional
//! here; the session refuses a `hello` without one.

use std::sync::Arc;

use rustls::{RootCertStore, ServerConfig, server::WebPkiClientVerifier};

use crate::{ca::ClusterCa, error::StartupError};

pub fn server_config(ca: &ClusterCa, names: &[String]) -> Result<Arc<ServerConfig>, StartupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca.certificate_der().clone())?;
    let client_verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
        .allow_unauthenticated()
        .build()
        .map_err(|error| rustls::Error::General(error.to_string()))?;
    let (certificate, key) = ca.server_certificate(names)?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(vec![certificate], key)?;
    Ok(Arc::new(config))
}
