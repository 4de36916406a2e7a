//! Reading a flattened device tree blob without trusting it: the structure-block walk
//! ([`Tree::events`]) that [`crate::boot_seed::locate`] and [`has_enabled_compatible`] share.
//!
//! Two blobs are read at run time: a partition's tree, which the configuration compiler wrote
//! (`boot_seed`), and the tree the board's firmware hands the hypervisor in `x0` (the Linux
//! arm64 boot protocol; the Raspberry Pi's `armstub8` follows it), which says whether a device
//! the hypervisor might drive is really there (`image/src/entropy.rs`). The second is input
//! from outside: any byte of it may be wrong, and a wrong byte must give an answer ("not a
//! valid tree"), never a panic or a read outside the slice.
//!
//! This is our own walker, not the `fdt` crate, for two reasons: the `fdt` crate 0.1.5 the
//! bare-metal guests use cannot parse `FDT_NOP` tokens between properties (which libfdt
//! writes, e.g. `fdt_nop_property`; see `boot_seed`), and it indexes and unwraps internally,
//! so a malformed firmware blob could panic at EL2. The walk below checks every offset with
//! `get` and checked arithmetic and ends each turn at least one token further on.
//!
//! Layout (devicetree specification v0.4, §5): a 40-byte header (all fields big-endian
//! 32-bit words: magic, `totalsize`, `off_dt_struct`, `off_dt_strings`, …), the structure
//! block (tokens, node names and property values, every token 4-aligned) and the strings
//! block (the NUL-terminated property names the properties refer to by offset).

/// Flattened device tree header magic (§5.2).
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Bytes of the header (version 17, §5.2).
pub const HEADER_BYTES: usize = 40;
/// Structure-block token: a node starts, its name follows (§5.4.1).
const FDT_BEGIN_NODE: u32 = 1;
/// Structure-block token: the current node ends.
const FDT_END_NODE: u32 = 2;
/// Structure-block token: a property (`len`, `nameoff`, value) follows.
const FDT_PROP: u32 = 3;
/// Structure-block token: nothing (skipped by every parser).
const FDT_NOP: u32 = 4;
/// Structure-block token: the end of the structure block.
const FDT_END: u32 = 9;
/// Bytes of a token, and the alignment of everything in the structure block.
const TOKEN_BYTES: usize = 4;
/// Header offset of `totalsize`.
const TOTAL_SIZE_FIELD: usize = 4;
/// Header offset of `off_dt_struct`.
const STRUCTURE_FIELD: usize = 8;
/// Header offset of `off_dt_strings`.
const STRINGS_FIELD: usize = 12;

/// The big-endian 32-bit word at `offset` of `blob`, if it is inside.
fn be32(blob: &[u8], offset: usize) -> Option<u32> {
    let bytes = blob.get(offset..offset.checked_add(TOKEN_BYTES)?)?;
    let word: [u8; TOKEN_BYTES] = bytes.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

/// `offset` rounded up to the structure block's alignment.
fn aligned(offset: usize) -> Option<usize> {
    offset.checked_next_multiple_of(TOKEN_BYTES)
}

/// The NUL-terminated string at `offset` of `strings` (without its NUL).
pub(crate) fn string_at(strings: &[u8], offset: usize) -> Option<&[u8]> {
    let rest = strings.get(offset..)?;
    let end = rest.iter().position(|&byte| byte == 0)?;
    rest.get(..end)
}

/// The `totalsize` a header states, when `header` starts with the magic and the size covers
/// at least the header. Lets a caller size its view of a blob before reading the rest.
pub fn total_size(header: &[u8]) -> Option<usize> {
    if be32(header, 0)? != FDT_MAGIC {
        return None;
    }
    let size = usize::try_from(be32(header, TOTAL_SIZE_FIELD)?).ok()?;
    (size >= HEADER_BYTES).then_some(size)
}

/// A blob whose header names a structure and a strings block inside it.
#[derive(Clone, Copy, Debug)]
pub struct Tree<'a> {
    /// The whole blob; structure-block offsets are from its start.
    blob: &'a [u8],
    /// Where the structure block starts.
    structure: usize,
    /// The strings block (to the end of the blob).
    strings: &'a [u8],
}

/// One property of a node, as the walk meets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Property<'a> {
    /// Its name, from the strings block (without the NUL).
    pub name: &'a [u8],
    /// Its name's offset in the strings block (`nameoff`).
    pub name_offset: u32,
    /// Offset in the blob of the 4-byte `nameoff` field.
    pub name_field: usize,
    /// Offset in the blob of its value's first byte.
    pub value_offset: usize,
    /// Its value.
    pub value: &'a [u8],
}

/// What the structure-block walk meets, in order; `depth` is that of the node concerned (the
/// root is 1). `FDT_NOP` is skipped; `FDT_END` ends the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A node starts.
    BeginNode {
        /// Its depth.
        depth: usize,
        /// Its name, unit address included (`rng@7e104000`; empty for the root).
        name: &'a [u8],
    },
    /// The node at `depth` ends.
    EndNode {
        /// Its depth.
        depth: usize,
    },
    /// A property of the node at `depth`.
    Property {
        /// The depth of the node it belongs to.
        depth: usize,
        /// The property.
        property: Property<'a>,
    },
}

/// The blob breaks the format; where the walk stopped does not matter to any caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

impl<'a> Tree<'a> {
    /// The tree in `blob`, when it starts with the magic and its structure and strings
    /// offsets are inside it. Nothing past the header is checked yet: [`Tree::events`] does
    /// that as it goes. `blob` should end where the tree does (`totalsize`, [`total_size`]).
    pub fn new(blob: &'a [u8]) -> Option<Self> {
        if be32(blob, 0)? != FDT_MAGIC {
            return None;
        }
        let structure = usize::try_from(be32(blob, STRUCTURE_FIELD)?).ok()?;
        let strings_offset = usize::try_from(be32(blob, STRINGS_FIELD)?).ok()?;
        let strings = blob.get(strings_offset..)?;
        blob.get(structure..)?;
        Some(Self { blob, structure, strings })
    }

    /// The structure block's events, in order; an `Err(Malformed)` is the last item.
    pub const fn events(&self) -> Events<'a> {
        Events {
            tree: *self,
            offset: self.structure,
            depth: 0,
            finished: false,
        }
    }
}

/// The walk over a [`Tree`]'s structure block ([`Tree::events`]).
#[derive(Clone, Debug)]
pub struct Events<'a> {
    /// The tree walked.
    tree: Tree<'a>,
    /// Offset of the next token.
    offset: usize,
    /// Depth of the innermost open node (0: none open).
    depth: usize,
    /// `FDT_END` or a malformation was met: nothing more comes.
    finished: bool,
}

impl<'a> Events<'a> {
    /// The next event, `Ok(None)` at `FDT_END` with every node closed.
    fn step(&mut self) -> Result<Option<Event<'a>>, Malformed> {
        let blob = self.tree.blob;
        // BOUND: each turn reads one token and moves `offset` at least 4 bytes on through a
        // finite blob (checked arithmetic stops it at the end of the address space); only
        // `FDT_NOP` turns again.
        loop {
            let token = be32(blob, self.offset).ok_or(Malformed)?;
            let after_token = self.offset.checked_add(TOKEN_BYTES).ok_or(Malformed)?;
            match token {
                FDT_BEGIN_NODE => {
                    let name = string_at(blob, after_token).ok_or(Malformed)?;
                    let name_end = after_token.checked_add(name.len()).ok_or(Malformed)?;
                    self.offset = name_end.checked_add(1).and_then(aligned).ok_or(Malformed)?;
                    self.depth = self.depth.checked_add(1).ok_or(Malformed)?;
                    return Ok(Some(Event::BeginNode { depth: self.depth, name }));
                }
                FDT_END_NODE => {
                    let depth = self.depth;
                    self.depth = depth.checked_sub(1).ok_or(Malformed)?;
                    self.offset = after_token;
                    return Ok(Some(Event::EndNode { depth }));
                }
                FDT_PROP => {
                    if self.depth == 0 {
                        return Err(Malformed);
                    }
                    let length = be32(blob, after_token).and_then(|word| usize::try_from(word).ok()).ok_or(Malformed)?;
                    let name_field = after_token.checked_add(TOKEN_BYTES).ok_or(Malformed)?;
                    let name_offset = be32(blob, name_field).ok_or(Malformed)?;
                    let name_index = usize::try_from(name_offset).map_err(|_| Malformed)?;
                    let name = string_at(self.tree.strings, name_index).ok_or(Malformed)?;
                    let value_offset = name_field.checked_add(TOKEN_BYTES).ok_or(Malformed)?;
                    let value_end = value_offset.checked_add(length).ok_or(Malformed)?;
                    let value = blob.get(value_offset..value_end).ok_or(Malformed)?;
                    self.offset = aligned(value_end).ok_or(Malformed)?;
                    let property = Property { name, name_offset, name_field, value_offset, value };
                    return Ok(Some(Event::Property { depth: self.depth, property }));
                }
                FDT_NOP => self.offset = after_token,
                FDT_END if self.depth == 0 => return Ok(None),
                _ => return Err(Malformed),
            }
        }
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<Event<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let step = self.step();
        match step {
            Ok(Some(event)) => Some(Ok(event)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(malformed) => {
                self.finished = true;
                Some(Err(malformed))
            }
        }
    }
}

/// Whether the string list `value` (NUL-separated strings, as in `compatible`) has an entry
/// equal to `wanted`: whole entries only, so `brcm,bcm2711-rng` is not in
/// `"brcm,bcm2711-rng200\0"`.
fn lists(value: &[u8], wanted: &[u8]) -> bool {
    let entries = value.strip_suffix(b"\0").unwrap_or(value);
    !value.is_empty() && entries.split(|&byte| byte == 0).any(|entry| entry == wanted)
}

/// Whether a `status` value means enabled: `"okay"`, or `"ok"` as older trees say (Linux's
/// `__of_device_is_available` accepts both).
fn says_enabled(status: &[u8]) -> bool {
    let text = status.split(|&byte| byte == 0).next().unwrap_or(status);
    text == b"okay" || text == b"ok"
}

/// What the walk has seen of one node's properties.
#[derive(Clone, Copy, Debug)]
struct NodeSeen {
    /// Its depth.
    depth: usize,
    /// Its `compatible` lists the wanted entry.
    compatible: bool,
    /// Its `status` is there and says something other than enabled.
    disabled: bool,
}

impl NodeSeen {
    /// A node that matched and is not disabled.
    const fn counts(self) -> bool {
        self.compatible && !self.disabled
    }
}

/// Does the tree in `blob` have a node whose `compatible` lists `compatible` (a whole entry)
/// and whose `status` is absent, `"okay"` or `"ok"`? `None` when `blob` is not a valid tree:
/// the whole structure block is walked, so a blob broken anywhere gives `None`, not a guess.
///
/// Only the properties before a node's first child count, as the specification orders them
/// (§5.4.1: a node's properties precede its children) and as libfdt reads them.
pub fn has_enabled_compatible(blob: &[u8], compatible: &str) -> Option<bool> {
    let wanted = compatible.as_bytes();
    let tree = Tree::new(blob)?;
    let mut found = false;
    // The node whose properties are being read: the last one begun, until a child of it
    // begins or it ends.
    let mut current: Option<NodeSeen> = None;
    // BOUND: `Events` ends after a finite number of events (each consumes blob bytes).
    for event in tree.events() {
        match event.ok()? {
            Event::BeginNode { depth, .. } => {
                found |= current.is_some_and(NodeSeen::counts);
                current = Some(NodeSeen { depth, compatible: false, disabled: false });
            }
            Event::EndNode { .. } => {
                found |= current.is_some_and(NodeSeen::counts);
                current = None;
            }
            Event::Property { depth, property } => {
                let Some(node) = current.as_mut().filter(|node| node.depth == depth) else { continue };
                match property.name {
                    b"compatible" => node.compatible = lists(property.value, wanted),
                    b"status" => node.disabled = !says_enabled(property.value),
                    _ => {}
                }
            }
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Builds blobs by hand, following the specification.
    struct Builder {
        out: [u8; 1024],
        length: usize,
        strings: [u8; 128],
        strings_length: usize,
    }

    impl Builder {
        fn new() -> Self {
            Self { out: [0; 1024], length: HEADER_BYTES, strings: [0; 128], strings_length: 0 }
        }

        fn push(&mut self, bytes: &[u8]) -> &mut Self {
            self.out[self.length..self.length + bytes.len()].copy_from_slice(bytes);
            self.length = (self.length + bytes.len()).next_multiple_of(4);
            self
        }

        fn token(&mut self, token: u32) -> &mut Self {
            self.push(&token.to_be_bytes())
        }

        fn begin(&mut self, name: &str) -> &mut Self {
            self.token(FDT_BEGIN_NODE);
            let mut bytes = name.as_bytes().to_vec();
            bytes.push(0);
            self.push(&bytes)
        }

        fn end(&mut self) -> &mut Self {
            self.token(FDT_END_NODE)
        }

        fn property(&mut self, name: &str, value: &[u8]) -> &mut Self {
            let name_offset = self.strings_length as u32;
            self.strings[self.strings_length..self.strings_length + name.len()].copy_from_slice(name.as_bytes());
            self.strings_length += name.len() + 1;
            self.token(FDT_PROP);
            self.push(&(value.len() as u32).to_be_bytes());
            self.push(&name_offset.to_be_bytes());
            self.push(value)
        }

        fn finish(&mut self) -> Vec<u8> {
            self.token(FDT_END);
            let strings_offset = self.length;
            // The strings block ends the blob unpadded, so every cut loses a name's NUL.
            self.out[strings_offset..strings_offset + self.strings_length].copy_from_slice(&self.strings[..self.strings_length]);
            self.length += self.strings_length;
            self.out[0..4].copy_from_slice(&FDT_MAGIC.to_be_bytes());
            self.out[4..8].copy_from_slice(&(self.length as u32).to_be_bytes());
            self.out[8..12].copy_from_slice(&(HEADER_BYTES as u32).to_be_bytes());
            self.out[12..16].copy_from_slice(&(strings_offset as u32).to_be_bytes());
            self.out[..self.length].to_vec()
        }
    }

    const RNG: &str = "brcm,bcm2711-rng200";

    /// `/ { soc { rng@7e104000 { compatible = "brcm,bcm2711-rng200"; <status> }; }; }`.
    fn soc_with_rng(status: Option<&[u8]>) -> Vec<u8> {
        let mut builder = Builder::new();
        builder.begin("").property("compatible", b"raspberrypi,4-model-b\0brcm,bcm2711\0");
        builder.begin("soc").property("ranges", &[0; 12]);
        builder.begin("serial@7e201000").property("compatible", b"arm,pl011\0arm,primecell\0").end();
        builder.begin("rng@7e104000").property("compatible", b"brcm,bcm2711-rng200\0").property("reg", &[0; 8]);
        if let Some(status) = status {
            builder.property("status", status);
        }
        builder.end().end().end();
        builder.finish()
    }

    #[test]
    fn an_enabled_node_is_found_with_status_okay_ok_or_none() {
        for status in [None, Some(&b"okay\0"[..]), Some(&b"ok\0"[..])] {
            assert_eq!(has_enabled_compatible(&soc_with_rng(status), RNG), Some(true), "{status:?}");
        }
        // A later entry of the list matches too.
        assert_eq!(has_enabled_compatible(&soc_with_rng(None), "arm,primecell"), Some(true));
    }

    #[test]
    fn a_disabled_node_does_not_count() {
        assert_eq!(has_enabled_compatible(&soc_with_rng(Some(b"disabled\0")), RNG), Some(false));
        assert_eq!(has_enabled_compatible(&soc_with_rng(Some(b"fail\0")), RNG), Some(false));
    }

    #[test]
    fn an_absent_node_or_a_mere_prefix_or_extension_of_an_entry_does_not_count() {
        let mut builder = Builder::new();
        builder.begin("").begin("soc").begin("serial@7e201000").property("compatible", b"arm,pl011\0").end().end().end();
        assert_eq!(has_enabled_compatible(&builder.finish(), RNG), Some(false));
        let blob = soc_with_rng(None);
        assert_eq!(has_enabled_compatible(&blob, "brcm,bcm2711-rng"), Some(false));
        assert_eq!(has_enabled_compatible(&blob, "brcm,bcm2711-rng2000"), Some(false));
        assert_eq!(has_enabled_compatible(&blob, "rng200"), Some(false));
        assert_eq!(has_enabled_compatible(&blob, ""), Some(false));
    }

    #[test]
    fn a_status_or_compatible_of_another_node_does_not_count() {
        // The parent is compatible, a child of it is disabled: the parent still counts.
        let mut builder = Builder::new();
        builder.begin("").begin("rng").property("compatible", b"brcm,bcm2711-rng200\0");
        builder.begin("child").property("status", b"disabled\0").end().end().end();
        assert_eq!(has_enabled_compatible(&builder.finish(), RNG), Some(true));
        // A disabled parent does not disable a compatible child's own answer, and the parent's
        // compatible is not the child's.
        let mut builder = Builder::new();
        builder.begin("").begin("bus").property("status", b"disabled\0");
        builder.begin("rng").property("compatible", b"brcm,bcm2711-rng200\0").end().end().end();
        assert_eq!(has_enabled_compatible(&builder.finish(), RNG), Some(true));
        let mut builder = Builder::new();
        builder.begin("").begin("rng").property("compatible", b"brcm,bcm2711-rng200\0").property("status", b"disabled\0");
        builder.begin("child").end().end().end();
        assert_eq!(has_enabled_compatible(&builder.finish(), RNG), Some(false));
    }

    #[test]
    fn nops_between_properties_are_skipped() {
        let mut builder = Builder::new();
        builder.begin("").begin("rng").token(FDT_NOP).property("compatible", b"brcm,bcm2711-rng200\0");
        builder.token(FDT_NOP).property("status", b"disabled\0").token(FDT_NOP).end().end();
        assert_eq!(has_enabled_compatible(&builder.finish(), RNG), Some(false));
    }

    #[test]
    fn truncated_or_garbage_blobs_are_not_trees() {
        let blob = soc_with_rng(None);
        for length in 0..blob.len() {
            assert_eq!(has_enabled_compatible(&blob[..length], RNG), None, "cut at {length}");
        }
        assert_eq!(has_enabled_compatible(&[0xff; 64], RNG), None);
        let mut bad_magic = blob.clone();
        bad_magic[3] ^= 1;
        assert_eq!(has_enabled_compatible(&bad_magic, RNG), None);
        let mut bad_token = blob.clone();
        bad_token[HEADER_BYTES + 3] = 7;
        assert_eq!(has_enabled_compatible(&bad_token, RNG), None);
        let mut huge_offsets = blob.clone();
        huge_offsets[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(has_enabled_compatible(&huge_offsets, RNG), None);
        // Unbalanced: one END_NODE too few before FDT_END, and one too many.
        let mut builder = Builder::new();
        builder.begin("").begin("rng").property("compatible", b"brcm,bcm2711-rng200\0").end();
        assert_eq!(has_enabled_compatible(&builder.finish(), RNG), None);
        let mut builder = Builder::new();
        builder.begin("").end().end();
        assert_eq!(has_enabled_compatible(&builder.finish(), RNG), None);
    }

    #[test]
    fn no_blob_makes_the_walk_panic() {
        // Every single-byte corruption of a valid blob, and a sweep of pseudo-random blobs
        // behind a valid header: any answer is fine, a panic is not.
        let blob = soc_with_rng(Some(b"okay\0"));
        for index in 0..blob.len() {
            for value in [0x00, 0x01, 0x02, 0x03, 0x04, 0x09, 0x7f, 0xff] {
                let mut corrupt = blob.clone();
                corrupt[index] = value;
                let _answer = has_enabled_compatible(&corrupt, RNG);
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            let mut random = blob.clone();
            for byte in random.iter_mut().skip(HEADER_BYTES) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if state % 8 == 0 {
                    *byte = state.to_le_bytes()[1];
                }
            }
            let _answer = has_enabled_compatible(&random, RNG);
        }
    }

    #[test]
    fn total_size_reads_the_header_and_refuses_a_bad_one() {
        let blob = soc_with_rng(None);
        assert_eq!(total_size(&blob[..HEADER_BYTES]), Some(blob.len()));
        assert_eq!(total_size(&blob[..8]), Some(blob.len()));
        assert_eq!(total_size(&blob[..7]), None);
        let mut small = blob.clone();
        small[4..8].copy_from_slice(&39u32.to_be_bytes());
        assert_eq!(total_size(&small), None);
        let mut bad_magic = blob;
        bad_magic[0] = 0;
        assert_eq!(total_size(&bad_magic), None);
    }

    #[test]
    fn events_come_in_order_with_depths() {
        let blob = soc_with_rng(Some(b"okay\0"));
        let tree = Tree::new(&blob).expect("valid");
        let mut begun: Vec<(usize, &[u8])> = Vec::new();
        let mut ends = 0;
        for event in tree.events() {
            match event.expect("well-formed") {
                Event::BeginNode { depth, name } => begun.push((depth, name)),
                Event::EndNode { .. } => ends += 1,
                Event::Property { depth, property } if property.name == b"status" => {
                    assert_eq!(depth, 3);
                    assert_eq!(property.value, b"okay\0");
                    assert_eq!(&blob[property.value_offset..property.value_offset + 5], b"okay\0");
                }
                Event::Property { .. } => {}
            }
        }
        assert_eq!(begun, [(1, &b""[..]), (2, b"soc"), (3, b"serial@7e201000"), (3, b"rng@7e104000")]);
        assert_eq!(ends, 4);
    }
}
