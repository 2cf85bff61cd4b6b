//! Documents: what is served as `DocContent`.
//!
//! Today: a plain certificate page for rows imported without a PDF of their own.
//! Template layouts and PDF signing belong here too (see ARCHITECTURE.md).

pub mod render;
