//! Errors that stop a run: the checker could not do its job, as opposed to findings about
//! the code it checked.

use std::fmt;
use std::path::PathBuf;

/// Why a run could not complete.
#[derive(Debug)]
pub enum Error {
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The settings file is malformed.
    Settings {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The deviation register is malformed.
    Register {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The release ELF could not be analysed.
    Elf {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, error } => write!(formatter, "{}: {error}", path.display()),
            Error::Settings { path, message } => write!(formatter, "settings {path}: {message}"),
            Error::Register { path, message } => {
                write!(formatter, "deviation register {path}: {message}")
            }
            Error::Elf { path, message } => write!(formatter, "ELF {}: {message}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { error, .. } => Some(error),
            Error::Settings { .. } | Error::Register { .. } | Error::Elf { .. } => None,
        }
    }
}
