//! Files a manifest names (guest images, initrds, region contents) are untrusted input: the
//! path may lead to a FIFO, a device, a directory or a file of many gigabytes. Reading any of
//! those would hang `check` and `build` (a FIFO blocks until someone writes), or exhaust
//! memory. So every such file is first looked at with `metadata` — never opened — and must be
//! a regular file of at most [`MAX_INPUT_FILE_SIZE`] bytes; [`read`] checks the same again on
//! the opened handle and never reads more than the bound.
//!
//! Design: [impl->dsn~config-checks~1]

use std::fmt;
use std::io::Read;
use std::path::Path;

/// Largest image, initrd or region file accepted: 1 GiB. No partition of a supported board
/// can hold more (the largest board has 4 GiB of RAM shared by all partitions and the
/// hypervisor), and the compiler holds a whole image in memory while it flattens it.
pub const MAX_INPUT_FILE_SIZE: u64 = 1 << 30;

/// Why a named file cannot be used.
#[derive(Debug)]
pub enum InputFileError {
    /// It does not exist or cannot be looked at.
    Unreadable(std::io::Error),
    /// It exists but is no regular file; the text says what it is ("a FIFO").
    NotRegular(&'static str),
    /// It is larger than [`MAX_INPUT_FILE_SIZE`].
    TooLarge(u64),
}

impl fmt::Display for InputFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(error) => write!(f, "cannot be read: {error}"),
            Self::NotRegular(what) => write!(f, "is {what}, not a regular file"),
            Self::TooLarge(size) => write!(
                f,
                "is {size} bytes, more than the {MAX_INPUT_FILE_SIZE}-byte (1 GiB) limit"
            ),
        }
    }
}

/// What kind of non-regular file `file_type` is, for messages.
fn describe(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

fn check(metadata: &std::fs::Metadata) -> Result<u64, InputFileError> {
    if !metadata.is_file() {
        return Err(InputFileError::NotRegular(describe(metadata.file_type())));
    }
    if metadata.len() > MAX_INPUT_FILE_SIZE {
        return Err(InputFileError::TooLarge(metadata.len()));
    }
    Ok(metadata.len())
}

/// The size of `path` when it is a regular file (symbolic links followed) of at most
/// [`MAX_INPUT_FILE_SIZE`] bytes. Looks at metadata only: never opens the file.
pub fn size(path: &Path) -> Result<u64, InputFileError> {
    check(&std::fs::metadata(path).map_err(InputFileError::Unreadable)?)
}

/// Reads `path` after [`size`] accepted it, checking the opened handle again (the path may
/// have changed in between) and reading at most [`MAX_INPUT_FILE_SIZE`] bytes.
pub fn read(path: &Path) -> Result<Vec<u8>, InputFileError> {
    size(path)?;
    let file = std::fs::File::open(path).map_err(InputFileError::Unreadable)?;
    let length = check(&file.metadata().map_err(InputFileError::Unreadable)?)?;
    let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
    file.take(MAX_INPUT_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(InputFileError::Unreadable)?;
    if bytes.len() as u64 > MAX_INPUT_FILE_SIZE {
        return Err(InputFileError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_pass_and_directories_do_not() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("guest.elf");
        std::fs::write(&file, b"1234").unwrap();
        assert_eq!(size(&file).unwrap(), 4);
        assert_eq!(read(&file).unwrap(), b"1234");
        assert!(matches!(
            size(directory.path()),
            Err(InputFileError::NotRegular("a directory"))
        ));
        assert!(matches!(
            size(&directory.path().join("missing")),
            Err(InputFileError::Unreadable(_))
        ));
        let sparse = directory.path().join("huge.img");
        std::fs::File::create(&sparse)
            .unwrap()
            .set_len(MAX_INPUT_FILE_SIZE + 1)
            .unwrap();
        assert!(matches!(
            read(&sparse),
            Err(InputFileError::TooLarge(length)) if length == MAX_INPUT_FILE_SIZE + 1
        ));
    }
}
