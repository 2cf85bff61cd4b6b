//! `dlrepo keygen`: a throwaway CA and signing certificate for trying things out.
//! Never for production: a department's real signing certificate comes from a
//! licensed certifying authority.

use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    Rsa,
    Ec,
}

fn new_key(alg: Algorithm) -> Result<PKey<Private>, openssl::error::ErrorStack> {
    match alg {
        Algorithm::Rsa => PKey::from_rsa(Rsa::generate(2048)?),
        Algorithm::Ec => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            PKey::from_ec_key(EcKey::generate(&group)?)
        }
    }
}

fn cert(
    subject_cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    is_ca: bool,
    days: i64,
) -> Result<X509, openssl::error::ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("C", "IN")?;
    name.append_entry_by_text("O", "dlrepo test (not for production)")?;
    name.append_entry_by_text("CN", subject_cn)?;
    let name = name.build();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(issuer.map_or(&name, |(c, _)| c.subject_name()))?;
    b.set_pubkey(key)?;
    let now = chrono::Utc::now().timestamp();
    let (from, to) = if days >= 0 {
        (now - 3600, now + days * 86_400)
    } else {
        (now + days * 86_400 - 86_400, now + days * 86_400)
    };
    let (from, to) = (Asn1Time::from_unix(from)?, Asn1Time::from_unix(to)?);
    b.set_not_before(&from)?;
    b.set_not_after(&to)?;
    if is_ca {
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
    } else {
        b.append_extension(BasicConstraints::new().critical().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .non_repudiation()
                .build()?,
        )?;
    }
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(issuer.map(|(c, _)| c.as_ref()), None))?;
    b.append_extension(ski)?;
    if issuer.is_some() {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(issuer.map(|(c, _)| c.as_ref()), None))?;
        b.append_extension(aki)?;
    }
    b.sign(issuer.map_or(key, |(_, k)| k), MessageDigest::sha256())?;
    Ok(b.build())
}

/// Writes ca.crt, ca.key, signer.key, signer.crt, signer-chain.pem (and signer.p12 when
/// a password is given) into `dir`.
pub fn generate(
    dir: &Path,
    alg: Algorithm,
    days: i64,
    p12_password: Option<&str>,
) -> anyhow::Result<()> {
    crate::files::create_private_dir(dir)?;
    let ca_key = new_key(alg)?;
    let ca = cert("dlrepo test CA", &ca_key, None, true, 3650)?;
    let key = new_key(alg)?;
    let signer = cert(
        "dlrepo test document signer",
        &key,
        Some((&ca, &ca_key)),
        false,
        days,
    )?;
    let write = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let path = dir.join(name);
        if name.ends_with(".key") || name.ends_with(".p12") {
            crate::files::write_private(&path, bytes)?;
        } else {
            std::fs::write(&path, bytes)?;
        }
        Ok(())
    };
    write("ca.crt", &ca.to_pem()?)?;
    write("ca.key", &ca_key.private_key_to_pem_pkcs8()?)?;
    write("signer.key", &key.private_key_to_pem_pkcs8()?)?;
    write("signer.crt", &signer.to_pem()?)?;
    let mut chain = signer.to_pem()?;
    chain.extend(ca.to_pem()?);
    write("signer-chain.pem", &chain)?;
    if let Some(pw) = p12_password {
        let mut cas = openssl::stack::Stack::new()?;
        cas.push(ca.clone())?;
        let p12 = openssl::pkcs12::Pkcs12::builder()
            .name("dlrepo signer")
            .pkey(&key)
            .cert(&signer)
            .ca(cas)
            .build2(pw)?;
        write("signer.p12", &p12.to_der()?)?;
    }
    Ok(())
}
