//! MLR-09: no recursion, direct or through other functions, within a crate.
//!
//! Builds the crate's call graph from the syntax and reports every function on a cycle
//! (Tarjan's strongly connected components), with one cycle as evidence.
//!
//! The graph is an approximation, resolved by path names only:
//! - nodes are free functions (`module::path::name`), functions nested in a body
//!   (`outer::name`), inherent and trait-impl methods (`Type::name`, by the type's last path
//!   segment) and trait default methods (`Trait::name`);
//! - edges come from calls `f(..)` / `a::b::f(..)` / `Self::f(..)` / `Type::f(..)` resolved
//!   through the module tree and its `use` declarations (including `use super::*`), from
//!   method calls on `self`, and from multi-segment paths naming a function without calling
//!   it (`.map(Self::decode)`);
//! - not seen: calls through trait objects, generics or function pointers, method calls on
//!   receivers other than `self`, calls made inside macro bodies that do not parse as
//!   expressions, and cycles that leave the crate. Two types with the same name in different
//!   modules share their methods' nodes (which can only add cycles, never hide one).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use syn::Expr;
use syn::visit::{self, Visit};

use crate::finding::{Finding, Position};
use crate::rules::Rule;
use crate::syntax::{is_upper_camel, last_segment, node_positions, visit_macro_expressions};
use crate::unit::FileUnit;

/// Checks the files of one crate.
pub fn check(units: &[&FileUnit]) -> Vec<Finding> {
    let mut collector = Collector::default();
    for (index, unit) in units.iter().enumerate() {
        if let Ok(ast) = &unit.ast {
            collector.file = index;
            collector.module = unit.file.module.clone();
            collector.visit_file(ast);
        }
    }
    let known: HashSet<String> = collector
        .definitions
        .iter()
        .map(|d| d.key.clone())
        .collect();
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for definition in &collector.definitions {
        let resolver = Resolver {
            known: &known,
            uses: &collector.uses,
            globs: &collector.globs,
            context: &definition.context,
        };
        let mut calls = CallVisitor {
            resolver: &resolver,
            callees: Vec::new(),
        };
        calls.visit_block(definition.body);
        let targets = edges.entry(definition.key.clone()).or_default();
        for callee in calls.callees {
            if !targets.contains(&callee) {
                targets.push(callee);
            }
        }
    }
    let mut findings = Vec::new();
    for component in strongly_connected(&edges) {
        let cyclic = component.len() > 1
            || component.first().is_some_and(|only| {
                edges
                    .get(only)
                    .is_some_and(|targets| targets.contains(only))
            });
        if !cyclic {
            continue;
        }
        let members: HashSet<&String> = component.iter().collect();
        for key in &component {
            let cycle = shortest_cycle(key, &edges, &members);
            for definition in collector.definitions.iter().filter(|d| &d.key == key) {
                if let Some(unit) = units.get(definition.file) {
                    findings.push(Finding::new(
                        Rule::Recursion,
                        &unit.file.relative,
                        definition.position,
                        definition.end,
                        format!("`{key}` is recursive: {}", cycle.join(" → ")),
                    ));
                }
            }
        }
    }
    findings
}

/// Where a body's names are looked up.
#[derive(Clone, Debug, Default)]
struct Context {
    module: Vec<String>,
    self_type: Option<String>,
    trait_name: Option<String>,
    /// Nested functions visible in the body, innermost last: name → key.
    locals: Vec<(String, String)>,
}

struct Definition<'a> {
    key: String,
    file: usize,
    position: Position,
    end: Position,
    context: Context,
    body: &'a syn::Block,
}

#[derive(Default)]
struct Collector<'a> {
    file: usize,
    module: Vec<String>,
    self_type: Option<String>,
    trait_name: Option<String>,
    /// Enclosing function keys and their local functions.
    functions: Vec<(String, Vec<(String, String)>)>,
    definitions: Vec<Definition<'a>>,
    /// Module path (joined) → imported name → full path.
    uses: HashMap<String, HashMap<String, Vec<String>>>,
    /// Module path (joined) → glob-imported module paths.
    globs: HashMap<String, Vec<Vec<String>>>,
}

fn join(parts: &[String]) -> String {
    parts.join("::")
}

/// Functions nested directly in a body (not inside further nested functions).
fn nested_functions(block: &syn::Block) -> Vec<String> {
    struct Nested(Vec<String>);
    impl<'ast> Visit<'ast> for Nested {
        fn visit_item_fn(&mut self, function: &'ast syn::ItemFn) {
            self.0.push(function.sig.ident.to_string());
        }
        fn visit_item_impl(&mut self, _item: &'ast syn::ItemImpl) {}
    }
    let mut nested = Nested(Vec::new());
    nested.visit_block(block);
    nested.0
}

impl<'a> Collector<'a> {
    fn define(
        &mut self,
        key: String,
        ident: &syn::Ident,
        block: &'a syn::Block,
    ) -> Vec<(String, String)> {
        let mut locals: Vec<(String, String)> = self
            .functions
            .last()
            .map(|(_, locals)| locals.clone())
            .unwrap_or_default();
        for name in nested_functions(block) {
            locals.push((name.clone(), format!("{key}::{name}")));
        }
        let (position, end) = node_positions(ident);
        self.definitions.push(Definition {
            key,
            file: self.file,
            position,
            end,
            context: Context {
                module: self.module.clone(),
                self_type: self.self_type.clone(),
                trait_name: self.trait_name.clone(),
                locals: locals.clone(),
            },
            body: block,
        });
        locals
    }

    fn record_use(&mut self, tree: &syn::UseTree, prefix: Vec<String>) {
        let module = join(&self.module);
        match tree {
            syn::UseTree::Path(path) => {
                let mut next = prefix;
                next.push(path.ident.to_string());
                self.record_use(&path.tree, next);
            }
            syn::UseTree::Name(name) => {
                let mut full = prefix;
                let ident = name.ident.to_string();
                if ident != "self" {
                    full.push(ident.clone());
                    self.uses.entry(module).or_default().insert(ident, full);
                } else if let Some(last) = full.last().cloned() {
                    self.uses.entry(module).or_default().insert(last, full);
                }
            }
            syn::UseTree::Rename(rename) => {
                let mut full = prefix;
                full.push(rename.ident.to_string());
                self.uses
                    .entry(module)
                    .or_default()
                    .insert(rename.rename.to_string(), full);
            }
            syn::UseTree::Glob(_) => self.globs.entry(module).or_default().push(prefix),
            syn::UseTree::Group(group) => {
                for inner in &group.items {
                    self.record_use(inner, prefix.clone());
                }
            }
        }
    }
}

fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(path) => Some(last_segment(&path.path)),
        syn::Type::Reference(reference) => type_name(&reference.elem),
        syn::Type::Paren(inner) => type_name(&inner.elem),
        _ => None,
    }
}

impl<'a> Visit<'a> for Collector<'a> {
    fn visit_item_mod(&mut self, module: &'a syn::ItemMod) {
        if module.content.is_some() {
            self.module.push(module.ident.to_string());
            visit::visit_item_mod(self, module);
            self.module.pop();
        }
    }

    fn visit_item_use(&mut self, item: &'a syn::ItemUse) {
        self.record_use(&item.tree, Vec::new());
    }

    fn visit_item_fn(&mut self, function: &'a syn::ItemFn) {
        let name = function.sig.ident.to_string();
        let key = match self.functions.last() {
            Some((outer, _)) => format!("{outer}::{name}"),
            None => join(&[self.module.clone(), vec![name]].concat()),
        };
        // A nested fn sees only items, not the outer impl's `Self`.
        let saved = (self.self_type.take(), self.trait_name.take());
        let locals = self.define(key.clone(), &function.sig.ident, &function.block);
        self.functions.push((key, locals));
        visit::visit_item_fn(self, function);
        self.functions.pop();
        (self.self_type, self.trait_name) = saved;
    }

    fn visit_item_impl(&mut self, item: &'a syn::ItemImpl) {
        let saved = (
            self.self_type.clone(),
            self.trait_name.clone(),
            std::mem::take(&mut self.functions),
        );
        self.self_type = type_name(&item.self_ty);
        self.trait_name = item.trait_.as_ref().map(|(_, path, _)| last_segment(path));
        visit::visit_item_impl(self, item);
        (self.self_type, self.trait_name, self.functions) = saved;
    }

    fn visit_impl_item_fn(&mut self, function: &'a syn::ImplItemFn) {
        let owner = self.self_type.clone().unwrap_or_default();
        let key = format!("{owner}::{}", function.sig.ident);
        let locals = self.define(key.clone(), &function.sig.ident, &function.block);
        self.functions.push((key, locals));
        visit::visit_impl_item_fn(self, function);
        self.functions.pop();
    }

    fn visit_item_trait(&mut self, item: &'a syn::ItemTrait) {
        let saved = (
            self.self_type.take(),
            self.trait_name.replace(item.ident.to_string()),
        );
        visit::visit_item_trait(self, item);
        (self.self_type, self.trait_name) = saved;
    }

    fn visit_trait_item_fn(&mut self, function: &'a syn::TraitItemFn) {
        if let Some(block) = &function.default {
            let owner = self.trait_name.clone().unwrap_or_default();
            let key = format!("{owner}::{}", function.sig.ident);
            let locals = self.define(key.clone(), &function.sig.ident, block);
            self.functions.push((key, locals));
            visit::visit_trait_item_fn(self, function);
            self.functions.pop();
        }
    }
}

struct Resolver<'r> {
    known: &'r HashSet<String>,
    uses: &'r HashMap<String, HashMap<String, Vec<String>>>,
    globs: &'r HashMap<String, Vec<Vec<String>>>,
    context: &'r Context,
}

impl Resolver<'_> {
    fn existing(&self, key: String) -> Option<String> {
        self.known.contains(&key).then_some(key)
    }

    /// `Type::method` for a path whose second-to-last segment is a type name.
    fn as_method(&self, path: &[String]) -> Option<String> {
        let [.., owner, method] = path else {
            return None;
        };
        let owner = if owner == "Self" {
            self.context
                .self_type
                .clone()
                .or_else(|| self.context.trait_name.clone())?
        } else {
            owner.clone()
        };
        if !is_upper_camel(&owner) {
            return None;
        }
        self.existing(format!("{owner}::{method}")).or_else(|| {
            // `Self::f` inside a trait impl may name the trait's default method.
            let trait_name = self.context.trait_name.as_ref()?;
            self.existing(format!("{trait_name}::{method}"))
        })
    }

    /// Resolves a path written in `module` to a crate-absolute path (without `crate`).
    fn absolute(&self, module: &[String], path: &[String]) -> Option<Vec<String>> {
        let (first, rest) = path.split_first()?;
        match first.as_str() {
            "crate" => Some(rest.to_vec()),
            "self" => Some([module, rest].concat()),
            "super" => {
                let mut base = module.to_vec();
                base.pop();
                let mut remaining = rest;
                // BOUND: each iteration consumes one leading `super` of a finite path.
                while let Some((next, tail)) = remaining.split_first() {
                    if next != "super" {
                        break;
                    }
                    base.pop();
                    remaining = tail;
                }
                Some([base.as_slice(), remaining].concat())
            }
            _ => {
                if let Some(full) = self
                    .uses
                    .get(&join(module))
                    .and_then(|names| names.get(first))
                {
                    let expanded = self.absolute(module, full)?;
                    return Some([expanded.as_slice(), rest].concat());
                }
                let relative = [module, path].concat();
                if self.known.contains(&join(&relative)) {
                    return Some(relative);
                }
                Some(path.to_vec())
            }
        }
    }

    fn resolve(&self, path: &[String]) -> Option<String> {
        if let Some(method) = self.as_method(path) {
            return Some(method);
        }
        let module = &self.context.module;
        if let [name] = path {
            if let Some((_, key)) = self
                .context
                .locals
                .iter()
                .rev()
                .find(|(local, _)| local == name)
            {
                return Some(key.clone());
            }
            if let Some(key) = self.existing(join(&[module.clone(), vec![name.clone()]].concat())) {
                return Some(key);
            }
            if self
                .uses
                .get(&join(module))
                .is_some_and(|names| names.contains_key(name))
            {
                let full = self.absolute(module, path)?;
                return self.existing(join(&full)).or_else(|| self.as_method(&full));
            }
            for glob in self.globs.get(&join(module)).into_iter().flatten() {
                if let Some(base) = self.absolute(module, glob) {
                    if let Some(key) = self.existing(join(&[base, vec![name.clone()]].concat())) {
                        return Some(key);
                    }
                }
            }
            return None;
        }
        let full = self.absolute(module, path)?;
        self.existing(join(&full)).or_else(|| self.as_method(&full))
    }
}

struct CallVisitor<'v, 'r> {
    resolver: &'v Resolver<'r>,
    callees: Vec<String>,
}

fn path_strings(path: &syn::Path) -> Vec<String> {
    path.segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect()
}

impl<'ast> Visit<'ast> for CallVisitor<'_, '_> {
    fn visit_item_fn(&mut self, _nested: &'ast syn::ItemFn) {
        // A nested function is a node of its own.
    }

    fn visit_item_impl(&mut self, _nested: &'ast syn::ItemImpl) {}

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let Expr::Path(path) = &*call.func {
            if let Some(callee) = self.resolver.resolve(&path_strings(&path.path)) {
                self.callees.push(callee);
            }
            for argument in &call.args {
                self.visit_expr(argument);
            }
            return;
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
        let names = path_strings(&path.path);
        if names.len() >= 2 {
            if let Some(callee) = self.resolver.resolve(&names) {
                self.callees.push(callee);
            }
        }
        visit::visit_expr_path(self, path);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let on_self = matches!(&*call.receiver, Expr::Path(path) if path.path.is_ident("self"));
        if on_self {
            let method = call.method.to_string();
            let owner = self
                .resolver
                .context
                .self_type
                .clone()
                .or_else(|| self.resolver.context.trait_name.clone());
            if let Some(owner) = owner {
                let candidates = [
                    Some(format!("{owner}::{method}")),
                    self.resolver
                        .context
                        .trait_name
                        .as_ref()
                        .map(|t| format!("{t}::{method}")),
                ];
                if let Some(callee) = candidates
                    .into_iter()
                    .flatten()
                    .find(|key| self.resolver.known.contains(key))
                {
                    self.callees.push(callee);
                }
            }
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit_macro_expressions(self, mac);
        visit::visit_macro(self, mac);
    }
}

/// Tarjan's algorithm; components in discovery order, members sorted.
fn strongly_connected(edges: &BTreeMap<String, Vec<String>>) -> Vec<Vec<String>> {
    struct State<'e> {
        edges: &'e BTreeMap<String, Vec<String>>,
        index: HashMap<&'e str, usize>,
        low: HashMap<&'e str, usize>,
        stack: Vec<&'e str>,
        on_stack: HashSet<&'e str>,
        next: usize,
        components: Vec<Vec<String>>,
    }
    fn connect<'e>(state: &mut State<'e>, node: &'e str) {
        state.index.insert(node, state.next);
        state.low.insert(node, state.next);
        state.next = state.next.saturating_add(1);
        state.stack.push(node);
        state.on_stack.insert(node);
        let targets: Vec<&'e str> = state
            .edges
            .get(node)
            .map(|t| t.iter().map(String::as_str).collect())
            .unwrap_or_default();
        for target in targets {
            if !state.index.contains_key(target) {
                connect(state, target);
                let candidate = state.low.get(target).copied().unwrap_or(usize::MAX);
                if let Some(low) = state.low.get_mut(node) {
                    *low = (*low).min(candidate);
                }
            } else if state.on_stack.contains(target) {
                let candidate = state.index.get(target).copied().unwrap_or(usize::MAX);
                if let Some(low) = state.low.get_mut(node) {
                    *low = (*low).min(candidate);
                }
            }
        }
        if state.low.get(node) == state.index.get(node) {
            let mut component = Vec::new();
            // BOUND: pops at most every node pushed, and stops at `node`, which is on the stack.
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(member);
                component.push(member.to_owned());
                if member == node {
                    break;
                }
            }
            component.sort();
            state.components.push(component);
        }
    }
    let mut state = State {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: HashSet::new(),
        next: 0,
        components: Vec::new(),
    };
    for node in edges.keys() {
        if !state.index.contains_key(node.as_str()) {
            connect(&mut state, node);
        }
    }
    state.components
}

/// The shortest cycle from `start` back to itself inside one component.
fn shortest_cycle(
    start: &str,
    edges: &BTreeMap<String, Vec<String>>,
    members: &HashSet<&String>,
) -> Vec<String> {
    let mut previous: HashMap<String, String> = HashMap::new();
    let mut queue = VecDeque::from([start.to_owned()]);
    // BOUND: every node enters the queue at most once (recorded in `previous`).
    while let Some(node) = queue.pop_front() {
        for target in edges.get(&node).into_iter().flatten() {
            if !members.contains(target) {
                continue;
            }
            if target == start {
                let mut path = vec![node.clone()];
                let mut cursor = node.clone();
                // BOUND: follows `previous` links back to `start`, one node per step; every
                // node but `start` has one.
                while cursor != start {
                    let Some(before) = previous.get(&cursor) else {
                        break;
                    };
                    path.push(before.clone());
                    cursor = before.clone();
                }
                path.reverse();
                path.push(start.to_owned());
                return path;
            }
            if !previous.contains_key(target) {
                previous.insert(target.clone(), node.clone());
                queue.push_back(target.clone());
            }
        }
    }
    vec![start.to_owned(), start.to_owned()]
}
