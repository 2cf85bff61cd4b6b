//! HTTPS in `serve` itself, for departments without a reverse proxy: TLS 1.2 and
//! later only, Mozilla's "intermediate" ciphers, the certificate and key from the config.

use openssl::pkcs12::Pkcs12;
use openssl::ssl::{SslAcceptor, SslAcceptorBuilder, SslFiletype, SslMethod, SslVersion};

use crate::config::TlsConfig;

/// The acceptor for `server.tls_*`; every failure names the file and the reason.
pub(super) fn acceptor(tls: &TlsConfig) -> std::io::Result<SslAcceptorBuilder> {
    let fail = |what: String| std::io::Error::other(format!("server TLS: {what}"));
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
        .map_err(|e| fail(e.to_string()))?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(|e| fail(e.to_string()))?;
    let private = |path: &std::path::Path| match crate::files::open_to_others(path) {
        Some(mode) => Err(fail(format!(
            "{} can be read by others (mode {mode:o}): chmod 600 it",
            path.display()
        ))),
        None => Ok(()),
    };
    match tls {
        TlsConfig::Pem { cert, key } => {
            private(key)?;
            b.set_certificate_chain_file(cert)
                .map_err(|e| fail(format!("certificate {}: {e}", cert.display())))?;
            b.set_private_key_file(key, SslFiletype::PEM)
                .map_err(|e| fail(format!("key {}: {e}", key.display())))?;
        }
        TlsConfig::Pkcs12 { file, .. } => {
            private(file)?;
            let der = std::fs::read(file).map_err(|e| fail(format!("{}: {e}", file.display())))?;
            let parsed = Pkcs12::from_der(&der)
                .and_then(|p| p.parse2(tls.pkcs12_password().unwrap_or("")))
                .map_err(|e| fail(format!("{}: {e} (wrong password?)", file.display())))?;
            let (Some(cert), Some(key)) = (parsed.cert, parsed.pkey) else {
                return Err(fail(format!(
                    "{} holds no certificate and key",
                    file.display()
                )));
            };
            b.set_certificate(&cert).map_err(|e| fail(e.to_string()))?;
            b.set_private_key(&key).map_err(|e| fail(e.to_string()))?;
            for c in parsed.ca.into_iter().flatten() {
                b.add_extra_chain_cert(c).map_err(|e| fail(e.to_string()))?;
            }
        }
    }
    b.check_private_key()
        .map_err(|_| fail("the key does not belong to the certificate".into()))?;
    Ok(b)
}
