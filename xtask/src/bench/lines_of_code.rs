//! Lines of code of the crates the EL2 image is built from: the size of what must be trusted.
//!
//! A line counts when it holds something besides whitespace and comments. Test code is
//! counted apart: files named `tests.rs` or under a `tests/` directory, and items marked
//! `#[cfg(test)]`. They are host-side checks, not part of the image.

use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The crates linked into the EL2 image, relative to the repository root.
pub const IMAGE_CRATES: &[&str] = &[
    "hypervisor/core",
    "hypervisor/arch-aarch64",
    "hypervisor/drivers",
    "hypervisor/image",
];

/// Counts of one crate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrateLines {
    /// The crate's directory, relative to the repository root.
    pub path: String,
    /// Rust source files under `src/`.
    pub files: u64,
    /// Lines of code that build the image.
    pub code: u64,
    /// Lines of test code.
    pub tests: u64,
}

/// Line counts of one source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceLines {
    /// Code lines outside test items.
    pub code: u64,
    /// Code lines inside `#[cfg(test)]` items.
    pub tests: u64,
}

/// Counts every `.rs` file under `<root>/<crate_path>/src`.
pub fn count_crate(root: &Path, crate_path: &str) -> io::Result<CrateLines> {
    let mut lines = CrateLines {
        path: crate_path.to_owned(),
        ..CrateLines::default()
    };
    let mut pending = vec![root.join(crate_path).join("src")];
    // BOUND: each iteration removes one directory; the tree is finite.
    while let Some(directory) = pending.pop() {
        for entry in fs::read_dir(&directory)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().and_then(|extension| extension.to_str()) != Some("rs") {
                continue;
            }
            let counted = count_source(&fs::read_to_string(&path)?);
            let test_file = path.file_name().and_then(|name| name.to_str()) == Some("tests.rs")
                || path
                    .strip_prefix(root.join(crate_path))
                    .is_ok_and(|inside| {
                        inside.components().any(|part| part.as_os_str() == "tests")
                    });
            lines.files += 1;
            if test_file {
                lines.tests += counted.code + counted.tests;
            } else {
                lines.code += counted.code;
                lines.tests += counted.tests;
            }
        }
    }
    Ok(lines)
}

/// Counts code lines of Rust source `text`, telling test items apart.
pub fn count_source(text: &str) -> SourceLines {
    let mut counted = SourceLines::default();
    let mut in_block_comment = false;
    let mut test_attribute_seen = false;
    // Brace depth inside the current `#[cfg(test)]` item, once its body has opened.
    let mut test_depth: Option<i64> = None;
    for line in text.lines() {
        let (code, still_in_comment) = strip_comments(line, in_block_comment);
        in_block_comment = still_in_comment;
        let code = code.trim();
        if code.is_empty() {
            continue;
        }
        if let Some(depth) = test_depth.as_mut() {
            counted.tests += 1;
            *depth += brace_balance(code);
            if *depth <= 0 {
                test_depth = None;
            }
            continue;
        }
        if code.starts_with("#[cfg(test)]") {
            counted.tests += 1;
            test_attribute_seen = true;
            continue;
        }
        if test_attribute_seen {
            counted.tests += 1;
            let balance = brace_balance(code);
            if balance > 0 {
                test_depth = Some(balance);
                test_attribute_seen = false;
            } else if code.ends_with(';') || code.ends_with('}') {
                // `mod tests;` (counted in its own file) or a one-line item.
                test_attribute_seen = false;
            }
            continue;
        }
        counted.code += 1;
    }
    counted
}

/// The code part of `line` (comments removed) and whether a block comment is still open
/// at its end. String literals are skipped over so that `"//"` is not a comment.
fn strip_comments(line: &str, mut in_block_comment: bool) -> (String, bool) {
    let mut code = String::with_capacity(line.len());
    let mut characters = line.chars().peekable();
    let mut in_string = false;
    // BOUND: each iteration consumes at least one character.
    while let Some(character) = characters.next() {
        if in_block_comment {
            if character == '*' && characters.peek() == Some(&'/') {
                characters.next();
                in_block_comment = false;
            }
            continue;
        }
        if in_string {
            code.push(character);
            if character == '\\' {
                if let Some(escaped) = characters.next() {
                    code.push(escaped);
                }
            } else if character == '"' {
                in_string = false;
            }
            continue;
        }
        match (character, characters.peek()) {
            ('/', Some('/')) => break,
            ('/', Some('*')) => {
                characters.next();
                in_block_comment = true;
            }
            ('"', _) => {
                in_string = true;
                code.push(character);
            }
            _ => code.push(character),
        }
    }
    (code, in_block_comment)
}

/// Opening minus closing braces on a line of code, outside string and character literals.
fn brace_balance(code: &str) -> i64 {
    let mut balance = 0;
    let mut in_string = false;
    let mut previous = ' ';
    let mut characters = code.chars().peekable();
    // BOUND: each iteration consumes at least one character.
    while let Some(character) = characters.next() {
        match character {
            '"' if previous != '\\' => in_string = !in_string,
            '\'' if !in_string => {
                // A character literal such as '{' or '}': skip it whole.
                let mut lookahead = characters.clone();
                if let (Some(_), Some('\'')) = (lookahead.next(), lookahead.next()) {
                    characters.next();
                    characters.next();
                }
            }
            '{' if !in_string => balance += 1,
            '}' if !in_string => balance -= 1,
            _ => {}
        }
        previous = character;
    }
    balance
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_blank_lines_do_not_count() {
        let source = "//! Module docs.\n\n/// Item docs.\nfn f() {\n    // why\n    let url = \"http://x\"; // trailing\n    /* block\n       still block */ g();\n}\n";
        assert_eq!(count_source(source), SourceLines { code: 4, tests: 0 });
    }

    #[test]
    fn cfg_test_items_are_counted_as_tests() {
        let source = "fn f() {}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn g() {\n        assert_eq!('{', '{');\n    }\n}\n\nfn h() {}\n";
        assert_eq!(count_source(source), SourceLines { code: 2, tests: 8 });
        assert_eq!(
            count_source("#[cfg(test)]\nmod tests;\nfn f() {}\n"),
            SourceLines { code: 1, tests: 2 }
        );
    }

    #[test]
    fn image_crates_are_counted_from_their_sources() {
        let repository = crate::paths::Repository::locate();
        let core =
            count_crate(repository.root(), "hypervisor/core").expect("the core crate is readable");
        assert!(
            core.files > 0 && core.code > 0 && core.tests > 0,
            "{core:?}"
        );
    }
}
