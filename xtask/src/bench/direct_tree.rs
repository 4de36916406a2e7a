//! The device tree of the Linux row's direct boot: QEMU `virt`'s own tree, cut to the nodes
//! the Linux partition's tree has, so that both columns boot Linux with the same devices to
//! set up.
//!
//! QEMU's generated tree describes much the partition's does not: all 32 virtio-mmio
//! transports (the partition has the 8 it passes through), a PCIe host, the PL061 GPIO and
//! its keys, the PL031 RTC, fw-cfg, flash, the PMU, the GIC's ITS. Linux sets each of them up
//! at boot — about half a million instructions per virtio-mmio transport alone (direct boots
//! with 0, 8 and 32 transports: `docs/linux.md`) — so left as generated, the direct column did
//! work the Bulkhead column did not and the row understated the overhead.
//!
//! Steps: `-M <machine>,dumpdtb=<file>` writes the tree QEMU would give the kernel; for the
//! root and each node kept there, `fdtget -l` lists the subnodes of both trees and `fdtput -r`
//! removes those the partition's tree lacks (the dump is 1 MiB of padding, which `fdtput`
//! packs). Then both sides get the same entropy. QEMU's `/chosen/rng-seed` (the dump carries
//! it, and QEMU refills it with fresh random bytes at every reset of a tree given with
//! `-dtb`) stays when the partition is given an `rng-seed` too, that is when the board has an
//! RNG the hypervisor draws boot seeds from (`[entropy]`): both CRNGs are then ready at time
//! zero. On a board without one the hypervisor withholds the partition's `rng-seed`, and the
//! direct tree's goes as well: left in, the direct Linux started with a seeded CRNG while the
//! partition's extracted entropy from its input pool on every random-bytes request until the
//! pool held 128 bits, 22.7 M instructions of BLAKE2s and ChaCha (`docs/linux.md`) that the
//! row charged to Bulkhead. `/chosen/kaslr-seed` stays: the partition's tree has one too, and
//! both boot with `nokaslr` (`super::linux`). The written tree is checked to carry the
//! [`SEEDS`] exactly when asked to.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::qemu::QemuBoard;
use crate::host_tools::QEMU;

/// Writes `<directory>/linux-direct.dtb`: `board`'s generated tree keeping, at the root and
/// one level below, only the nodes `partition_tree` (the partition's own DTB) has, and QEMU's
/// [`SEEDS`] only when `seeded` (the partition gets an `rng-seed` too).
pub fn write(board: &QemuBoard, partition_tree: &Path, directory: &Path, seeded: bool) -> Result<PathBuf, String> {
    let tree = directory.join("linux-direct.dtb");
    let _ = fs::remove_file(&tree);
    let mut dump = Command::new(QEMU);
    dump.args(board.machine_arguments(&format!(",dumpdtb={}", tree.display())));
    run(&mut dump)?;
    let list = |blob: &Path, node: &str| run(Command::new("fdtget").arg("-l").arg(blob).arg(node));
    let wanted_root = list(partition_tree, "/")?;
    let root = list(&tree, "/")?;
    remove(&tree, &absent_from("/", &root, &wanted_root))?;
    for node in root.lines().map(str::trim).filter(|name| wanted_root.lines().any(|wanted| wanted.trim() == *name)) {
        let path = format!("/{node}");
        remove(&tree, &absent_from(&path, &list(&tree, &path)?, &list(partition_tree, &path)?))?;
    }
    let properties = |blob: &Path| run(Command::new("fdtget").arg("-p").arg(blob).arg("/chosen"));
    let present = seeds_in(&properties(&tree)?);
    if !seeded && !present.is_empty() {
        run(Command::new("fdtput").arg("-d").arg(&tree).arg("/chosen").args(&present))?;
    }
    check_seeds(&tree, seeded, &seeds_in(&properties(&tree)?))?;
    Ok(tree)
}

/// The `/chosen` properties that seed Linux's CRNG, which the direct tree carries exactly
/// when the partition's does (the module documentation says why).
pub const SEEDS: [&str; 1] = ["rng-seed"];

/// The [`SEEDS`] among `properties` (`fdtget -p` output, one name a line).
fn seeds_in(properties: &str) -> Vec<&'static str> {
    SEEDS.into_iter().filter(|seed| properties.lines().any(|name| name.trim() == *seed)).collect()
}

/// Whether the written tree's `/chosen` seeds (`left`) are what was asked: all of [`SEEDS`]
/// when `seeded`, none otherwise.
fn check_seeds(tree: &Path, seeded: bool, left: &[&str]) -> Result<(), String> {
    if seeded && left.len() != SEEDS.len() {
        return Err(format!("{} has no /chosen/{}: the direct boot would not be seeded", tree.display(), SEEDS.join(", /chosen/")));
    }
    if !seeded && !left.is_empty() {
        return Err(format!("{} still has /chosen/{}: the direct boot would be seeded", tree.display(), left.join(", /chosen/")));
    }
    Ok(())
}

/// The paths of the subnodes of `parent` listed in `nodes` (`fdtget -l` output, one name a
/// line) that `wanted` (the same for the partition's tree) does not list.
fn absent_from(parent: &str, nodes: &str, wanted: &str) -> Vec<String> {
    let wanted: Vec<&str> = wanted.lines().map(str::trim).collect();
    nodes
        .lines()
        .map(str::trim)
        .filter(|name| !name.is_empty() && !wanted.contains(name))
        .map(|name| format!("{}/{name}", parent.trim_end_matches('/')))
        .collect()
}

/// `fdtput -r` of `nodes` (nothing when empty).
fn remove(tree: &Path, nodes: &[String]) -> Result<(), String> {
    if nodes.is_empty() {
        return Ok(());
    }
    run(Command::new("fdtput").arg("-r").arg(tree).args(nodes)).map(|_| ())
}

fn run(command: &mut Command) -> Result<String, String> {
    let line = format!("{command:?}");
    let output = command.output().map_err(|error| {
        format!("`{line}` did not start: {error} (fdtget/fdtput come with dtc: `apt-get install device-tree-compiler`)")
    })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!("`{line}` failed: {}", String::from_utf8_lossy(&output.stderr).trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_partitions_nodes_stay() {
        let nodes = "psci\nvirtio_mmio@a000000\nvirtio_mmio@a003e00\npcie@10000000\npl011@9000000\n";
        let wanted = "psci\nvirtio_mmio@a003e00\npl011@9000000\n";
        assert_eq!(absent_from("/", nodes, wanted), ["/virtio_mmio@a000000", "/pcie@10000000"]);
        assert_eq!(absent_from("/intc@8000000", "its@8080000\n", ""), ["/intc@8000000/its@8080000"]);
        assert!(absent_from("/", nodes, nodes).is_empty());
    }

    #[test]
    fn the_direct_tree_is_seeded_exactly_when_the_partition_is() {
        let tree = Path::new("linux-direct.dtb");
        assert_eq!(check_seeds(tree, true, &["rng-seed"]), Ok(()));
        assert_eq!(check_seeds(tree, false, &[]), Ok(()));
        assert!(check_seeds(tree, true, &[]).unwrap_err().contains("would not be seeded"));
        assert!(check_seeds(tree, false, &["rng-seed"]).unwrap_err().contains("would be seeded"));
    }

    #[test]
    fn the_rng_seed_is_found_among_the_chosen_properties() {
        assert_eq!(seeds_in("stdout-path\n  rng-seed\nkaslr-seed\n"), ["rng-seed"]);
        assert!(seeds_in("stdout-path\nkaslr-seed\nrng-seed-withheld\nbootargs\n").is_empty());
    }
}
