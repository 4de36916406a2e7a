//! Binding a tag to the item it stands on.
//!
//! A tag binds to the *next item*: the item whose attributes or first token come right
//! after the tag's comment (only whitespace, other comments and attributes in between).
//! Further rules, in order:
//! 1. a tag in an inner doc comment (`//!`) binds to the module it documents;
//! 2. a tag among an item's attributes and doc comments binds to that item;
//! 3. a tag inside a macro invocation binds to the item the macro generates from the next
//!    identifier (`check_tests! { // [utest->…]\n name => "fixture", }` → test `name`);
//! 4. a tag right before a statement that holds an `unsafe` block on its first line binds
//!    to that block (so a `// SAFETY:` comment can cite the requirement it serves);
//! 5. a tag elsewhere inside a function or impl body binds to that function or impl;
//! 6. anything else (a tag before a `use`, at the end of a file) binds to nothing and is
//!    reported as an orphan.

use crate::source::items::{Anchor, AnchorKind};
use crate::source::lexer::{Comment, CommentStyle, Lexed, Position};

/// Keywords that can precede the name of a generated item inside a macro invocation.
const ITEM_KEYWORDS: &[&str] =
    &["fn", "pub", "async", "unsafe", "const", "static", "struct", "enum", "mod", "crate", "super", "r#fn"];

/// What a tag binds to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bound {
    /// An anchor, by index.
    Anchor(usize),
    /// An item a macro invocation (anchor index) generates, named by an identifier.
    Generated {
        /// The macro invocation's anchor.
        invocation: usize,
        /// The generated item's name.
        name: String,
        /// Where the name is.
        position: Position,
    },
    /// Nothing, and why.
    Nothing(&'static str),
}

/// The anchor for a tag at `tag` in `comment`.
pub fn bind(anchors: &[Anchor], lexed: &Lexed, comment: &Comment, tag: Position) -> Bound {
    let contains = |anchor: &Anchor| anchor.full_start <= tag && tag < anchor.end;
    let innermost = |filter: &dyn Fn(&Anchor) -> bool| {
        anchors
            .iter()
            .enumerate()
            .filter(|(_, anchor)| contains(anchor) && filter(anchor))
            .max_by_key(|(_, anchor)| anchor.full_start)
    };
    if comment.style == CommentStyle::InnerDoc {
        return match innermost(&|anchor| matches!(anchor.kind, AnchorKind::File | AnchorKind::Module)) {
            Some((index, _)) => Bound::Anchor(index),
            None => Bound::Nothing("an inner doc comment outside any module"),
        };
    }
    if let Some((index, _)) = anchors
        .iter()
        .enumerate()
        .filter(|(_, anchor)| {
            anchor.kind != AnchorKind::File && anchor.full_start <= tag && tag < anchor.attributes_end
        })
        .max_by_key(|(_, anchor)| anchor.full_start)
    {
        return Bound::Anchor(index);
    }
    let Some(next) = lexed.next_code(comment.end) else { return Bound::Nothing("no item follows the tag") };
    if let Some(index) = anchors.iter().position(|anchor| anchor.kind != AnchorKind::File && anchor.full_start == next)
    {
        return Bound::Anchor(index);
    }
    let enclosing = innermost(&|anchor| anchor.kind != AnchorKind::File);
    if let Some((index, anchor)) = enclosing
        && anchor.kind == AnchorKind::Macro
    {
        return match anchor
            .macro_identifiers
            .iter()
            .find(|(position, name)| *position >= next && !ITEM_KEYWORDS.contains(&name.as_str()))
        {
            Some((position, name)) => Bound::Generated { invocation: index, name: name.clone(), position: *position },
            None => Bound::Nothing("no identifier follows the tag inside the macro invocation"),
        };
    }
    let limit = enclosing.map_or(Position::new(usize::MAX, 0), |(_, anchor)| anchor.end);
    if let Some(index) = anchors.iter().position(|anchor| {
        anchor.kind == AnchorKind::UnsafeBlock
            && anchor.full_start > tag
            && anchor.full_start.line == next.line
            && anchor.full_start < limit
    }) {
        return Bound::Anchor(index);
    }
    match enclosing {
        Some((index, anchor)) if anchor.kind != AnchorKind::Module => Bound::Anchor(index),
        _ => Bound::Nothing("the tag is not followed by an item (only attributes and comments may come between)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::items::collect;
    use crate::source::lexer::lex;
    use crate::source::tags::find_tags;

    /// (tag target, bound anchor name or generated name or reason) for every tag in `source`.
    fn bindings(source: &str) -> Vec<(String, String)> {
        let lexed = lex(source);
        let items = collect(&syn::parse_file(source).unwrap(), source.lines().count());
        let mut found = Vec::new();
        for comment in &lexed.comments {
            for tag in find_tags(comment) {
                let name = match bind(&items.anchors, &lexed, comment, tag.position) {
                    Bound::Anchor(index) => {
                        let anchor = &items.anchors[index];
                        format!("{} {}", anchor.kind.title(), anchor.name)
                    }
                    Bound::Generated { name, .. } => format!("generated {name}"),
                    Bound::Nothing(reason) => format!("nothing: {reason}"),
                };
                found.push((tag.target.unwrap().name, name));
            }
        }
        found
    }

    #[test]
    fn a_tag_binds_to_the_next_item_through_attributes_and_comments() {
        let source = "// [impl->dsn~a~1]\n// more words\n#[inline]\nfn a() {}\n\n/// Docs.\n/// [impl->dsn~b~1]\n#[derive(Debug)]\nstruct B;\n";
        assert_eq!(bindings(source), [("a".to_owned(), "fn a".to_owned()), ("b".to_owned(), "struct B".to_owned())]);
    }

    #[test]
    fn tags_on_methods_and_tests_bind_to_them() {
        let source = "impl X {\n    // [impl->dsn~m~1]\n    fn m(&self) {}\n}\n#[cfg(test)]\nmod tests {\n    // [utest->dsn~m~1]\n    #[test]\n    fn works() {}\n}\n";
        assert_eq!(
            bindings(source),
            [("m".to_owned(), "method X::m".to_owned()), ("m".to_owned(), "fn works".to_owned())]
        );
    }

    #[test]
    fn inner_doc_tags_bind_to_their_module() {
        let source = "//! Module docs. [impl->dsn~file~1]\nmod inner {\n    //! [impl->dsn~inner~1]\n}\n";
        assert_eq!(
            bindings(source),
            [("file".to_owned(), "module (file) ".to_owned()), ("inner".to_owned(), "module inner".to_owned())]
        );
    }

    #[test]
    fn a_safety_comment_tag_binds_to_its_unsafe_block_and_a_body_tag_to_its_function() {
        let source = "fn f() {\n    let a = 1;\n    // SAFETY: fine. [impl->dsn~u~1]\n    let b = unsafe { g() };\n    // [impl->dsn~body~1]\n    a + b;\n}\n";
        assert_eq!(
            bindings(source),
            [("u".to_owned(), "unsafe block unsafe block in f".to_owned()), ("body".to_owned(), "fn f".to_owned())]
        );
    }

    #[test]
    fn a_tag_inside_a_macro_invocation_names_the_generated_item() {
        let source = "check! {\n    // [utest->dsn~gen~1]\n    first_case => \"a\",\n    // [utest->dsn~gen~1]\n    fn second_case() {}\n}\n";
        assert_eq!(
            bindings(source),
            [
                ("gen".to_owned(), "generated first_case".to_owned()),
                ("gen".to_owned(), "generated second_case".to_owned())
            ]
        );
    }

    #[test]
    fn tags_before_use_or_at_the_end_bind_to_nothing() {
        let source = "// [impl->dsn~x~1]\nuse std::fmt;\nfn a() {}\n// [impl->dsn~y~1]\n";
        let found = bindings(source);
        assert!(found[0].1.starts_with("nothing"), "{found:?}");
        assert!(found[1].1.starts_with("nothing"), "{found:?}");
    }
}
