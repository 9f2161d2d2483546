//! `shoal-agent join`: trust the server only once its CA matches the join
//! token, then trade the token's secret and a certificate request for the
//! node's identity, and keep that identity in the data directory.

use std::{collections::BTreeMap, path::PathBuf};

use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{CertificateDer, pem::PemObject};
use shoal_proto::{
    join_token::{JoinToken, ca_digest},
    node::check_hostname,
    wire::{AgentMessage, JoinRequest, PROTOCOL_VERSION, ServerMessage},
};

use crate::{
    connection::{ServerAddr, answer, dial, send, unexpected},
    engine::Engine,
    error::Error,
    identity::{Identity, NodeMeta},
    inventory::inventory,
    tls,
};

pub struct JoinSpec {
    pub token: JoinToken,
    pub server: ServerAddr,
    pub data_dir: PathBuf,
    pub hostname: Option<String>,
    pub advertise_addr: Option<String>,
    pub labels: BTreeMap<String, String>,
}

pub async fn join(engine: &Engine, spec: JoinSpec) -> Result<Identity, Error> {
    let JoinSpec {
        token,
        server,
        data_dir,
        hostname,
        advertise_addr,
        labels,
    } = spec;
    if let Some(node_id) = Identity::existing(&data_dir)? {
        return Err(Error::AlreadyJoined {
            dir: data_dir,
            node_id,
        });
    }
    let (ca_pem, ca_der) = fetch_ca(&server, &token).await?;
    tracing::info!(%server, ca_digest = %token.ca_digest, "the server's CA matches the join token");

    let info = engine.info().await?;
    let hostname = hostname.unwrap_or_else(|| info.hostname.clone());
    check_hostname(&hostname).map_err(|error| Error::Hostname(error.message))?;
    let key = KeyPair::generate().map_err(|e| Error::Crypto(e.to_string()))?;
    let csr_pem = CertificateParams::default()
        .serialize_request(&key)
        .and_then(|csr| csr.pem())
        .map_err(|e| Error::Crypto(e.to_string()))?;
    let mut meta = NodeMeta {
        node_id: String::new(),
        hostname,
        server: server.to_string(),
        advertise_addr,
    };
    let request = JoinRequest {
        protocol: PROTOCOL_VERSION,
        secret: token.secret,
        csr_pem,
        labels,
        inventory: inventory(&info, &meta),
    };

    let config = tls::pinned(&ca_der).map_err(|e| Error::Crypto(e.to_string()))?;
    let mut connection = dial(&server, config).await?;
    send(&mut connection, &server, &AgentMessage::Join(request)).await?;
    let granted = match answer(&mut connection, &server).await? {
        ServerMessage::Joined(identity) => identity,
        ServerMessage::Refused(refusal) => {
            return Err(Error::Refused {
                server: server.to_string(),
                message: refusal.message,
            });
        }
        other => return Err(unexpected(&server, &other)),
    };
    meta.node_id = granted.node_id;
    let identity = Identity {
        meta,
        key_pem: key.serialize_pem(),
        certificate_pem: granted.certificate_pem,
        ca_certificate_pem: ca_pem,
    };
    identity.save(&data_dir)?;
    tracing::info!(
        node = %identity.meta.node_id,
        data_dir = %data_dir.display(),
        "joined the cluster; the identity is stored, the token is no longer needed"
    );
    Ok(identity)
}

/// The CA certificate the server presents, accepted only if its digest is
/// the one in the join token.
async fn fetch_ca(
    server: &ServerAddr,
    token: &JoinToken,
) -> Result<(String, CertificateDer<'static>), Error> {
    let config = tls::unverified().map_err(|e| Error::Crypto(e.to_string()))?;
    let mut connection = dial(server, config).await?;
    let fetch = AgentMessage::FetchCa {
        protocol: PROTOCOL_VERSION,
    };
    send(&mut connection, server, &fetch).await?;
    let pem = match answer(&mut connection, server).await? {
        ServerMessage::CaCertificate { pem } => pem,
        ServerMessage::Refused(refusal) => {
            return Err(Error::Refused {
                server: server.to_string(),
                message: refusal.message,
            });
        }
        other => return Err(unexpected(server, &other)),
    };
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| Error::Protocol {
        server: server.to_string(),
        cause: format!("the CA certificate is not PEM: {e}"),
    })?;
    let found = ca_digest(&der);
    if found != token.ca_digest {
        return Err(Error::CaMismatch {
            server: server.to_string(),
            expected: token.ca_digest.clone(),
            found,
        });
    }
    Ok((pem, der))
}
