//! The per-boot seeds in a partition's device tree: `/chosen/kaslr-seed` and
//! `/chosen/rng-seed` (devicetree-specification `chosen.yaml`; Linux reads both in
//! `arch/arm64/kernel/pi/kaslr_early.c` and `drivers/of/fdt.c`).
//!
//! The configuration compiler writes both properties with zero values into the guest device
//! tree and records where their bytes are ([`BootSeeds`], found by [`locate`]); the
//! hypervisor fills them in its copy in guest RAM at every (re)start of the partition, so each
//! boot gets fresh values while the tree itself stays a build-time constant. Linux wipes both
//! after reading them, which is harmless: a restart copies the tree again.
//!
//! What goes in depends on the [`SeedSource`]:
//! * [`SeedSource::Hardware`] (a random-number generator the hypervisor owns, such as the
//!   Armv8.5 `RNDR` instruction): both seeds from it;
//! * [`SeedSource::Counter`] (the board has none the hypervisor drives): `kaslr-seed` from a
//!   [`SeedMixer`] over the counter value at load, the partition and its start count — fresh
//!   per boot, never zero (a zero seed disables KASLR), but *not secret*: someone who knows
//!   the boot timing can reproduce it. Because Linux credits `rng-seed` as entropy
//!   (`CONFIG_RANDOM_TRUST_BOOTLOADER`), that property is not filled with predictable bytes
//!   but renamed to `seed` (its name offset moved 4 bytes into the string `rng-seed`, which
//!   the specification allows: a name is any NUL-terminated string of the strings block), so
//!   no guest reads it as a seed. Renaming keeps the structure block as it is; replacing the
//!   property with `FDT_NOP` tokens, as libfdt's `fdt_nop_property` does, is valid too, but
//!   the `fdt` crate 0.1.5 the bare-metal guests use cannot parse NOPs between properties.

use crate::fdt_scan::{Event, Tree};

/// Bytes of `/chosen/kaslr-seed` (one 64-bit cell pair).
pub const KASLR_SEED_BYTES: usize = 8;
/// Bytes of `/chosen/rng-seed`.
pub const RNG_SEED_BYTES: usize = 64;
/// How far into the string `rng-seed` the withheld property's name starts (`seed`).
const WITHHELD_NAME_SKIP: u32 = 4;

/// Where the seeds are in a device tree blob (byte offsets from its start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootSeeds {
    /// First byte of `kaslr-seed`'s value ([`KASLR_SEED_BYTES`] long).
    pub kaslr_seed: usize,
    /// First byte of `rng-seed`'s value ([`RNG_SEED_BYTES`] long).
    pub rng_seed: usize,
    /// First byte of `rng-seed`'s 4-byte big-endian name offset (`nameoff`).
    pub rng_seed_name: usize,
    /// The name offset that renames `rng-seed` to `seed`: written at `rng_seed_name` when
    /// the seed would not be random.
    pub withheld_name: u32,
}

/// Where the hypervisor's seed bytes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedSource {
    /// A hardware random-number generator the hypervisor owns, by name (`virtio-rng`,
    /// `RNDR`, ...).
    Hardware(&'static str),
    /// No generator: derived from the counter (fresh per boot, not secret).
    Counter,
}

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
/// OOPSLA 2014): spreads a few varying input bits over every output bit. It adds no
/// entropy; it only makes sure that different counter values, partitions and start counts
/// give unrelated, non-zero seeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedMixer {
    /// SplitMix64's state: advanced by the golden-ratio increment per output.
    state: u64,
}

impl SeedMixer {
    /// A mixer for one (re)start: the counter value at load, something that identifies the
    /// partition (its index, its RAM base) and how many times it has started, if known.
    pub const fn new(counter: u64, partition: usize, starts: u64) -> Self {
        let mut mixer = Self { state: counter };
        mixer.state ^= mix(partition as u64 ^ 0x6a09_e667_f3bc_c908);
        mixer.state ^= mix(starts ^ 0xbb67_ae85_84ca_a73b);
        mixer
    }

    /// The next 64 bits.
    pub const fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.state)
    }

    /// Fills `bytes`; no 8-byte group of the result is zero (a zero `kaslr-seed` means "no
    /// seed" to Linux).
    pub fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let mut value = self.next();
            if value == 0 {
                value = self.next() | 1;
            }
            let source = value.to_le_bytes();
            for (target, byte) in chunk.iter_mut().zip(source) {
                *target = byte;
            }
        }
    }
}

/// SplitMix64's finaliser.
const fn mix(value: u64) -> u64 {
    let mut z = value;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Finds `/chosen/kaslr-seed` ([`KASLR_SEED_BYTES`] long) and `/chosen/rng-seed`
/// ([`RNG_SEED_BYTES`] long) in a flattened device tree; `None` unless both are there with
/// those lengths and the whole structure block is well-formed ([`fdt_scan::Tree::events`]).
pub fn locate(blob: &[u8]) -> Option<BootSeeds> {
    let tree = Tree::new(blob)?;
    // Whether the current depth-2 node is `/chosen` (unit addresses are not allowed on it).
    let mut in_chosen = false;
    let mut kaslr_seed = None;
    let mut found_rng_seed = None;
    // BOUND: `Events` ends after a finite number of events (each consumes blob bytes).
    for event in tree.events() {
        match event.ok()? {
            Event::BeginNode { depth: 2, name } => in_chosen = name == b"chosen",
            Event::EndNode { depth: 2 } => in_chosen = false,
            Event::Property { depth: 2, property } if in_chosen => match property.name {
                b"kaslr-seed" if property.value.len() == KASLR_SEED_BYTES => kaslr_seed = Some(property.value_offset),
                b"rng-seed" if property.value.len() == RNG_SEED_BYTES => {
                    let withheld = property.name_offset.checked_add(WITHHELD_NAME_SKIP)?;
                    found_rng_seed = Some((property.value_offset, property.name_field, withheld));
                }
                _ => {}
            },
            Event::BeginNode { .. } | Event::EndNode { .. } | Event::Property { .. } => {}
        }
    }
    let (rng_seed, rng_seed_name, withheld_name) = found_rng_seed?;
    Some(BootSeeds {
        kaslr_seed: kaslr_seed?,
        rng_seed,
        rng_seed_name,
        withheld_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdt_scan::{string_at, FDT_MAGIC};

    /// Structure-block tokens the hand-built blob uses (devicetree specification §5.4.1).
    const FDT_BEGIN_NODE: u32 = 1;
    const FDT_END_NODE: u32 = 2;
    const FDT_PROP: u32 = 3;
    const FDT_END: u32 = 9;

    /// A tiny blob: `/ { chosen { bootargs = "x"; kaslr-seed = <0 0>; rng-seed = [00 * 64]; };
    /// other { kaslr-seed = <0 0>; }; }`, built by hand following the specification.
    fn blob() -> ([u8; 512], usize) {
        let mut out = [0u8; 512];
        let mut length = 40; // header
        fn push_at(out: &mut [u8; 512], length: &mut usize, bytes: &[u8]) {
            out[*length..*length + bytes.len()].copy_from_slice(bytes);
            *length = (*length + bytes.len()).next_multiple_of(4);
        }
        let mut push = |out: &mut [u8; 512], bytes: &[u8]| push_at(out, &mut length, bytes);
        let strings: &[u8] = b"bootargs\0kaslr-seed\0rng-seed\0";
        let (bootargs, kaslr, rng) = (0u32, 9u32, 20u32);
        let structure = 40usize;
        let token = |value: u32| value.to_be_bytes();
        push(&mut out, &token(FDT_BEGIN_NODE));
        push(&mut out, b"\0");
        push(&mut out, &token(FDT_BEGIN_NODE));
        push(&mut out, b"chosen\0");
        for (name, len) in [(bootargs, 2u32), (kaslr, 8), (rng, 64)] {
            push(&mut out, &token(FDT_PROP));
            push(&mut out, &len.to_be_bytes());
            push(&mut out, &name.to_be_bytes());
            push(&mut out, &[0u8; 64][..len as usize]);
        }
        push(&mut out, &token(FDT_END_NODE));
        push(&mut out, &token(FDT_BEGIN_NODE));
        push(&mut out, b"other\0");
        push(&mut out, &token(FDT_PROP));
        push(&mut out, &8u32.to_be_bytes());
        push(&mut out, &kaslr.to_be_bytes());
        push(&mut out, &[0u8; 8]);
        push(&mut out, &token(FDT_END_NODE));
        push(&mut out, &token(FDT_END_NODE));
        push(&mut out, &token(FDT_END));
        drop(push);
        let strings_offset = length;
        push_at(&mut out, &mut length, strings);
        out[0..4].copy_from_slice(&FDT_MAGIC.to_be_bytes());
        out[8..12].copy_from_slice(&(structure as u32).to_be_bytes());
        out[12..16].copy_from_slice(&(strings_offset as u32).to_be_bytes());
        (out, length)
    }

    #[test]
    fn the_seeds_of_chosen_are_found_and_not_those_of_other_nodes() {
        let (blob, length) = blob();
        let seeds = locate(&blob[..length]).expect("both seeds present");
        // Header 40, root BEGIN+name 8, chosen BEGIN+name 12, bootargs prop 12+4.
        let chosen_props = 40 + 8 + 12;
        assert_eq!(seeds.kaslr_seed, chosen_props + 16 + 12);
        let rng_property = chosen_props + 16 + 20;
        assert_eq!(&blob[rng_property..rng_property + 4], &FDT_PROP.to_be_bytes());
        assert_eq!(seeds.rng_seed_name, rng_property + 8);
        assert_eq!(seeds.rng_seed, rng_property + 12);
        // "rng-seed" is at 20 in the strings block; "seed" starts 4 bytes later.
        assert_eq!(seeds.withheld_name, 24);
    }

    #[test]
    fn a_blob_without_both_seeds_or_with_a_bad_magic_has_none() {
        let (mut blob, length) = blob();
        blob[0] = 0;
        assert_eq!(locate(&blob[..length]), None);
        assert_eq!(locate(&[]), None);
    }

    #[test]
    fn renaming_withholds_rng_seed_and_leaves_a_tree_that_parses_with_kaslr_seed_in_place() {
        let (mut blob, length) = blob();
        let seeds = locate(&blob[..length]).expect("both seeds present");
        blob[seeds.rng_seed_name..seeds.rng_seed_name + 4].copy_from_slice(&seeds.withheld_name.to_be_bytes());
        // The walk still succeeds through the whole structure block; rng-seed is gone.
        assert_eq!(locate(&blob[..length]), None);
        let strings_offset = u32::from_be_bytes([blob[12], blob[13], blob[14], blob[15]]) as usize;
        let name = string_at(&blob[strings_offset..], seeds.withheld_name as usize);
        assert_eq!(name, Some(&b"seed"[..]));
    }

    #[test]
    fn mixed_seeds_differ_by_counter_partition_and_start_and_are_never_zero() {
        let mut seen: heapless::Vec<u64, 8> = heapless::Vec::new();
        for (counter, partition, starts) in [(1, 0, 0), (2, 0, 0), (1, 1, 0), (1, 0, 1), (0, 0, 0)] {
            let mut bytes = [0u8; KASLR_SEED_BYTES];
            SeedMixer::new(counter, partition, starts).fill(&mut bytes);
            let value = u64::from_le_bytes(bytes);
            assert_ne!(value, 0);
            assert!(!seen.contains(&value), "{value:#x} repeated");
            seen.push(value).unwrap();
        }
        let mut long = [0u8; RNG_SEED_BYTES];
        SeedMixer::new(7, 1, 2).fill(&mut long);
        assert!(long.chunks(8).all(|group| group.iter().any(|&byte| byte != 0)));
    }

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // SplitMix64 seeded with 0 (reference implementation by Vigna, prng.di.unimi.it).
        let mut mixer = SeedMixer { state: 0 };
        assert_eq!(mixer.next(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(mixer.next(), 0x6e78_9e6a_a1b9_65f4);
    }
}
