//! GitHub webhook signatures: `X-Hub-Signature-256: sha256=<hex>`, the
//! HMAC-SHA256 of the raw body under the webhook secret. Checked before
//! the body is parsed, in constant time. The legacy `X-Hub-Signature`
//! (SHA-1) header is never enough on its own.

use aws_lc_rs::hmac;

/// The header GitHub signs deliveries with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Why a delivery's signature does not hold. None of them says more than
/// that: a caller probing secrets learns nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    /// The header is not `sha256=` and 64 hex digits.
    #[error("malformed X-Hub-Signature-256 header")]
    Malformed,
    /// The signature does not match the body under the secret.
    #[error("X-Hub-Signature-256 does not match the body")]
    Mismatch,
}

/// Checks `header` (the value of `X-Hub-Signature-256`, if sent) against
/// the HMAC-SHA256 of `body` under `secret`.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let tag = decode_hex(hex).ok_or(SignatureError::Malformed)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(&key, body, &tag).map_err(|_| SignatureError::Mismatch)
}

/// The signature header value GitHub would send for `body` (for tests and
/// the demo's deliveries).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// 32 bytes from exactly 64 hex digits (either case), else `None`.
fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let [hi, lo] = [pair[0], pair[1]].map(|c| (c as char).to_digit(16));
        *byte = u8::try_from(hi? * 16 + lo?).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // GitHub's documented test vector ("Validating webhook deliveries").
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_test_vector_verifies() {
        assert_eq!(sign(SECRET, BODY), SIGNATURE);
        assert_eq!(verify(SECRET, BODY, Some(SIGNATURE)), Ok(()));
        assert_eq!(
            verify(
                SECRET,
                BODY,
                Some(&SIGNATURE.to_uppercase().replace("SHA256=", "sha256="))
            ),
            Ok(()),
            "hex digits in either case"
        );
    }

    /// Secret, body, header, what `verify` says.
    type Case<'a> = (&'a [u8], &'a [u8], Option<&'a str>, SignatureError);

    #[test]
    fn anything_else_is_refused() {
        let cases: [Case; 9] = [
            (SECRET, BODY, None, SignatureError::Missing),
            (
                b"another secret",
                BODY,
                Some(SIGNATURE),
                SignatureError::Mismatch,
            ),
            (
                SECRET,
                b"Hello, World?",
                Some(SIGNATURE),
                SignatureError::Mismatch,
            ),
            // The SHA-1 header's format is not accepted in its place.
            (
                SECRET,
                BODY,
                Some("sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59"),
                SignatureError::Malformed,
            ),
            (
                SECRET,
                BODY,
                Some(&SIGNATURE[7..]),
                SignatureError::Malformed,
            ),
            (SECRET, BODY, Some("sha256="), SignatureError::Malformed),
            (
                SECRET,
                BODY,
                Some(&SIGNATURE[..SIGNATURE.len() - 1]),
                SignatureError::Malformed,
            ),
            (
                SECRET,
                BODY,
                Some(&format!("{SIGNATURE}00")),
                SignatureError::Malformed,
            ),
            (
                SECRET,
                BODY,
                Some("sha256=é57107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1"),
                SignatureError::Malformed,
            ),
        ];
        for (secret, body, header, want) in cases {
            assert_eq!(verify(secret, body, header), Err(want), "{header:?}");
        }
    }
}
