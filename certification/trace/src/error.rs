//! Errors that stop the generator before it can judge anything: unreadable or malformed
//! input files. Everything the generator *can* judge (a dangling ID, a failed test) is a
//! check finding in the report instead, so one run shows every problem.

use std::path::PathBuf;

/// Why `run` (or a helper) could not produce a report.
#[derive(Debug)]
pub enum Error {
    /// A file could not be read or written.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A TOML input did not parse or did not match its schema.
    Toml {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem, when the parser knows it.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// A JSON input did not parse or did not match its schema.
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message (it includes line and column).
        message: String,
    },
    /// An XML input (JUnit results) did not parse.
    Xml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A specification item in the requirements is malformed beyond what a check can report
    /// (for example an ID that does not parse, so nothing can refer to it).
    Item {
        /// The file.
        path: PathBuf,
        /// 1-based line of the item.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An input file declares a schema version this generator does not understand.
    SchemaVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u64,
        /// The version supported.
        supported: u64,
    },
    /// A result file is not this run's own: it predates the run that would record it (a
    /// tool that did not run, or failed before writing, left an earlier run's file behind).
    NotOfThisRun {
        /// The file.
        path: PathBuf,
        /// Why it is not this run's.
        message: String,
    },
    /// An external program needed for a helper (git, chromium, llvm tools) failed.
    Tool {
        /// The program.
        program: String,
        /// What went wrong, including its stderr when there is one.
        message: String,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io { path, source } => write!(formatter, "{}: {source}", path.display()),
            Self::Toml { path, line: Some(line), message } => {
                write!(formatter, "{}:{line}: {message}", path.display())
            }
            Self::Toml { path, line: None, message } => write!(formatter, "{}: {message}", path.display()),
            Self::Json { path, message } | Self::Xml { path, message } => {
                write!(formatter, "{}: {message}", path.display())
            }
            Self::Item { path, line, message } => write!(formatter, "{}:{line}: {message}", path.display()),
            Self::SchemaVersion { path, found, supported } => write!(
                formatter,
                "{}: schema_version {found} is not supported (this generator reads version {supported})",
                path.display()
            ),
            Self::NotOfThisRun { path, message } => {
                write!(formatter, "{}: not produced by this run: {message}", path.display())
            }
            Self::Tool { program, message } => write!(formatter, "{program}: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|byte| **byte == b'\n').count() + 1
}

/// Reads a UTF-8 file, mapping the error to [`Error::Io`].
pub fn read_text(path: &std::path::Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::io(path, source))
}

/// A TOML parse error as an [`Error::Toml`] with the line the parser pointed at.
pub fn toml_error(path: &std::path::Path, text: &str, error: &toml::de::Error) -> Error {
    Error::Toml {
        path: path.to_path_buf(),
        line: error.span().map(|span| line_of_offset(text, span.start)),
        message: error.message().to_owned(),
    }
}
