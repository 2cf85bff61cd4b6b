//! Aadhaar numbers: validation (12 digits, Verhoeff check digit) and masking for logs.

const D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];
const INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];

/// True when the digits (check digit last) pass Verhoeff.
pub fn verhoeff_valid(digits: &str) -> bool {
    let mut c = 0u8;
    for (i, ch) in digits.bytes().rev().enumerate() {
        if !ch.is_ascii_digit() {
            return false;
        }
        c = D[c as usize][P[i % 8][(ch - b'0') as usize] as usize];
    }
    c == 0
}

/// The Verhoeff check digit for `digits`.
pub fn verhoeff_digit(digits: &str) -> u8 {
    let mut c = 0u8;
    for (i, ch) in digits.bytes().rev().enumerate() {
        c = D[c as usize][P[(i + 1) % 8][(ch - b'0') as usize] as usize];
    }
    INV[c as usize]
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AadhaarError {
    #[error("Aadhaar must be 12 digits")]
    Shape,
    #[error("Aadhaar cannot start with 0 or 1")]
    Leading,
    #[error("Aadhaar check digit is wrong (Verhoeff)")]
    CheckDigit,
}

/// Accepts `1234 5678 9012` as well as `123456789012`; returns the 12 digits.
pub fn normalize(s: &str) -> Result<String, AadhaarError> {
    let digits: String = s.chars().filter(|c| *c != ' ' && *c != '-').collect();
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AadhaarError::Shape);
    }
    if digits.starts_with('0') || digits.starts_with('1') {
        return Err(AadhaarError::Leading);
    }
    if !verhoeff_valid(&digits) {
        return Err(AadhaarError::CheckDigit);
    }
    Ok(digits)
}

/// What a log may show of any identifying value: its last four characters.
pub fn mask(s: &str) -> String {
    let n = s.chars().count();
    if n <= 4 {
        return "*".repeat(n);
    }
    let tail: String = s.chars().skip(n - 4).collect();
    format!("{}{tail}", "*".repeat(n - 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verhoeff_known_values() {
        // Classic test vector: 236 has check digit 3.
        assert_eq!(verhoeff_digit("236"), 3);
        assert!(verhoeff_valid("2363"));
        assert!(!verhoeff_valid("2364"));
    }

    #[test]
    fn normalizes_aadhaar() {
        let base = "23412341234";
        let full = format!("{base}{}", verhoeff_digit(base));
        assert_eq!(normalize(&full).as_deref(), Ok(full.as_str()));
        let spaced = format!("{} {} {}", &full[..4], &full[4..8], &full[8..]);
        assert_eq!(normalize(&spaced).as_deref(), Ok(full.as_str()));
        let wrong = format!("{base}{}", (verhoeff_digit(base) + 1) % 10);
        assert_eq!(normalize(&wrong), Err(AadhaarError::CheckDigit));
        assert_eq!(normalize("12345"), Err(AadhaarError::Shape));
        let lead = format!("1{}", &full[1..]);
        assert_eq!(normalize(&lead), Err(AadhaarError::Leading));
    }

    #[test]
    fn masks_all_but_four() {
        assert_eq!(mask("234123412346"), "********2346");
        assert_eq!(mask("12"), "**");
    }
}
