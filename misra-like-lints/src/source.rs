//! A source file's text with its comments: the part of the program syn does not keep.
//!
//! `// SAFETY:`, `// BOUND:` and `// DEVIATION(..)` arguments are ordinary comments, so this
//! module scans the text itself: a small lexer that knows just enough Rust (string, raw
//! string, byte and char literals versus lifetimes, nested block comments) to tell comment
//! from code, and records for each line whether it holds code. Requirement tags such as
//! `// [impl->dsn~x~1]` are plain comments here too.

use std::collections::BTreeSet;

/// What kind of comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommentKind {
    /// `// ...`
    Line,
    /// `/// ...` or `/** ... */`
    OuterDoc,
    /// `//! ...` or `/*! ... */`
    InnerDoc,
    /// `/* ... */`
    Block,
}

/// One comment.
#[derive(Clone, Debug)]
pub struct Comment {
    /// 1-based line where it starts.
    pub line: usize,
    /// 1-based line where it ends (equals `line` for `//` comments).
    pub end_line: usize,
    /// 1-based column of the opening `/`.
    pub column: usize,
    /// The text without the comment markers.
    pub text: String,
    /// What kind of comment.
    pub kind: CommentKind,
}

/// Per-line facts.
#[derive(Clone, Debug, Default)]
pub struct LineInfo {
    /// The line holds something other than whitespace and comments.
    pub has_code: bool,
    /// Indices into [`SourceText::comments`] of the comments that start on this line.
    pub comments: Vec<usize>,
    /// A block comment covers part of this line without starting on it.
    pub inside_block_comment: bool,
}

/// A file's text, its comments, and which lines are code.
#[derive(Clone, Debug)]
pub struct SourceText {
    /// The text.
    pub text: String,
    /// The comments in order.
    pub comments: Vec<Comment>,
    /// `lines[n]` describes line `n + 1`.
    pub lines: Vec<LineInfo>,
    /// Lines that hold only (parts of) attributes; filled in from the syntax tree.
    pub attribute_lines: BTreeSet<usize>,
    /// The source lines, for diagnostics.
    line_texts: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    LineComment,
    BlockComment(u32),
    Str,
    RawStr(usize),
    CharLiteral,
}

impl SourceText {
    /// Scans `text`.
    pub fn new(text: &str) -> SourceText {
        let line_texts: Vec<String> = text.lines().map(str::to_owned).collect();
        let line_count = line_texts.len().max(1);
        let mut lines = vec![LineInfo::default(); line_count.saturating_add(1)];
        let mut comments: Vec<Comment> = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        let mut state = State::Code;
        let mut line = 1usize;
        let mut column = 1usize;
        let mut index = 0usize;
        let mut current = String::new();

        // BOUND: `index` advances by at least one character per iteration; the loop ends at
        // the end of the text.
        while let Some(&c) = chars.get(index) {
            let next = chars.get(index.saturating_add(1)).copied();
            let mut advance = 1usize;
            match state {
                State::Code => {
                    if c == '/' && next == Some('/') {
                        let third = chars.get(index.saturating_add(2)).copied();
                        let fourth = chars.get(index.saturating_add(3)).copied();
                        let kind = match third {
                            Some('/') if fourth != Some('/') => CommentKind::OuterDoc,
                            Some('!') => CommentKind::InnerDoc,
                            _ => CommentKind::Line,
                        };
                        let marker = if kind == CommentKind::Line { 2 } else { 3 };
                        comments.push(Comment {
                            line,
                            end_line: line,
                            column,
                            text: String::new(),
                            kind,
                        });
                        current.clear();
                        state = State::LineComment;
                        advance = marker;
                    } else if c == '/' && next == Some('*') {
                        let third = chars.get(index.saturating_add(2)).copied();
                        let fourth = chars.get(index.saturating_add(3)).copied();
                        let kind = match third {
                            Some('*') if fourth != Some('*') && fourth != Some('/') => {
                                CommentKind::OuterDoc
                            }
                            Some('!') => CommentKind::InnerDoc,
                            _ => CommentKind::Block,
                        };
                        let marker = if kind == CommentKind::Block { 2 } else { 3 };
                        comments.push(Comment {
                            line,
                            end_line: line,
                            column,
                            text: String::new(),
                            kind,
                        });
                        current.clear();
                        state = State::BlockComment(1);
                        advance = marker;
                    } else if c == '"' {
                        mark_code(&mut lines, line);
                        state = State::Str;
                    } else if let Some(hashes) = raw_string_start(&chars, index) {
                        mark_code(&mut lines, line);
                        state = State::RawStr(hashes.hashes);
                        advance = hashes.length;
                    } else if c == '\'' {
                        mark_code(&mut lines, line);
                        if next == Some('\\') || chars.get(index.saturating_add(2)) == Some(&'\'') {
                            state = State::CharLiteral;
                        }
                    } else if !c.is_whitespace() {
                        mark_code(&mut lines, line);
                    }
                }
                State::LineComment => {
                    if c == '\n' {
                        finish_comment(&mut comments, &mut current, line);
                        state = State::Code;
                    } else {
                        current.push(c);
                    }
                }
                State::BlockComment(depth) => {
                    if c == '*' && next == Some('/') {
                        advance = 2;
                        if depth == 1 {
                            finish_comment(&mut comments, &mut current, line);
                            state = State::Code;
                        } else {
                            current.push_str("*/");
                            state = State::BlockComment(depth.saturating_sub(1));
                        }
                    } else if c == '/' && next == Some('*') {
                        advance = 2;
                        current.push_str("/*");
                        state = State::BlockComment(depth.saturating_add(1));
                    } else {
                        current.push(c);
                        if c == '\n' {
                            if let Some(info) = lines.get_mut(line.saturating_add(1)) {
                                info.inside_block_comment = true;
                            }
                        }
                    }
                }
                State::Str => {
                    if c == '\\' {
                        advance = 2;
                    } else if c == '"' {
                        state = State::Code;
                    }
                }
                State::RawStr(hashes) => {
                    if c == '"'
                        && (1..=hashes).all(|k| chars.get(index.saturating_add(k)) == Some(&'#'))
                    {
                        advance = hashes.saturating_add(1);
                        state = State::Code;
                    }
                }
                State::CharLiteral => {
                    if c == '\\' {
                        advance = 2;
                    } else if c == '\'' {
                        state = State::Code;
                    }
                }
            }
            // Newlines inside the consumed characters move the position.
            for consumed in chars.iter().skip(index).take(advance) {
                if *consumed == '\n' {
                    line = line.saturating_add(1);
                    column = 1;
                } else {
                    column = column.saturating_add(1);
                }
                if matches!(state, State::Str | State::RawStr(_) | State::CharLiteral) {
                    mark_code(&mut lines, line);
                }
            }
            index = index.saturating_add(advance);
        }
        if matches!(state, State::LineComment | State::BlockComment(_)) {
            finish_comment(&mut comments, &mut current, line);
        }
        for (comment_index, comment) in comments.iter().enumerate() {
            if let Some(info) = lines.get_mut(comment.line) {
                info.comments.push(comment_index);
            }
        }
        SourceText {
            text: text.to_owned(),
            comments,
            lines,
            attribute_lines: BTreeSet::new(),
            line_texts,
        }
    }

    /// The facts of 1-based `line` (an empty default past the end).
    pub fn line(&self, line: usize) -> &LineInfo {
        const EMPTY: &LineInfo = &LineInfo {
            has_code: false,
            comments: Vec::new(),
            inside_block_comment: false,
        };
        self.lines.get(line).unwrap_or(EMPTY)
    }

    /// The text of 1-based `line`.
    pub fn line_text(&self, line: usize) -> Option<&str> {
        self.line_texts
            .get(line.checked_sub(1)?)
            .map(String::as_str)
    }

    /// Number of lines.
    pub fn line_count(&self) -> usize {
        self.line_texts.len()
    }

    /// The comments that start on `line`.
    pub fn comments_on(&self, line: usize) -> impl Iterator<Item = &Comment> {
        self.line(line)
            .comments
            .iter()
            .filter_map(|index| self.comments.get(*index))
    }

    fn is_comment_only(&self, line: usize) -> bool {
        let info = self.line(line);
        !info.has_code && (!info.comments.is_empty() || info.inside_block_comment)
    }

    /// The comments directly above `line`, top to bottom: the run of comment-only lines
    /// ending right before it, stepping over attribute-only lines; a blank or code line ends
    /// the run.
    pub fn comments_above(&self, line: usize) -> Vec<&Comment> {
        let mut found: BTreeSet<usize> = BTreeSet::new();
        let mut current = line.saturating_sub(1);
        // BOUND: `current` decreases by one per iteration and stops at line 0.
        while current >= 1 {
            if self.is_comment_only(current) {
                found.extend(self.line(current).comments.iter().copied());
                // A block comment that started further up covers this line.
                found.extend(
                    self.comments
                        .iter()
                        .enumerate()
                        .filter_map(|(index, comment)| {
                            (comment.line < current && comment.end_line >= current).then_some(index)
                        }),
                );
            } else if !self.attribute_lines.contains(&current) {
                break;
            }
            current = current.saturating_sub(1);
        }
        found
            .into_iter()
            .filter_map(|index| self.comments.get(index))
            .collect()
    }

    /// The first line after `line` that holds code other than attributes.
    pub fn next_code_line(&self, line: usize) -> Option<usize> {
        let last = self.line_count();
        (line.saturating_add(1)..=last).find(|candidate| {
            self.line(*candidate).has_code && !self.attribute_lines.contains(candidate)
        })
    }

    /// Comments on `line` that start before `column` (e.g. `/* SAFETY: .. */ unsafe {`).
    pub fn comments_before_column(&self, line: usize, column: usize) -> Vec<&Comment> {
        self.comments_on(line)
            .filter(|comment| comment.column < column)
            .collect()
    }

    /// Comments on `line` that start after `column` (trailing comments).
    pub fn comments_after_column(&self, line: usize, column: usize) -> Vec<&Comment> {
        self.comments_on(line)
            .filter(|comment| comment.column > column)
            .collect()
    }
}

fn mark_code(lines: &mut [LineInfo], line: usize) {
    if let Some(info) = lines.get_mut(line) {
        info.has_code = true;
    }
}

fn finish_comment(comments: &mut [Comment], current: &mut String, line: usize) {
    if let Some(comment) = comments.last_mut() {
        comment.text = std::mem::take(current).trim().to_owned();
        comment.end_line = line;
    }
}

struct RawStart {
    hashes: usize,
    length: usize,
}

/// Recognises `r"`, `r#"`, `br#"`, `cr"` at `index` (not inside an identifier).
fn raw_string_start(chars: &[char], index: usize) -> Option<RawStart> {
    let previous = index.checked_sub(1).and_then(|p| chars.get(p)).copied();
    if previous.is_some_and(|p| p.is_alphanumeric() || p == '_') {
        return None;
    }
    let mut cursor = index;
    let first = *chars.get(cursor)?;
    if first == 'b' || first == 'c' {
        cursor = cursor.saturating_add(1);
    }
    if chars.get(cursor) != Some(&'r') {
        return None;
    }
    cursor = cursor.saturating_add(1);
    let mut hashes = 0usize;
    // BOUND: `cursor` advances by one per iteration and stops at the first non-`#`.
    while chars.get(cursor) == Some(&'#') {
        hashes = hashes.saturating_add(1);
        cursor = cursor.saturating_add(1);
    }
    if chars.get(cursor) != Some(&'"') {
        return None;
    }
    Some(RawStart {
        hashes,
        length: cursor.saturating_add(1).saturating_sub(index),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_comments_and_code_are_told_apart() {
        let text = "fn a() {} // trailing\n// alone\n\n/// doc\n//! inner\n";
        let source = SourceText::new(text);
        assert!(source.line(1).has_code);
        assert!(!source.line(2).has_code);
        let texts: Vec<&str> = source.comments.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["trailing", "alone", "doc", "inner"]);
        let kinds: Vec<CommentKind> = source.comments.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                CommentKind::Line,
                CommentKind::Line,
                CommentKind::OuterDoc,
                CommentKind::InnerDoc
            ]
        );
    }

    #[test]
    fn strings_and_chars_hide_comment_markers() {
        let text = "let a = \"// not\"; let b = r#\"/* no \"# ; let c = '/'; let d: &'a u8;\n";
        let source = SourceText::new(text);
        assert!(source.comments.is_empty(), "{:?}", source.comments);
    }

    #[test]
    fn nested_block_comments_end_at_the_outer_close() {
        let text = "/* a /* b */ still */ code();\n/* one\n two */\nx();\n";
        let source = SourceText::new(text);
        assert_eq!(source.comments.len(), 2);
        assert!(source.line(1).has_code);
        assert!(!source.line(3).has_code);
        assert_eq!(source.comments.get(1).map(|c| c.end_line), Some(3));
        let above: Vec<&str> = source
            .comments_above(4)
            .iter()
            .map(|c| c.text.as_str())
            .collect();
        assert_eq!(above, ["one\n two"]);
    }

    #[test]
    fn comments_above_stop_at_blank_and_code_lines() {
        let text = "x();\n// first\n\n// second\n// third\nunsafe {}\n";
        let source = SourceText::new(text);
        let above: Vec<&str> = source
            .comments_above(6)
            .iter()
            .map(|c| c.text.as_str())
            .collect();
        assert_eq!(above, ["second", "third"]);
    }

    #[test]
    fn requirement_tags_are_ordinary_comments() {
        let source = SourceText::new("// [impl->dsn~stage2-isolation~1]\nfn map() {}\n");
        assert_eq!(
            source.comments.first().map(|c| c.text.as_str()),
            Some("[impl->dsn~stage2-isolation~1]")
        );
        assert_eq!(source.next_code_line(1), Some(2));
    }
}
