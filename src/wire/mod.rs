//! The DigiLocker XML dialects: requests we accept and responses we write.
//!
//! Requests are read into a local-name tree ([`xml::Element`]) and then into typed
//! requests, so later API versions (extra attributes such as `format`, extra `DocDetails`
//! children such as `DocType`) are read beside 1.0 without a second parser. These types
//! know nothing of the database or of HTTP.

pub mod build;
pub mod pull;
pub mod push;
pub mod xml;

pub use pull::{
    resident_field, Person, PullDocRequest, PullDocResponse, PullUriRequest, PullUriResponse,
    RequestHeader, ResponseFormat, Status, WireError, RESIDENT_FIELDS,
};
