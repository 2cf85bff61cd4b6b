//! CMS SignedData for PAdES baseline B-B: detached, SHA-256, signer certificate (and
//! chain) included, signed attributes contentType, messageDigest and ESS
//! signing-certificate-v2, and no signingTime (PAdES takes the time from the PDF's /M).
//! OpenSSL's CMS_sign always adds signingTime, so the structure is assembled here and
//! only the raw signature comes from openssl.

use openssl::hash::{hash, MessageDigest};
use openssl::pkey::{Id, PKey, Private};
use openssl::sign::Signer;
use openssl::x509::X509;

use super::der::*;

const OID_DATA: &str = "1.2.840.113549.1.7.1";
const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
const OID_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
const OID_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
const OID_SIGNING_CERT_V2: &str = "1.2.840.113549.1.9.16.2.47";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";

#[derive(Debug, thiserror::Error)]
#[error("cannot build the CMS signature: {0}")]
pub struct CmsError(pub String);

fn ossl(e: openssl::error::ErrorStack) -> CmsError {
    CmsError(e.to_string())
}

fn attribute(oid_s: &str, value: Vec<u8>) -> Vec<u8> {
    seq(&[&oid(oid_s), &set_of(vec![value])])
}

/// The parts of a SignedData that depend only on the certificates: encoded once when
/// the key is loaded, not for every signature.
#[derive(Debug, Clone)]
pub struct SignerCerts {
    /// IssuerAndSerialNumber's two parts.
    issuer: Vec<u8>,
    serial: Vec<u8>,
    /// The signing-certificate-v2 attribute value.
    signing_cert_v2: Vec<u8>,
    /// The signing certificate and its chain, concatenated DER.
    pub certs: Vec<u8>,
}

impl SignerCerts {
    pub fn new(cert: &X509, chain: &[X509]) -> Result<SignerCerts, CmsError> {
        let cert_der = cert.to_der().map_err(ossl)?;
        let issuer = cert.issuer_name().to_der().map_err(ossl)?;
        let serial = uint(&cert.serial_number().to_bn().map_err(ossl)?.to_vec());
        // ESSCertIDv2 { certHash, issuerSerial { GeneralNames [directoryName], serial } };
        // hashAlgorithm is SHA-256, the default, so it is omitted.
        let cert_hash = hash(MessageDigest::sha256(), &cert_der).map_err(ossl)?;
        let general_names = seq(&[&explicit(4, &issuer)]);
        let ess_cert_id = seq(&[&octets(&cert_hash), &seq(&[&general_names, &serial])]);
        let signing_cert_v2 = seq(&[&seq(&[&ess_cert_id])]);
        let mut certs = cert_der;
        for c in chain {
            certs.extend(c.to_der().map_err(ossl)?);
        }
        Ok(SignerCerts {
            issuer,
            serial,
            signing_cert_v2,
            certs,
        })
    }
}

/// The DER of a detached SignedData over `digest` (SHA-256 of the signed byte ranges).
pub fn signed_data(
    digest: &[u8],
    key: &PKey<Private>,
    signer_certs: &SignerCerts,
) -> Result<Vec<u8>, CmsError> {
    let SignerCerts {
        issuer,
        serial,
        signing_cert_v2,
        certs,
    } = signer_certs;
    let sha256 = seq(&[&oid(OID_SHA256)]);

    let attrs = vec![
        attribute(OID_CONTENT_TYPE, oid(OID_DATA)),
        attribute(OID_MESSAGE_DIGEST, octets(digest)),
        attribute(OID_SIGNING_CERT_V2, signing_cert_v2.clone()),
    ];
    // Signed as a SET (tag 0x31), stored as [0] IMPLICIT (tag 0xa0).
    let signed_attrs = set_of(attrs);
    let mut signer = Signer::new(MessageDigest::sha256(), key).map_err(ossl)?;
    signer.update(&signed_attrs).map_err(ossl)?;
    let signature = signer.sign_to_vec().map_err(ossl)?;
    let mut attrs_implicit = signed_attrs.clone();
    attrs_implicit[0] = 0xa0;

    let sig_alg = match key.id() {
        Id::RSA => seq(&[&oid(OID_RSA), &null()]),
        Id::EC => seq(&[&oid(OID_ECDSA_SHA256)]),
        other => return Err(CmsError(format!("unsupported key type {other:?}"))),
    };
    let signer_info = seq(&[
        &small_int(1),
        &seq(&[issuer, serial]),
        &sha256,
        &attrs_implicit,
        &sig_alg,
        &octets(&signature),
    ]);
    let signed = seq(&[
        &small_int(1),
        &set_of(vec![sha256.clone()]),
        &seq(&[&oid(OID_DATA)]),
        &tlv(0xa0, certs),
        &set_of(vec![signer_info]),
    ]);
    Ok(seq(&[&oid(OID_SIGNED_DATA), &explicit(0, &signed)]))
}
