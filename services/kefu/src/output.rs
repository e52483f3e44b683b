//! How the client prints answers: aligned tables for people, canonical protobuf JSON for
//! scripts (`--json`).

use std::sync::OnceLock;

use anyhow::Context as _;
use kefu_proto::common as pc;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

/// Every Kefu message and service, from the contract's encoded descriptors.
pub(crate) fn pool() -> anyhow::Result<&'static DescriptorPool> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(kefu_proto::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| anyhow::anyhow!("descriptor set: {e}"))
}

/// The message as protobuf JSON (camelCase names, enums by name), one line.
pub(crate) fn json<M: prost::Message + prost::Name>(message: &M) -> anyhow::Result<String> {
    let descriptor = pool()?
        .get_message_by_name(&M::full_name())
        .ok_or_else(|| anyhow::anyhow!("no descriptor for {}", M::full_name()))?;
    dynamic_json(&DynamicMessage::decode(
        descriptor,
        message.encode_to_vec().as_slice(),
    )?)
}

/// A message known only by its descriptor, as protobuf JSON, one line.
pub(crate) fn dynamic_json(message: &DynamicMessage) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::new(&mut out);
    message.serialize_with_options(&mut serializer, &SerializeOptions::new())?;
    Ok(String::from_utf8(out)?)
}

/// Parses protobuf JSON into `M` (for `--body`).
pub(crate) fn from_json<M: prost::Message + prost::Name + Default>(
    text: &str,
) -> anyhow::Result<M> {
    let descriptor = pool()?
        .get_message_by_name(&M::full_name())
        .ok_or_else(|| anyhow::anyhow!("no descriptor for {}", M::full_name()))?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let dynamic = DynamicMessage::deserialize(descriptor, &mut deserializer)?;
    deserializer.end()?;
    Ok(dynamic.transcode_to::<M>()?)
}

/// Prints `items` as JSON lines with `json`, else as a table of `row`s under `header`.
pub(crate) fn listing<M: prost::Message + prost::Name>(
    items: &[M],
    json: bool,
    header: &[&str],
    row: impl Fn(&M) -> Vec<String>,
) -> anyhow::Result<()> {
    if json {
        for item in items {
            println!("{}", self::json(item)?);
        }
    } else {
        table(header, &items.iter().map(row).collect::<Vec<_>>());
    }
    Ok(())
}

/// Prints one page of a list: the whole answer as JSON with `json`, else its `items` as a
/// table of `row`s under `header` and how to ask for the page after it.
pub(crate) fn page<P: prost::Message + prost::Name, M>(
    answer: &P,
    json: bool,
    items: &[M],
    next_page_token: &str,
    header: &[&str],
    row: impl Fn(&M) -> Vec<String>,
) -> anyhow::Result<()> {
    if json {
        println!("{}", self::json(answer)?);
        return Ok(());
    }
    table(header, &items.iter().map(row).collect::<Vec<_>>());
    next_page(next_page_token);
    Ok(())
}

/// Prints rows under a header, each column as wide as its widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.chars().count())))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// An enum's proto name without its type prefix: "CUSTOMER_KIND_PERSONAL" -> "personal".
pub(crate) fn enum_label(full: &str, prefix: &str) -> String {
    full.strip_prefix(prefix)
        .unwrap_or(full)
        .to_ascii_lowercase()
}

/// A protobuf time as RFC 3339, to the second; empty when unset.
pub(crate) fn time(t: Option<prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

/// Tells how to get the next page, when there is one.
pub(crate) fn next_page(token: &str) {
    if !token.is_empty() {
        println!("next page: --page-token {token}");
    }
}

/// The enum value `value` names, given without its prefix in any case: "phone" for
/// `CHANNEL_PHONE`.
pub(crate) fn named<T>(
    value: &str,
    prefix: &str,
    parse: fn(&str) -> Option<T>,
) -> anyhow::Result<T> {
    parse(&format!("{prefix}{}", value.to_ascii_uppercase()))
        .with_context(|| format!("unknown value {value:?}"))
}

/// A time given as RFC 3339 or as a date (midnight UTC).
pub(crate) fn parse_time(text: &str) -> anyhow::Result<prost_types::Timestamp> {
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .with_context(|| format!("{text:?} is neither RFC 3339 nor YYYY-MM-DD"))?;
    Ok(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

/// Money as "67.00 CNY".
pub(crate) fn yuan(money: Option<&pc::Money>) -> String {
    money.map_or_else(String::new, |m| {
        format!(
            "{}.{:02} {}",
            m.minor_units / 100,
            (m.minor_units % 100).abs(),
            m.currency_code
        )
    })
}
