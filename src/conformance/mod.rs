//! `dlrepo conformance`: the calls DigiLocker makes to an issuer, sent to any issuer's
//! endpoints (dlrepo or another implementation) before go-live, each answer judged and
//! every failure explained in the terms of the partner FAQ's common mistakes.
//!
//! - [`checks`]: what is sent and how each answer is judged.
//! - [`junit`]: the results as JUnit XML, for a department's CI.
//!
//! The central side (`dlrepo conformance central`) is the push stand-in of
//! `crate::push::standin`, which checks every row it receives.

pub mod checks;
pub mod junit;

use std::time::Duration;

use openssl::x509::X509;

/// The issuer under test and what to ask it for.
pub struct Target {
    pub pull_uri: String,
    pub pull_doc: Option<String>,
    pub org_id: String,
    pub api_key: String,
    pub doctype: String,
    /// Search values of one document the issuer holds.
    pub udfs: Vec<(String, String)>,
    pub expect_uri: Option<String>,
    /// The holder's name and date of birth (DD-MM-YYYY), sent as DigiLocker does.
    pub full_name: Option<String>,
    pub dob: Option<String>,
    /// CA certificates the document signatures must chain to.
    pub trust: Vec<X509>,
    pub timeout: Duration,
}

/// How one check came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass(String),
    /// What is wrong, in the FAQ's terms.
    Fail(String),
    Skip(String),
}

#[derive(Debug, Clone)]
pub struct CheckResult {
    pub name: String,
    /// A required check that fails makes the run fail; the others only warn.
    pub required: bool,
    pub outcome: Outcome,
}

impl CheckResult {
    pub fn failed_required(&self) -> bool {
        self.required && matches!(self.outcome, Outcome::Fail(_))
    }
}

/// Which checks to run: `--only` and `--skip` take name prefixes.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    pub only: Vec<String>,
    pub skip: Vec<String>,
}

impl Selection {
    pub fn wants(&self, name: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|p| name.starts_with(p.as_str())))
            && !self.skip.iter().any(|p| name.starts_with(p.as_str()))
    }
}

/// Runs every selected check, in order, and returns them all (skipped ones too).
pub fn run(target: &Target, selection: &Selection) -> Result<Vec<CheckResult>, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(target.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    Ok(checks::Session::new(target, &client).run_all(selection))
}
