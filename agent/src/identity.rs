//! The node identity the agent keeps in its data directory after joining:
//!
//! - `node.key`: the private key the agent generated (mode 0600; it never
//!   leaves the node),
//! - `node.crt`: the client certificate the cluster CA issued for it,
//! - `ca.crt`: the cluster CA, the only issuer the agent trusts for the server,
//! - `node.json`: the node id, hostname, server address and advertised
//!   address, written last: its presence means the join completed.

use std::{
    fs,
    io::{self, Write},
    net::{IpAddr, Ipv4Addr},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde::{Deserialize, Serialize};
use shoal_proto::wire::address_ip;

use crate::error::Error;

const META_FILE: &str = "node.json";
const KEY_FILE: &str = "node.key";
const CERT_FILE: &str = "node.crt";
const CA_FILE: &str = "ca.crt";

/// What `node.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeMeta {
    pub node_id: String,
    pub hostname: String,
    /// `HOST:PORT` of the server's agent gateway.
    pub server: String,
    pub advertise_addr: Option<String>,
}

impl NodeMeta {
    /// The host address containers publish their ports on: the advertised
    /// address when it is an IP literal, so that a port is reachable where
    /// the cluster says the node is and nowhere else; every address of the
    /// host when the node is known by name or by the server's view of it.
    pub fn host_ip(&self) -> IpAddr {
        self.advertise_addr
            .as_deref()
            .and_then(address_ip)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

#[derive(Clone, Debug)]
pub struct Identity {
    pub meta: NodeMeta,
    pub key_pem: String,
    pub certificate_pem: String,
    pub ca_certificate_pem: String,
}

/// The parsed credentials TLS needs.
pub struct Credentials {
    pub ca: CertificateDer<'static>,
    pub certificate: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// The node id of a completed join in `dir`, if there is one.
    pub fn existing(dir: &Path) -> Result<Option<String>, Error> {
        match fs::read(dir.join(META_FILE)) {
            Ok(bytes) => Ok(Some(parse_meta(dir, &bytes)?.node_id)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::DataDir {
                path: dir.to_owned(),
                source,
            }),
        }
    }

    pub fn load(dir: &Path) -> Result<Self, Error> {
        let read = |name: &str| {
            fs::read_to_string(dir.join(name)).map_err(|source| match source.kind() {
                io::ErrorKind::NotFound if name == META_FILE => Error::NotJoined { dir: dir.to_owned() },
                io::ErrorKind::NotFound => damaged(dir, format!("{name} is missing")),
                _ => Error::DataDir {
                    path: dir.join(name),
                    source,
                },
            })
        };
        let meta = parse_meta(dir, read(META_FILE)?.as_bytes())?;
        let identity = Self {
            meta,
            key_pem: read(KEY_FILE)?,
            certificate_pem: read(CERT_FILE)?,
            ca_certificate_pem: read(CA_FILE)?,
        };
        // Damage shows now, with the directory named, not at the first connect.
        identity.credentials(dir)?;
        Ok(identity)
    }

    /// Writes the identity; `node.json` last, so a join interrupted halfway
    /// leaves no identity that looks complete.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::DataDir { path, source }
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error(dir))?;
        write_file(&dir.join(KEY_FILE), self.key_pem.as_bytes(), 0o600).map_err(io_error(dir))?;
        write_file(&dir.join(CERT_FILE), self.certificate_pem.as_bytes(), 0o644).map_err(io_error(dir))?;
        write_file(&dir.join(CA_FILE), self.ca_certificate_pem.as_bytes(), 0o644).map_err(io_error(dir))?;
        let meta = serde_json::to_vec_pretty(&self.meta)
            .map_err(io::Error::from)
            .map_err(io_error(dir))?;
        let staged = dir.join(format!("{META_FILE}.new"));
        write_file(&staged, &meta, 0o644).map_err(io_error(dir))?;
        fs::rename(&staged, dir.join(META_FILE)).map_err(io_error(dir))
    }

    pub fn credentials(&self, dir: &Path) -> Result<Credentials, Error> {
        let ca = CertificateDer::from_pem_slice(self.ca_certificate_pem.as_bytes())
            .map_err(|e| damaged(dir, format!("{CA_FILE}: {e}")))?;
        let certificate = CertificateDer::from_pem_slice(self.certificate_pem.as_bytes())
            .map_err(|e| damaged(dir, format!("{CERT_FILE}: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| damaged(dir, format!("{KEY_FILE}: {e}")))?;
        Ok(Credentials { ca, certificate, key })
    }
}

fn parse_meta(dir: &Path, bytes: &[u8]) -> Result<NodeMeta, Error> {
    serde_json::from_slice(bytes).map_err(|e| damaged(dir, format!("{META_FILE}: {e}")))
}

fn damaged(dir: &Path, reason: String) -> Error {
    Error::Identity {
        dir: dir.to_owned(),
        reason,
    }
}

/// Creates or replaces a file with exactly `mode`, so a key is never
/// readable by others, not even while it is written.
fn write_file(path: &PathBuf, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    // `mode` applies only to a new file; a leftover keeps its own otherwise.
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::default();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, key);
        let node_key = rcgen::KeyPair::generate().unwrap();
        let certificate = rcgen::CertificateParams::default()
            .signed_by(&node_key, &issuer)
            .unwrap();
        Identity {
            meta: NodeMeta {
                node_id: "n1".into(),
                hostname: "node-1".into(),
                server: "manager:8302".into(),
                advertise_addr: None,
            },
            key_pem: node_key.serialize_pem(),
            certificate_pem: certificate.pem(),
            ca_certificate_pem: ca.pem(),
        }
    }

    #[test]
    fn an_identity_is_saved_privately_and_loaded_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("agent-data");
        assert_eq!(Identity::existing(&data).unwrap(), None);
        let saved = identity();
        saved.save(&data).unwrap();
        let mode = |name: &str| fs::metadata(data.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(KEY_FILE), 0o600);
        assert_eq!(fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
        let loaded = Identity::load(&data).unwrap();
        assert_eq!(loaded.meta, saved.meta);
        assert_eq!(loaded.key_pem, saved.key_pem);
        assert_eq!(Identity::existing(&data).unwrap(), Some("n1".into()));
    }

    #[test]
    fn ports_are_published_on_the_advertised_ip_only_when_it_is_one() {
        let host_ip = |advertise_addr: Option<&str>| {
            NodeMeta {
                node_id: "n1".into(),
                hostname: "node-1".into(),
                server: "manager:8302".into(),
                advertise_addr: advertise_addr.map(str::to_owned),
            }
            .host_ip()
            .to_string()
        };
        assert_eq!(host_ip(Some("10.0.0.5")), "10.0.0.5");
        assert_eq!(host_ip(Some("10.0.0.5:8302")), "10.0.0.5");
        assert_eq!(host_ip(Some("fd00::1")), "fd00::1");
        assert_eq!(host_ip(Some("[fd00::1]")), "fd00::1");
        assert_eq!(host_ip(Some("[fd00::1]:8302")), "fd00::1");
        assert_eq!(host_ip(Some("node-1.lan")), "0.0.0.0");
        assert_eq!(host_ip(Some("node-1.lan:8302")), "0.0.0.0");
        assert_eq!(host_ip(None), "0.0.0.0");
    }

    #[test]
    fn a_missing_or_damaged_identity_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let error = Identity::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("shoal-agent join"), "{error}");
        identity().save(dir.path()).unwrap();
        fs::write(dir.path().join(CERT_FILE), "garbage").unwrap();
        let error = Identity::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("node.crt"), "{error}");
    }
}
