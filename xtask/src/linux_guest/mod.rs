//! The Linux guest of `partitions/linux-demo.toml`: Debian's arm64 kernel `Image` and an
//! initramfs of Debian's static busybox plus our init script, fetched and built by xtask.
//!
//! Neither file is committed (the kernel is GPL-2.0 and 33 MB); manifests name them by
//! their place in the cache, `target/linux-guest/Image` and `target/linux-guest/initramfs.cpio`
//! (`image = { file = "../target/linux-guest/Image" }` from `partitions/`). Before a manifest
//! is loaded, [`prepare_inputs`] looks at its `image.file` and `initrd` values and produces
//! any of these two it names, so `cargo xtask build|run|check` and the test harness work on
//! a fresh checkout:
//!
//! 1. each Debian package is `apt-get download`ed as `<package>:arm64` (adding the arm64
//!    architecture and refreshing the lists first when running as root; otherwise the exact
//!    commands are printed) unless a `.deb` with the pinned SHA-256 is already in the cache
//!    or in the board device-tree cache (`target/debian-dtbs/`, the same kernel package);
//! 2. the `.deb` is checked against its pinned SHA-256 (apt has verified it against the
//!    signed archive; the pin makes the guest reproducible), then the one file needed is
//!    extracted (`dpkg-deb --fsys-tarfile | tar -x`, which never writes the rest of the
//!    package) and checked against its own pinned SHA-256;
//! 3. the initramfs is written by [`cpio`] from busybox, `partitions/linux-initramfs/init`,
//!    `inittab` and `profile`, and `/dev/console` as a device node (no root needed),
//!    uncompressed. It
//!    is rewritten only when its bytes change, so the EL2 image is not rebuilt needlessly.
//!
//! Every use re-checks the cached kernel's SHA-256, so a changed or truncated file is an
//! error, never a silently different guest.

pub mod block_device;
pub mod cpio;

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::apt;
use crate::paths::Repository;
use crate::progress::Progress;
use crate::toolchain::BareMetalCargo;

/// Cache directory under the repository root.
pub const CACHE_DIR: &str = "target/linux-guest";
/// The kernel `Image` file name in the cache.
pub const KERNEL_FILE: &str = "Image";
/// The initramfs file name in the cache.
pub const INITRAMFS_FILE: &str = "initramfs.cpio";
/// Our init script and busybox init table (repository-relative).
pub const INITRAMFS_SOURCES: &str = "partitions/linux-initramfs";
/// The guest crate built into the initramfs as `/bin/linux-counter` (prints the virtual
/// counter; `partitions/linux-counter`).
pub const COUNTER_CRATE: &str = "linux-counter";
/// What follows the counter value in the marker line: `... userspace at counter <N>`.
pub const COUNTER_PREFIX: &str = "userspace at counter ";
/// The start of the line `/init` prints once the partition's userspace runs (what the
/// integration test waits for).
pub const INIT_MARKER: &str = "linux-demo: init ready";

/// One file inside one Debian arm64 package, both pinned by SHA-256.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DebianFile {
    /// Binary package name.
    pub package: &'static str,
    /// The version the checksums were taken from.
    pub version: &'static str,
    /// SHA-256 of the `.deb` (as in the archive's `Packages` index).
    pub deb_sha256: &'static str,
    /// Path of the file inside the package, without the leading `/`.
    pub path: &'static str,
    /// SHA-256 of the file.
    pub sha256: &'static str,
}

/// Debian 12's arm64 kernel: `/boot/vmlinuz-*` is an uncompressed arm64 `Image` (the
/// `ARM\x64` header magic at byte 56), booted as it is.
pub const KERNEL: DebianFile = DebianFile {
    package: "linux-image-6.1.0-56-arm64-unsigned",
    version: "6.1.192-2",
    deb_sha256: "f8357fc813e879efb7f467f5b8a37e2426e177bb3d683fac644d70a8343e6a49",
    path: "boot/vmlinuz-6.1.0-56-arm64",
    sha256: "01cdadc9c4ae4a89dccadba1245af64d8f723d49528b55514e1eefc539c1622d",
};

/// Debian 12's static busybox for arm64.
pub const BUSYBOX: DebianFile = DebianFile {
    package: "busybox-static",
    version: "1:1.35.0-4+deb12u1+b1",
    deb_sha256: "732c9135564fc71337e0e05fb4da4d11e6c28c1834bce3e405e575afef2a52f5",
    path: "bin/busybox",
    sha256: "61781806ad3650b0b9d2b3fc6971e2bffdca967af1a95375abd0578bafff14fb",
};

/// Why the Linux guest's files could not be produced.
#[derive(Debug)]
pub enum LinuxGuestError {
    /// A step needs root (adding the arm64 architecture, refreshing the lists).
    NeedsRoot {
        /// What was missing.
        reason: String,
        /// The commands to run as root, then retry.
        commands: String,
    },
    /// A command failed.
    Command {
        /// The command line.
        command: String,
        /// What it printed on stderr, or why it could not start.
        detail: String,
    },
    /// A file's SHA-256 is not the pinned one.
    Checksum {
        /// The file.
        path: PathBuf,
        /// Pinned here.
        expected: &'static str,
        /// Of the bytes found.
        actual: String,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl fmt::Display for LinuxGuestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NeedsRoot { reason, commands } => {
                write!(f, "{reason}; run as root, then retry:\n{commands}")
            }
            Self::Command { command, detail } => write!(f, "`{command}` failed: {detail}"),
            Self::Checksum {
                path,
                expected,
                actual,
            } => write!(
                f,
                "{} has SHA-256 {actual}, expected {expected} (xtask/src/linux_guest/mod.rs pins it): \
                 delete it to fetch it again, or, if Debian replaced the package, check the new one and update the pin",
                path.display()
            ),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for LinuxGuestError {}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> LinuxGuestError + '_ {
    move |source| LinuxGuestError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The files xtask can produce, by absolute path.
fn producible(repository: &Repository) -> [(PathBuf, Artifact); 3] {
    let cache = repository.root().join(CACHE_DIR);
    [
        (cache.join(KERNEL_FILE), Artifact::Kernel),
        (cache.join(INITRAMFS_FILE), Artifact::Initramfs),
        (cache.join(block_device::DISK_IMAGE), Artifact::Disk),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Artifact {
    Kernel,
    Initramfs,
    Disk,
}

/// `path` with `.` and `..` resolved lexically (the files need not exist yet).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The `image.file` and `initrd` paths of every partition of the manifest text, resolved
/// against `manifest_dir`. A manifest that does not parse yields none: loading it reports why.
pub fn input_files(manifest_text: &str, manifest_dir: &Path) -> Vec<PathBuf> {
    let Ok(table) = manifest_text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let partitions = table
        .get("partition")
        .and_then(toml::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    partitions
        .iter()
        .flat_map(|partition| {
            let image = partition
                .get("image")
                .and_then(|image| image.get("file"))
                .and_then(toml::Value::as_str);
            let initrd = partition.get("initrd").and_then(toml::Value::as_str);
            [image, initrd]
        })
        .flatten()
        .chain(
            table
                .get("qemu")
                .and_then(|qemu| qemu.get("virtio_blk"))
                .and_then(toml::Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(toml::Value::as_str),
        )
        .map(|file| normalise(&manifest_dir.join(file)))
        .collect()
}

/// The counter value in a marker line (`... userspace at counter <N>`), if it has one.
pub fn userspace_counter(line: &str) -> Option<u64> {
    if !line.contains(INIT_MARKER) {
        return None;
    }
    let (_, rest) = line.split_once(COUNTER_PREFIX)?;
    rest.trim().parse().ok()
}

/// Whether `manifest` names any file [`prepare_inputs`] produces (so that callers without
/// a guest toolchain at hand only set one up when it is needed).
pub fn names_linux_guest(repository: &Repository, manifest: &Path) -> bool {
    let Ok(text) = fs::read_to_string(manifest) else { return false };
    let Ok(absolute) = std::path::absolute(manifest) else { return false };
    let absolute = normalise(&absolute);
    let wanted = input_files(&text, absolute.parent().unwrap_or(Path::new("/")));
    producible(repository).iter().any(|(path, _)| wanted.contains(path))
}

/// Produces the Linux guest files `manifest` names (see the module documentation); does
/// nothing for a manifest that names none of them.
pub fn prepare_inputs(
    repository: &Repository,
    manifest: &Path,
    progress: &Progress,
    cargo: &BareMetalCargo,
) -> Result<(), LinuxGuestError> {
    let Ok(text) = fs::read_to_string(manifest) else {
        // Loading the manifest reports the error with its code.
        return Ok(());
    };
    let manifest = normalise(&std::path::absolute(manifest).map_err(io_error(manifest))?);
    let directory = manifest.parent().unwrap_or(Path::new("/"));
    let wanted = input_files(&text, directory);
    for (path, artifact) in producible(repository) {
        if !wanted.contains(&path) {
            continue;
        }
        match artifact {
            Artifact::Kernel => kernel(repository, progress)?,
            Artifact::Initramfs => initramfs(repository, progress, cargo)?,
            Artifact::Disk => block_device::disk_image(repository, progress)?,
        };
    }
    Ok(())
}

/// The verified kernel `Image` in the cache, fetched when missing.
pub fn kernel(repository: &Repository, progress: &Progress) -> Result<PathBuf, LinuxGuestError> {
    let cache = repository.root().join(CACHE_DIR);
    let path = cache.join(KERNEL_FILE);
    if path.is_file() {
        verify(&path, &fs::read(&path).map_err(io_error(&path))?, KERNEL.sha256)?;
        return Ok(path);
    }
    let bytes = fetch(repository, &KERNEL, progress)?;
    write_if_changed(&path, &bytes)?;
    Ok(path)
}

/// The initramfs in the cache, (re)written from busybox, [`COUNTER_CRATE`] and
/// `partitions/linux-initramfs/`.
pub fn initramfs(repository: &Repository, progress: &Progress, cargo: &BareMetalCargo) -> Result<PathBuf, LinuxGuestError> {
    let cache = repository.root().join(CACHE_DIR);
    let busybox_path = cache.join("busybox");
    let busybox = match fs::read(&busybox_path) {
        Ok(bytes) if sha256_hex(&bytes) == BUSYBOX.sha256 => bytes,
        _ => {
            let bytes = fetch(repository, &BUSYBOX, progress)?;
            write_if_changed(&busybox_path, &bytes)?;
            bytes
        }
    };
    let sources = repository.root().join(INITRAMFS_SOURCES);
    let read = |name: &str| {
        let path = sources.join(name);
        fs::read(&path).map_err(io_error(&path))
    };
    let counter = build_counter(repository, progress, cargo)?;
    let modules = block_device::modules(repository, progress)?;
    let files = InitramfsFiles {
        busybox,
        counter,
        modules,
        init: read("init")?,
        inittab: read("inittab")?,
        profile: read("profile")?,
    };
    let archive = initramfs_archive(files);
    let path = cache.join(INITRAMFS_FILE);
    write_if_changed(&path, &archive)?;
    Ok(path)
}

/// Builds [`COUNTER_CRATE`] with the guests' toolchain; its ELF.
fn build_counter(repository: &Repository, progress: &Progress, cargo: &BareMetalCargo) -> Result<Vec<u8>, LinuxGuestError> {
    let step = progress.step(format!("building {COUNTER_CRATE}"));
    let mut command = cargo.release_build(&repository.partitions_workspace(), [COUNTER_CRATE]);
    if let Err(error) = step.run(&mut command) {
        step.fail("");
        return Err(LinuxGuestError::Command {
            command: format!("cargo build --release -p {COUNTER_CRATE}"),
            detail: error.to_string(),
        });
    }
    let path = repository.guest_elf(COUNTER_CRATE);
    let bytes = fs::read(&path).map_err(io_error(&path))?;
    step.succeed("");
    Ok(bytes)
}

/// What goes into the initramfs besides directories and the console node.
pub struct InitramfsFiles {
    /// Debian's static busybox.
    pub busybox: Vec<u8>,
    /// The [`COUNTER_CRATE`] ELF.
    pub counter: Vec<u8>,
    /// `/init`.
    pub init: Vec<u8>,
    /// `/etc/inittab`.
    pub inittab: Vec<u8>,
    /// `/etc/profile`.
    pub profile: Vec<u8>,
    /// Kernel modules as (name, bytes), in load order: `/lib/modules/<name>.ko`, listed in
    /// `/etc/modules`.
    pub modules: Vec<(&'static str, Vec<u8>)>,
}

/// The initramfs: the directories busybox's `--install -s` fills, `/dev/console` (the
/// kernel opens it for init's standard streams before anything could create it), busybox,
/// `/bin/linux-counter`, `/init`, `/etc/inittab` and `/etc/profile`.
pub fn initramfs_archive(files: InitramfsFiles) -> Vec<u8> {
    let InitramfsFiles { busybox, counter, init, inittab, profile, modules } = files;
    use cpio::Entry;
    let mut entries: Vec<Entry> = ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "etc", "proc", "sys", "tmp", "root", "mnt", "lib", "lib/modules"]
        .into_iter()
        .map(Entry::directory)
        .collect();
    entries.push(Entry::character_device("dev/console", 5, 1));
    entries.push(Entry::file("bin/busybox", 0o755, busybox));
    entries.push(Entry::symlink("bin/sh", "busybox"));
    entries.push(Entry::file("bin/linux-counter", 0o755, counter));
    entries.push(Entry::file("init", 0o755, init));
    entries.push(Entry::file("etc/inittab", 0o644, inittab));
    entries.push(Entry::file("etc/profile", 0o644, profile));
    let load_order: String = modules.iter().map(|(name, _)| format!("{name}\n")).collect();
    entries.push(Entry::file("etc/modules", 0o644, load_order.into_bytes()));
    for (name, bytes) in modules {
        entries.push(Entry::file(&format!("lib/modules/{name}.ko"), 0o644, bytes));
    }
    cpio::archive(&entries)
}

/// Writes `bytes` to `path` unless it already holds exactly them.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), LinuxGuestError> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    if let Some(directory) = path.parent() {
        fs::create_dir_all(directory).map_err(io_error(directory))?;
    }
    let partial = path.with_extension("partial");
    fs::write(&partial, bytes).map_err(io_error(&partial))?;
    fs::rename(&partial, path).map_err(io_error(path))
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn verify(path: &Path, bytes: &[u8], expected: &'static str) -> Result<(), LinuxGuestError> {
    let actual = sha256_hex(bytes);
    if actual == expected {
        Ok(())
    } else {
        Err(LinuxGuestError::Checksum {
            path: path.to_path_buf(),
            expected,
            actual,
        })
    }
}

/// The file's bytes from a verified `.deb` of its package.
fn fetch(repository: &Repository, file: &DebianFile, progress: &Progress) -> Result<Vec<u8>, LinuxGuestError> {
    let step = progress.step(format!("fetching {} {} (arm64)", file.package, file.version));
    let outcome = cached_deb(repository, file)
        .map_or_else(|| download(repository, file, &step), Ok)
        .and_then(|deb| {
            let bytes = extract(&deb, file.path)?;
            verify(&deb.join(file.path), &bytes, file.sha256)?;
            Ok(bytes)
        });
    match &outcome {
        Ok(_) => step.succeed(&format!("/{}", file.path)),
        Err(_) => step.fail(""),
    }
    outcome
}

/// A `.deb` of the package with the pinned SHA-256 already on disk (this cache, or the board
/// device-tree cache, which holds the same kernel package).
fn cached_deb(repository: &Repository, file: &DebianFile) -> Option<PathBuf> {
    let prefix = format!("{}_", file.package);
    [CACHE_DIR, "target/debian-dtbs"]
        .iter()
        .filter_map(|directory| fs::read_dir(repository.root().join(directory)).ok())
        .flat_map(|entries| entries.filter_map(Result::ok).map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(&prefix) && name.ends_with(".deb"))
        })
        .find(|path| fs::read(path).is_ok_and(|bytes| sha256_hex(&bytes) == file.deb_sha256))
}

/// The commands that fetch the package by hand.
fn manual_commands(file: &DebianFile) -> String {
    format!(
        "  dpkg --add-architecture arm64 && apt-get update\n  cd {CACHE_DIR} && apt-get download {}:arm64",
        file.package
    )
}

/// Runs `command`; its stdout on success.
fn run(command: &mut Command) -> Result<String, LinuxGuestError> {
    let line = format!("{command:?}");
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| LinuxGuestError::Command {
            command: line.clone(),
            detail: error.to_string(),
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(LinuxGuestError::Command {
            command: line,
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// `apt-get download <package>:arm64` into the cache; checks the `.deb`'s SHA-256.
fn download(
    repository: &Repository,
    file: &DebianFile,
    step: &crate::progress::Step,
) -> Result<PathBuf, LinuxGuestError> {
    let cache = repository.root().join(CACHE_DIR);
    fs::create_dir_all(&cache).map_err(io_error(&cache))?;
    let root = apt::running_as_root();
    let native = run(Command::new("dpkg").arg("--print-architecture"))?;
    let foreign = run(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    let mut lists_stale = false;
    if native.trim() != "arm64" && !foreign.split_whitespace().any(|name| name == "arm64") {
        if !root {
            return Err(LinuxGuestError::NeedsRoot {
                reason: "dpkg does not know the arm64 architecture".to_owned(),
                commands: manual_commands(file),
            });
        }
        step.set_detail("dpkg --add-architecture arm64");
        run(Command::new("dpkg").args(["--add-architecture", "arm64"]))?;
        lists_stale = true;
    }
    let target = format!("{}:arm64", file.package);
    let mut attempt = 0;
    // BOUND: two attempts, the second after refreshing the package lists.
    loop {
        if lists_stale {
            if !root {
                return Err(LinuxGuestError::NeedsRoot {
                    reason: format!("`apt-get download {target}` needs fresh package lists"),
                    commands: manual_commands(file),
                });
            }
            step.set_detail("apt-get update");
            run(Command::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive").args(["update", "-qq"]))?;
        }
        step.set_detail(&format!("apt-get download {target}"));
        match run(Command::new("apt-get").current_dir(&cache).args(["download", "-qq", &target])) {
            Ok(_) => break,
            Err(_) if attempt == 0 && !lists_stale => {
                attempt += 1;
                lists_stale = true;
            }
            Err(error) => return Err(error),
        }
    }
    let deb = cached_deb(repository, file);
    match deb {
        Some(deb) => Ok(deb),
        None => {
            let downloaded = fs::read_dir(&cache)
                .map_err(io_error(&cache))?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .find(|path| {
                    path.file_name()
                        .and_then(|name| name.to_str())
                        .is_some_and(|name| name.starts_with(&format!("{}_", file.package)))
                })
                .unwrap_or_else(|| cache.join(format!("{}_*.deb", file.package)));
            let actual = fs::read(&downloaded).map_or_else(|error| error.to_string(), |bytes| sha256_hex(&bytes));
            Err(LinuxGuestError::Checksum {
                path: downloaded,
                expected: file.deb_sha256,
                actual,
            })
        }
    }
}

/// The bytes of `path` inside `deb`: `dpkg-deb --fsys-tarfile deb | tar -xO ./path`.
fn extract(deb: &Path, path: &str) -> Result<Vec<u8>, LinuxGuestError> {
    let command_failed = |command: &str, detail: String| LinuxGuestError::Command {
        command: command.to_owned(),
        detail,
    };
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| command_failed("dpkg-deb --fsys-tarfile", error.to_string()))?;
    let tar_input = dpkg
        .stdout
        .take()
        .ok_or_else(|| command_failed("dpkg-deb --fsys-tarfile", "no output pipe".to_owned()))?;
    let member = format!("./{path}");
    let mut tar = Command::new("tar")
        .args(["-x", "-O", "-f", "-", &member])
        .stdin(tar_input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| command_failed("tar -x", error.to_string()))?;
    let mut bytes = Vec::new();
    if let Some(mut stdout) = tar.stdout.take() {
        stdout
            .read_to_end(&mut bytes)
            .map_err(|error| command_failed("tar -x", error.to_string()))?;
    }
    let tar_status = tar.wait().map_err(|error| command_failed("tar -x", error.to_string()))?;
    let _ = dpkg.wait();
    if !tar_status.success() || bytes.is_empty() {
        let mut detail = String::new();
        if let Some(mut stderr) = tar.stderr.take() {
            let _ = stderr.read_to_string(&mut detail);
        }
        return Err(command_failed(
            &format!("dpkg-deb --fsys-tarfile {} | tar -x {member}", deb.display()),
            format!("{} (is /{path} in the package?)", detail.trim()),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_and_initrd_files_are_found_relative_to_the_manifest() {
        let text = r#"
[system]
board = "qemu-virt"
[[partition]]
name = "rt"
image = { crate = "heartbeat" }
[[partition]]
name = "linux"
image = { file = "../target/linux-guest/Image" }
initrd = "../target/linux-guest/initramfs.cpio"
[qemu]
virtio_blk = ["../target/linux-guest/disk.img"]
"#;
        let files = input_files(text, Path::new("/repo/partitions"));
        assert_eq!(
            files,
            [
                PathBuf::from("/repo/target/linux-guest/Image"),
                PathBuf::from("/repo/target/linux-guest/initramfs.cpio"),
                PathBuf::from("/repo/target/linux-guest/disk.img")
            ]
        );
    }

    #[test]
    fn a_manifest_that_does_not_parse_names_no_files() {
        assert!(input_files("[[partition]\nimage = ", Path::new("/r")).is_empty());
    }

    #[test]
    fn the_initramfs_holds_init_busybox_inittab_and_the_console_node() {
        let archive = initramfs_archive(InitramfsFiles {
            busybox: b"BUSYBOX".to_vec(),
            counter: b"COUNTER".to_vec(),
            init: b"#!/bin/busybox sh\n".to_vec(),
            inittab: b"::respawn:-/bin/sh\n".to_vec(),
            profile: b"export TERM=dumb\n".to_vec(),
            modules: vec![("ext4", b"EXT4MODULE".to_vec())],
        });
        let text = String::from_utf8_lossy(&archive);
        for name in ["init\0", "bin/busybox\0", "etc/inittab\0", "etc/profile\0", "dev/console\0", "bin/sh\0", "bin/linux-counter\0", "lib/modules/ext4.ko\0", "etc/modules\0", "mnt\0", "TRAILER!!!\0"] {
            assert!(text.contains(name), "{name} missing");
        }
        assert!(text.contains("BUSYBOX") && text.contains("::respawn:-/bin/sh"));
    }

    #[test]
    fn the_committed_init_script_prints_the_marker_and_hands_over_to_busybox_init() {
        let repository = Repository::locate();
        let init = fs::read_to_string(repository.root().join(INITRAMFS_SOURCES).join("init")).unwrap();
        assert!(init.starts_with("#!/bin/busybox sh\n"));
        assert!(init.contains(&format!("echo \"{INIT_MARKER}")), "{init}");
        assert!(init.contains(&format!("{COUNTER_PREFIX}$")), "{init}");
        assert!(init.trim_end().ends_with("exec /sbin/init"));
    }

    #[test]
    fn the_counter_is_read_from_the_marker_line_only() {
        let line = format!("[linux] {INIT_MARKER} on 2 CPUs, kernel 6.1.0-56-arm64, {COUNTER_PREFIX}4123456789");
        assert_eq!(userspace_counter(&line), Some(4_123_456_789));
        assert_eq!(userspace_counter(&format!("[rt] {COUNTER_PREFIX}5")), None);
        assert_eq!(userspace_counter(&format!("{INIT_MARKER}, {COUNTER_PREFIX}")), None);
    }

    #[test]
    fn checksums_are_lowercase_hex_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for file in [KERNEL, BUSYBOX] {
            for pin in [file.sha256, file.deb_sha256] {
                assert_eq!(pin.len(), 64);
                assert!(pin.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)));
            }
        }
    }
}
