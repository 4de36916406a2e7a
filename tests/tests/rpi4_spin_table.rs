//! The Raspberry Pi 4's own boot flow, emulated: the firmware's `armstub8` enters core 0 at
//! Non-secure EL2 and parks cores 1-3 in its spin table (`cpu-release-addr` 0xd8/0xe0/0xe8/0xf0)
//! until an entry address appears there. QEMU `raspi4b` does the same for a *Linux* kernel (its
//! own spin-table stub at the same addresses, core 0 at EL2), unlike for an ELF, whose entry every
//! core takes at EL3 (what the other rpi4 tests boot). So this test boots the rpi4 demo as an
//! arm64 Linux `Image`: a 64-byte header (`Documentation/arch/arm64/booting.rst`) whose first
//! instruction branches over a 64 KiB pad to the hypervisor's flat image, `text_offset` placing
//! that at the image's link address (0x20_0000).
//!
//! Only if core 0 writes the entry into the spin table (`SecondaryBoot::SpinTable`) do cores 1
//! and 2 run: alpha's vCPU 1 comes online and beta starts. Planted (before the release was
//! written): alpha alone printed, vCPU 1 never came online, beta never said hello, and QEMU's
//! `info registers -a` showed cores 1-3 at EL2 in its stub at 0x30c.

use std::fs;
use std::path::{Path, PathBuf};

use bulkhead_qemu_tests::{BootOptions, TestSystem};
use object::{Object, ObjectSegment};

/// Where the Image's header and pad start: 64 KiB below the hypervisor's link address.
const PAD: u64 = 0x1_0000;
/// `HYPERVISOR_BASE` of `board-configs/rpi4/board.toml`.
const HYPERVISOR_BASE: u64 = 0x20_0000;
/// The arm64 Image magic, "ARM\x64", at byte 56 of the header.
const ARM64_MAGIC: &[u8; 4] = b"ARM\x64";

/// The loadable segments of `elf` as one flat image from its lowest address (the hypervisor is
/// identity-mapped: virtual and physical addresses agree), and that address.
fn flat_image(elf: &Path) -> (u64, Vec<u8>) {
    let data = fs::read(elf).unwrap_or_else(|error| panic!("cannot read {}: {error}", elf.display()));
    let file = object::File::parse(&*data).unwrap_or_else(|error| panic!("{}: {error}", elf.display()));
    let segments: Vec<(u64, &[u8])> = file
        .segments()
        .filter_map(|segment| {
            let bytes = segment.data().ok()?;
            (!bytes.is_empty()).then(|| (segment.address(), bytes))
        })
        .collect();
    let base = segments.iter().map(|(address, _)| *address).min().expect("a loadable segment");
    let end = segments
        .iter()
        .map(|(address, bytes)| address + bytes.len() as u64)
        .max()
        .expect("a loadable segment");
    let mut flat = vec![0; usize::try_from(end - base).expect("fits")];
    for (address, bytes) in segments {
        let offset = usize::try_from(address - base).expect("fits");
        flat[offset..offset + bytes.len()].copy_from_slice(bytes);
    }
    (base, flat)
}

/// Writes `elf` as an arm64 Linux `Image` next to it and returns its path.
fn linux_image(elf: &Path, output_dir: &Path) -> PathBuf {
    let (base, flat) = flat_image(elf);
    assert_eq!(base, HYPERVISOR_BASE, "the rpi4 image no longer starts at its board's base");
    // code0: `b #PAD` (B's imm26 counts words).
    let branch = 0x1400_0000_u32 | u32::try_from(PAD / 4).expect("fits");
    let mut image = Vec::with_capacity(usize::try_from(PAD).expect("fits") + flat.len());
    image.extend_from_slice(&branch.to_le_bytes()); // code0
    image.extend_from_slice(&0_u32.to_le_bytes()); // code1
    image.extend_from_slice(&(HYPERVISOR_BASE - PAD).to_le_bytes()); // text_offset
    image.extend_from_slice(&(PAD + flat.len() as u64).to_le_bytes()); // image_size
    image.extend_from_slice(&0_u64.to_le_bytes()); // flags: little-endian, page size unstated
    image.extend_from_slice(&[0; 24]); // res2-res4
    image.extend_from_slice(ARM64_MAGIC);
    image.extend_from_slice(&0_u32.to_le_bytes()); // res5
    image.resize(usize::try_from(PAD).expect("fits"), 0);
    image.extend_from_slice(&flat);
    let path = output_dir.join("bulkhead-hypervisor.arm64-image");
    fs::write(&path, image).unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    path
}

#[test]
fn secondaries_parked_in_the_spin_table_are_released_into_the_hypervisor() {
    let system = TestSystem::from_manifest_file("partitions/demo-rpi4.toml");
    let kernel = linux_image(system.image(), system.output_dir());
    let session = system.boot_with(BootOptions { kernel: Some(kernel), ..BootOptions::default() });
    // Core 1 runs alpha's vCPU 1 and core 2 runs beta: both only after their release.
    session.wait_for("[alpha] vCPU 1 online at EL1");
    let transcript = session.wait_until(
        "three heartbeats of beta (core 2)",
        std::time::Duration::from_secs(30),
        |transcript| (transcript.heartbeats("beta").len() >= 3).then(|| transcript.clone()),
    );
    assert!(transcript.contains("[beta] hello from beta on vCPU 0 at EL1"), "{}", session.report());
    // Entered at EL2 as from armstub8: the EL3 start never ran.
    let log = session.hypervisor_log();
    assert!(
        !log.iter().any(|message| message.contains("entered at EL3")),
        "the image was entered at EL3, not as a kernel at EL2:\n{}",
        session.report()
    );
    assert!(log.iter().any(|message| message == "core 2 ready at EL2"), "{}", session.report());
}
