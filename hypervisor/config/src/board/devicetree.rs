//! A flat, owned model of the board's device tree blob: one entry per node, with its path,
//! raw properties, inherited interrupt parent and `reg` translated to CPU physical addresses.
//!
//! The `fdt` crate walks the blob without allocating but hands out borrowed nodes that know
//! neither their path nor their ancestors. Board facts need both (aliases name paths;
//! `interrupt-parent` and `ranges` are inherited from ancestors, Devicetree Specification
//! v0.4 §2.3.7 and §2.4.1), so the tree is walked once here into plain data. Only the
//! panic-free parts of `fdt` are used (never `timebase_frequency()`/`clock_frequency()`).
//!
//! Design: [impl->dsn~config-board~1]

use std::collections::BTreeMap;
use std::fmt;

/// One `reg` entry or one address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg {
    /// First address.
    pub address: u64,
    /// Length in bytes (0 when the parent has `#size-cells = <0>`).
    pub size: u64,
}

/// One node of the tree.
#[derive(Clone, Debug)]
pub struct Node {
    /// Full path, e.g. `/pl011@9000000`.
    pub path: String,
    /// `compatible` strings, most specific first.
    pub compatible: Vec<String>,
    /// The `interrupt-parent` phandle, own or inherited from the nearest ancestor with one.
    pub interrupt_parent: Option<u32>,
    /// `reg` as written, in the parent bus's address space.
    pub reg: Vec<Reg>,
    /// `reg` translated through every ancestor's `ranges` to CPU physical addresses;
    /// `None` when an ancestor's `ranges` does not cover it.
    pub physical_reg: Option<Vec<Reg>>,
    properties: BTreeMap<String, Vec<u8>>,
}

impl Node {
    /// Every property, by name.
    pub fn properties(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.properties
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice()))
    }

    /// A property's raw bytes.
    pub fn property(&self, name: &str) -> Option<&[u8]> {
        self.properties.get(name).map(Vec::as_slice)
    }

    /// A property holding one string.
    pub fn string(&self, name: &str) -> Option<&str> {
        let bytes = self.property(name)?;
        std::str::from_utf8(bytes)
            .ok()
            .map(|text| text.trim_end_matches('\0'))
    }

    /// A property holding one or more cells, as 32-bit values.
    pub fn cells(&self, name: &str) -> Option<Vec<u32>> {
        let bytes = self.property(name)?;
        (bytes.len() % 4 == 0).then(|| {
            bytes
                .chunks_exact(4)
                .map(|cell| u32::from_be_bytes([cell[0], cell[1], cell[2], cell[3]]))
                .collect()
        })
    }

    /// A property holding one number of one or two cells.
    pub fn number(&self, name: &str) -> Option<u64> {
        read_cells(self.property(name)?, self.property(name)?.len() / 4)
    }

    /// Whether `compatible` lists any of `candidates`.
    pub fn is_compatible(&self, candidates: &[&str]) -> bool {
        self.compatible
            .iter()
            .any(|entry| candidates.contains(&entry.as_str()))
    }

    /// `status` is absent, `"okay"` or `"ok"` (Devicetree Specification §2.3.4).
    pub fn is_enabled(&self) -> bool {
        matches!(self.string("status"), None | Some("okay") | Some("ok"))
    }

    /// The node's `phandle`.
    pub fn phandle(&self) -> Option<u32> {
        self.number("phandle")
            .and_then(|value| u32::try_from(value).ok())
    }

    /// The node name with its unit address, e.g. `cpu@0`.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }
}

/// Why a blob could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceTreeError {
    /// The `fdt` crate rejected the header.
    Header(String),
    /// The blob has no root node.
    NoRoot,
}

impl fmt::Display for DeviceTreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(reason) => write!(f, "not a flattened device tree: {reason}"),
            Self::NoRoot => f.write_str("the device tree has no root node"),
        }
    }
}

/// The whole tree, in depth-first order (the order `dtc` wrote it).
#[derive(Clone, Debug)]
pub struct DeviceTree {
    nodes: Vec<Node>,
    by_path: BTreeMap<String, usize>,
    aliases: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    reservations: Vec<Reg>,
}

/// What a child inherits from its ancestors while the tree is walked.
#[derive(Clone)]
struct Inherited {
    path: String,
    address_cells: usize,
    size_cells: usize,
    interrupt_parent: Option<u32>,
    /// How each ancestor bus maps its children's addresses, from the nearest outwards.
    translations: Vec<Translation>,
}

/// What a bus node's `ranges` says about its children's addresses (Devicetree
/// Specification v0.4 §2.3.8).
#[derive(Clone, Debug)]
enum Translation {
    /// `ranges;` (empty): the child and parent address spaces are the same.
    Identity,
    /// `ranges = <...>`: these windows are mapped.
    Windows(Vec<RangeEntry>),
    /// No `ranges`: the children's addresses are not in the parent's space (an I2C or SPI
    /// bus, `/cpus`), so they have no CPU physical address.
    NotMapped,
}

#[derive(Clone, Copy, Debug)]
struct RangeEntry {
    child: u64,
    parent: u64,
    size: u64,
}

/// Devicetree Specification §2.3.5: defaults when a node has no `#address-cells`/`#size-cells`.
const DEFAULT_ADDRESS_CELLS: usize = 2;
const DEFAULT_SIZE_CELLS: usize = 1;

impl DeviceTree {
    /// Reads a flattened device tree blob.
    pub fn parse(blob: &[u8]) -> Result<Self, DeviceTreeError> {
        let fdt =
            fdt::Fdt::new(blob).map_err(|error| DeviceTreeError::Header(error.to_string()))?;
        let root = fdt.find_node("/").ok_or(DeviceTreeError::NoRoot)?;
        let mut tree = Self {
            nodes: Vec::new(),
            by_path: BTreeMap::new(),
            aliases: BTreeMap::new(),
            labels: BTreeMap::new(),
            reservations: fdt
                .memory_reservations()
                .map(|reservation| Reg {
                    address: reservation.address() as usize as u64,
                    size: reservation.size() as u64,
                })
                .collect(),
        };
        let top = Inherited {
            path: String::new(),
            address_cells: DEFAULT_ADDRESS_CELLS,
            size_cells: DEFAULT_SIZE_CELLS,
            interrupt_parent: None,
            translations: Vec::new(),
        };
        tree.visit(root, "/".to_owned(), &top, true);
        if let Some(aliases) = tree.node("/aliases") {
            let pairs: Vec<(String, String)> = aliases
                .properties
                .keys()
                .filter_map(|name| Some((name.clone(), aliases.string(name)?.to_owned())))
                .collect();
            tree.aliases.extend(pairs);
        }
        // `dtc -@` records every label in `/__symbols__` (label = path).
        if let Some(symbols) = tree.node("/__symbols__") {
            let pairs: Vec<(String, String)> = symbols
                .properties
                .keys()
                .filter_map(|name| Some((name.clone(), symbols.string(name)?.to_owned())))
                .collect();
            tree.labels.extend(pairs);
        }
        Ok(tree)
    }

    fn visit(
        &mut self,
        node: fdt::node::FdtNode<'_, '_>,
        path: String,
        inherited: &Inherited,
        is_root: bool,
    ) {
        let properties: BTreeMap<String, Vec<u8>> = node
            .properties()
            .map(|property| (property.name.to_owned(), property.value.to_vec()))
            .collect();
        let cells = |name: &str, default: usize| {
            properties
                .get(name)
                .and_then(|value| read_cells(value, 1))
                .map_or(default, |value| value as usize)
        };
        let address_cells = cells("#address-cells", DEFAULT_ADDRESS_CELLS);
        let size_cells = cells("#size-cells", DEFAULT_SIZE_CELLS);

        let reg = properties
            .get("reg")
            .map(|value| decode_pairs(value, inherited.address_cells, inherited.size_cells))
            .unwrap_or_default();
        let physical_reg = reg
            .iter()
            .map(|entry| translate(*entry, &inherited.translations))
            .collect();
        let interrupt_parent = properties
            .get("interrupt-parent")
            .and_then(|value| read_cells(value, 1))
            .and_then(|value| u32::try_from(value).ok())
            .or(inherited.interrupt_parent);
        let compatible = properties
            .get("compatible")
            .map(|value| {
                value
                    .split(|byte| *byte == 0)
                    .filter(|entry| !entry.is_empty())
                    .map(|entry| String::from_utf8_lossy(entry).into_owned())
                    .collect()
            })
            .unwrap_or_default();

        // This node's `ranges` maps its children's addresses into its own parent's space.
        let own_translation = match properties.get("ranges") {
            Some(value) if value.is_empty() => Translation::Identity,
            Some(value) => Translation::Windows(decode_ranges(
                value,
                address_cells,
                inherited.address_cells,
                size_cells,
            )),
            None => Translation::NotMapped,
        };
        let mut translations = Vec::with_capacity(inherited.translations.len() + 1);
        if !is_root {
            translations.push(own_translation);
        }
        translations.extend(inherited.translations.iter().cloned());
        let below = Inherited {
            path: path.clone(),
            address_cells,
            size_cells,
            interrupt_parent,
            translations,
        };

        self.by_path.insert(path.clone(), self.nodes.len());
        self.nodes.push(Node {
            path,
            compatible,
            interrupt_parent,
            reg,
            physical_reg,
            properties,
        });
        for child in node.children() {
            let child_path = if below.path == "/" {
                format!("/{}", child.name)
            } else {
                format!("{}/{}", below.path, child.name)
            };
            self.visit(child, child_path, &below, false);
        }
    }

    /// Every node, depth first.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node at exactly `path`.
    pub fn node(&self, path: &str) -> Option<&Node> {
        self.nodes.get(*self.by_path.get(path)?)
    }

    /// The node named by a path (`/pl011@9000000`), an alias (`serial0`) or a label
    /// (`&uart1`, or `uart1` when no alias has that name). Labels exist only in blobs built
    /// with `dtc -@` (they are kept in `/__symbols__`).
    pub fn resolve(&self, reference: &str) -> Option<&Node> {
        if reference.starts_with('/') {
            self.node(reference)
        } else if let Some(label) = reference.strip_prefix('&') {
            self.node(self.labels.get(label)?)
        } else {
            self.aliases
                .get(reference)
                .or_else(|| self.labels.get(reference))
                .and_then(|path| self.node(path))
        }
    }

    /// `/memreserve/` entries of the blob header.
    pub fn memory_reservations(&self) -> &[Reg] {
        &self.reservations
    }

    /// Whether `node` lies below `ancestor` (or is it).
    pub fn is_within(node: &str, ancestor: &str) -> bool {
        node == ancestor
            || ancestor == "/"
            || node
                .strip_prefix(ancestor)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// The node whose `phandle` is `phandle`.
    pub fn by_phandle(&self, phandle: u32) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|node| node.phandle() == Some(phandle))
    }

    /// The first enabled node compatible with any of `candidates`.
    pub fn find_compatible(&self, candidates: &[&str]) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|node| node.is_enabled() && node.is_compatible(candidates))
    }

    /// The direct children of `path`, in order.
    pub fn children<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes.iter().filter(move |node| {
            node.path.rsplit_once('/').is_some_and(|(parent, name)| {
                !name.is_empty() && (parent == path || (parent.is_empty() && path == "/"))
            })
        })
    }
}

/// A big-endian number of `cells` 32-bit cells (0, 1 or 2), `None` for more or too few bytes.
fn read_cells(bytes: &[u8], cells: usize) -> Option<u64> {
    let bytes = bytes.get(..cells * 4)?;
    match cells {
        0 => Some(0),
        1 => Some(u64::from(u32::from_be_bytes(bytes.try_into().ok()?))),
        2 => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

/// Splits `reg`-like bytes into (address, size) pairs; addresses wider than 64 bits (PCI) are
/// skipped because nothing here maps them.
fn decode_pairs(bytes: &[u8], address_cells: usize, size_cells: usize) -> Vec<Reg> {
    let stride = (address_cells + size_cells) * 4;
    if stride == 0 {
        return Vec::new();
    }
    bytes
        .chunks_exact(stride)
        .filter_map(|entry| {
            Some(Reg {
                address: read_cells(entry, address_cells)?,
                size: read_cells(entry.get(address_cells * 4..)?, size_cells)?,
            })
        })
        .collect()
}

fn decode_ranges(
    bytes: &[u8],
    child_cells: usize,
    parent_cells: usize,
    size_cells: usize,
) -> Vec<RangeEntry> {
    let stride = (child_cells + parent_cells + size_cells) * 4;
    if stride == 0 {
        return Vec::new();
    }
    bytes
        .chunks_exact(stride)
        .filter_map(|entry| {
            Some(RangeEntry {
                child: read_cells(entry, child_cells)?,
                parent: read_cells(entry.get(child_cells * 4..)?, parent_cells)?,
                size: read_cells(entry.get((child_cells + parent_cells) * 4..)?, size_cells)?,
            })
        })
        .collect()
}

/// Walks an address up through the ancestors' `ranges` (nearest first).
fn translate(reg: Reg, translations: &[Translation]) -> Option<Reg> {
    let mut address = reg.address;
    for translation in translations {
        let entries = match translation {
            Translation::Identity => continue,
            Translation::NotMapped => return None,
            Translation::Windows(entries) => entries,
        };
        let entry = entries
            .iter()
            .find(|entry| address >= entry.child && address - entry.child < entry.size)?;
        address = entry.parent.checked_add(address - entry.child)?;
    }
    Some(Reg {
        address,
        size: reg.size,
    })
}

// [utest->dsn~config-board~1]
#[cfg(test)]
mod tests {
    use super::*;

    /// A small tree built with `vm-fdt`: a bus with a non-identity `ranges`, a UART below it
    /// inheriting the root's interrupt parent, and an alias.
    fn sample() -> Vec<u8> {
        let mut writer = vm_fdt::FdtWriter::new().unwrap();
        let root = writer.begin_node("").unwrap();
        writer.property_u32("#address-cells", 2).unwrap();
        writer.property_u32("#size-cells", 2).unwrap();
        writer.property_u32("interrupt-parent", 7).unwrap();
        let aliases = writer.begin_node("aliases").unwrap();
        writer
            .property_string("serial0", "/soc/serial@7e215040")
            .unwrap();
        writer.end_node(aliases).unwrap();
        let soc = writer.begin_node("soc").unwrap();
        writer.property_u32("#address-cells", 1).unwrap();
        writer.property_u32("#size-cells", 1).unwrap();
        writer
            .property_array_u32("ranges", &[0x7e00_0000, 0, 0xfe00_0000, 0x0180_0000])
            .unwrap();
        let serial = writer.begin_node("serial@7e215040").unwrap();
        writer
            .property_string_list("compatible", vec!["brcm,bcm2835-aux-uart".into()])
            .unwrap();
        writer
            .property_array_u32("reg", &[0x7e21_5040, 0x40])
            .unwrap();
        writer.end_node(serial).unwrap();
        writer.end_node(soc).unwrap();
        writer.end_node(root).unwrap();
        writer.finish().unwrap()
    }

    #[test]
    fn registers_are_translated_through_bus_ranges_and_aliases_resolve() {
        let tree = DeviceTree::parse(&sample()).unwrap();
        let serial = tree.resolve("serial0").expect("alias");
        assert_eq!(serial.path, "/soc/serial@7e215040");
        assert_eq!(
            serial.reg,
            vec![Reg {
                address: 0x7e21_5040,
                size: 0x40
            }]
        );
        assert_eq!(
            serial.physical_reg,
            Some(vec![Reg {
                address: 0xfe21_5040,
                size: 0x40
            }])
        );
        assert_eq!(serial.interrupt_parent, Some(7));
        assert!(serial.is_compatible(&["ns16550", "brcm,bcm2835-aux-uart"]));
        assert_eq!(
            tree.children("/")
                .map(|node| node.name())
                .collect::<Vec<_>>(),
            ["aliases", "soc"]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            DeviceTree::parse(b"not a dtb at all, really not"),
            Err(DeviceTreeError::Header(_))
        ));
    }
}
