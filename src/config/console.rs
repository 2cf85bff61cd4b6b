//! `[console]`: the read-only web console.

use secrecy::SecretString;

use super::raw::RawConsole;
use super::server::IpNet;
use super::{EnvOverrides, Problem};

/// The validated `[console]` section; None when the console is off.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    pub user: String,
    /// argon2 PHC string; the password itself is never in the config.
    pub password_hash: SecretString,
    pub session_minutes: u32,
    pub allow_callers: Vec<IpNet>,
}

pub(super) fn validate(
    raw: &RawConsole,
    env: &EnvOverrides,
    problems: &mut Vec<Problem>,
) -> Option<ConsoleConfig> {
    if !raw.enabled {
        return None;
    }
    let hash = env
        .console_password_hash
        .clone()
        .or_else(|| raw.password_hash.clone());
    let Some(hash) = hash else {
        problems.push(Problem::new(
            "console.password_hash",
            "the console needs a password hash (`dlrepo console hash-password`), or DLREPO_CONSOLE_PASSWORD_HASH".into(),
        ));
        return None;
    };
    if !hash.starts_with("$argon2") {
        problems.push(Problem::new(
            "console.password_hash",
            "is not an argon2 hash (`dlrepo console hash-password` makes one)".into(),
        ));
    }
    if raw.user.trim().is_empty() {
        problems.push(Problem::new("console.user", "must not be empty".into()));
    }
    if !(1..=1440).contains(&raw.session_minutes) {
        problems.push(Problem::new(
            "console.session_minutes",
            "must be between 1 and 1440".into(),
        ));
    }
    let allow_callers =
        super::server::parse_callers("console.allow_callers", &raw.allow_callers, problems);
    Some(ConsoleConfig {
        user: raw.user.clone(),
        password_hash: SecretString::from(hash),
        session_minutes: raw.session_minutes,
        allow_callers,
    })
}
