//! The import graph between the modules of one crate directory, and the check that it has
//! no cycle.
//!
//! The EL2 image (`hypervisor/image/src`) is layered: leaves (console, cores, partition,
//! context) below delivery and containment, below the trap and interrupt handlers, below
//! `main`. A cycle (`vcpu` importing `containment` importing `vcpu`) means two modules can
//! only be understood together; this check keeps the layering from eroding. An edge is any
//! `crate::<module>` path in a file's code (in `use` declarations or written out in full),
//! comments excluded; items at the crate root (macros such as `hv_println!`) are not modules
//! and make no edge.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::Path;

/// Module name to the modules it refers to.
pub type ModuleGraph = BTreeMap<String, BTreeSet<String>>;

/// The graph of the `*.rs` files directly in `directory` (one module per file; `main.rs` and
/// `lib.rs` are the crate root, named `crate`).
pub fn read(directory: &Path) -> io::Result<ModuleGraph> {
    let mut sources = BTreeMap::new();
    for entry in fs::read_dir(directory)? {
        let path = entry?.path();
        if path.extension().is_some_and(|extension| extension == "rs") {
            let Some(stem) = path.file_stem().and_then(|stem| stem.to_str()) else { continue };
            let name = if matches!(stem, "main" | "lib") { "crate".to_owned() } else { stem.to_owned() };
            sources.insert(name, fs::read_to_string(&path)?);
        }
    }
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    Ok(sources.iter().map(|(name, source)| (name.clone(), references(source, &modules, name))).collect())
}

/// The modules among `modules` other than `own` that `source` names as `crate::<module>`,
/// including inside `use crate::{a, b::c}` groups.
pub fn references(source: &str, modules: &BTreeSet<String>, own: &str) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .map(|line| match line.find("//") {
            Some(comment) => &line[..comment],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(position) = rest.find("crate::") {
        rest = &rest[position + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end].split(',').map(str::trim).collect()
        } else {
            vec![rest]
        };
        for name in names {
            let identifier: String = name.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if identifier != own && modules.contains(&identifier) {
                found.insert(identifier);
            }
        }
    }
    found
}

/// A cycle in `graph`, as the modules along it with the first repeated at the end, or `None`.
pub fn find_cycle(graph: &ModuleGraph) -> Option<Vec<String>> {
    /// Depth-first search state of a module.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mark {
        /// On the current path.
        Open,
        /// Fully explored, on no cycle.
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
    for start in graph.keys() {
        if marks.contains_key(start.as_str()) {
            continue;
        }
        // An explicit stack of (module, its remaining successors) instead of recursion.
        let mut path: Vec<(&str, Vec<&str>)> = vec![(start.as_str(), successors(graph, start))];
        marks.insert(start.as_str(), Mark::Open);
        while let Some((module, pending)) = path.last_mut() {
            let module = *module;
            match pending.pop() {
                Some(next) => match marks.get(next) {
                    Some(Mark::Open) => {
                        let from = path.iter().position(|(name, _)| *name == next).unwrap_or(0);
                        let mut cycle: Vec<String> = path[from..].iter().map(|(name, _)| (*name).to_owned()).collect();
                        cycle.push(next.to_owned());
                        return Some(cycle);
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(next, Mark::Open);
                        path.push((next, successors(graph, next)));
                    }
                },
                None => {
                    marks.insert(module, Mark::Done);
                    path.pop();
                }
            }
        }
    }
    None
}

/// The modules `module` refers to.
fn successors<'a>(graph: &'a ModuleGraph, module: &str) -> Vec<&'a str> {
    graph.get(module).map(|targets| targets.iter().map(String::as_str).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modules(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn use_groups_and_full_paths_make_edges_but_comments_and_root_items_do_not() {
        let source = "use crate::context::TrapContext;\nuse crate::{delivery, cores::{self, request}};\n\
                      use crate::hv_println;\n// crate::vcpu is only mentioned\nfn f() { crate::routes::ring(); }\n";
        let found = references(source, &modules(&["context", "delivery", "cores", "vcpu", "routes", "trap"]), "trap");
        assert_eq!(found, modules(&["context", "cores", "delivery", "routes"]));
    }

    #[test]
    fn a_planted_cycle_is_found_and_named() {
        let mut graph = ModuleGraph::new();
        graph.insert("crate".into(), modules(&["trap"]));
        graph.insert("trap".into(), modules(&["vcpu", "containment"]));
        graph.insert("containment".into(), modules(&["vcpu"]));
        graph.insert("vcpu".into(), modules(&["cores"]));
        graph.insert("cores".into(), BTreeSet::new());
        assert_eq!(find_cycle(&graph), None);
        graph.insert("vcpu".into(), modules(&["cores", "containment"]));
        let cycle = find_cycle(&graph).expect("vcpu -> containment -> vcpu");
        assert_eq!(cycle.first(), cycle.last());
        assert!(cycle.contains(&"vcpu".to_owned()) && cycle.contains(&"containment".to_owned()), "{cycle:?}");
    }
}
