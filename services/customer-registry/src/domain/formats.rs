//! Field formats of CR-1: mainland phone numbers, e-mail addresses, resident identity card
//! numbers and unified social credit codes, each with its checksum where it has one.

use chrono::NaiveDate;

/// A phone number in the one form Kefu stores: digits, a hyphen after a landline's area code.
/// Accepts spaces, and a leading +86 or 0086 on mobiles.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let compact = compact
        .strip_prefix("+86")
        .or_else(|| compact.strip_prefix("0086"))
        .map_or(compact.as_str(), |rest| rest.trim_start_matches('-'));
    if is_mobile(compact) {
        return Some(compact.to_owned());
    }
    // Landline: area code 0 + 2-3 digits, local number 7-8 digits, hyphen optional.
    let (area, local) = match compact.split_once('-') {
        Some(parts) => parts,
        None => {
            let digits = compact;
            if !digits.starts_with('0') || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            // Beijing, Shanghai, Tianjin, Chongqing and the 02x areas have 3-character codes.
            let area_len = if digits.as_bytes().get(1) == Some(&b'1')
                || digits.as_bytes().get(1) == Some(&b'2')
            {
                3
            } else {
                4
            };
            if digits.len() <= area_len {
                return None;
            }
            digits.split_at(area_len)
        }
    };
    let area_ok = area.len() >= 3
        && area.len() <= 4
        && area.starts_with('0')
        && area.chars().all(|c| c.is_ascii_digit());
    let local_ok = (7..=8).contains(&local.len())
        && local.chars().all(|c| c.is_ascii_digit())
        && !local.starts_with('0');
    (area_ok && local_ok).then(|| format!("{area}-{local}"))
}

fn is_mobile(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
}

/// A plausible e-mail address: one @, a non-empty local part, a dotted domain, no spaces.
pub fn is_email(s: &str) -> bool {
    if s.len() > 254 || s.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

/// The 18-character resident identity card number (GB 11643-1999): digits, a valid birth
/// date, and the ISO 7064 MOD 11-2 check character (0-9 or X).
pub fn is_resident_id(s: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = s.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let Some(birth) = NaiveDate::parse_from_str(&s[6..14], "%Y%m%d").ok() else {
        return false;
    };
    if birth.year_ce().1 < 1900 || birth > chrono::Utc::now().date_naive() {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK[(sum % 11) as usize] == b[17].to_ascii_uppercase()
}

use chrono::Datelike as _;

/// The 18-character unified social credit code (GB 32100-2015) with its check character.
pub fn is_social_credit_code(s: &str) -> bool {
    const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let b = s.as_bytes();
    if b.len() != 18 {
        return false;
    }
    let mut values = [0u32; 18];
    for (i, c) in b.iter().enumerate() {
        match CHARSET.iter().position(|x| x == c) {
            Some(v) => values[i] = v as u32,
            None => return false,
        }
    }
    let sum: u32 = values[..17].iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    (31 - sum % 31) % 31 == values[17]
}

/// A mainland postal code: six digits.
pub fn is_postal_code(s: &str) -> bool {
    s.len() == 6 && s.chars().all(|c| c.is_ascii_digit())
}

/// An ISO 4217 currency code: three capital letters.
pub fn is_currency_code(s: &str) -> bool {
    s.len() == 3 && s.chars().all(|c| c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise_or_are_refused() {
        let cases = [
            ("13812345678", Some("13812345678")),
            ("138 1234 5678", Some("13812345678")),
            ("+86 138 1234 5678", Some("13812345678")),
            ("008613812345678", Some("13812345678")),
            ("010-12345678", Some("010-12345678")),
            ("01012345678", Some("010-12345678")),
            ("0571-8765432", Some("0571-8765432")),
            ("057187654321", Some("0571-87654321")),
            ("12812345678", None),
            ("1381234567", None),
            ("138123456789", None),
            ("010-0234567", None),
            ("abc", None),
            ("", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize_phone(raw).as_deref(), expected, "{raw:?}");
        }
    }

    #[test]
    fn email_addresses() {
        for ok in ["a@b.cn", "zhang.san+kefu@example.com.cn", "王@例子.中国"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.cn", "a@.cn", "a@b.cn.", "a b@c.cn", "a@b@c.cn", "a@b..cn",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn resident_ids_check_length_birth_date_and_checksum() {
        assert!(is_resident_id("11010519491231002X"));
        assert!(is_resident_id("11010519491231002x"));
        assert!(
            !is_resident_id("110105194912310021"),
            "wrong check character"
        );
        assert!(!is_resident_id("11010519491331002X"), "month 13");
        assert!(!is_resident_id("11010530001231002X"), "born in the future");
        assert!(!is_resident_id("1101051949123100"), "too short");
        assert!(!is_resident_id("A1010519491231002X"));
    }

    #[test]
    fn social_credit_codes_check_charset_and_checksum() {
        assert!(is_social_credit_code("91350100M000100Y43"));
        assert!(
            !is_social_credit_code("91350100M000100Y44"),
            "wrong check character"
        );
        assert!(!is_social_credit_code("91350100M000100Y4"), "too short");
        assert!(
            !is_social_credit_code("91350100I000100Y43"),
            "I is not in the charset"
        );
    }

    #[test]
    fn postal_and_currency_codes() {
        assert!(is_postal_code("100000"));
        assert!(!is_postal_code("10000"));
        assert!(!is_postal_code("10000a"));
        assert!(is_currency_code("CNY"));
        assert!(!is_currency_code("cny"));
        assert!(!is_currency_code("CNYY"));
    }
}
