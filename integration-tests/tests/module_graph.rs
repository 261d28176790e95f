//! No module of the writer pipeline, worm-s3 or worm-fs imports a module that imports it
//! back: shared types live in leaf modules, so each directory reads in one order.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Sibling modules of `dir` and the siblings each one names as `<via>::<module>`, outside
/// comments and the `#[cfg(test)] mod tests` tail.
fn imports(dir: &Path, via: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.extension().is_some_and(|e| e == "rs")
            && !matches!(name.as_str(), "mod" | "lib" | "main")
        {
            sources.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    sources
        .iter()
        .map(|(name, src)| {
            let code = src.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
            let mut deps = BTreeSet::new();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (i, _) in line.match_indices(&format!("{via}::")) {
                    let rest = &line[i + via.len() + 2..];
                    let word: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if modules.contains(&word) && &word != name {
                        deps.insert(word);
                    }
                }
            }
            (name.clone(), deps)
        })
        .collect()
}

/// Pairs of modules that reach each other (both directions through any path).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for d in &graph[&m] {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<_, _> = graph.keys().map(|m| (m.clone(), reach(m))).collect();
    let mut out = Vec::new();
    for (a, ra) in &reached {
        for b in ra.iter().filter(|b| a < *b) {
            if reached[b].contains(a) {
                out.push((a.clone(), b.clone()));
            }
        }
    }
    out
}

#[test]
fn pipeline_s3_and_fs_modules_import_no_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (dir, via) in [
        ("worm-core/src/pipeline", "super"),
        ("worm-s3/src", "crate"),
        ("worm-fs/src", "crate"),
    ] {
        let graph = imports(&root.join(dir), via);
        assert!(graph.len() > 3, "{dir}: modules not found ({graph:?})");
        let found = circles(&graph);
        assert!(
            found.is_empty(),
            "{dir}: modules importing each other: {found:?}"
        );
    }
}

#[test]
fn the_check_finds_a_circle() {
    let graph = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
        ("d".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert_eq!(
        circles(&graph),
        [
            ("a".into(), "b".into()),
            ("a".into(), "c".into()),
            ("b".into(), "c".into())
        ]
    );
}
