//! CD-9: the words a knowledge entry is found by. Chinese has no spaces between words, so
//! text is cut into words with jieba's dictionary (in search mode, which also yields the
//! shorter words inside long ones: 外包装破损 gives 外包装, 包装 and 破损); Latin words are
//! lower-cased. Both databases then index these words as given, so a query is cut the same
//! way as the entries it should find.

use std::sync::LazyLock;

use jieba_rs::Jieba;

static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Words too common to tell entries apart.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it", "of", "on",
    "or", "that", "the", "to", "was", "with", "的", "了", "是", "在", "和", "与", "或", "及", "被",
    "把", "有", "也", "都", "就", "而",
];

/// The words of `text`, in order, each once; only letters and digits, so that either
/// database's query syntax sees nothing but words.
pub fn words(text: &str) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for token in JIEBA.cut_for_search(text, true) {
        let word: String = token
            .word
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        if word.is_empty() || STOP_WORDS.contains(&word.as_str()) {
            continue;
        }
        if seen.insert(word.clone()) {
            out.push(word);
        }
    }
    out
}

/// The words of `text` joined by spaces: what the index stores.
pub fn indexed(text: &str) -> String {
    words(text).join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cd9_chinese_is_cut_into_words_and_long_words_yield_their_parts() {
        let cut = words("外包装破损，货物受潮");
        for word in ["外包装", "包装", "破损", "货物", "受潮"] {
            assert!(cut.contains(&word.to_owned()), "{word} in {cut:?}");
        }
        assert!(!cut.iter().any(|w| w.contains('，')), "no punctuation");
    }

    #[test]
    fn cd9_latin_words_are_lower_cased_and_stop_words_dropped() {
        assert_eq!(
            words("The Carton was CRUSHED in transit!"),
            vec!["carton", "crushed", "transit"]
        );
        assert_eq!(words("  ,.!? "), Vec::<String>::new());
    }
}
