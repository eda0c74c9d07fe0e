//! `MaXacThuc` (`schemas/payment-platform/README.md` §1): lowercase hex SHA-256 of the listed
//! fields' values joined with `|`, then `|` and the partner's hash key.

use sha2::{Digest, Sha256};

/// `MaXacThuc` of these values.
pub fn ma_xac_thuc(values: &[&str], hash_key: &[u8]) -> String {
    let mut h = Sha256::new();
    for v in values {
        h.update(v.as_bytes());
        h.update(b"|");
    }
    h.update(hash_key);
    hex::encode(h.finalize())
}

/// Whether a received `MaXacThuc` is right (constant time, hex case ignored).
pub fn verify(values: &[&str], hash_key: &[u8], received: &str) -> bool {
    crate::vnpay::auth::hex_eq(&ma_xac_thuc(values, hash_key), received)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_confirm_reply() {
        // schemas/payment-platform/golden/confirm_reply.json
        let values = ["00", "DEMO-HUE", "HS000123TT01", "20260101081500"];
        assert_eq!(
            ma_xac_thuc(&values, b"demo-ptt-hashkey"),
            "d5dff0c0209db7659a1eca720a6ab9e4e332b8e5c09d12c1df8ce581f633693f"
        );
    }
}
