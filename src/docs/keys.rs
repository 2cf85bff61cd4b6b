//! The issuer's signing key and certificate chain, loaded and checked once at start-up:
//! PEM key + PEM chain, or PKCS#12 with its password from the environment.

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "{path} can be read by group or others (mode {mode:o}): a private key must be chmod 600"
    )]
    OpenToOthers { path: PathBuf, mode: u32 },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM private key (or it is encrypted): {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("{path} holds no PEM certificate: {reason}")]
    Chain { path: PathBuf, reason: String },
    #[error("cannot open PKCS#12 {path}: wrong password or not a PKCS#12 file ({reason})")]
    Pkcs12 { path: PathBuf, reason: String },
    #[error("PKCS#12 {0} holds no key or no certificate")]
    Pkcs12Empty(PathBuf),
    #[error("the private key does not belong to the signing certificate {0}")]
    Mismatch(String),
    #[error("the signing certificate {0} expired on {1}; renew it, or set signing.allow_expired = true to sign anyway")]
    Expired(String, String),
    #[error("the signing certificate {0} is not valid before {1}")]
    NotYetValid(String, String),
    #[error("signing is configured with neither key + chain nor pkcs12")]
    Nothing,
    #[error("{0}")]
    Openssl(String),
}

/// What a signature needs, parsed once.
pub struct SigningKey {
    pub key: PKey<Private>,
    pub cert: X509,
    /// The certificates' part of every signature (this one, then intermediates and
    /// root), encoded once.
    pub signer_certs: super::cms::SignerCerts,
}

impl SigningKey {
    /// Which certificate signs: hex SHA-256 of its DER, kept with every document signed,
    /// so that a change of key is noticed and `dlrepo resign` knows what is left.
    pub fn cert_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let der = self.cert.to_der().unwrap_or_default();
        Sha256::digest(&der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", subject(&self.cert))
    }
}

pub fn subject(cert: &openssl::x509::X509Ref) -> String {
    cert.subject_name()
        .entries()
        .map(|e| {
            format!(
                "{}={}",
                e.object().nid().short_name().unwrap_or("?"),
                e.data().to_string().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a file that holds a private key, refusing one that others can read.
fn read_secret(path: &Path) -> Result<Vec<u8>, KeyError> {
    if let Some(mode) = crate::files::open_to_others(path) {
        return Err(KeyError::OpenToOthers {
            path: path.to_owned(),
            mode,
        });
    }
    read(path)
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })
}

pub struct KeySource<'a> {
    pub key: Option<&'a Path>,
    pub chain: Option<&'a Path>,
    pub pkcs12: Option<&'a Path>,
    pub pkcs12_password: Option<&'a str>,
    pub allow_expired: bool,
}

impl SigningKey {
    pub fn load(src: &KeySource<'_>) -> Result<SigningKey, KeyError> {
        let (key, cert, chain) = match (src.key, src.chain, src.pkcs12) {
            (_, _, Some(p12)) => {
                let parsed = Pkcs12::from_der(&read_secret(p12)?)
                    .and_then(|p| p.parse2(src.pkcs12_password.unwrap_or("")))
                    .map_err(|e| KeyError::Pkcs12 {
                        path: p12.to_owned(),
                        reason: e.to_string(),
                    })?;
                let (Some(key), Some(cert)) = (parsed.pkey, parsed.cert) else {
                    return Err(KeyError::Pkcs12Empty(p12.to_owned()));
                };
                let chain = parsed
                    .ca
                    .map(|s| s.into_iter().collect())
                    .unwrap_or_default();
                (key, cert, chain)
            }
            (Some(k), Some(c), None) => {
                let key =
                    PKey::private_key_from_pem(&read_secret(k)?).map_err(|e| KeyError::Key {
                        path: k.to_owned(),
                        reason: e.to_string(),
                    })?;
                let mut certs = X509::stack_from_pem(&read(c)?).map_err(|e| KeyError::Chain {
                    path: c.to_owned(),
                    reason: e.to_string(),
                })?;
                if certs.is_empty() {
                    return Err(KeyError::Chain {
                        path: c.to_owned(),
                        reason: "the file is empty".into(),
                    });
                }
                let cert = certs.remove(0);
                (key, cert, certs)
            }
            _ => return Err(KeyError::Nothing),
        };
        let name = subject(&cert);
        let pubkey = cert
            .public_key()
            .map_err(|e| KeyError::Openssl(e.to_string()))?;
        if !pubkey.public_eq(&key) {
            return Err(KeyError::Mismatch(name));
        }
        let now = Asn1Time::days_from_now(0).map_err(|e| KeyError::Openssl(e.to_string()))?;
        if cert.not_after() < now && !src.allow_expired {
            return Err(KeyError::Expired(name, cert.not_after().to_string()));
        }
        if cert.not_before() > now {
            return Err(KeyError::NotYetValid(name, cert.not_before().to_string()));
        }
        let signer_certs = super::cms::SignerCerts::new(&cert, &chain)
            .map_err(|e| KeyError::Openssl(e.to_string()))?;
        Ok(SigningKey {
            key,
            cert,
            signer_certs,
        })
    }
}
