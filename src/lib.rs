//! dlrepo: a DigiLocker issuer's dedicated repository.
//!
//! See ARCHITECTURE.md for the map. Dependencies flow one way: `server` and the CLI use
//! the capabilities (`wire`, `auth`, `uri`, `store`, `docs`, `import`); those never use
//! `server`.

pub mod aadhaar;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod config;
pub mod demo;
pub mod docs;
pub mod error;
pub mod import;
pub mod push;
pub mod push_cli;
pub mod server;
pub mod sign_cli;
pub mod store;
pub mod uri;
pub mod wire;
