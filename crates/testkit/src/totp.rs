//! TOTP codes computed the way an authenticator app does (RFC 6238: HMAC-SHA-1, 6 digits,
//! 30-second steps), written out here rather than taken from the server's library, so that a
//! test checks the server against the standard and not against itself.

use hmac::{Hmac, Mac};

/// RFC 4648 base32 without padding, as the secret is shown; `None` for a character outside it.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u64;
        bits = (bits << 5) | v;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// The code of the base32 `secret` at `unix_seconds` (empty for a secret that does not decode).
pub fn code_at(secret: &str, unix_seconds: u64) -> String {
    let Some(key) = base32_decode(secret) else {
        return String::new();
    };
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&key) else {
        return String::new();
    };
    mac.update(&(unix_seconds / 30).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = (h[19] & 0x0f) as usize;
    let n = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    format!("{:06}", n % 1_000_000)
}

/// The real time in seconds: the server decides by it.
#[allow(clippy::disallowed_methods)]
pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_6238_test_vector() {
        // RFC 6238 appendix B, SHA-1: the secret "12345678901234567890", 8 digits there; the
        // last 6 digits of its codes are the 6-digit codes.
        let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        assert_eq!(code_at(secret, 59), "287082");
        assert_eq!(code_at(secret, 1_111_111_109), "081804");
        assert_eq!(code_at(secret, 20_000_000_000), "353130");
    }
}
