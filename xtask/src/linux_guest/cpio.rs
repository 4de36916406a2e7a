//! A writer for the `newc` cpio format, the one the Linux kernel unpacks as an initramfs
//! (`Documentation/driver-api/early-userspace/buffer-format.rst`).
//!
//! Written here rather than by running `cpio` so that building the initramfs needs neither
//! root (device nodes such as `/dev/console` are archive entries, not files on the host) nor
//! a host tool, and so that the archive is byte-for-byte deterministic: owner root, mtime 0,
//! inode numbers in entry order.
//!
//! Each entry is a 110-byte ASCII header (`070701` and thirteen 8-digit hexadecimal fields),
//! the NUL-terminated name padded to a multiple of 4 bytes (counting the header), then the
//! data padded to a multiple of 4; the archive ends with the entry `TRAILER!!!`.

/// `newc` magic: the format without checksums.
const MAGIC: &str = "070701";
/// Name of the last entry.
const TRAILER: &str = "TRAILER!!!";
/// File type bits of `st_mode` (`S_IFDIR`, `S_IFREG`, `S_IFLNK`, `S_IFCHR`).
const TYPE_DIRECTORY: u32 = 0o040_000;
const TYPE_REGULAR: u32 = 0o100_000;
const TYPE_SYMLINK: u32 = 0o120_000;
const TYPE_CHARACTER_DEVICE: u32 = 0o020_000;

/// What one archive entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Directory,
    /// A regular file with these contents.
    File(Vec<u8>),
    /// A symbolic link to this target.
    Symlink(String),
    /// A character device node (`major`, `minor`).
    CharacterDevice(u32, u32),
}

/// One entry: its path inside the archive (no leading `/`), permission bits and kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the archive root, e.g. `bin/busybox`.
    pub path: String,
    /// Permission bits (`0o755`).
    pub permissions: u32,
    /// What it is.
    pub kind: Kind,
}

impl Entry {
    /// A directory with mode 0755.
    pub fn directory(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            permissions: 0o755,
            kind: Kind::Directory,
        }
    }

    /// A file with `permissions`.
    pub fn file(path: &str, permissions: u32, contents: Vec<u8>) -> Self {
        Self {
            path: path.to_owned(),
            permissions,
            kind: Kind::File(contents),
        }
    }

    /// A symbolic link `path` → `target`.
    pub fn symlink(path: &str, target: &str) -> Self {
        Self {
            path: path.to_owned(),
            permissions: 0o777,
            kind: Kind::Symlink(target.to_owned()),
        }
    }

    /// A character device node with mode 0600.
    pub fn character_device(path: &str, major: u32, minor: u32) -> Self {
        Self {
            path: path.to_owned(),
            permissions: 0o600,
            kind: Kind::CharacterDevice(major, minor),
        }
    }
}

/// Appends zero bytes until the length is a multiple of 4.
fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// Appends one header, name and data. `inode` numbers entries from 1.
fn push(out: &mut Vec<u8>, inode: u32, mode: u32, name: &str, data: &[u8], rdev: (u32, u32)) {
    let nlink: u32 = if mode & TYPE_DIRECTORY == TYPE_DIRECTORY { 2 } else { 1 };
    // newc fields are 32-bit; an initramfs member is far below 4 GiB (the caller's files are
    // limited by guest RAM), and a larger one would be truncated visibly by the kernel.
    let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let name_size = u32::try_from(name.len() + 1).unwrap_or(u32::MAX);
    let fields = [
        inode, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, name_size, 0,
    ];
    out.extend_from_slice(MAGIC.as_bytes());
    for field in fields {
        out.extend_from_slice(format!("{field:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

/// The `newc` archive of `entries`, in order, followed by the trailer.
pub fn archive(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut inode: u32 = 1;
    for entry in entries {
        let permissions = entry.permissions & 0o7777;
        match &entry.kind {
            Kind::Directory => push(&mut out, inode, TYPE_DIRECTORY | permissions, &entry.path, &[], (0, 0)),
            Kind::File(contents) => push(&mut out, inode, TYPE_REGULAR | permissions, &entry.path, contents, (0, 0)),
            Kind::Symlink(target) => push(&mut out, inode, TYPE_SYMLINK | permissions, &entry.path, target.as_bytes(), (0, 0)),
            Kind::CharacterDevice(major, minor) => push(
                &mut out,
                inode,
                TYPE_CHARACTER_DEVICE | permissions,
                &entry.path,
                &[],
                (*major, *minor),
            ),
        }
        inode = inode.saturating_add(1);
    }
    push(&mut out, 0, 0, TRAILER, &[], (0, 0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One parsed entry: (mode, rdev major, rdev minor, name, data).
    type Parsed = (u32, u32, u32, String, Vec<u8>);

    /// An independent reader following the format description, to check the writer.
    fn parse(mut bytes: &[u8]) -> Vec<Parsed> {
        let mut entries = Vec::new();
        let mut offset = 0usize;
        loop {
            assert_eq!(&bytes[..6], MAGIC.as_bytes(), "magic at offset {offset}");
            let field = |index: usize| {
                let text = std::str::from_utf8(&bytes[6 + index * 8..6 + index * 8 + 8]).unwrap();
                u32::from_str_radix(text, 16).unwrap()
            };
            let (mode, size, major, minor, name_size) = (field(1), field(6), field(9), field(10), field(11));
            let name_end = 110 + name_size as usize;
            assert_eq!(bytes[name_end - 1], 0, "name is NUL-terminated");
            let name = String::from_utf8(bytes[110..name_end - 1].to_vec()).unwrap();
            let data_start = name_end.next_multiple_of(4);
            let data_end = data_start + size as usize;
            let data = bytes[data_start..data_end].to_vec();
            let next = data_end.next_multiple_of(4);
            offset += next;
            bytes = &bytes[next..];
            if name == TRAILER {
                assert!(bytes.is_empty(), "nothing after the trailer");
                return entries;
            }
            entries.push((mode, major, minor, name, data));
        }
    }

    #[test]
    fn every_kind_of_entry_reads_back_with_its_mode_name_and_data() {
        let bytes = archive(&[
            Entry::directory("bin"),
            Entry::file("init", 0o755, b"#!/bin/sh\necho hi\n".to_vec()),
            Entry::symlink("bin/sh", "busybox"),
            Entry::character_device("dev/console", 5, 1),
        ]);
        assert_eq!(bytes.len() % 4, 0);
        let entries = parse(&bytes);
        assert_eq!(
            entries,
            vec![
                (0o040_755, 0, 0, "bin".to_owned(), Vec::new()),
                (0o100_755, 0, 0, "init".to_owned(), b"#!/bin/sh\necho hi\n".to_vec()),
                (0o120_777, 0, 0, "bin/sh".to_owned(), b"busybox".to_vec()),
                (0o020_600, 5, 1, "dev/console".to_owned(), Vec::new()),
            ]
        );
    }

    #[test]
    fn header_fields_are_eight_upper_case_hex_digits_and_names_are_padded_to_four_bytes() {
        // Header (110) + "a" + NUL = 112: no name padding; 3 data bytes padded to 4.
        let bytes = archive(&[Entry::file("a", 0o644, b"xyz".to_vec())]);
        let header = std::str::from_utf8(&bytes[..110]).unwrap();
        // magic, ino 1, mode 0100644, uid, gid, nlink 1, mtime, size 3, dev 0:0, rdev 0:0,
        // namesize 2, check.
        let fields = [
            "00000001", "000081A4", "00000000", "00000000", "00000001", "00000000", "00000003",
            "00000000", "00000000", "00000000", "00000000", "00000002", "00000000",
        ];
        assert_eq!(header, format!("070701{}", fields.concat()));
        assert_eq!(&bytes[110..112], b"a\0");
        assert_eq!(&bytes[112..116], b"xyz\0");
        // The trailer starts right after: "TRAILER!!!" + NUL = 11, header + 11 = 121 -> 124.
        assert_eq!(&bytes[116..122], MAGIC.as_bytes());
        assert_eq!(bytes.len(), 116 + 124);
    }

    #[test]
    fn the_same_entries_give_the_same_bytes() {
        let entries = [Entry::directory("proc"), Entry::file("x", 0o600, vec![1, 2, 3, 4, 5])];
        assert_eq!(archive(&entries), archive(&entries));
    }
}
