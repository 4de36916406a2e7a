//! Finding OpenFastTrace tags in comment text.
//!
//! The form is OpenFastTrace's: `[impl->dsn~stage2-builder~1]`, optionally with an explicit
//! ID for the covering item (`[impl~builder-map~1->dsn~stage2-builder~1]`) and OFT's needs
//! suffix (`[impl->dsn~x~1>>utest]`), which is accepted and ignored. Several tags may share
//! one comment. Two rules keep prose from turning into tags: the kind must be lowercase
//! letters and either a known kind (`impl`, `utest`, `itest`) or followed by a `~`-ID, and
//! text inside backticks is an example, not a tag (so documentation can show the syntax).

use crate::id::SpecId;
use crate::source::lexer::{Comment, Position};

/// The kinds of coverage a source tag can declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagKind {
    /// The tagged item implements the target.
    Impl,
    /// The tagged host unit test verifies the target.
    Utest,
    /// The tagged QEMU integration test verifies the target.
    Itest,
}

impl TagKind {
    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<TagKind> {
        match name {
            "impl" => Some(TagKind::Impl),
            "utest" => Some(TagKind::Utest),
            "itest" => Some(TagKind::Itest),
            _ => None,
        }
    }

    /// The name used in tags.
    pub const fn name(self) -> &'static str {
        match self {
            TagKind::Impl => "impl",
            TagKind::Utest => "utest",
            TagKind::Itest => "itest",
        }
    }
}

/// A tag as found in a comment, before it is bound to an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundTag {
    /// The kind as written.
    pub kind: String,
    /// The target ID, or why it does not parse.
    pub target: Result<SpecId, String>,
    /// Where the tag's `[` is.
    pub position: Position,
    /// The tag as written.
    pub text: String,
}

/// Every tag in `comment`.
pub fn find_tags(comment: &Comment) -> Vec<FoundTag> {
    let text = &comment.text;
    let mut tags = Vec::new();
    let mut in_code = false;
    let characters: Vec<(usize, char)> = text.char_indices().collect();
    for (index, &(offset, character)) in characters.iter().enumerate() {
        if character == '`' {
            in_code = !in_code;
            continue;
        }
        if character != '[' || in_code {
            continue;
        }
        let Some(close) = text[offset..].find(']').map(|end| offset + end) else { continue };
        let inner = &text[offset + 1..close];
        if let Some(tag) = parse_inner(inner) {
            tags.push(FoundTag {
                kind: tag.0,
                target: tag.1,
                position: position_in_comment(comment, &characters[..index]),
                text: text[offset..=close].to_owned(),
            });
        }
    }
    tags
}

/// Parses the inside of `[…]`: `kind(~name~rev)? -> target (>> needs)?`.
fn parse_inner(inner: &str) -> Option<(String, Result<SpecId, String>)> {
    let (left, right) = inner.split_once("->")?;
    let left = left.trim();
    let kind = left.split('~').next().unwrap_or_default();
    let explicit_id = left.contains('~');
    let target = right.split(">>").next().unwrap_or_default().trim();
    let is_kind = !kind.is_empty() && kind.chars().all(|character| character.is_ascii_lowercase());
    if !is_kind || !(TagKind::from_name(kind).is_some() || target.contains('~')) {
        return None;
    }
    if explicit_id && left.parse::<SpecId>().is_err() {
        return Some((kind.to_owned(), Err(format!("the covering ID `{left}` is malformed"))));
    }
    Some((kind.to_owned(), target.parse::<SpecId>().map_err(|error| error.to_string())))
}

/// The position of the character after `before` in the comment, counting the comment's markers.
fn position_in_comment(comment: &Comment, before: &[(usize, char)]) -> Position {
    let marker = match comment.style {
        crate::source::lexer::CommentStyle::Plain => 2,
        _ => 3,
    };
    let mut position = Position::new(comment.start.line, comment.start.column + marker);
    for &(_, character) in before {
        if character == '\n' {
            position = Position::new(position.line + 1, 0);
        } else {
            position.column += 1;
        }
    }
    position
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::lexer::lex;

    fn tags(source: &str) -> Vec<FoundTag> {
        lex(source).comments.iter().flat_map(find_tags).collect()
    }

    #[test]
    fn tags_parse_with_their_position_and_several_per_comment() {
        let found = tags("fn a() {}\n    // [impl->dsn~a~1] and [utest -> swr~b.c~2>>itest]\n");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].kind, "impl");
        assert_eq!(found[0].target.as_ref().unwrap().to_string(), "dsn~a~1");
        assert_eq!(found[0].position, Position::new(2, 7));
        assert_eq!(found[1].kind, "utest");
        assert_eq!(found[1].target.as_ref().unwrap().to_string(), "swr~b.c~2");
    }

    #[test]
    fn explicit_covering_ids_are_accepted() {
        let found = tags("// [impl~map-fn~1->dsn~a~1]");
        assert_eq!(found[0].kind, "impl");
        assert!(found[0].target.is_ok());
    }

    #[test]
    fn prose_and_examples_in_backticks_are_not_tags() {
        assert!(tags("// maps [IPA->PA] and [0->1], see `[impl->dsn~x~1]`").is_empty());
        assert!(tags("// an index [a->b]").is_empty());
    }

    #[test]
    fn malformed_tags_are_kept_with_the_reason() {
        let found = tags("/* [impl->dsn~x] [review->dsn~y~1] */");
        assert_eq!(found.len(), 2);
        assert!(found[0].target.as_ref().unwrap_err().contains("three"));
        assert_eq!(found[1].kind, "review", "unknown kinds with an ID are tags, to be reported");
    }

    #[test]
    fn tags_in_multi_line_block_comments_have_their_own_line() {
        let found = tags("/*\n * first line\n * [itest->sg~a~1]\n */");
        assert_eq!(found[0].position.line, 3);
    }
}
