//! A Rust lexer that sees only what the compiler throws away: comments.
//!
//! syn drops ordinary comments, yet tags (`// [impl->dsn~x~1]`) and `// SAFETY:` arguments
//! live there. This lexer classifies every character of a file as code, literal, comment
//! or whitespace, following the Rust Reference's lexical rules for the parts that can hide
//! a `//` (string, raw string, byte, C-string and character literals, nested block comments,
//! lifetimes). Positions use proc-macro2's convention (1-based line, 0-based column counted
//! in characters) so they compare directly with syn spans.

/// A position in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 0-based column in characters.
    pub column: usize,
}

impl Position {
    /// A position.
    pub const fn new(line: usize, column: usize) -> Self {
        Self { line, column }
    }

    /// The position of a proc-macro2 line/column.
    pub fn from_line_column(location: proc_macro2::LineColumn) -> Self {
        Self { line: location.line, column: location.column }
    }
}

/// What kind of comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommentStyle {
    /// `// …` or `/* … */`.
    Plain,
    /// `/// …` or `/** … */`: documents the next item.
    OuterDoc,
    /// `//! …` or `/*! … */`: documents the enclosing module.
    InnerDoc,
}

/// One comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Where the comment's first character is.
    pub start: Position,
    /// Just after its last character.
    pub end: Position,
    /// The style.
    pub style: CommentStyle,
    /// The comment's text without its markers (`//`, `///`, `/*`, `*/`).
    pub text: String,
}

/// How a character was classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Whitespace outside literals.
    Space,
    /// Part of a comment.
    Comment,
    /// Part of a string or character literal.
    Literal,
    /// Anything else.
    Code,
}

/// A lexed file.
#[derive(Debug)]
pub struct Lexed {
    /// Comments in file order.
    pub comments: Vec<Comment>,
    /// Each line's characters.
    lines: Vec<Vec<char>>,
    /// Each line's character classes.
    classes: Vec<Vec<Class>>,
}

/// A cursor over the characters of the file.
struct Cursor {
    /// All characters.
    characters: Vec<char>,
    /// Index of the next character.
    index: usize,
    /// Position of the next character.
    position: Position,
}

impl Cursor {
    /// The character `offset` ahead, if any.
    fn peek(&self, offset: usize) -> Option<char> {
        self.characters.get(self.index + offset).copied()
    }

    /// Consumes one character.
    fn bump(&mut self) -> Option<char> {
        let character = self.characters.get(self.index).copied()?;
        self.index += 1;
        if character == '\n' {
            self.position = Position::new(self.position.line + 1, 0);
        } else {
            self.position.column += 1;
        }
        Some(character)
    }
}

/// Lexes `source`. Unterminated literals or comments run to the end of the file (the
/// compiler would reject such a file; the lexer only must not loop or panic).
pub fn lex(source: &str) -> Lexed {
    let lines: Vec<Vec<char>> = source.split('\n').map(|line| line.chars().collect()).collect();
    let mut classes: Vec<Vec<Class>> = lines.iter().map(|line| vec![Class::Code; line.len()]).collect();
    let mut cursor = Cursor { characters: source.chars().collect(), index: 0, position: Position::new(1, 0) };
    let mut comments = Vec::new();
    let mark = |classes: &mut Vec<Vec<Class>>, from: Position, to: Position, class: Class| {
        let mut line = from.line;
        let mut column = from.column;
        while (line, column) < (to.line, to.column) {
            let Some(row) = classes.get_mut(line - 1) else { break };
            if column < row.len() {
                row[column] = class;
                column += 1;
            } else {
                line += 1;
                column = 0;
            }
        }
    };
    let mut previous_is_identifier = false;
    while let Some(character) = cursor.peek(0) {
        let start = cursor.position;
        if character == '/' && cursor.peek(1) == Some('/') {
            cursor.bump();
            cursor.bump();
            let style = match (cursor.peek(0), cursor.peek(1)) {
                (Some('/'), Some('/')) => CommentStyle::Plain,
                (Some('/'), _) => CommentStyle::OuterDoc,
                (Some('!'), _) => CommentStyle::InnerDoc,
                _ => CommentStyle::Plain,
            };
            if style != CommentStyle::Plain {
                cursor.bump();
            }
            let mut text = String::new();
            while let Some(next) = cursor.peek(0) {
                if next == '\n' {
                    break;
                }
                text.push(next);
                cursor.bump();
            }
            mark(&mut classes, start, cursor.position, Class::Comment);
            comments.push(Comment { start, end: cursor.position, style, text });
            previous_is_identifier = false;
        } else if character == '/' && cursor.peek(1) == Some('*') {
            cursor.bump();
            cursor.bump();
            let style = match (cursor.peek(0), cursor.peek(1)) {
                (Some('*'), Some('*' | '/')) => CommentStyle::Plain,
                (Some('*'), _) => CommentStyle::OuterDoc,
                (Some('!'), _) => CommentStyle::InnerDoc,
                _ => CommentStyle::Plain,
            };
            if style != CommentStyle::Plain {
                cursor.bump();
            }
            let mut depth = 1usize;
            let mut text = String::new();
            while let Some(next) = cursor.peek(0) {
                if next == '/' && cursor.peek(1) == Some('*') {
                    depth += 1;
                    text.push_str("/*");
                    cursor.bump();
                    cursor.bump();
                } else if next == '*' && cursor.peek(1) == Some('/') {
                    cursor.bump();
                    cursor.bump();
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    text.push_str("*/");
                } else {
                    text.push(next);
                    cursor.bump();
                }
            }
            mark(&mut classes, start, cursor.position, Class::Comment);
            comments.push(Comment { start, end: cursor.position, style, text });
            previous_is_identifier = false;
        } else if let Some(prefix) = literal_prefix(&cursor, previous_is_identifier) {
            lex_literal(&mut cursor, prefix);
            mark(&mut classes, start, cursor.position, Class::Literal);
            previous_is_identifier = false;
        } else if character == '\'' {
            lex_quote(&mut cursor);
            if cursor.position != start {
                mark(&mut classes, start, cursor.position, Class::Literal);
            }
            previous_is_identifier = false;
        } else {
            cursor.bump();
            if character.is_whitespace() {
                mark(&mut classes, start, cursor.position, Class::Space);
            }
            previous_is_identifier = character.is_alphanumeric() || character == '_';
        }
    }
    Lexed { comments, lines, classes }
}

/// The kind of string literal starting at the cursor.
#[derive(Clone, Copy)]
enum LiteralPrefix {
    /// `"…"`, `b"…"`, `c"…"`: prefix length before the quote.
    Quoted(usize),
    /// `r#"…"#` and friends: prefix length before the hashes.
    Raw(usize),
}

/// Whether a string literal starts at the cursor. A prefix letter only counts when it is not
/// the tail of an identifier (`br"` in `abr"` is not a raw string; Rust would reject it anyway).
fn literal_prefix(cursor: &Cursor, previous_is_identifier: bool) -> Option<LiteralPrefix> {
    let at = |offset| cursor.peek(offset);
    match at(0)? {
        '"' => Some(LiteralPrefix::Quoted(0)),
        _ if previous_is_identifier => None,
        'b' | 'c' if at(1) == Some('"') => Some(LiteralPrefix::Quoted(1)),
        'b' | 'c' if at(1) == Some('r') && matches!(at(2), Some('"' | '#')) => raw_start(cursor, 2),
        'r' if matches!(at(1), Some('"' | '#')) => raw_start(cursor, 1),
        _ => None,
    }
}

/// A raw string starts at `offset` if hashes are followed by a quote (`r#ident` is a raw
/// identifier, not a string).
fn raw_start(cursor: &Cursor, offset: usize) -> Option<LiteralPrefix> {
    let mut index = offset;
    while cursor.peek(index) == Some('#') {
        index += 1;
    }
    (cursor.peek(index) == Some('"')).then_some(LiteralPrefix::Raw(offset))
}

/// Consumes a string literal.
fn lex_literal(cursor: &mut Cursor, prefix: LiteralPrefix) {
    match prefix {
        LiteralPrefix::Quoted(length) => {
            for _ in 0..=length {
                cursor.bump();
            }
            while let Some(next) = cursor.bump() {
                match next {
                    '\\' => {
                        cursor.bump();
                    }
                    '"' => break,
                    _ => {}
                }
            }
        }
        LiteralPrefix::Raw(length) => {
            for _ in 0..length {
                cursor.bump();
            }
            let mut hashes = 0usize;
            while cursor.peek(0) == Some('#') {
                hashes += 1;
                cursor.bump();
            }
            cursor.bump();
            'scan: while let Some(next) = cursor.bump() {
                if next == '"' {
                    for offset in 0..hashes {
                        if cursor.peek(offset) != Some('#') {
                            continue 'scan;
                        }
                    }
                    for _ in 0..hashes {
                        cursor.bump();
                    }
                    break;
                }
            }
        }
    }
}

/// Consumes a character literal (`'a'`, `'\n'`, `'\u{1F600}'`, `b'x'` is handled by the
/// identifier path before the quote) or leaves a lifetime (`'a`) for the code path.
fn lex_quote(cursor: &mut Cursor) {
    match (cursor.peek(1), cursor.peek(2)) {
        (Some('\\'), _) => {
            cursor.bump();
            cursor.bump();
            cursor.bump();
            while let Some(next) = cursor.bump() {
                if next == '\'' || next == '\n' {
                    break;
                }
            }
        }
        (Some(character), Some('\'')) if character != '\n' => {
            cursor.bump();
            cursor.bump();
            cursor.bump();
        }
        _ => {
            // A lifetime or label: the quote is code.
            cursor.bump();
        }
    }
}

impl Lexed {
    /// The class at `position`, `None` past the end of its line.
    fn class(&self, position: Position) -> Option<Class> {
        self.classes.get(position.line.checked_sub(1)?)?.get(position.column).copied()
    }

    /// The first code or literal character at or after `from`, skipping whitespace and comments.
    pub fn next_code(&self, from: Position) -> Option<Position> {
        let mut line = from.line;
        let mut column = from.column;
        while line <= self.lines.len() {
            let length = self.lines[line - 1].len();
            while column < length {
                let position = Position::new(line, column);
                if matches!(self.class(position), Some(Class::Code | Class::Literal)) {
                    return Some(position);
                }
                column += 1;
            }
            line += 1;
            column = 0;
        }
        None
    }

    /// The code and whitespace characters (leaving out comments and literals) in `[from, to)`.
    pub fn code_between(&self, from: Position, to: Position) -> String {
        let mut code = String::new();
        let mut line = from.line;
        let mut column = from.column;
        while (line, column) < (to.line, to.column) && line <= self.lines.len() {
            let row = &self.lines[line - 1];
            if column < row.len() {
                if matches!(self.class(Position::new(line, column)), Some(Class::Code | Class::Space)) {
                    code.push(row[column]);
                }
                column += 1;
            } else {
                code.push('\n');
                line += 1;
                column = 0;
            }
        }
        code
    }

    /// Whether line `line` (1-based) holds only comments and whitespace, and at least one comment.
    pub fn is_comment_only_line(&self, line: usize) -> bool {
        let Some(row) = line.checked_sub(1).and_then(|index| self.classes.get(index)) else { return false };
        row.contains(&Class::Comment) && row.iter().all(|class| matches!(class, Class::Comment | Class::Space))
    }

    /// The text of line `line` (1-based), trimmed.
    pub fn line_text(&self, line: usize) -> String {
        line.checked_sub(1)
            .and_then(|index| self.lines.get(index))
            .map(|row| row.iter().collect::<String>().trim().to_owned())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(source: &str) -> Vec<(CommentStyle, String)> {
        lex(source).comments.into_iter().map(|comment| (comment.style, comment.text)).collect()
    }

    #[test]
    fn comment_styles_are_told_apart() {
        let found = texts("//! inner\n/// outer\n// plain\n//// plain too\n/* block */ /** doc */ /*! in */ fn f() {}");
        let styles: Vec<CommentStyle> = found.iter().map(|(style, _)| *style).collect();
        use CommentStyle::*;
        assert_eq!(styles, [InnerDoc, OuterDoc, Plain, Plain, Plain, OuterDoc, InnerDoc]);
        assert_eq!(found[0].1, " inner");
        assert_eq!(found[4].1, " block ");
    }

    #[test]
    fn comment_markers_inside_literals_are_not_comments() {
        let source = r####"let a = "// no"; let b = r#"/* no "# "#; let c = '"'; let d = b"//"; let e = '\''; // yes
let f: &'static str = "x"; let g = c"/*"; let r#type = 1; // also"####;
        let found = texts(source);
        assert_eq!(found.iter().map(|(_, text)| text.as_str()).collect::<Vec<_>>(), [" yes", " also"]);
    }

    #[test]
    fn block_comments_nest_and_positions_are_proc_macro2_style() {
        let lexed = lex("fn a() {}\n  /* outer /* inner */ still */ x");
        assert_eq!(lexed.comments.len(), 1);
        let comment = &lexed.comments[0];
        assert_eq!(comment.start, Position::new(2, 2));
        assert!(comment.text.contains("still"));
        assert_eq!(lexed.next_code(comment.end), Some(Position::new(2, 32)));
    }

    #[test]
    fn code_between_skips_comments_and_literals() {
        let lexed = lex("// SAFETY: x\nlet v = \"{;}\" /* ; */ + unsafe { f() };");
        let unsafe_at = Position::new(2, 24);
        assert_eq!(lexed.code_between(lexed.comments[0].end, unsafe_at), "\nlet v =   + ");
        assert!(lexed.is_comment_only_line(1));
        assert!(!lexed.is_comment_only_line(2));
    }

    #[test]
    fn unterminated_input_ends_without_panicking() {
        for source in ["\"open", "/* open", "r#\"open", "'", "b'", "x /"] {
            let _ = lex(source);
        }
    }
}
