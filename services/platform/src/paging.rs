//! AIP-158 paging shared by every List RPC: page sizes with a default and a ceiling, and
//! opaque tokens that resume after the last id of the previous page.

use crate::error::{FieldViolation, Violations};

/// Page size when the caller asks for none.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Larger requests are cut to this, not refused (AIP-158).
pub const MAX_PAGE_SIZE: u64 = 200;

/// The page size to use for a requested one; `None` for a negative request.
pub fn page_size(requested: i32) -> Option<u64> {
    match requested {
        n if n < 0 => None,
        0 => Some(DEFAULT_PAGE_SIZE),
        n => Some((n as u64).min(MAX_PAGE_SIZE)),
    }
}

/// The size and resume point of a List request; both bad fields named when they are.
pub fn parse(
    page_size: i32,
    page_token: &str,
) -> Result<(u64, Option<String>), Vec<FieldViolation>> {
    let mut v = Violations::new();
    let size = self::page_size(page_size);
    v.check(size.is_some(), "page_size", "must not be negative");
    let after = match page_token {
        "" => None,
        token => {
            let id = decode_token(token);
            v.check(
                id.is_some(),
                "page_token",
                "not a token this service gave out",
            );
            id
        }
    };
    v.finish()
        .map(|()| (size.unwrap_or(DEFAULT_PAGE_SIZE), after))
}

/// The token that resumes after `last_id`.
pub fn encode_token(last_id: &str) -> String {
    hex::encode(format!("after:{last_id}"))
}

/// The id a token resumes after; `None` for a token this service did not give out.
pub fn decode_token(token: &str) -> Option<String> {
    let bytes = hex::decode(token).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("after:")
        .map(str::to_owned)
}

/// Cuts a page fetched with one extra row down to `size`, and gives the next page's token
/// (empty on the last page) from `id` of its last item.
pub fn finish_page<T>(mut items: Vec<T>, size: u64, id: impl Fn(&T) -> &str) -> (Vec<T>, String) {
    if items.len() as u64 > size {
        items.truncate(size as usize);
        let token = items
            .last()
            .map(|item| encode_token(id(item)))
            .unwrap_or_default();
        (items, token)
    } else {
        (items, String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_default_cap_and_refuse_negatives() {
        assert_eq!(page_size(0), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(7), Some(7));
        assert_eq!(page_size(10_000), Some(MAX_PAGE_SIZE));
        assert_eq!(page_size(-1), None);
    }

    #[test]
    fn tokens_round_trip_and_refuse_forgeries() {
        assert_eq!(
            decode_token(&encode_token("0190-abc")).as_deref(),
            Some("0190-abc")
        );
        assert_eq!(decode_token("zz"), None);
        assert_eq!(decode_token(&hex::encode("before:x")), None);
    }

    #[test]
    fn requests_parse_or_name_every_bad_field() {
        assert_eq!(parse(0, "").unwrap(), (DEFAULT_PAGE_SIZE, None));
        assert_eq!(parse(5, &encode_token("x")).unwrap(), (5, Some("x".into())));
        let fields: Vec<String> = parse(-1, "zz")
            .unwrap_err()
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["page_size", "page_token"]);
    }

    #[test]
    fn pages_carry_a_token_only_when_more_remain() {
        let (page, token) = finish_page(vec!["a", "b", "c"], 2, |s| s);
        assert_eq!(page, ["a", "b"]);
        assert_eq!(decode_token(&token).as_deref(), Some("b"));
        let (page, token) = finish_page(vec!["a"], 2, |s| s);
        assert_eq!(page, ["a"]);
        assert!(token.is_empty());
    }
}
