//! Does the resident DigiLocker names (`FullName`, `DOB`) hold this document? The current
//! API "strongly recommends" the check: it stops one resident pulling another's mark
//! sheet with a guessed roll number.
//!
//! Lenient name matching ignores case, spacing, dots and other punctuation, and the
//! order of words, and lets an initial stand for a word that starts with it; every
//! word on either side must be accounted for. Dates must be the same day.

use std::str::FromStr;

/// How a doc type checks the resident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchMode {
    /// Records that hold no reliable name or date of birth.
    Off,
    #[default]
    Lenient,
    /// Same words in the same order, no initials (case, spacing and dots still ignored).
    Strict,
}

impl FromStr for MatchMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(MatchMode::Off),
            "lenient" => Ok(MatchMode::Lenient),
            "strict" => Ok(MatchMode::Strict),
            other => Err(format!("'{other}' is not one of off, lenient, strict")),
        }
    }
}

/// Which field did not match. The values themselves never appear: they are personal
/// data and this goes to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("FullName does not match the holder's name")]
    Name,
    #[error("DOB does not match the holder's date of birth")]
    Dob,
    #[error("DOB is not a date (DD-MM-YYYY)")]
    BadDob,
}

/// Lowercase words, punctuation as separators.
fn words(name: &str) -> Vec<String> {
    name.split(|c: char| c.is_whitespace() || matches!(c, '.' | ',' | '-' | '\'' | '`' | '’'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn is_initial(w: &str) -> bool {
    w.chars().count() == 1
}

/// An initial stands for any word that starts with it (and for the same initial).
fn word_matches(a: &str, b: &str) -> bool {
    a == b || (is_initial(a) && b.starts_with(a)) || (is_initial(b) && a.starts_with(b))
}

/// Pairs every word of `a` with a distinct word of `b` (same count), full words first so
/// that an initial does not take a word a full word needed.
fn lenient(a: &[String], b: &[String]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    let mut order: Vec<&String> = a.iter().collect();
    order.sort_by_key(|w| is_initial(w));
    for w in order {
        let exact = (0..b.len()).find(|&i| !used[i] && b[i] == *w);
        let pick = exact.or_else(|| {
            // Prefer a full word for an initial, an initial for a full word.
            (0..b.len()).find(|&i| !used[i] && word_matches(w, &b[i]))
        });
        match pick {
            Some(i) => used[i] = true,
            None => return false,
        }
    }
    true
}

pub fn names_match(sent: &str, holder: &str, mode: MatchMode) -> bool {
    let (a, b) = (words(sent), words(holder));
    match mode {
        MatchMode::Off => true,
        MatchMode::Strict => !a.is_empty() && a == b,
        MatchMode::Lenient => !a.is_empty() && lenient(&a, &b),
    }
}

/// DD-MM-YYYY, DD/MM/YYYY or ISO YYYY-MM-DD (how dlrepo stores dates) as (y, m, d).
fn parse_date(s: &str) -> Option<(u32, u32, u32)> {
    let s = s.trim();
    let parts: Vec<&str> = s.split(['-', '/']).collect();
    let [a, b, c] = parts[..] else {
        return None;
    };
    let num = |p: &str| p.parse::<u32>().ok();
    let (y, m, d) = if a.len() == 4 {
        (num(a)?, num(b)?, num(c)?)
    } else if c.len() == 4 && a.len() <= 2 && b.len() <= 2 {
        (num(c)?, num(b)?, num(a)?)
    } else {
        return None;
    };
    chrono::NaiveDate::from_ymd_opt(y as i32, m, d).map(|_| (y, m, d))
}

pub fn dates_match(sent: &str, holder: &str) -> bool {
    matches!((parse_date(sent), parse_date(holder)), (Some(a), Some(b)) if a == b)
}

/// Checks what both sides have: a field missing on either side is nothing to check.
pub fn check(
    mode: MatchMode,
    sent_name: Option<&str>,
    sent_dob: Option<&str>,
    holder_name: Option<&str>,
    holder_dob: Option<&str>,
) -> Result<(), Mismatch> {
    if mode == MatchMode::Off {
        return Ok(());
    }
    if let (Some(s), Some(h)) = (sent_name, holder_name) {
        if !h.trim().is_empty() && !names_match(s, h, mode) {
            return Err(Mismatch::Name);
        }
    }
    if let (Some(s), Some(h)) = (sent_dob, holder_dob) {
        if parse_date(s).is_none() {
            return Err(Mismatch::BadDob);
        }
        if !h.trim().is_empty() && !dates_match(s, h) {
            return Err(Mismatch::Dob);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_names_that_match() {
        for (a, b) in [
            ("Ravi Kumar", "Ravi Kumar"),
            ("RAVI KUMAR", "ravi kumar"),
            ("  Ravi   Kumar ", "Ravi Kumar"),
            ("Kumar Ravi", "Ravi Kumar"),
            ("R. Kumar", "Ravi Kumar"),
            ("R Kumar", "Ravi Kumar"),
            ("R K Sharma", "Ravi Kumar Sharma"),
            ("Sharma R.K.", "Ravi Kumar Sharma"),
            ("Ravi Kumar", "R. Kumar"),
            ("R. Kumar", "R Kumar"),
            ("D'Souza Anita", "Anita D Souza"),
            ("राम कुमार", "कुमार राम"),
            ("Asha  Rao.", "asha rao"),
        ] {
            assert!(names_match(a, b, MatchMode::Lenient), "{a} ~ {b}");
        }
    }

    #[test]
    fn lenient_names_that_do_not() {
        for (a, b) in [
            ("Ravi", "Ravi Kumar"),
            ("Kumar", "Ravi Kumar"),
            ("Ravi Kumar", "Ravi Kishore"),
            ("Ravi Kumar Sharma", "Ravi Kumar"),
            ("S. Kumar", "Ravi Kumar"),
            ("Rav Kumar", "Ravi Kumar"),
            ("Asha Rao", "Ravi Kumar"),
            ("R R", "Ravi Kumar"),
            ("", "Ravi Kumar"),
            ("राम", "राम कुमार"),
        ] {
            assert!(!names_match(a, b, MatchMode::Lenient), "{a} !~ {b}");
        }
    }

    #[test]
    fn strict_names() {
        assert!(names_match("ravi  kumar.", "Ravi Kumar", MatchMode::Strict));
        assert!(!names_match("Kumar Ravi", "Ravi Kumar", MatchMode::Strict));
        assert!(!names_match("R. Kumar", "Ravi Kumar", MatchMode::Strict));
        assert!(names_match("anyone", "Ravi Kumar", MatchMode::Off));
    }

    #[test]
    fn dates_in_every_form() {
        assert!(dates_match("02-01-2008", "2008-01-02"));
        assert!(dates_match("02/01/2008", "02-01-2008"));
        assert!(dates_match("2008-01-02", "2008-01-02"));
        assert!(!dates_match("01-02-2008", "2008-01-02"));
        assert!(!dates_match("31-02-2008", "2008-02-31"));
        assert!(!dates_match("yesterday", "2008-01-02"));
    }

    #[test]
    fn check_only_what_both_sides_have() {
        let c = |n, d| {
            check(
                MatchMode::Lenient,
                n,
                d,
                Some("Ravi Kumar"),
                Some("2008-01-02"),
            )
        };
        assert_eq!(c(Some("R. Kumar"), Some("02-01-2008")), Ok(()));
        assert_eq!(c(None, None), Ok(()));
        assert_eq!(c(Some("Asha Rao"), None), Err(Mismatch::Name));
        assert_eq!(c(None, Some("03-01-2008")), Err(Mismatch::Dob));
        assert_eq!(c(None, Some("soon")), Err(Mismatch::BadDob));
        assert_eq!(
            check(
                MatchMode::Lenient,
                Some("Asha"),
                Some("01-01-2000"),
                None,
                None
            ),
            Ok(())
        );
        assert_eq!(
            check(
                MatchMode::Off,
                Some("Asha"),
                Some("x"),
                Some("Ravi"),
                Some("2008-01-02")
            ),
            Ok(())
        );
        assert!(!Mismatch::Name.to_string().contains("Ravi"));
    }
}
