//! The end-to-end tests, one binary for all of them: one link of every dependency
//! instead of one per file (two dozen binaries had filled CI's disk). Each module is
//! one area; `common` is shared with `tests/metrics.rs`, which stays a binary of its
//! own because the metrics registry is the process's.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod audit_counts;
mod audit_lookups;
mod cli;
mod conformance;
mod console;
mod current_api;
mod department;
mod department_follow;
mod department_together;
mod hostile;
mod idempotent_import;
mod import;
mod logs;
mod lookups;
mod operate;
mod outages;
mod private_files;
mod pull_doc;
mod pull_uri;
mod push;
mod requester;
mod resign;
mod schema;
mod servers;
mod signing;
mod templates;
mod vault;
