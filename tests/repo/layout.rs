//! Every service crate has the same rooms with the same names, `api/` speaks no SQL, `domain/`
//! knows neither gRPC, SQL nor the generated contract types, the crate's root modules import
//! one another without a cycle, and every module starts with a line on its job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::{root, rust_files};

/// The crates of the services this build lists.
fn service_crates() -> Vec<PathBuf> {
    let crates: Vec<PathBuf> = kefu::SERVICES
        .iter()
        .map(|s| root().join("services").join(s.name()))
        .collect();
    for path in &crates {
        assert!(
            path.join("Cargo.toml").exists(),
            "{} is a crate",
            path.display()
        );
    }
    crates
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Lines of code, without `//` comments, so a comment naming a crate is no import.
fn code(path: &Path) -> String {
    read(path)
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_service_has_the_same_rooms() {
    for krate in service_crates() {
        for room in [
            "src/lib.rs",
            "src/api/mod.rs",
            "src/api/convert.rs",
            "src/domain/mod.rs",
            "src/store/mod.rs",
            "src/error.rs",
            "src/events.rs",
            "src/consume.rs",
            "src/settings.rs",
            "src/defaults.toml",
            "tests/it/main.rs",
        ] {
            assert!(
                krate.join(room).exists(),
                "{} lacks {room}",
                krate.display()
            );
        }
    }
}

#[test]
fn api_speaks_no_sql_and_domain_knows_no_grpc_sql_or_contract_types() {
    let mut found = Vec::new();
    for krate in service_crates() {
        for file in rust_files(&krate.join("src/api")) {
            if code(&file).contains("sea_orm") {
                found.push(format!("{}: sea_orm in api/", file.display()));
            }
        }
        for file in rust_files(&krate.join("src/domain")) {
            let text = code(&file);
            for forbidden in ["tonic", "sea_orm", "kefu_proto", "prost"] {
                if text.contains(forbidden) {
                    found.push(format!("{}: {forbidden} in domain/", file.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

/// A crate's root modules: `src/x.rs` and `src/x/mod.rs`, each with its files.
fn root_modules(krate: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(krate.join("src")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            modules.insert(name, rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") && name != "lib" {
            modules.insert(name, vec![path]);
        }
    }
    modules
}

/// The first cycle in `edges`, if any.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

/// The crate's root modules `text` names: `crate::x::...`, `crate::x;` and every first
/// segment of `crate::{x, y::z, ...}`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        found.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found
}

/// Which root modules each root module of `krate` imports.
fn import_graph(krate: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = root_modules(krate);
    modules
        .iter()
        .map(|(module, files)| {
            let uses = files
                .iter()
                .flat_map(|file| crate_paths(&code(file)))
                .filter(|other| other != module && modules.contains_key(other))
                .collect();
            (module.clone(), uses)
        })
        .collect()
}

#[test]
fn root_modules_import_one_another_without_a_cycle() {
    for krate in service_crates() {
        let edges = import_graph(&krate);
        assert!(
            edges.values().map(BTreeSet::len).sum::<usize>() > 20,
            "{}: the import graph was read: {edges:#?}",
            krate.display()
        );
        assert_eq!(cycle(&edges), None, "{}: {edges:#?}", krate.display());
        // The rules depend on nothing else of their crate; everything else may use them.
        assert_eq!(
            edges.get("domain").map(BTreeSet::len),
            Some(0),
            "{}: domain/ imports {:?}",
            krate.display(),
            edges.get("domain")
        );
        // Use cases and the rest never reach into the gRPC face.
        let into_api: Vec<&String> = edges
            .iter()
            .filter(|(module, uses)| *module != "api" && uses.contains("api"))
            .map(|(module, _)| module)
            .collect();
        assert!(
            into_api.is_empty(),
            "{}: {into_api:?} import api/",
            krate.display()
        );
    }
}

#[test]
fn crate_paths_are_read_from_every_form_of_use() {
    let text = "use crate::domain::Order;\nuse crate::{error::{Error, Result}, store, events as e};\nlet x = crate::orders::read();";
    let found: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(found, ["domain", "error", "events", "orders", "store"]);
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("api", vec!["lifecycle"]),
        ("lifecycle", vec!["store"]),
        ("store", vec!["api"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert!(cycle(&edges).is_some());
}

#[test]
fn every_module_starts_with_a_line_on_its_job() {
    let mut missing = Vec::new();
    for dir in ["services", "migrations/src", "proto/src", "tests"] {
        for file in rust_files(&root().join(dir)) {
            if !read(&file).starts_with("//!") {
                missing.push(file.display().to_string());
            }
        }
    }
    assert!(missing.is_empty(), "no //! first line: {missing:#?}");
}
