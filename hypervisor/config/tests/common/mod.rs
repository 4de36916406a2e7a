//! Shared test helpers: fixture paths, `# expect:` markers and synthetic guest images.
//!
//! Fixtures mark the line a diagnostic must point at with a trailing comment
//! `# expect: BH0101` (several codes separated by commas). [`assert_markers`] checks that the
//! diagnostics are exactly the marked (file, code, line) set: nothing missing, nothing extra.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

pub mod debian_dtbs;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bulkhead_config::Diagnostics;

/// The repository root (holds `board-configs/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file under `tests/fixtures/`.
pub fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

/// The repository root that has the board the manifest `text` names: the real one, or
/// `tests/fixtures/` for the test boards under `tests/fixtures/board-configs/`.
pub fn root_for(text: &str) -> PathBuf {
    let board = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("board = \""))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default();
    if bulkhead_config::Board::directory_of(&repo_root(), board).is_some() {
        repo_root()
    } else {
        fixture("")
    }
}

/// A fixture made ready to load: `path` is the manifest to pass to the compiler; `_directory`
/// (when the fixture asked for files) holds a copy of it next to those files.
pub struct PreparedFixture {
    pub path: PathBuf,
    pub _directory: Option<tempfile::TempDir>,
}

/// Applies a fixture's file directives: `# make-file: NAME BYTES` creates a zero-filled
/// (sparse) file of that size, `# make-fifo: NAME` a FIFO (named pipe; a hostile "image" that
/// would block any reader forever). When there is any, the manifest is copied into a
/// temporary directory next to the files, keeping its file name.
pub fn prepare_fixture(manifest: &Path) -> PreparedFixture {
    let text = std::fs::read_to_string(manifest).unwrap();
    let files: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("# make-file: ") || line.starts_with("# make-fifo: "))
        .collect();
    if files.is_empty() {
        return PreparedFixture {
            path: manifest.to_path_buf(),
            _directory: None,
        };
    }
    let directory = tempfile::tempdir().unwrap();
    for line in files {
        if let Some(directive) = line.strip_prefix("# make-file: ") {
            let (file, bytes) = directive.split_once(' ').expect("make-file: NAME BYTES");
            let handle = std::fs::File::create(directory.path().join(file)).unwrap();
            handle.set_len(bytes.trim().parse().unwrap()).unwrap();
        } else if let Some(file) = line.strip_prefix("# make-fifo: ") {
            let status = std::process::Command::new("mkfifo")
                .arg(directory.path().join(file.trim()))
                .status()
                .expect("mkfifo runs (coreutils)");
            assert!(status.success(), "mkfifo {file} failed");
        }
    }
    let path = directory.path().join(manifest.file_name().unwrap());
    std::fs::write(&path, &text).unwrap();
    PreparedFixture {
        path,
        _directory: Some(directory),
    }
}

/// (file name, code id, line) of every `# expect:` marker in `files`.
pub fn markers(files: &[PathBuf]) -> BTreeSet<(String, String, usize)> {
    let mut expected = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for (index, line) in text.lines().enumerate() {
            if let Some((_, codes)) = line.split_once("# expect:") {
                for code in codes.split(',') {
                    expected.insert((name.clone(), code.trim().to_owned(), index + 1));
                }
            }
        }
    }
    expected
}

/// (file name, code id, line) of every diagnostic.
pub fn observed(diagnostics: &Diagnostics) -> BTreeSet<(String, String, usize)> {
    diagnostics
        .iter()
        .map(|diagnostic| {
            let file = diagnostic
                .file_name()
                .map(|name| {
                    Path::new(name)
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned()
                })
                .unwrap_or_else(|| "<no file>".to_owned());
            (
                file,
                diagnostic.code().id().to_owned(),
                diagnostic.line().unwrap_or(0),
            )
        })
        .collect()
}

/// Asserts the diagnostics are exactly the markers of `files`, printing the rendered report
/// on mismatch.
pub fn assert_markers(diagnostics: &Diagnostics, files: &[PathBuf]) {
    let expected = markers(files);
    assert!(!expected.is_empty(), "fixture has no # expect: marker");
    let observed = observed(diagnostics);
    assert_eq!(
        observed,
        expected,
        "diagnostics differ from markers; report:\n{}",
        diagnostics.render(false)
    );
}

/// `p_paddr`, file bytes and `p_memsz` of one PT_LOAD segment.
pub struct Segment<'a> {
    pub address: u64,
    pub data: &'a [u8],
    pub memory_size: u64,
}

pub const EM_AARCH64: u16 = 183;
pub const ET_EXEC: u16 = 2;

/// A minimal ELF64 little-endian file with the given PT_LOAD segments.
pub fn elf(machine: u16, elf_type: u16, entry: u64, segments: &[Segment<'_>]) -> Vec<u8> {
    const HEADER: usize = 64;
    const PROGRAM_HEADER: usize = 56;
    let mut out = vec![0u8; HEADER + segments.len() * PROGRAM_HEADER];
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 2; // ELFCLASS64
    out[5] = 1; // ELFDATA2LSB
    out[6] = 1; // EV_CURRENT
    out[16..18].copy_from_slice(&elf_type.to_le_bytes());
    out[18..20].copy_from_slice(&machine.to_le_bytes());
    out[20..24].copy_from_slice(&1u32.to_le_bytes());
    out[24..32].copy_from_slice(&entry.to_le_bytes());
    out[32..40].copy_from_slice(&(HEADER as u64).to_le_bytes());
    out[52..54].copy_from_slice(&(HEADER as u16).to_le_bytes());
    out[54..56].copy_from_slice(&(PROGRAM_HEADER as u16).to_le_bytes());
    out[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
    for (index, segment) in segments.iter().enumerate() {
        let header = HEADER + index * PROGRAM_HEADER;
        let offset = out.len() as u64;
        out[header..header + 4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        out[header + 4..header + 8].copy_from_slice(&7u32.to_le_bytes()); // RWX
        out[header + 8..header + 16].copy_from_slice(&offset.to_le_bytes());
        out[header + 16..header + 24].copy_from_slice(&segment.address.to_le_bytes());
        out[header + 24..header + 32].copy_from_slice(&segment.address.to_le_bytes());
        out[header + 32..header + 40].copy_from_slice(&(segment.data.len() as u64).to_le_bytes());
        out[header + 40..header + 48].copy_from_slice(&segment.memory_size.to_le_bytes());
        out[header + 48..header + 56].copy_from_slice(&0x1_0000u64.to_le_bytes());
        out.extend_from_slice(segment.data);
    }
    out
}

/// A guest like the demo ones: code at 0x4008_0000, data after it, and a `.bss` tail.
pub fn demo_guest(marker: &[u8]) -> Vec<u8> {
    elf(
        EM_AARCH64,
        ET_EXEC,
        0x4008_0000,
        &[
            Segment {
                address: 0x4008_0000,
                data: marker,
                memory_size: marker.len() as u64,
            },
            Segment {
                address: 0x4009_0000,
                data: b"data",
                memory_size: 0x2000,
            },
        ],
    )
}

/// A raw arm64 `Image` (booting.rst header) of `length` bytes.
pub fn linux_image(text_offset: u64, image_size: u64, length: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; length];
    bytes[8..16].copy_from_slice(&text_offset.to_le_bytes());
    bytes[16..24].copy_from_slice(&image_size.to_le_bytes());
    bytes[24..32].copy_from_slice(&0b1010u64.to_le_bytes());
    bytes[56..60].copy_from_slice(b"ARM\x64");
    bytes
}
