//! Personal data at rest (CR-9): AES-256-GCM envelopes that name their key and are bound to
//! their row and field, a keyed hash for lookups, and the masks shown to callers without
//! the scope.

use std::collections::HashMap;
use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{ConfigError, SecuritySettings, decode_key};

const ENVELOPE_VERSION: &str = "v1";
const NONCE_LEN: usize = 12;

/// Why an envelope could not be opened. Never says anything of the plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PiiError {
    #[error("personal-data envelope is malformed")]
    Malformed,
    #[error("personal-data key {0:?} is not configured")]
    UnknownKey(String),
    #[error("personal-data envelope does not open with its key and binding")]
    Tampered,
}

/// Encrypts and decrypts personal data with the configured key ring.
#[derive(Clone)]
pub struct PiiCipher {
    active_key_id: String,
    active: Aes256Gcm,
    keys: HashMap<String, Aes256Gcm>,
    lookup: Hmac<Sha256>,
}

impl fmt::Debug for PiiCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PiiCipher")
            .field("active_key_id", &self.active_key_id)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl PiiCipher {
    pub fn from_settings(settings: &SecuritySettings) -> Result<Self, ConfigError> {
        let mut keys = HashMap::new();
        for (id, secret) in &settings.pii_keys {
            let key = decode_key(&format!("security.pii_keys.{id}"), secret)?;
            keys.insert(id.clone(), Aes256Gcm::new(&key.into()));
        }
        let active =
            keys.get(&settings.pii_active_key)
                .cloned()
                .ok_or_else(|| ConfigError::Invalid {
                    key: "security.pii_active_key".to_owned(),
                    problem: "names no key in security.pii_keys".to_owned(),
                })?;
        let lookup_key = decode_key("security.lookup_key", &settings.lookup_key)?;
        Ok(Self {
            active_key_id: settings.pii_active_key.clone(),
            active,
            keys,
            lookup: <Hmac<Sha256> as Mac>::new_from_slice(&lookup_key).map_err(|_| {
                ConfigError::Invalid {
                    key: "security.lookup_key".to_owned(),
                    problem: "not usable as an HMAC key".to_owned(),
                }
            })?,
        })
    }

    pub fn active_key_id(&self) -> &str {
        &self.active_key_id
    }

    /// Seals `plaintext` under the active key. `binding` (e.g. "customers/42/phone") is
    /// authenticated but not stored: an envelope copied to another row or field fails to open.
    pub fn encrypt(&self, binding: &str, plaintext: &str) -> String {
        self.encrypt_bytes(binding, plaintext.as_bytes())
    }

    /// Seals bytes as [`PiiCipher::encrypt`] seals text, in the same envelope.
    pub fn encrypt_bytes(&self, binding: &str, plaintext: &[u8]) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // AES-GCM fails only past 64 GiB in one message.
        let sealed = self
            .active
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: binding.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        format!(
            "{ENVELOPE_VERSION}.{}.{}",
            self.active_key_id,
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
        )
    }

    /// Opens an envelope sealed for `binding`.
    pub fn decrypt(&self, binding: &str, envelope: &str) -> Result<String, PiiError> {
        String::from_utf8(self.decrypt_bytes(binding, envelope)?).map_err(|_| PiiError::Tampered)
    }

    /// Opens an envelope of bytes sealed for `binding`.
    pub fn decrypt_bytes(&self, binding: &str, envelope: &str) -> Result<Vec<u8>, PiiError> {
        let (key_id, bytes) = parse(envelope)?;
        let cipher = self
            .keys
            .get(key_id)
            .ok_or_else(|| PiiError::UnknownKey(key_id.to_owned()))?;
        if bytes.len() < NONCE_LEN {
            return Err(PiiError::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: binding.as_bytes(),
                },
            )
            .map_err(|_| PiiError::Tampered)
    }

    /// The key id an envelope was sealed with.
    pub fn key_id_of(envelope: &str) -> Result<&str, PiiError> {
        parse(envelope).map(|(id, _)| id)
    }

    /// Keyed hash (HMAC-SHA256, hex) of an already normalised value, for equality lookups.
    pub fn lookup_hash(&self, normalized: &str) -> String {
        let mut mac = self.lookup.clone();
        mac.update(normalized.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

fn parse(envelope: &str) -> Result<(&str, Vec<u8>), PiiError> {
    let mut parts = envelope.splitn(3, '.');
    let (Some(ENVELOPE_VERSION), Some(key_id), Some(body)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(PiiError::Malformed);
    };
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(body)
        .map_err(|_| PiiError::Malformed)?;
    Ok((key_id, bytes))
}

/// "13812345678" -> "138****5678"; short values are masked whole.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// "zhang.san@example.com" -> "z***@example.com".
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => mask_all(email),
    }
}

/// Identity numbers keep their first 4 and last 4 characters.
pub fn mask_id_number(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

/// Free text such as a street: nothing shown but that something is there.
pub fn mask_all(value: &str) -> String {
    if value.is_empty() {
        String::new()
    } else {
        "***".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use std::collections::BTreeMap;

    fn cipher(active: &str) -> PiiCipher {
        let mut keys = BTreeMap::new();
        keys.insert(
            "k1".to_owned(),
            Secret::new("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        );
        keys.insert(
            "k2".to_owned(),
            Secret::new("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="),
        );
        PiiCipher::from_settings(&SecuritySettings {
            pii_active_key: active.to_owned(),
            pii_keys: keys,
            lookup_key: Secret::new("AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="),
        })
        .unwrap()
    }

    #[test]
    fn envelopes_round_trip_and_hide_the_plaintext() {
        let c = cipher("k1");
        let sealed = c.encrypt("customers/1/phone", "13812345678");
        assert!(!sealed.contains("13812345678"));
        assert!(sealed.starts_with("v1.k1."));
        assert_eq!(
            c.decrypt("customers/1/phone", &sealed).unwrap(),
            "13812345678"
        );
        assert_ne!(
            sealed,
            c.encrypt("customers/1/phone", "13812345678"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn envelopes_moved_to_another_row_or_field_do_not_open() {
        let c = cipher("k1");
        let sealed = c.encrypt("customers/1/phone", "13812345678");
        assert_eq!(
            c.decrypt("customers/2/phone", &sealed),
            Err(PiiError::Tampered)
        );
        assert_eq!(
            c.decrypt("customers/1/email", &sealed),
            Err(PiiError::Tampered)
        );
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert!(
            c.decrypt("customers/1/phone", std::str::from_utf8(&flipped).unwrap())
                .is_err()
        );
        assert_eq!(
            c.decrypt("customers/1/phone", "plain"),
            Err(PiiError::Malformed)
        );
    }

    #[test]
    fn old_keys_still_open_after_rotation() {
        let old = cipher("k1").encrypt("b", "secret");
        let rotated = cipher("k2");
        assert_eq!(PiiCipher::key_id_of(&old).unwrap(), "k1");
        assert_eq!(rotated.decrypt("b", &old).unwrap(), "secret");
        assert!(rotated.encrypt("b", "secret").starts_with("v1.k2."));
    }

    #[test]
    fn lookup_hash_is_keyed_and_stable() {
        let c = cipher("k1");
        assert_eq!(c.lookup_hash("13812345678"), c.lookup_hash("13812345678"));
        assert_ne!(c.lookup_hash("13812345678"), c.lookup_hash("13812345679"));
        let plain_sha = hex::encode(<Sha256 as sha2::Digest>::digest(b"13812345678"));
        assert_ne!(
            c.lookup_hash("13812345678"),
            plain_sha,
            "a bare hash is guessable from the phone space"
        );
    }

    #[test]
    fn masks_keep_only_what_identifies_nothing() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("010-12345678"), "010*****5678");
        assert_eq!(mask_email("zhang.san@example.com"), "z***@example.com");
        assert_eq!(mask_id_number("11010519491231002X"), "1101**********002X");
        assert_eq!(mask_all("Room 5, 8 Chang'an St"), "***");
        assert_eq!(mask_all(""), "");
    }
}
