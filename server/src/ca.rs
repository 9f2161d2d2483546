//! The cluster CA. Created on the first start in the data directory (`ca.crt`,
//! and `ca.key` readable only by the server's user), loaded on later starts.
//! It signs the agent gateway's certificate and every node's client
//! certificate; join tokens carry the digest of its certificate.

use std::{
    fs,
    io::{self, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use hmac::{Hmac, Mac};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
    string::Ia5String,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::private_files;

pub const CERT_FILE: &str = "ca.crt";
pub const KEY_FILE: &str = "ca.key";

const CA_YEARS: i64 = 20;
/// Nodes keep their certificate until they are removed; renewal is a later step.
const NODE_YEARS: i64 = 10;
/// The gateway's certificate is made afresh at every start.
const SERVER_YEARS: i64 = 2;
/// Tolerates clocks that run somewhat behind the server's.
const BACKDATE: Duration = Duration::hours(1);

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot read or write {path}: {source}")]
    File { path: PathBuf, source: io::Error },
    #[error(
        "{present} exists but {missing} does not: the cluster CA is incomplete. Restore {missing} from a backup; \
         if no node has joined yet, delete {present} and start again to create a new CA"
    )]
    Incomplete { present: PathBuf, missing: PathBuf },
    #[error("{path} is not a usable {what}: {reason}")]
    Unreadable {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

pub struct ClusterCa {
    certificate_pem: String,
    certificate_der: CertificateDer<'static>,
    digest: String,
    issuer: Issuer<'static, KeyPair>,
}

impl ClusterCa {
    /// Loads the CA from `dir`, or creates it there if neither file exists.
    pub fn load_or_create(dir: &Path, cluster_id: &str) -> Result<Self, CaError> {
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => Self::load(&cert_path, &key_path),
            (false, false) => Self::create(&cert_path, &key_path, cluster_id),
            (true, false) => Err(CaError::Incomplete {
                present: cert_path,
                missing: key_path,
            }),
            (false, true) => Err(CaError::Incomplete {
                present: key_path,
                missing: cert_path,
            }),
        }
    }

    fn create(cert_path: &Path, key_path: &Path, cluster_id: &str) -> Result<Self, CaError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&format!("Shoal cluster CA {cluster_id}"));
        // Path length 0: the certificates it signs cannot sign others.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        set_validity(&mut params, CA_YEARS);
        let certificate = params.self_signed(&key)?;
        // The key first and exclusively: a file that already exists is never
        // overwritten, and the key is never readable by others, not even briefly.
        write_new(key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_new(cert_path, certificate.pem().as_bytes(), 0o644)?;
        tracing::info!(path = %cert_path.display(), "created the cluster CA");
        Ok(Self::from_parts(
            certificate.pem(),
            certificate.der().clone(),
            Issuer::new(params, key),
        ))
    }

    fn load(cert_path: &Path, key_path: &Path) -> Result<Self, CaError> {
        let read = |path: &Path| {
            fs::read_to_string(path).map_err(|source| CaError::File {
                path: path.to_owned(),
                source,
            })
        };
        let unreadable = |path: &Path, what, reason: String| CaError::Unreadable {
            path: path.to_owned(),
            what,
            reason,
        };
        let key_pem = read(key_path)?;
        private_files::warn_if_exposed(key_path, "the cluster CA key");
        let key =
            KeyPair::from_pem(&key_pem).map_err(|e| unreadable(key_path, "private key", e.to_string()))?;
        let certificate_pem = read(cert_path)?;
        let der = pem_der(&certificate_pem)
            .ok_or_else(|| unreadable(cert_path, "certificate", "no PEM certificate in it".into()))?;
        let issuer = Issuer::from_ca_cert_der(&der, key)
            .map_err(|e| unreadable(cert_path, "CA certificate", e.to_string()))?;
        Ok(Self::from_parts(certificate_pem, der, issuer))
    }

    fn from_parts(
        certificate_pem: String,
        certificate_der: CertificateDer<'static>,
        issuer: Issuer<'static, KeyPair>,
    ) -> Self {
        Self {
            digest: shoal_proto::join_token::ca_digest(&certificate_der),
            certificate_pem,
            certificate_der,
            issuer,
        }
    }

    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        &self.certificate_der
    }

    /// The digest join tokens carry.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// A certificate and key for the agent gateway, valid for `names` (DNS
    /// names or IP addresses; those a certificate cannot carry are skipped).
    pub fn server_certificate(
        &self,
        names: &[String],
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), CaError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(shoal_proto::wire::SERVER_NAME);
        params.subject_alt_names = names.iter().filter_map(|n| subject_alt_name(n)).collect();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.serial_number = Some(random_serial());
        set_validity(&mut params, SERVER_YEARS);
        let certificate = params.signed_by(&key, &self.issuer)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((certificate.der().clone(), key))
    }

    /// Signs a node's certificate signing request. Only the request's key is
    /// used (its signature proves the node holds it); the name, the usage
    /// (client authentication only, so a node cannot pose as the server) and
    /// the validity are the CA's choice.
    pub fn sign_node(&self, node_id: &str, csr_pem: &str) -> Result<SignedNode, rcgen::Error> {
        let request = CertificateSigningRequestParams::from_pem(csr_pem)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&format!("node {node_id}"));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.serial_number = Some(random_serial());
        set_validity(&mut params, NODE_YEARS);
        let certificate = params.signed_by(&request.public_key, &self.issuer)?;
        Ok(SignedNode {
            pem: certificate.pem(),
            fingerprint: fingerprint(certificate.der()),
        })
    }

    /// A secret the server can show again without storing it: a keyed hash
    /// of `context` under the CA key. Anyone holding that key can mint node
    /// identities anyway, so deriving from it exposes nothing more.
    pub fn derive_secret(&self, context: &str) -> String {
        let key = self.issuer.key().serialize_der();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
        mac.update(b"shoal/");
        mac.update(context.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

pub struct SignedNode {
    pub pem: String,
    pub fingerprint: String,
}

/// What the store ties a node's connections to: the SHA-256 of its
/// certificate (DER) in hex.
pub fn fingerprint(certificate_der: &[u8]) -> String {
    hex::encode(Sha256::digest(certificate_der))
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "Shoal");
    name.push(DnType::CommonName, common_name);
    name
}

fn set_validity(params: &mut CertificateParams, years: i64) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(365 * years);
}

fn random_serial() -> SerialNumber {
    use rand::Rng;
    // Positive (top bit clear) and unique enough that no two certificates
    // of one CA share a serial.
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

fn subject_alt_name(name: &str) -> Option<SanType> {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse() {
        return Some(SanType::IpAddress(ip));
    }
    match Ia5String::try_from(name) {
        Ok(dns) if !name.is_empty() => Some(SanType::DnsName(dns)),
        _ => {
            tracing::warn!(
                name,
                "left out of the gateway certificate: not a DNS name or an IP address"
            );
            None
        }
    }
}

fn pem_der(pem: &str) -> Option<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).ok()
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), CaError> {
    let file_error = |source| CaError::File {
        path: path.to_owned(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(file_error)?;
    file.write_all(contents).map_err(file_error)?;
    file.sync_all().map_err(file_error)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_ca_is_created_once_with_a_private_key_and_then_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let created = ClusterCa::load_or_create(dir.path(), "c1").unwrap();
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = ClusterCa::load_or_create(dir.path(), "c1").unwrap();
        assert_eq!(loaded.digest(), created.digest());
        assert_eq!(loaded.certificate_pem(), created.certificate_pem());
        assert_eq!(loaded.derive_secret("x"), created.derive_secret("x"));
        assert_ne!(loaded.derive_secret("x"), loaded.derive_secret("y"));
    }

    #[test]
    fn half_a_ca_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        ClusterCa::load_or_create(dir.path(), "c1").unwrap();
        fs::remove_file(dir.path().join(CERT_FILE)).unwrap();
        let error = ClusterCa::load_or_create(dir.path(), "c1")
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("Restore"), "{error}");
        assert!(dir.path().join(KEY_FILE).exists(), "the key is kept");
    }

    #[test]
    fn node_certificates_come_from_the_nodes_own_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ClusterCa::load_or_create(dir.path(), "c1").unwrap();
        let key = KeyPair::generate().unwrap();
        let csr = CertificateParams::default().serialize_request(&key).unwrap();
        let signed = ca.sign_node("n1", &csr.pem().unwrap()).unwrap();
        let der = pem_der(&signed.pem).unwrap();
        assert_eq!(signed.fingerprint, fingerprint(&der));
        // The certificate carries the public key the node generated.
        let public = key.public_key_raw();
        assert!(der.windows(public.len()).any(|window| window == public));
        assert!(ca.sign_node("n1", "not a request").is_err());
    }
}
