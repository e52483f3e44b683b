//! docs/rules.md cannot go stale: every rule id is there once, every path it names exists,
//! every test file it lists cites the rule, every rule of a built service has a test, and
//! every rule id the code cites is one the index knows.

use std::collections::{BTreeMap, BTreeSet};

use crate::{root, rust_files};

/// The rule ids of the suite: prefix and how many rules it has.
const RULES: &[(&str, u32)] = &[
    ("CR", 13),
    ("OT", 12),
    ("CD", 10),
    ("SV", 5),
    ("SK", 6),
    ("X", 4),
];

struct Row {
    id: String,
    rule: String,
    places: Vec<String>,
    tests: Vec<String>,
}

/// The text between backticks in `cell`.
fn quoted(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn is_rule_id(s: &str) -> bool {
    s.split_once('-').is_some_and(|(prefix, n)| {
        RULES.iter().any(|(p, _)| *p == prefix)
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
    })
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(root().join("docs/rules.md")).unwrap();
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split(" | ")
                .map(str::trim)
                .collect();
            (cells.len() == 4 && is_rule_id(cells[0])).then(|| Row {
                id: cells[0].to_owned(),
                rule: cells[1].to_owned(),
                places: quoted(cells[2]),
                tests: quoted(cells[3]),
            })
        })
        .collect()
}

/// Whether `text` cites `id`: "CR-2" not followed by a digit, or a name starting `cr2_`.
fn cites(text: &str, id: &str) -> bool {
    let bounded = |needle: &str, after_ok: &dyn Fn(char) -> bool| {
        text.match_indices(needle).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + needle.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && after.is_none_or(after_ok)
        })
    };
    let snake = format!("{}_", id.replace('-', "").to_ascii_lowercase());
    bounded(id, &|c| !c.is_ascii_digit()) || bounded(&snake, &|_| true)
}

#[test]
fn the_rules_index_lists_every_rule_once_with_real_paths() {
    let rows = rows();
    let mut listed = BTreeSet::new();
    for row in &rows {
        assert!(listed.insert(row.id.clone()), "{} is listed twice", row.id);
        assert!(row.rule.len() > 20, "{}: say the rule", row.id);
        for path in row.places.iter().chain(&row.tests) {
            assert!(
                root().join(path).exists(),
                "{}: {path} does not exist",
                row.id
            );
        }
    }
    let expected: BTreeSet<String> = RULES
        .iter()
        .flat_map(|(prefix, n)| (1..=*n).map(move |i| format!("{prefix}-{i}")))
        .collect();
    assert_eq!(
        listed, expected,
        "the index must hold exactly the suite's rules"
    );
}

#[test]
fn every_rule_of_a_built_service_has_a_test_that_cites_it() {
    let built: BTreeSet<&str> = kefu::SERVICES.iter().map(|s| s.rule_prefix()).collect();
    assert!(built.contains("CR") && built.contains("OT"), "{built:?}");
    for row in rows() {
        let prefix = row.id.split('-').next().unwrap();
        if built.contains(prefix) {
            assert!(
                !row.places.is_empty(),
                "{}: where is it implemented?",
                row.id
            );
            assert!(!row.tests.is_empty(), "{}: which tests check it?", row.id);
        }
        for test in &row.tests {
            let text = std::fs::read_to_string(root().join(test)).unwrap();
            assert!(
                cites(&text, &row.id),
                "{test} is listed for {} but does not cite it (`// {}` or a `{}_` test)",
                row.id,
                row.id,
                row.id.replace('-', "").to_ascii_lowercase()
            );
        }
    }
}

#[test]
fn every_rule_id_the_code_cites_is_in_the_index() {
    let known: BTreeSet<String> = rows().into_iter().map(|r| r.id).collect();
    let mut unknown: BTreeMap<String, String> = BTreeMap::new();
    for dir in ["services", "tests", "migrations", "proto"] {
        for file in rust_files(&root().join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
                if is_rule_id(word) && !known.contains(word) {
                    unknown.insert(word.to_owned(), file.display().to_string());
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "cited but not in docs/rules.md: {unknown:?}"
    );
}

#[test]
fn citations_are_recognised_exactly() {
    assert!(cites("// CR-2: tiers", "CR-2"));
    assert!(cites("fn cr2_enterprises() {}", "CR-2"));
    // Built at run time: written out, a neighbour of CR-2 would be an unknown id itself.
    let neighbour = format!("CR-{}", 21);
    assert!(!cites(&format!("// {neighbour} and CR-12"), "CR-2"));
    assert!(!cites("fn xcr2_a()", "CR-2"));
    assert!(!cites(&format!("fn cr{}_a()", 21), "CR-2"));
    assert!(cites("(OT-5)", "OT-5"));
}

#[test]
fn the_readme_points_to_the_index_and_nowhere_outside_the_repository() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains("docs/rules.md"),
        "the README points to the rules index"
    );
    assert!(
        !readme.contains("../shared"),
        "the README must stand on its own"
    );
}
