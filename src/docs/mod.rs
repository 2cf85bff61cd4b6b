//! Documents: what is served as `DocContent`.
//!
//! - `render`: a plain certificate page for rows imported without a PDF of their own.
//! - `keys`, `keygen`: the issuer's signing key and chain; throwaway test certificates.
//! - `der`, `cms`: the PAdES B-B CMS SignedData.
//! - `pdf_sign`: the signature as an incremental update (`pdf_read`: the few objects it
//!   reads of the input); `verify`: reading it back.

pub mod certificate;
pub mod cms;
pub mod der;
pub mod keygen;
pub mod keys;
pub mod pdf_read;
pub mod pdf_sign;
pub mod render;
pub mod template;
pub mod verify;
pub mod xmldsig;
