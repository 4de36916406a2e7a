//! The Linux demo's pass-through disk: the raw ext2 image QEMU attaches as a virtio-blk
//! device (`[qemu] virtio_blk` of `partitions/linux-demo.toml`) and the kernel modules the
//! initramfs needs to read it.
//!
//! Debian's kernel builds the virtio-mmio transport driver, the virtio block driver and ext4
//! (which mounts ext2 too: `CONFIG_EXT4_USE_FOR_EXT2=y`) as modules, not into the kernel
//! (`/boot/config-6.1.0-56-arm64`: `CONFIG_VIRTIO_MMIO=m`, `CONFIG_VIRTIO_BLK=m`,
//! `CONFIG_EXT4_FS=m`), so they go into the initramfs with their dependencies (each module's
//! `depends=` field in `modinfo`: ext4 needs jbd2, mbcache and crc16; and the crc32c hash it
//! asks the crypto API for at mount, `crc32c_generic`), extracted from the same
//! kernel package and pinned by SHA-256 like the kernel. `/init` loads them in [`MODULES`]
//! order, which the initramfs carries as `/etc/modules`.
//!
//! The disk is made without root by `mke2fs -d` (e2fsprogs) from a directory holding one
//! file, [`DISK_FILE`], whose content is [`DISK_FILE_CONTENT`]: the integration test checks
//! that Linux prints exactly that. Fixed UUID, hash seed and time make the image
//! reproducible, so it is rewritten only when its bytes change.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{CACHE_DIR, DebianFile, KERNEL, LinuxGuestError, fetch, io_error, sha256_hex, write_if_changed};
use crate::paths::Repository;
use crate::progress::Progress;

/// The disk image file name in the cache.
pub const DISK_IMAGE: &str = "disk.img";
/// The one file on the disk.
pub const DISK_FILE: &str = "hello.txt";
/// Its content (one line; `/init` prints it after [`DISK_LINE_PREFIX`]).
pub const DISK_FILE_CONTENT: &str = "hello from the virtio-blk disk QEMU attached, read through linux's own transport";
/// What `/init` prints before the file's content.
pub const DISK_LINE_PREFIX: &str = "linux-demo: disk: ";
/// Size of the image: ext2's minimum practical size is far below this; 1 MiB keeps it small.
const DISK_SIZE: &str = "1M";

/// A module of [`KERNEL`]'s package.
const fn module(path: &'static str, sha256: &'static str) -> DebianFile {
    DebianFile {
        package: KERNEL.package,
        version: KERNEL.version,
        deb_sha256: KERNEL.deb_sha256,
        path,
        sha256,
    }
}

/// The kernel modules the initramfs carries, dependencies first (the order `/init` loads them).
pub const MODULES: [DebianFile; 7] = [
    // ext4 allocates the "crc32c" hash at every mount (even of ext2 without checksums):
    // "EXT4-fs (vda): Cannot load crc32c driver" without it.
    module(
        "lib/modules/6.1.0-56-arm64/kernel/crypto/crc32c_generic.ko",
        "bc606815ebf9c89f41ab8d0355c30ae5179487bdba2022f664f4fdc42452d4a1",
    ),
    module(
        "lib/modules/6.1.0-56-arm64/kernel/lib/crc16.ko",
        "c0c2c6474141b3b5e95f53a136009bc917a0fcbf2eb3d5e90606448cfc0db334",
    ),
    module(
        "lib/modules/6.1.0-56-arm64/kernel/fs/mbcache.ko",
        "57b038c915abc146e88a8bc541e981aadab416e2af35b35b1ade68bc5cf95e99",
    ),
    module(
        "lib/modules/6.1.0-56-arm64/kernel/fs/jbd2/jbd2.ko",
        "d0803f38f127c002f95bb8bca8041c5e48759f3782cf9eeda6710205a2f867eb",
    ),
    module(
        "lib/modules/6.1.0-56-arm64/kernel/fs/ext4/ext4.ko",
        "51b406f6b4ef3179678bc44d1dd92631390b4d56a03b161fc442d35ed18a1a0c",
    ),
    module(
        "lib/modules/6.1.0-56-arm64/kernel/drivers/virtio/virtio_mmio.ko",
        "00b78f05d9eb5183e59c70574b9f227da3735ab29fd44ec4c32be649ac3430a9",
    ),
    module(
        "lib/modules/6.1.0-56-arm64/kernel/drivers/block/virtio_blk.ko",
        "befd4ba5c3cc2e935817854705b979eefe577ec077019c90119d235c3a572f7e",
    ),
];

/// The module's name as `insmod` and `/etc/modules` use it (`ext4`).
pub fn module_name(file: &DebianFile) -> &'static str {
    let base = file.path.rsplit('/').next().unwrap_or(file.path);
    base.strip_suffix(".ko").unwrap_or(base)
}

/// Every module of [`MODULES`] as (name, bytes), from the cache (`target/linux-guest/modules/`,
/// re-checked against the pins) or extracted from the kernel package.
pub fn modules(repository: &Repository, progress: &Progress) -> Result<Vec<(&'static str, Vec<u8>)>, LinuxGuestError> {
    let directory = repository.root().join(CACHE_DIR).join("modules");
    MODULES
        .iter()
        .map(|file| {
            let name = module_name(file);
            let path = directory.join(format!("{name}.ko"));
            let bytes = match fs::read(&path) {
                Ok(bytes) if sha256_hex(&bytes) == file.sha256 => bytes,
                _ => {
                    let bytes = fetch(repository, file, progress)?;
                    write_if_changed(&path, &bytes)?;
                    bytes
                }
            };
            Ok((name, bytes))
        })
        .collect()
}

/// Writes `target/linux-guest/disk.img`: ext2 holding [`DISK_FILE`].
pub fn disk_image(repository: &Repository, progress: &Progress) -> Result<PathBuf, LinuxGuestError> {
    let cache = repository.root().join(CACHE_DIR);
    let staging = cache.join("disk-root");
    fs::create_dir_all(&staging).map_err(io_error(&staging))?;
    let file = staging.join(DISK_FILE);
    write_if_changed(&file, format!("{DISK_FILE_CONTENT}\n").as_bytes())?;
    let partial = cache.join("disk.img.building");
    let _ = fs::remove_file(&partial);
    let step = progress.step(format!("making {CACHE_DIR}/{DISK_IMAGE} (mke2fs -d)"));
    let outcome = run_mke2fs(&staging, &partial).and_then(|()| {
        let bytes = fs::read(&partial).map_err(io_error(&partial))?;
        let _ = fs::remove_file(&partial);
        let path = cache.join(DISK_IMAGE);
        write_if_changed(&path, &bytes)?;
        Ok(path)
    });
    match &outcome {
        Ok(_) => step.succeed(""),
        Err(_) => step.fail(""),
    }
    outcome
}

/// `mke2fs -t ext2 -d staging image 1M`, reproducibly (fixed UUID, hash seed and clock).
fn run_mke2fs(staging: &Path, image: &Path) -> Result<(), LinuxGuestError> {
    const FIXED_UUID: &str = "b0b0b0b0-0000-4000-8000-000000000011";
    let mut command = Command::new("mke2fs");
    command
        .env("E2FSPROGS_FAKE_TIME", "1700000000")
        .args(["-q", "-F", "-t", "ext2", "-L", "bulkhead", "-U", FIXED_UUID])
        .arg("-E")
        .arg(format!("hash_seed={FIXED_UUID},root_owner=0:0"))
        .arg("-d")
        .arg(staging)
        .arg(image)
        .arg(DISK_SIZE);
    let line = format!("{command:?}");
    match command.output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(LinuxGuestError::Command {
            command: line,
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        }),
        Err(error) => Err(LinuxGuestError::Command {
            command: line,
            detail: format!("{error}: mke2fs comes with e2fsprogs (`apt-get install e2fsprogs`)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_pinned_dependencies_first_and_named_as_insmod_sees_them() {
        let names: Vec<&str> = MODULES.iter().map(module_name).collect();
        assert_eq!(names, ["crc32c_generic", "crc16", "mbcache", "jbd2", "ext4", "virtio_mmio", "virtio_blk"]);
        let position = |name: &str| names.iter().position(|other| *other == name).unwrap();
        // ext4's modinfo `depends=jbd2,mbcache,crc16`.
        for dependency in ["jbd2", "mbcache", "crc16", "crc32c_generic"] {
            assert!(position(dependency) < position("ext4"));
        }
        for file in MODULES {
            assert_eq!(file.sha256.len(), 64);
            assert_eq!(file.deb_sha256, KERNEL.deb_sha256);
        }
    }

    #[test]
    fn the_disk_image_holds_the_known_file() {
        let directory = std::env::temp_dir().join(format!("bulkhead-disk-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&directory);
        let staging = directory.join("root");
        fs::create_dir_all(&staging).unwrap();
        fs::write(staging.join(DISK_FILE), DISK_FILE_CONTENT).unwrap();
        let image = directory.join("disk.img");
        run_mke2fs(&staging, &image).unwrap();
        let bytes = fs::read(&image).unwrap();
        assert_eq!(bytes.len(), 1 << 20);
        // ext2's superblock magic 0xEF53 at byte 1024 + 56, and the file's bytes in a block.
        assert_eq!(&bytes[1024 + 56..1024 + 58], &[0x53, 0xef]);
        assert!(bytes.windows(DISK_FILE_CONTENT.len()).any(|window| window == DISK_FILE_CONTENT.as_bytes()));
        // Reproducible: a second run writes the same bytes.
        let again = directory.join("again.img");
        run_mke2fs(&staging, &again).unwrap();
        assert!(fs::read(&again).unwrap() == bytes, "mke2fs output differs between runs");
        let _ = fs::remove_dir_all(&directory);
    }
}
