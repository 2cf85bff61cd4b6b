//! dlrepo: a DigiLocker issuer's dedicated repository.
//!
//! See ARCHITECTURE.md for the map. Dependencies flow one way: `server` and the CLI use
//! the capabilities (`wire`, `auth`, `uri`, `store`, `docs`, `import`); those never use
//! `server`.

pub mod aadhaar;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod conformance;
pub mod docs;
pub mod doctype;
pub mod error;
pub mod files;
pub mod import;
pub mod issuing;
pub mod metrics;
pub mod push;
pub mod requester;
pub mod resident;
pub mod server;
pub mod store;
pub mod uri;
pub mod vault;
pub mod wire;
