//! Writing the SD card image to a block device, and every reason to refuse.
//!
//! Writing the wrong disk destroys it, so `cargo xtask flash` writes only when all of these
//! hold: `--device /dev/...` was given; it is a block device; it is a whole disk, not a
//! partition; neither it nor any of its partitions is mounted (`/proc/mounts`) or held by
//! another driver (`/sys/block/<disk>/holders` and each partition's: LVM, dm-crypt, RAID);
//! stdin is a terminal; and the user typed the device path back at the prompt. The decision
//! is a pure function of the facts gathered ([`refusal`]), so the tests exercise every
//! refusal without a disk. The device is then opened with `O_EXCL`, which the kernel refuses
//! for a block device that is mounted or claimed, closing the window between check and write.

use std::fmt;
use std::fs;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::progress::Progress;

/// One line of `/proc/mounts`: what is mounted where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The mounted device (or a pseudo name like `proc`).
    pub source: String,
    /// The mount point.
    pub target: String,
}

/// Undoes the octal escapes `/proc/mounts` uses for space, tab, newline and backslash.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escape = bytes.get(index + 1..index + 4).filter(|digits| {
            bytes[index] == b'\\' && digits.iter().all(|digit| (b'0'..=b'7').contains(digit))
        });
        match escape.and_then(|digits| u8::from_str_radix(std::str::from_utf8(digits).ok()?, 8).ok()) {
            Some(byte) => {
                out.push(byte);
                index += 4;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/mounts` (`fstab(5)` format: source, target, type, options, 0, 0).
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            Some(Mount {
                source: unescape(fields.next()?),
                target: unescape(fields.next()?),
            })
        })
        .collect()
}

/// What the system says about the device the user named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceFacts {
    /// The path as given.
    pub path: PathBuf,
    /// Whether it is a block device.
    pub is_block_device: bool,
    /// Its kernel name (`sdb`, `mmcblk0`), when it is one.
    pub kernel_name: Option<String>,
    /// Whether it is a partition rather than a whole disk.
    pub is_partition: bool,
    /// Its partitions' kernel names (`sdb1`, `mmcblk0p1`).
    pub partitions: Vec<String>,
    /// `(disk or partition, holder)` pairs from the `holders` directories.
    pub holders: Vec<(String, String)>,
    /// The device node paths of the disk and its partitions as mounts name them
    /// (`/dev/sdb`, `/dev/sdb1`), plus any other path `/proc/mounts` uses for the same
    /// device numbers.
    pub mounted: Vec<Mount>,
    /// Whether stdin is a terminal someone can type the confirmation on.
    pub stdin_is_terminal: bool,
    /// Size in bytes, for the prompt.
    pub size: Option<u64>,
}

/// Why a device is not written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a block device (a regular file, a character device, nothing).
    NotBlockDevice,
    /// A partition: the image carries its own partition table and goes to the whole disk.
    Partition,
    /// The disk or one of its partitions is mounted.
    Mounted(Vec<Mount>),
    /// Another driver holds the disk or a partition.
    Held(Vec<(String, String)>),
    /// No terminal to confirm on.
    NotInteractive,
    /// The image is larger than the device.
    TooSmall {
        /// Image bytes.
        image: u64,
        /// Device bytes.
        device: u64,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotBlockDevice => write!(f, "not a block device"),
            Self::Partition => write!(f, "a partition: give the whole disk (e.g. /dev/sdb, /dev/mmcblk0), the image has its own partition table"),
            Self::Mounted(mounts) => {
                write!(f, "mounted: ")?;
                let list: Vec<String> = mounts.iter().map(|mount| format!("{} on {}", mount.source, mount.target)).collect();
                write!(f, "{} (unmount it first)", list.join(", "))
            }
            Self::Held(holders) => {
                let list: Vec<String> = holders.iter().map(|(device, holder)| format!("{device} by {holder}")).collect();
                write!(f, "in use: {} (LVM, dm-crypt or RAID; release it first)", list.join(", "))
            }
            Self::NotInteractive => write!(f, "stdin is not a terminal: writing a disk needs a typed confirmation"),
            Self::TooSmall { image, device } => write!(f, "the image ({image} bytes) is larger than the device ({device} bytes)"),
        }
    }
}

/// The first reason not to write `image_size` bytes to the device `facts` describe, if any.
pub fn refusal(facts: &DeviceFacts, image_size: u64) -> Option<Refusal> {
    if !facts.is_block_device {
        return Some(Refusal::NotBlockDevice);
    }
    if facts.is_partition {
        return Some(Refusal::Partition);
    }
    if !facts.mounted.is_empty() {
        return Some(Refusal::Mounted(facts.mounted.clone()));
    }
    if !facts.holders.is_empty() {
        return Some(Refusal::Held(facts.holders.clone()));
    }
    if let Some(device) = facts.size.filter(|device| *device < image_size) {
        return Some(Refusal::TooSmall { image: image_size, device });
    }
    if !facts.stdin_is_terminal {
        return Some(Refusal::NotInteractive);
    }
    None
}

/// Names of the entries of `directory`, sorted; empty when it does not exist.
fn entries(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(directory)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `major:minor` of a block device node, when `path` is one.
fn block_numbers(path: &Path) -> Option<(u64, u64)> {
    let metadata = fs::metadata(path).ok()?;
    metadata.file_type().is_block_device().then(|| {
        let device = metadata.rdev();
        (((device >> 32) & 0xffff_f000) | ((device >> 8) & 0xfff), ((device >> 12) & 0xffff_ff00) | (device & 0xff))
    })
}

/// Gathers the facts about `path` from `sysfs` (normally `/sys`), the mount table and the
/// device nodes; `stdin_is_terminal` is passed in so tests can decide it.
pub fn gather(path: &Path, sysfs: &Path, mounts: &[Mount], stdin_is_terminal: bool) -> DeviceFacts {
    gather_for_numbers(path, block_numbers(path), sysfs, mounts, stdin_is_terminal)
}

/// [`gather`] for a device whose `major:minor` is known (`None`: not a block device).
pub fn gather_for_numbers(
    path: &Path,
    numbers: Option<(u64, u64)>,
    sysfs: &Path,
    mounts: &[Mount],
    stdin_is_terminal: bool,
) -> DeviceFacts {
    let mut facts = DeviceFacts {
        path: path.to_path_buf(),
        is_block_device: false,
        kernel_name: None,
        is_partition: false,
        partitions: Vec::new(),
        holders: Vec::new(),
        mounted: Vec::new(),
        stdin_is_terminal,
        size: None,
    };
    let Some((major, minor)) = numbers else {
        return facts;
    };
    facts.is_block_device = true;
    let Ok(device_dir) = fs::canonicalize(sysfs.join("dev").join("block").join(format!("{major}:{minor}"))) else {
        return facts;
    };
    facts.kernel_name = device_dir.file_name().map(|name| name.to_string_lossy().into_owned());
    facts.is_partition = device_dir.join("partition").exists();
    facts.size = fs::read_to_string(device_dir.join("size"))
        .ok()
        .and_then(|sectors| sectors.trim().parse::<u64>().ok())
        .map(|sectors| sectors * 512);
    facts.partitions = entries(&device_dir)
        .into_iter()
        .filter(|name| device_dir.join(name).join("partition").exists())
        .collect();
    let mut members: Vec<(String, PathBuf)> = Vec::new();
    if let Some(name) = &facts.kernel_name {
        members.push((name.clone(), device_dir.clone()));
    }
    members.extend(facts.partitions.iter().map(|name| (name.clone(), device_dir.join(name))));
    for (name, directory) in &members {
        for holder in entries(&directory.join("holders")) {
            facts.holders.push((name.clone(), holder));
        }
    }
    // A mount names its source by any path (`/dev/sdb1`, `/dev/disk/by-uuid/...`): compare
    // device numbers where the source is a device node, names otherwise.
    let member_numbers: Vec<(u64, u64)> = members
        .iter()
        .filter_map(|(_, directory)| {
            let text = fs::read_to_string(directory.join("dev")).ok()?;
            let (major, minor) = text.trim().split_once(':')?;
            Some((major.parse().ok()?, minor.parse().ok()?))
        })
        .collect();
    let member_nodes: Vec<String> = members.iter().map(|(name, _)| format!("/dev/{name}")).collect();
    facts.mounted = mounts
        .iter()
        .filter(|mount| {
            member_nodes.contains(&mount.source)
                || block_numbers(Path::new(&mount.source)).is_some_and(|numbers| member_numbers.contains(&numbers))
        })
        .cloned()
        .collect();
    facts
}

/// Why the card was not written.
#[derive(Debug)]
pub enum WriteError {
    /// A check refused the device.
    Refused {
        /// The device.
        device: PathBuf,
        /// Why.
        reason: Refusal,
    },
    /// The user did not type the confirmation.
    NotConfirmed,
    /// Reading, opening or writing failed.
    Io {
        /// What was accessed.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused { device, reason } => write!(f, "refusing to write {}: {reason}", device.display()),
            Self::NotConfirmed => write!(f, "not confirmed: nothing was written"),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for WriteError {}

/// Linux's `O_EXCL` (open(2)): on a block device, fail with `EBUSY` when it is mounted or
/// claimed. The value is the same on x86-64 and AArch64 (asm-generic/fcntl.h).
const OPEN_EXCLUSIVE: i32 = 0o200;

/// Checks `device`, asks for confirmation on the terminal, then writes `image` to it.
pub fn write_image(image: &Path, device: &Path, progress: &Progress) -> Result<(), WriteError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError::Io { path, source }
    };
    let image_size = fs::metadata(image).map_err(io_error(image))?.len();
    let mounts = parse_mounts(&fs::read_to_string("/proc/mounts").map_err(io_error(Path::new("/proc/mounts")))?);
    let facts = gather(device, Path::new("/sys"), &mounts, io::stdin().is_terminal());
    if let Some(reason) = refusal(&facts, image_size) {
        return Err(WriteError::Refused { device: device.to_path_buf(), reason });
    }
    let shown = device.display().to_string();
    let size = facts.size.map_or_else(String::new, |bytes| format!(", {} MiB", bytes >> 20));
    eprint!(
        "About to overwrite {shown} ({}{size}) with {} ({} MiB). Everything on it is lost.\nType the device path ({shown}) to continue: ",
        facts.kernel_name.as_deref().unwrap_or("?"),
        image.display(),
        image_size >> 20
    );
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer).map_err(io_error(Path::new("stdin")))?;
    if answer.trim() != shown {
        return Err(WriteError::NotConfirmed);
    }
    let mut source = fs::File::open(image).map_err(io_error(image))?;
    let mut target = fs::OpenOptions::new()
        .write(true)
        .custom_flags(OPEN_EXCLUSIVE)
        .open(device)
        .map_err(io_error(device))?;
    let step = progress.step(format!("writing {} to {shown}", image.display()));
    let mut buffer = vec![0_u8; 4 << 20];
    let mut written = 0_u64;
    loop {
        let count = source.read(&mut buffer).map_err(io_error(image))?;
        if count == 0 {
            break;
        }
        target.write_all(&buffer[..count]).map_err(io_error(device))?;
        written += count as u64;
        step.set_detail(&format!("{} of {} MiB", written >> 20, image_size >> 20));
    }
    target.sync_all().map_err(io_error(device))?;
    step.succeed(&format!("{} MiB written and synced", written >> 20));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> DeviceFacts {
        DeviceFacts {
            path: PathBuf::from("/dev/sdb"),
            is_block_device: true,
            kernel_name: Some("sdb".to_owned()),
            is_partition: false,
            partitions: vec!["sdb1".to_owned()],
            holders: Vec::new(),
            mounted: Vec::new(),
            stdin_is_terminal: true,
            size: Some(16 << 30),
        }
    }

    #[test]
    fn an_unmounted_whole_disk_on_a_terminal_may_be_written() {
        assert_eq!(refusal(&facts(), 300 << 20), None);
    }

    /// A change to safe facts and the refusal message it must cause.
    type Case = (fn(&mut DeviceFacts), &'static str);

    #[test]
    fn every_unsafe_situation_is_refused() {
        let mounted = Mount { source: "/dev/sdb1".to_owned(), target: "/media/boot".to_owned() };
        let cases: [Case; 6] = [
            (|facts| facts.is_block_device = false, "not a block device"),
            (|facts| facts.is_partition = true, "a partition"),
            (
                |facts| facts.mounted = vec![Mount { source: "/dev/sdb1".to_owned(), target: "/media/boot".to_owned() }],
                "mounted: /dev/sdb1 on /media/boot",
            ),
            (|facts| facts.holders = vec![("sdb1".to_owned(), "dm-0".to_owned())], "in use: sdb1 by dm-0"),
            (|facts| facts.stdin_is_terminal = false, "stdin is not a terminal"),
            (|facts| facts.size = Some(1 << 20), "larger than the device"),
        ];
        for (change, message) in cases {
            let mut facts = facts();
            change(&mut facts);
            let reason = refusal(&facts, 300 << 20).expect("refused");
            assert!(reason.to_string().contains(message), "{reason} lacks {message}");
        }
        assert_eq!(
            refusal(&DeviceFacts { mounted: vec![mounted.clone()], ..facts() }, 1),
            Some(Refusal::Mounted(vec![mounted]))
        );
    }

    #[test]
    fn mount_table_fields_are_unescaped() {
        let mounts = parse_mounts("/dev/sdb1 /media/my\\040card vfat rw 0 0\nproc /proc proc rw 0 0\n");
        assert_eq!(mounts[0], Mount { source: "/dev/sdb1".to_owned(), target: "/media/my card".to_owned() });
        assert_eq!(mounts[1].source, "proc");
        assert_eq!(unescape("a\\134b"), "a\\b");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
    }

    #[test]
    fn a_regular_file_is_not_a_block_device() {
        let facts = gather(Path::new(env!("CARGO_MANIFEST_PATH")), Path::new("/sys"), &[], true);
        assert!(!facts.is_block_device);
        assert_eq!(refusal(&facts, 1), Some(Refusal::NotBlockDevice));
        assert_eq!(refusal(&gather(Path::new("/dev/null"), Path::new("/sys"), &[], true), 1), Some(Refusal::NotBlockDevice));
    }

    /// A fake sysfs: `dev/block/8:240` links to `block/sdz`, whose partition `sdz1` (8:241)
    /// has `holders`, or none when `holder` is `None`.
    fn fake_sysfs(name: &str, holder: Option<&str>) -> PathBuf {
        let root = std::env::temp_dir().join(format!("bulkhead-sysfs-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let disk = root.join("block").join("sdz");
        fs::create_dir_all(disk.join("sdz1").join("holders")).expect("creates");
        fs::create_dir_all(disk.join("holders")).expect("creates");
        if let Some(holder) = holder {
            fs::create_dir_all(disk.join("sdz1").join("holders").join(holder)).expect("creates");
        }
        fs::write(disk.join("sdz1").join("partition"), "1\n").expect("writes");
        fs::write(disk.join("sdz1").join("dev"), "8:241\n").expect("writes");
        fs::write(disk.join("dev"), "8:240\n").expect("writes");
        fs::write(disk.join("size"), "31116288\n").expect("writes");
        fs::create_dir_all(root.join("dev").join("block")).expect("creates");
        std::os::unix::fs::symlink("../../block/sdz", root.join("dev").join("block").join("8:240")).expect("links");
        std::os::unix::fs::symlink("../../block/sdz/sdz1", root.join("dev").join("block").join("8:241")).expect("links");
        root
    }

    #[test]
    fn a_disk_is_described_from_sysfs_and_refused_when_a_partition_is_mounted_or_held() {
        let sysfs = fake_sysfs("mounted", None);
        let mounts = parse_mounts("/dev/sda2 / ext4 rw 0 0\n/dev/sdz1 /media/boot vfat rw 0 0\n");
        let device = Path::new("/dev/sdz");
        let facts = gather_for_numbers(device, Some((8, 240)), &sysfs, &mounts, true);
        assert_eq!(facts.kernel_name.as_deref(), Some("sdz"));
        assert_eq!(facts.partitions, ["sdz1"]);
        assert_eq!(facts.size, Some(31_116_288 * 512));
        assert!(!facts.is_partition);
        assert!(matches!(refusal(&facts, 1 << 20), Some(Refusal::Mounted(mounts)) if mounts[0].target == "/media/boot"));
        let unmounted = gather_for_numbers(device, Some((8, 240)), &sysfs, &mounts[..1], true);
        assert_eq!(refusal(&unmounted, 1 << 20), None);
        let partition = gather_for_numbers(Path::new("/dev/sdz1"), Some((8, 241)), &sysfs, &[], true);
        assert_eq!(refusal(&partition, 1 << 20), Some(Refusal::Partition));
        let _ = fs::remove_dir_all(&sysfs);

        let sysfs = fake_sysfs("held", Some("dm-3"));
        let held = gather_for_numbers(device, Some((8, 240)), &sysfs, &[], true);
        assert_eq!(refusal(&held, 1 << 20), Some(Refusal::Held(vec![("sdz1".to_owned(), "dm-3".to_owned())])));
        let _ = fs::remove_dir_all(&sysfs);
    }
}
