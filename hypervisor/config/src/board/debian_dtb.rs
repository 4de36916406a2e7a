//! Device tree blobs taken from Debian's arm64 kernel package, for boards whose upstream tree
//! may not be committed here (the Linux DTS files are GPL-2.0).
//!
//! `board.toml` names the package, the blob's path inside it and its SHA-256 (`[dtb]`). The
//! blob is fetched once into a cache directory (`target/debian-dtbs/` by default) with the
//! ordinary Debian tools: `apt-get download` of the arm64 package, then `dpkg-deb
//! --fsys-tarfile | tar -x` of the one file. Every use verifies the checksum, so a changed or
//! corrupted blob is an error, never a silently different board.
//!
//! Privileges: downloading needs the arm64 architecture in dpkg and fresh package lists.
//! When they are missing and this process runs as root it runs `dpkg --add-architecture
//! arm64` and `apt-get update`; otherwise [`FetchError`] carries the exact commands to run.
//! Nothing here escalates privileges.
//!
//! Design: [impl->dsn~config-board~1]

use std::fmt;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Environment variable overriding the cache directory.
pub const CACHE_ENVIRONMENT_VARIABLE: &str = "BULKHEAD_DEBIAN_DTB_CACHE";

/// Serialises fetches within one process (parallel tests share the cache).
static FETCH: Mutex<()> = Mutex::new(());

/// One blob inside one Debian package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebianDtb {
    /// Binary package name, e.g. `linux-image-6.1.0-56-arm64-unsigned`.
    pub package: String,
    /// The version the checksum was taken from, e.g. `6.1.192-2`.
    pub version: String,
    /// Path inside the package, without the leading `/`.
    pub path: String,
    /// Expected SHA-256, lowercase hex.
    pub sha256: String,
}

impl DebianDtb {
    /// The blob's file name (last path component).
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// Where the verified blob is kept in `cache_dir`.
    pub fn cached_path(&self, cache_dir: &Path) -> PathBuf {
        cache_dir.join(self.file_name())
    }

    /// The `.deb` file name `apt-get download` produces for this package (any version).
    fn deb_prefix(&self) -> String {
        format!("{}_", self.package)
    }
}

/// Why no verified blob could be produced.
#[derive(Debug)]
pub enum FetchError {
    /// A step needs root (adding the architecture, refreshing lists); the exact commands.
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
        /// Its standard error (trimmed).
        stderr: String,
        /// The commands that would do the whole fetch by hand.
        commands: String,
    },
    /// The package does not contain the path.
    NotInPackage {
        /// The package file.
        deb: PathBuf,
        /// The path looked for.
        path: String,
    },
    /// The blob's checksum differs from `board.toml`'s.
    Checksum {
        /// The blob.
        path: String,
        /// From `board.toml`.
        expected: String,
        /// Of the fetched bytes.
        actual: String,
    },
    /// Reading or writing the cache failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NeedsRoot { reason, commands } => {
                write!(f, "{reason}; run as root, then retry:\n{commands}")
            }
            Self::Command {
                command,
                stderr,
                commands,
            } => write!(
                f,
                "`{command}` failed: {stderr}\nto fetch the blob by hand:\n{commands}"
            ),
            Self::NotInPackage { deb, path } => {
                write!(f, "{} does not contain /{path}", deb.display())
            }
            Self::Checksum {
                path,
                expected,
                actual,
            } => write!(
                f,
                "{path} has SHA-256 {actual}, but board.toml expects {expected}: the package changed; check the new blob and update [dtb] in board.toml"
            ),
            Self::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for FetchError {}

/// The cache directory: `$BULKHEAD_DEBIAN_DTB_CACHE`, else `<repo_root>/target/debian-dtbs`.
pub fn cache_dir(repo_root: &Path) -> PathBuf {
    std::env::var_os(CACHE_ENVIRONMENT_VARIABLE)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root.join("target").join("debian-dtbs"))
}

/// The shell commands that fetch `dtb` into `cache_dir` by hand.
pub fn manual_commands(dtb: &DebianDtb, cache_dir: &Path) -> String {
    format!(
        "  dpkg --add-architecture arm64 && apt-get update\n  \
         cd $(mktemp -d) && apt-get download {package}:arm64\n  \
         dpkg-deb --fsys-tarfile {package}_*_arm64.deb | tar -xf - ./{path}\n  \
         mkdir -p {cache} && cp {path} {cache}/\n  \
         sha256sum {cache}/{file}   # must be {sha256}",
        package = dtb.package,
        path = dtb.path,
        cache = cache_dir.display(),
        file = dtb.file_name(),
        sha256 = dtb.sha256,
    )
}

/// Returns the path of the verified blob in `cache_dir`, fetching it first if needed.
pub fn fetch(dtb: &DebianDtb, cache_dir: &Path) -> Result<PathBuf, FetchError> {
    let _serialised = FETCH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let cached = dtb.cached_path(cache_dir);
    if let Ok(bytes) = std::fs::read(&cached) {
        if sha256_hex(&bytes) == dtb.sha256 {
            return Ok(cached);
        }
    }
    create_dir(cache_dir)?;
    let deb = match find_deb(dtb, cache_dir) {
        Some(deb) => deb,
        None => download(dtb, cache_dir)?,
    };
    let bytes = extract(&deb, &dtb.path, dtb, cache_dir)?;
    let actual = sha256_hex(&bytes);
    if actual != dtb.sha256 {
        return Err(FetchError::Checksum {
            path: dtb.path.clone(),
            expected: dtb.sha256.clone(),
            actual,
        });
    }
    write_atomically(&cached, &bytes)?;
    Ok(cached)
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn create_dir(directory: &Path) -> Result<(), FetchError> {
    std::fs::create_dir_all(directory).map_err(|error| FetchError::Io {
        path: directory.to_path_buf(),
        error,
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    let temporary = path.with_extension(format!("partial-{}", std::process::id()));
    let io_error = |error| FetchError::Io {
        path: path.to_path_buf(),
        error,
    };
    std::fs::write(&temporary, bytes).map_err(io_error)?;
    std::fs::rename(&temporary, path).map_err(io_error)
}

/// A previously downloaded `.deb` of the package in the cache.
fn find_deb(dtb: &DebianDtb, cache_dir: &Path) -> Option<PathBuf> {
    let prefix = dtb.deb_prefix();
    std::fs::read_dir(cache_dir)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(&prefix) && name.ends_with("_arm64.deb"))
        })
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|metadata| metadata.uid() == 0)
}

/// Runs `program arguments` in `directory`; `Err` carries its standard error.
fn run(program: &str, arguments: &[&str], directory: &Path) -> Result<String, (String, String)> {
    let line = format!("{program} {}", arguments.join(" "));
    match Command::new(program)
        .args(arguments)
        .current_dir(directory)
        .stdin(Stdio::null())
        .output()
    {
        Ok(output) if output.status.success() => {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        }
        Ok(output) => Err((
            line,
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        )),
        Err(error) => Err((line, error.to_string())),
    }
}

fn command_error(
    dtb: &DebianDtb,
    cache_dir: &Path,
    (command, stderr): (String, String),
) -> FetchError {
    FetchError::Command {
        command,
        stderr,
        commands: manual_commands(dtb, cache_dir),
    }
}

/// Makes sure dpkg knows the arm64 architecture (adding it when root).
fn ensure_arm64(dtb: &DebianDtb, cache_dir: &Path) -> Result<bool, FetchError> {
    let native = run("dpkg", &["--print-architecture"], cache_dir)
        .map_err(|failure| command_error(dtb, cache_dir, failure))?;
    let foreign = run("dpkg", &["--print-foreign-architectures"], cache_dir)
        .map_err(|failure| command_error(dtb, cache_dir, failure))?;
    if native.trim() == "arm64" || foreign.split_whitespace().any(|arch| arch == "arm64") {
        return Ok(false);
    }
    if !running_as_root() {
        return Err(FetchError::NeedsRoot {
            reason: "dpkg does not know the arm64 architecture".to_owned(),
            commands: manual_commands(dtb, cache_dir),
        });
    }
    run("dpkg", &["--add-architecture", "arm64"], cache_dir)
        .map_err(|failure| command_error(dtb, cache_dir, failure))?;
    Ok(true)
}

/// `apt-get download <package>:arm64` into a fresh directory in the cache, refreshing the
/// package lists once (as root) when the first attempt fails for lack of them.
fn download(dtb: &DebianDtb, cache_dir: &Path) -> Result<PathBuf, FetchError> {
    let mut lists_stale = ensure_arm64(dtb, cache_dir)?;
    let work = cache_dir.join(format!("download-{}", std::process::id()));
    create_dir(&work)?;
    let target = format!("{}:arm64", dtb.package);
    let mut attempt = 0;
    let result = loop {
        if lists_stale {
            if !running_as_root() {
                break Err(FetchError::NeedsRoot {
                    reason: format!("`apt-get download {target}` needs fresh package lists"),
                    commands: manual_commands(dtb, cache_dir),
                });
            }
            if let Err(failure) = run("apt-get", &["update", "-qq"], &work) {
                break Err(command_error(dtb, cache_dir, failure));
            }
        }
        match run("apt-get", &["download", "-qq", &target], &work) {
            Ok(_) => break Ok(()),
            Err(failure) if attempt == 0 && !lists_stale => {
                // The usual cause is missing or outdated lists: refresh once and retry.
                attempt += 1;
                lists_stale = true;
                let _ = failure;
            }
            Err(failure) => break Err(command_error(dtb, cache_dir, failure)),
        }
    };
    let moved = result.and_then(|()| {
        let deb = find_deb(dtb, &work).ok_or_else(|| FetchError::Command {
            command: format!("apt-get download {target}"),
            stderr: "no .deb file was produced".to_owned(),
            commands: manual_commands(dtb, cache_dir),
        })?;
        let kept = cache_dir.join(deb.file_name().unwrap_or_default());
        std::fs::rename(&deb, &kept).map_err(|error| FetchError::Io {
            path: kept.clone(),
            error,
        })?;
        Ok(kept)
    });
    let _ = std::fs::remove_dir_all(&work);
    moved
}

/// The bytes of `path` inside `deb`: `dpkg-deb --fsys-tarfile deb | tar -xO ./path`.
fn extract(
    deb: &Path,
    path: &str,
    dtb: &DebianDtb,
    cache_dir: &Path,
) -> Result<Vec<u8>, FetchError> {
    let failure = |command: &str, detail: String| FetchError::Command {
        command: command.to_owned(),
        stderr: detail,
        commands: manual_commands(dtb, cache_dir),
    };
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| failure("dpkg-deb --fsys-tarfile", error.to_string()))?;
    let Some(tar_input) = dpkg.stdout.take() else {
        return Err(failure(
            "dpkg-deb --fsys-tarfile",
            "no output pipe".to_owned(),
        ));
    };
    let member = format!("./{path}");
    let tar = Command::new("tar")
        .args(["-x", "-O", "-f", "-", &member])
        .stdin(tar_input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| failure("tar", error.to_string()))?;
    let output = tar
        .wait_with_output()
        .map_err(|error| failure("tar", error.to_string()))?;
    // tar stops reading once it has the member; dpkg-deb then ends on a closed pipe.
    let _ = dpkg.wait();
    if !output.status.success() || output.stdout.is_empty() {
        return Err(FetchError::NotInPackage {
            deb: deb.to_path_buf(),
            path: path.to_owned(),
        });
    }
    Ok(output.stdout)
}

/// Reads a whole file (used by callers that want the verified bytes).
pub fn read_verified(path: &Path, sha256: &str) -> Result<Vec<u8>, FetchError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut file| file.read_to_end(&mut bytes))
        .map_err(|error| FetchError::Io {
            path: path.to_path_buf(),
            error,
        })?;
    let actual = sha256_hex(&bytes);
    if actual != sha256 {
        return Err(FetchError::Checksum {
            path: path.display().to_string(),
            expected: sha256.to_owned(),
            actual,
        });
    }
    Ok(bytes)
}

// [utest->dsn~config-board~1]
#[cfg(test)]
mod tests {
    use super::*;

    fn zcu102() -> DebianDtb {
        DebianDtb {
            package: "linux-image-6.1.0-56-arm64-unsigned".into(),
            version: "6.1.192-2".into(),
            path: "usr/lib/linux-image-6.1.0-56-arm64/xilinx/zynqmp-zcu102-rev1.0.dtb".into(),
            sha256: "6d24e5b3f495450f80f2ad03b956097d09e26e1b8124abb3c01044b15e3a1caf".into(),
        }
    }

    #[test]
    fn sha256_matches_the_standard_test_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn manual_commands_name_the_package_path_and_checksum() {
        let text = manual_commands(&zcu102(), Path::new("/cache"));
        assert!(text.contains("apt-get download linux-image-6.1.0-56-arm64-unsigned:arm64"));
        assert!(
            text.contains("./usr/lib/linux-image-6.1.0-56-arm64/xilinx/zynqmp-zcu102-rev1.0.dtb")
        );
        assert!(text.contains("6d24e5b3f495450f"));
        assert_eq!(zcu102().file_name(), "zynqmp-zcu102-rev1.0.dtb");
    }

    #[test]
    fn a_cached_blob_with_the_wrong_checksum_is_not_used() {
        let directory = tempfile::tempdir().unwrap();
        let mut dtb = zcu102();
        std::fs::write(dtb.cached_path(directory.path()), b"not the blob").unwrap();
        dtb.sha256 = sha256_hex(b"not the blob");
        assert_eq!(
            fetch(&dtb, directory.path()).unwrap(),
            dtb.cached_path(directory.path())
        );
        assert!(matches!(
            read_verified(&dtb.cached_path(directory.path()), &zcu102().sha256),
            Err(FetchError::Checksum { .. })
        ));
    }
}
