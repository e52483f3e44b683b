//! SV-1: the one-time token of an online invitation: the invitation's id and a MAC over it,
//! so nothing secret is stored and another invitation's id does not fit. The token answers
//! once (the invitation is answered) and only within the response window.

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC kept in a token.
const MAC_BYTES: usize = 18;

/// The token of `invitation_id` under `key`.
pub fn issue(key: &[u8], invitation_id: &str) -> String {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return String::new();
    };
    mac.update(invitation_id.as_bytes());
    let tag = mac.finalize().into_bytes();
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..MAC_BYTES]);
    format!("{invitation_id}.{encoded}")
}

/// The invitation a token was issued for; `None` for a token not made with `key`.
pub fn verify(key: &[u8], token: &str) -> Option<String> {
    let (id, encoded) = token.rsplit_once('.')?;
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .filter(|tag| tag.len() == MAC_BYTES)?;
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(id.as_bytes());
    // Compared in constant time.
    mac.verify_truncated_left(&tag).ok()?;
    Some(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sv1_a_token_opens_its_own_invitation_only() {
        let key = b"a key of enough length for the test";
        let token = issue(key, "inv-1");
        assert_eq!(verify(key, &token).as_deref(), Some("inv-1"));
        let other = issue(key, "inv-2");
        let forged = format!("inv-1.{}", other.rsplit_once('.').unwrap().1);
        assert_eq!(verify(key, &forged), None, "another invitation's MAC");
        assert_eq!(verify(b"another key entirely, also long", &token), None);
        assert_eq!(verify(key, "inv-1"), None);
        assert_eq!(verify(key, "inv-1.AAAA"), None, "a short MAC");
    }
}
