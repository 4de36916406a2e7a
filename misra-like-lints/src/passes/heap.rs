//! MLR-01: no dynamic memory allocation.
//!
//! Syntactic: `extern crate alloc`, `use alloc::..`, `#[global_allocator]`, the allocating
//! collection types (`Box`, `Vec`, `String`, `Rc`, `Arc`, the `collections`), `vec!` and
//! `format!`, and `.to_string()`/`.to_vec()`. A type name imported from another crate
//! (`heapless::Vec`) is not the allocating one and passes. Approximation: a user type that
//! happens to be called `Box` is flagged; allocation inside a dependency is not seen (the
//! `no_std` crates without `alloc` make that a compile error anyway).

use std::collections::HashMap;

use syn::visit::{self, Visit};

use super::Cx;
use crate::rules::Rule;
use crate::syntax::{last_segment, last_segment_span, visit_macro_expressions};

const HEAP_TYPES: &[&str] = &[
    "Box",
    "Vec",
    "String",
    "Rc",
    "Arc",
    "BTreeMap",
    "BTreeSet",
    "HashMap",
    "HashSet",
    "VecDeque",
    "BinaryHeap",
    "LinkedList",
];
const HEAP_CRATES: &[&str] = &["alloc", "std"];
const HEAP_MACROS: &[&str] = &["vec", "format"];
const HEAP_METHODS: &[&str] = &["to_string", "to_vec", "into_boxed_slice"];

/// Runs the pass.
pub fn check(cx: &mut Cx<'_>, ast: &syn::File) {
    let imports = imports_of(&ast.items);
    let mut visitor = HeapVisitor { cx, imports };
    visitor.visit_file(ast);
}

/// Maps each name a module brings in by `use` to the first segment of its source path.
/// Imports are per module: a child module does not see its parent's.
fn imports_of(items: &[syn::Item]) -> HashMap<String, String> {
    let mut imports = HashMap::new();
    for item in items {
        if let syn::Item::Use(item_use) = item {
            flatten_use(&item_use.tree, None, &mut imports);
        }
    }
    imports
}

fn flatten_use(tree: &syn::UseTree, root: Option<&str>, imports: &mut HashMap<String, String>) {
    match tree {
        syn::UseTree::Path(path) => {
            let first = root.map_or_else(|| path.ident.to_string(), str::to_owned);
            flatten_use(&path.tree, Some(&first), imports);
        }
        syn::UseTree::Name(name) => {
            let first = root.map_or_else(|| name.ident.to_string(), str::to_owned);
            imports.insert(name.ident.to_string(), first);
        }
        syn::UseTree::Rename(rename) => {
            let first = root.map_or_else(|| rename.ident.to_string(), str::to_owned);
            imports.insert(rename.rename.to_string(), first);
        }
        syn::UseTree::Group(group) => {
            for inner in &group.items {
                flatten_use(inner, root, imports);
            }
        }
        syn::UseTree::Glob(_) => {}
    }
}

struct HeapVisitor<'c, 'a> {
    cx: &'c mut Cx<'a>,
    imports: HashMap<String, String>,
}

impl HeapVisitor<'_, '_> {
    fn check_path(&mut self, path: &syn::Path) {
        let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        for (index, name) in names.iter().enumerate() {
            if !HEAP_TYPES.contains(&name.as_str()) {
                continue;
            }
            let origin = match names.first() {
                Some(first) if index > 0 => Some(first.clone()),
                _ => self.imports.get(name).cloned(),
            };
            let allocating = match origin.as_deref() {
                None => true,
                Some(first) => HEAP_CRATES.contains(&first),
            };
            if allocating {
                let span = path
                    .segments
                    .iter()
                    .nth(index)
                    .map_or_else(proc_macro2::Span::call_site, |segment| segment.ident.span());
                self.cx
                    .report(Rule::Heap, span, format!("`{name}` allocates on the heap"));
            }
            return;
        }
        if names.first().is_some_and(|first| first == "alloc") {
            if let Some(first) = path.segments.first() {
                self.cx.report(
                    Rule::Heap,
                    first.ident.span(),
                    "path into the `alloc` crate",
                );
            }
        }
    }
}

impl<'ast> Visit<'ast> for HeapVisitor<'_, '_> {
    fn visit_item_mod(&mut self, module: &'ast syn::ItemMod) {
        let Some((_, items)) = &module.content else {
            return;
        };
        let saved = std::mem::replace(&mut self.imports, imports_of(items));
        visit::visit_item_mod(self, module);
        self.imports = saved;
    }

    fn visit_item_extern_crate(&mut self, item: &'ast syn::ItemExternCrate) {
        if item.ident == "alloc" {
            self.cx.report(
                Rule::Heap,
                item.ident.span(),
                "`extern crate alloc` brings in the heap",
            );
        }
        visit::visit_item_extern_crate(self, item);
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if let syn::UseTree::Path(path) = &item.tree {
            if path.ident == "alloc" {
                self.cx.report(
                    Rule::Heap,
                    path.ident.span(),
                    "`use alloc::..` brings in the heap",
                );
            }
        }
        visit::visit_item_use(self, item);
    }

    fn visit_item_static(&mut self, item: &'ast syn::ItemStatic) {
        if item
            .attrs
            .iter()
            .any(|attr| attr.path().is_ident("global_allocator"))
        {
            self.cx.report(
                Rule::Heap,
                item.ident.span(),
                "`#[global_allocator]` installs a heap",
            );
        }
        visit::visit_item_static(self, item);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.check_path(path);
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let name = last_segment(&mac.path);
        if HEAP_MACROS.contains(&name.as_str()) {
            let span = last_segment_span(&mac.path);
            self.cx
                .report(Rule::Heap, span, format!("`{name}!` allocates on the heap"));
        }
        visit_macro_expressions(self, mac);
        visit::visit_macro(self, mac);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let name = call.method.to_string();
        if HEAP_METHODS.contains(&name.as_str()) {
            self.cx.report(
                Rule::Heap,
                call.method.span(),
                format!("`.{name}()` allocates on the heap"),
            );
        }
        visit::visit_expr_method_call(self, call);
    }
}
