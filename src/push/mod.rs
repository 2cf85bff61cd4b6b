//! Pushing URIs to the central locker (SPEC.md, "Push URI to DigiLocker").
//!
//! - [`outbox`]: changes to push, written in the same transaction as the change; files
//!   built from them, whose rows never change afterwards.
//! - [`csv_file`]: the 10-column CSV, exactly as the spec lays it out.
//! - [`client`]: the PushCSVRequest POST to the central CSV Upload API.
//! - [`lock`]: one pusher at a time per database, across servers.
//! - [`pusher`]: build, send, retry with backoff, mark: `dlrepo push`.
//! - [`standin`]: a local stand-in of the central API for tests, benchmarks and a
//!   department's own trials.
//!
//! Delivery is at least once: a file is marked pushed only after ResponseStatus 1, so a
//! crash between the central API's answer and our commit resends that one file.

pub mod client;
pub mod csv_file;
pub mod lock;
pub mod outbox;
pub mod pusher;
pub mod standin;
