//! MLR-10: every loop carries a `// BOUND:` argument.
//!
//! `loop` and `while`/`while let` need a comment `// BOUND: <argument>` in the comment block
//! directly above the loop (or on its line); the argument must not be empty. `for` loops are
//! bounded by their iterator and need no comment, unless the iterator is visibly endless
//! (`a..`, `.cycle()`, `repeat`, `repeat_with`, `from_fn`, `successors`). A loop inside a
//! function returning `!` is exempt: that function is meant never to return. The function
//! considered is the innermost `fn` item (closures are not functions here).

use syn::visit::{self, Visit};
use syn::{Expr, ReturnType, Type};

use super::Cx;
use crate::finding::Position;
use crate::rules::Rule;
use crate::source::Comment;
use crate::syntax::{last_segment, node_positions};

const MARKER: &str = "BOUND:";
const ENDLESS_ITERATORS: &[&str] = &["repeat", "repeat_with", "from_fn", "successors"];

/// Runs the pass.
pub fn check(cx: &mut Cx<'_>, ast: &syn::File) {
    LoopVisitor {
        cx,
        never_returns: Vec::new(),
    }
    .visit_file(ast);
}

struct LoopVisitor<'c, 'a> {
    cx: &'c mut Cx<'a>,
    /// For each enclosing `fn`, whether it returns `!`.
    never_returns: Vec<bool>,
}

fn returns_never(output: &ReturnType) -> bool {
    matches!(output, ReturnType::Type(_, ty) if matches!(&**ty, Type::Never(_)))
}

/// Whether a `for` loop's iterator is visibly endless.
fn is_endless(expr: &Expr) -> bool {
    match expr {
        Expr::Range(range) => range.end.is_none(),
        Expr::MethodCall(call) => call.method == "cycle" || is_endless(&call.receiver),
        Expr::Call(call) => matches!(
            &*call.func,
            Expr::Path(path) if ENDLESS_ITERATORS.contains(&last_segment(&path.path).as_str())
        ),
        Expr::Paren(inner) => is_endless(&inner.expr),
        _ => false,
    }
}

/// The text of the `BOUND:` argument in `comments` (ordered top-down), if there is a marker.
pub fn argument_after_marker(comments: &[&Comment], marker: &str) -> Option<String> {
    let start = comments
        .iter()
        .position(|comment| comment.text.contains(marker))?;
    let mut argument = String::new();
    for (index, comment) in comments.iter().enumerate().skip(start) {
        let text = if index == start {
            comment.text.split_once(marker).map_or("", |(_, rest)| rest)
        } else {
            comment.text.as_str()
        };
        argument.push_str(text.trim());
        argument.push(' ');
    }
    Some(argument.trim().to_owned())
}

/// The argument after `marker` for a construct starting at `start`, looked for in turn in
/// the comment block above its line, in comments before it on the line, and (if
/// `trailing`) in comments after it on the line; each group on its own, so an unrelated
/// trailing comment never completes an empty argument above. `None` when no group has the
/// marker.
pub fn argument_for(cx: &Cx<'_>, start: Position, marker: &str, trailing: bool) -> Option<String> {
    let source = &cx.unit.source;
    let mut groups = vec![
        source.comments_above(start.line),
        source.comments_before_column(start.line, start.column),
    ];
    if trailing {
        groups.push(source.comments_after_column(start.line, start.column));
    }
    groups
        .iter()
        .find_map(|group| argument_after_marker(group, marker))
}

impl LoopVisitor<'_, '_> {
    fn check_loop(&mut self, keyword: &str, start: Position, end: Position) {
        if self.never_returns.last().copied().unwrap_or(false) {
            return;
        }
        match argument_for(self.cx, start, MARKER, true) {
            Some(argument) if !argument.is_empty() => {}
            Some(_) => self.cx.report_at(
                Rule::LoopBound,
                start,
                end,
                format!("`{keyword}` has an empty `// BOUND:` argument"),
            ),
            None => self.cx.report_at(
                Rule::LoopBound,
                start,
                end,
                format!("`{keyword}` without a `// BOUND:` argument"),
            ),
        }
    }
}

impl<'ast> Visit<'ast> for LoopVisitor<'_, '_> {
    fn visit_item_fn(&mut self, function: &'ast syn::ItemFn) {
        self.never_returns.push(returns_never(&function.sig.output));
        visit::visit_item_fn(self, function);
        self.never_returns.pop();
    }

    fn visit_impl_item_fn(&mut self, function: &'ast syn::ImplItemFn) {
        self.never_returns.push(returns_never(&function.sig.output));
        visit::visit_impl_item_fn(self, function);
        self.never_returns.pop();
    }

    fn visit_trait_item_fn(&mut self, function: &'ast syn::TraitItemFn) {
        self.never_returns.push(returns_never(&function.sig.output));
        visit::visit_trait_item_fn(self, function);
        self.never_returns.pop();
    }

    fn visit_expr_loop(&mut self, expression: &'ast syn::ExprLoop) {
        let (start, _) = node_positions(expression);
        let (_, end) = node_positions(&expression.loop_token);
        self.check_loop("loop", start, end);
        visit::visit_expr_loop(self, expression);
    }

    fn visit_expr_while(&mut self, expression: &'ast syn::ExprWhile) {
        let (start, _) = node_positions(expression);
        let (_, end) = node_positions(&expression.while_token);
        self.check_loop("while", start, end);
        visit::visit_expr_while(self, expression);
    }

    fn visit_expr_for_loop(&mut self, expression: &'ast syn::ExprForLoop) {
        if is_endless(&expression.expr) {
            let (start, _) = node_positions(expression);
            let (_, end) = node_positions(&expression.for_token);
            self.check_loop("for over an endless iterator", start, end);
        }
        visit::visit_expr_for_loop(self, expression);
    }
}
