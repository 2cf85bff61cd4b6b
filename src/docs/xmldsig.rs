//! Enveloped XML signatures (XMLDSig) over certificate XML, with the key that signs
//! the PDFs: RSA-SHA256 or ECDSA-SHA256, exclusive c14n, the signer's certificate in
//! `KeyInfo`. `xmlsec1 --verify` accepts them (a test runs it).
//!
//! We write the documents we sign ourselves, already in canonical form, so no general
//! canonicaliser is needed: the enveloped-signature transform removes the signature
//! again and leaves exactly the bytes that were hashed.

use base64::Engine;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::Id;
use openssl::sign::Signer;
use sha2::{Digest, Sha256};

use super::keys::SigningKey;

const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";

#[derive(Debug, thiserror::Error)]
pub enum XmlSigError {
    #[error("the document to sign is not one element written in canonical form")]
    NotCanonical,
    #[error("a {0:?} key cannot sign XML here: use RSA or ECDSA")]
    KeyType(Id),
    #[error("signing failed: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
}

/// c14n escaping of an attribute value.
pub fn c14n_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            // Not representable in XML 1.0 at all (a CSV value could hold one).
            c if c < ' ' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// c14n escaping of text content.
pub fn c14n_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c if c < ' ' && c != '\t' && c != '\n' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The root element's name, and the end tag the document must close with.
fn root_end(doc: &str) -> Result<String, XmlSigError> {
    let name: String = doc
        .strip_prefix('<')
        .ok_or(XmlSigError::NotCanonical)?
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
        .collect();
    let end = format!("</{name}>");
    if name.is_empty() || !doc.ends_with(&end) {
        return Err(XmlSigError::NotCanonical);
    }
    Ok(end)
}

/// Signs `canonical_doc` (no XML declaration, canonical form) and returns it with the
/// signature as the root's last child, behind an XML declaration.
pub fn sign_enveloped(canonical_doc: &str, key: &SigningKey) -> Result<String, XmlSigError> {
    let end = root_end(canonical_doc)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let method = match key.key.id() {
        Id::RSA => RSA_SHA256,
        Id::EC => ECDSA_SHA256,
        other => return Err(XmlSigError::KeyType(other)),
    };
    let digest = b64.encode(Sha256::digest(canonical_doc.as_bytes()));
    // Exactly its exclusive-c14n form: the default namespace is rendered on the apex.
    let signed_info = format!(
        "<SignedInfo xmlns=\"{DSIG_NS}\"><CanonicalizationMethod Algorithm=\"{EXC_C14N}\"></CanonicalizationMethod><SignatureMethod Algorithm=\"{method}\"></SignatureMethod><Reference URI=\"\"><Transforms><Transform Algorithm=\"{ENVELOPED}\"></Transform><Transform Algorithm=\"{EXC_C14N}\"></Transform></Transforms><DigestMethod Algorithm=\"{SHA256}\"></DigestMethod><DigestValue>{digest}</DigestValue></Reference></SignedInfo>"
    );
    let mut signer = Signer::new(MessageDigest::sha256(), &key.key)?;
    signer.update(signed_info.as_bytes())?;
    let der = signer.sign_to_vec()?;
    let value = match key.key.id() {
        // XMLDSig wants r || s, each as wide as the curve's order, not DER.
        Id::EC => {
            let ec = key.key.ec_key()?;
            let width = (ec.group().degree() as i32 + 7) / 8;
            let sig = EcdsaSig::from_der(&der)?;
            let mut raw = sig.r().to_vec_padded(width)?;
            raw.extend(sig.s().to_vec_padded(width)?);
            raw
        }
        _ => der,
    };
    let cert = b64.encode(key.cert.to_der()?);
    let body = &canonical_doc[..canonical_doc.len() - end.len()];
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}<Signature xmlns=\"{DSIG_NS}\">{signed_info}<SignatureValue>{}</SignatureValue><KeyInfo><X509Data><X509Certificate>{cert}</X509Certificate></X509Data></KeyInfo></Signature>{end}",
        b64.encode(value)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docs::keygen::{self, Algorithm};
    use crate::docs::keys::KeySource;

    #[test]
    fn escaping_follows_c14n() {
        assert_eq!(
            c14n_attr("a&<\">\t\n\r"),
            "a&amp;&lt;&quot;>&#x9;&#xA;&#xD;"
        );
        assert_eq!(c14n_text("a&<>\"\r"), "a&amp;&lt;&gt;\"&#xD;");
    }

    #[test]
    fn refuses_what_it_did_not_write() {
        let dir = tempfile::tempdir().expect("tmp");
        keygen::generate(dir.path(), Algorithm::Rsa, 30, None).expect("keygen");
        let key = load(dir.path());
        for bad in ["", "text", "<a>", "<a></b>", "<a/>"] {
            assert!(sign_enveloped(bad, &key).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_a_key_xmldsig_has_no_method_for() {
        let dir = tempfile::tempdir().expect("tmp");
        keygen::generate(dir.path(), Algorithm::Rsa, 30, None).expect("keygen");
        // Only the key matters here: the certificate is never reached.
        let key = SigningKey {
            key: openssl::pkey::PKey::generate_ed25519().expect("ed25519"),
            ..load(dir.path())
        };
        let err = sign_enveloped("<a></a>", &key).expect_err("ed25519 must be refused");
        assert!(matches!(err, XmlSigError::KeyType(Id::ED25519)), "{err}");
    }

    fn load(dir: &std::path::Path) -> SigningKey {
        SigningKey::load(&KeySource {
            key: Some(&dir.join("signer.key")),
            chain: Some(&dir.join("signer-chain.pem")),
            pkcs12: None,
            pkcs12_password: None,
            allow_expired: false,
        })
        .expect("key")
    }

    /// `xmlsec1` is the judge; skipped without it unless DLREPO_TEST_REQUIRE_TOOLS=1.
    fn xmlsec1() -> bool {
        let there = std::process::Command::new("xmlsec1")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !there && std::env::var("DLREPO_TEST_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
            panic!("DLREPO_TEST_REQUIRE_TOOLS=1 but xmlsec1 is not installed");
        }
        there
    }

    fn verify(dir: &std::path::Path, xml: &str) -> (bool, String) {
        let file = dir.join("signed.xml");
        std::fs::write(&file, xml).expect("write");
        let out = std::process::Command::new("xmlsec1")
            .arg("--verify")
            .arg("--trusted-pem")
            .arg(dir.join("ca.crt"))
            .arg(&file)
            .output()
            .expect("xmlsec1");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn xmlsec1_accepts_rsa_and_ecdsa_and_catches_a_change() {
        if !xmlsec1() {
            eprintln!("skipped: xmlsec1 is not installed");
            return;
        }
        let doc = format!(
            "<Certificate name=\"{}\" number=\"ABC234\"><IssuedTo><Person name=\"राम कुमार\"></Person></IssuedTo><CertificateData>{}</CertificateData></Certificate>",
            c14n_attr("Marks & \"Grades\" <2024>\tX\nY"),
            c14n_text("412 < 500 & > 0")
        );
        for algo in [Algorithm::Rsa, Algorithm::Ec] {
            let dir = tempfile::tempdir().expect("tmp");
            keygen::generate(dir.path(), algo, 30, None).expect("keygen");
            let signed = sign_enveloped(&doc, &load(dir.path())).expect("sign");
            let (ok, msg) = verify(dir.path(), &signed);
            // xmlsec1 reports its verdict as a line of its own on stderr.
            let said = |msg: &str, word: &str| msg.lines().any(|l| l == word);
            assert!(
                ok && said(&msg, "OK"),
                "{algo:?}: xmlsec1 refused: {msg}\n{signed}"
            );
            let tampered = signed.replace("number=\"ABC234\"", "number=\"ABC235\"");
            assert_ne!(tampered, signed);
            let (ok, msg) = verify(dir.path(), &tampered);
            // FAIL (not a parse error): the digest no longer matches.
            assert!(
                !ok && said(&msg, "FAIL"),
                "{algo:?}: a changed attribute must fail: {msg}"
            );
        }
    }
}
