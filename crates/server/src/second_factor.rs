//! Second factors other than passkeys: TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, one
//! step of skew either way) and single-use recovery codes, kept as their SHA-256 only.

use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Secret, Totp};

/// How many recovery codes an enrolment gives.
pub const RECOVERY_CODES: usize = 10;

/// How the credentials table names the secrets of this module.
pub const TOTP_KIND: &str = "totp";
/// See [`TOTP_KIND`].
pub const RECOVERY_KIND: &str = "recovery";

/// A fresh TOTP secret (160 random bits), base32 as authenticator apps take it.
pub fn new_totp_secret() -> String {
    Secret::generate().to_base32()
}

fn totp(secret: &str, issuer: &str, account: &str) -> Option<Totp> {
    let bytes = Secret::try_from_base32(secret).ok()?;
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(bytes)
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .ok()
}

/// The `otpauth://` URI an authenticator app reads (usually from a QR code).
pub fn otpauth_uri(secret: &str, org: &str, username: &str) -> Option<String> {
    // `:` separates issuer and account in the URI: neither may hold one (names cannot).
    totp(secret, &format!("Canopy {org}"), username).and_then(|t| t.to_url().ok())
}

/// The time step a TOTP code matches at `unix_seconds` (the current one or a neighbour), if any.
pub fn totp_step(secret: &str, code: &str, unix_seconds: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp(secret, "Canopy", "user")?.check(code, unix_seconds)
}

fn digest(code: &str) -> String {
    let normalised: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(Sha256::digest(normalised.as_bytes()))
}

/// Fresh recovery codes (each 80 random bits, as four groups of five hex digits) and their
/// stored form (a JSON list of SHA-256 digests). High-entropy codes need no slow hash.
pub fn new_recovery_codes() -> (Vec<String>, String) {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let hex = hex::encode(rand::random::<[u8; 10]>());
            hex.as_bytes()
                .chunks(5)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect();
    let digests: Vec<String> = codes.iter().map(|c| digest(c)).collect();
    let stored = serde_json::to_string(&digests).unwrap_or_default();
    (codes, stored)
}

/// If `code` is one of the stored recovery codes: the stored form without it.
pub fn spend_recovery_code(stored: &str, code: &str) -> Option<String> {
    let mut digests: Vec<String> = serde_json::from_str(stored).ok()?;
    let wanted = digest(code);
    let position = digests.iter().position(|d| *d == wanted)?;
    digests.remove(position);
    serde_json::to_string(&digests).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_only() {
        let secret = new_totp_secret();
        let t = totp(&secret, "Canopy", "user").unwrap_or_else(|| unreachable!());
        let now = 1_800_000_000;
        let code = t.generate(now).to_string();
        assert_eq!(totp_step(&secret, &code, now), Some(now / 30));
        assert_eq!(totp_step(&secret, &code, now + 30), Some(now / 30));
        assert_eq!(totp_step(&secret, &code, now + 90), None);
        assert_eq!(totp_step(&secret, "12345", now), None);
        assert_eq!(totp_step(&secret, "abcdef", now), None);
    }

    #[test]
    fn a_recovery_code_is_spent_once_whatever_its_spelling() {
        let (codes, stored) = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let upper = codes[3].to_uppercase().replace('-', " ");
        let left = spend_recovery_code(&stored, &upper).unwrap_or_default();
        assert!(spend_recovery_code(&left, &codes[3]).is_none());
        assert!(spend_recovery_code(&left, &codes[4]).is_some());
        assert!(spend_recovery_code(&stored, "0000-0000-0000-0000").is_none());
    }
}
