//! MLR-27: is any panic machinery reachable from the exception vectors of the release image?
//!
//! Builds a call graph of the aarch64 `.text` by decoding the direct branch instructions
//! itself (no disassembler dependency): `BL`/`B` (imm26), `B.cond`, `CBZ`/`CBNZ` (imm19) and
//! `TBZ`/`TBNZ` (imm14) (Arm ARM C6.2, "A64 base instruction descriptions"), starting at the
//! vector table symbol. Functions are the symbol table's code symbols; a symbol without a
//! size extends to the next symbol. Data marked by `$d` mapping symbols is skipped.
//!
//! An approximation, and a sound one only for direct calls: indirect branches (`BR`, `BLR`,
//! including trait-object and function-pointer calls) have no target here, so they are
//! counted and reported rather than followed; a panic reachable only through one is missed.
//! A branch into data or padding that happens to decode as a branch can only add edges.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;

use object::{Object, ObjectSection, ObjectSymbol, SectionIndex, SymbolKind};
use serde::Serialize;

use crate::config::ElfSettings;
use crate::error::Error;
use crate::finding::{Finding, Origin, Position};
use crate::rules::Rule;

/// What the check found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ElfReport {
    /// The ELF file, as given.
    pub path: String,
    /// The vector symbols found (the roots).
    pub roots: Vec<String>,
    /// Functions reachable by direct branches from the roots.
    pub functions_reached: usize,
    /// Indirect branches (`BR`/`BLR`) in reached code: calls this check cannot follow.
    pub indirect_branches: usize,
    /// For each reachable panic symbol, one call path from a root to it.
    pub panic_paths: Vec<Vec<String>>,
}

impl ElfReport {
    /// MLR-27 findings, one per reachable panic symbol.
    pub fn findings(&self) -> Vec<Finding> {
        self.panic_paths
            .iter()
            .map(|path| {
                let target = path.last().cloned().unwrap_or_default();
                let mut finding = Finding::new(
                    Rule::PanicReachable,
                    &self.path,
                    Position::new(0, 0),
                    Position::new(0, 0),
                    format!(
                        "`{target}` is reachable from the exception vectors: {}",
                        path.join(" → ")
                    ),
                );
                finding.origin = Origin::Elf;
                finding
            })
            .collect()
    }
}

/// Reads and analyses an ELF file.
pub fn check_file(path: &Path, settings: &ElfSettings) -> Result<ElfReport, Error> {
    let bytes = std::fs::read(path).map_err(|error| Error::Io {
        path: path.to_owned(),
        error,
    })?;
    let mut report = analyse(&bytes, settings).map_err(|message| Error::Elf {
        path: path.to_owned(),
        message,
    })?;
    report.path = path.display().to_string();
    Ok(report)
}

/// A code region: one function (or an unnamed stretch of code).
#[derive(Clone, Debug)]
struct Region {
    name: String,
    section: SectionIndex,
    start: u64,
    end: u64,
}

/// The decoded direct-branch target of an instruction at `address`, or whether it is an
/// indirect branch.
#[derive(Debug, PartialEq, Eq)]
pub enum Branch {
    /// A direct branch or call to this address.
    Direct(u64),
    /// `BR`/`BLR` (and their pointer-authenticated forms): target unknown.
    Indirect,
}

fn sign_extend(value: u32, bits: u32) -> i64 {
    let shift = 64u32.saturating_sub(bits);
    (i64::from(value) << shift) >> shift
}

fn offset_target(address: u64, field: u32, bits: u32) -> u64 {
    let offset = sign_extend(field, bits).wrapping_mul(4);
    address.wrapping_add_signed(offset)
}

/// Decodes the branch, if any, of the instruction word `word` at `address`.
pub fn decode_branch(word: u32, address: u64) -> Option<Branch> {
    // B (0b000101) and BL (0b100101): imm26 in bits [25:0].
    if word & 0x7C00_0000 == 0x1400_0000 {
        return Some(Branch::Direct(offset_target(
            address,
            word & 0x03FF_FFFF,
            26,
        )));
    }
    // B.cond / BC.cond: 0101010 0 imm19 o0 cond.
    if word & 0xFF00_0000 == 0x5400_0000 {
        return Some(Branch::Direct(offset_target(
            address,
            (word >> 5) & 0x7_FFFF,
            19,
        )));
    }
    // CBZ/CBNZ: sf 011010 op imm19 Rt.
    if word & 0x7E00_0000 == 0x3400_0000 {
        return Some(Branch::Direct(offset_target(
            address,
            (word >> 5) & 0x7_FFFF,
            19,
        )));
    }
    // TBZ/TBNZ: b5 011011 op b40 imm14 Rt.
    if word & 0x7E00_0000 == 0x3600_0000 {
        return Some(Branch::Direct(offset_target(
            address,
            (word >> 5) & 0x3FFF,
            14,
        )));
    }
    // BR, BLR and the pointer-authenticated BRA*/BLRA* (unconditional branch, register):
    // 1101011 opc op2=11111 ...; opc 0000 = BR, 0001 = BLR, 1000/1001 = BRA*/BLRA*.
    if word & 0xFE1F_0000 == 0xD61F_0000 {
        let opc = (word >> 21) & 0xF;
        if matches!(opc, 0b0000 | 0b0001 | 0b1000 | 0b1001) {
            return Some(Branch::Indirect);
        }
    }
    None
}

/// A readable name for a Rust symbol: legacy mangling (`_ZN..E`) and the common subset of
/// v0 mangling (`_R` with crate-root and nested paths) become `a::b::c` paths; anything
/// else is returned as it is.
pub fn demangle(name: &str) -> String {
    if let Some(rest) = name.strip_prefix("_ZN") {
        return demangle_legacy(rest).unwrap_or_else(|| name.to_owned());
    }
    if let Some(rest) = name.strip_prefix("_R") {
        let mut parser = V0 {
            text: rest.as_bytes(),
            position: 0,
        };
        return parser
            .path(0)
            .map_or_else(|| name.to_owned(), |parts| parts.join("::"));
    }
    name.to_owned()
}

fn demangle_legacy(mut rest: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    // BOUND: each iteration consumes at least one character of `rest`.
    loop {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            break;
        }
        let length = digits.parse::<usize>().ok()?;
        let after = rest.get(digits.len()..)?;
        let part = after.get(..length)?;
        parts.push(
            part.replace("$LT$", "<")
                .replace("$GT$", ">")
                .replace("$u20$", " ")
                .replace("..", "::"),
        );
        rest = after.get(length..)?;
    }
    if parts
        .last()
        .is_some_and(|last| last.len() == 17 && last.starts_with('h'))
    {
        parts.pop();
    }
    (!parts.is_empty()).then(|| parts.join("::"))
}

/// A parser for the path subset of Rust's v0 symbol mangling.
struct V0<'t> {
    text: &'t [u8],
    position: usize,
}

impl V0<'_> {
    fn next(&mut self) -> Option<u8> {
        let byte = *self.text.get(self.position)?;
        self.position = self.position.saturating_add(1);
        Some(byte)
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.position).copied()
    }

    fn skip_base62(&mut self) -> Option<()> {
        // BOUND: consumes one byte per iteration up to the terminating `_`.
        loop {
            match self.next()? {
                b'_' => return Some(()),
                byte if byte.is_ascii_alphanumeric() => {}
                _ => return None,
            }
        }
    }

    fn identifier(&mut self) -> Option<String> {
        if self.peek() == Some(b's') {
            self.position = self.position.saturating_add(1);
            self.skip_base62()?;
        }
        if self.peek() == Some(b'u') {
            return None;
        }
        let start = self.position;
        // BOUND: consumes one digit per iteration.
        while self.peek().is_some_and(|byte| byte.is_ascii_digit()) {
            self.position = self.position.saturating_add(1);
        }
        let length: usize = std::str::from_utf8(self.text.get(start..self.position)?)
            .ok()?
            .parse()
            .ok()?;
        if self.peek() == Some(b'_') {
            self.position = self.position.saturating_add(1);
        }
        let end = self.position.checked_add(length)?;
        let identifier = std::str::from_utf8(self.text.get(self.position..end)?)
            .ok()?
            .to_owned();
        self.position = end;
        Some(identifier)
    }

    /// `C` crate roots and `N` nested paths; `depth` guards against malformed input.
    fn path(&mut self, depth: usize) -> Option<Vec<String>> {
        if depth > 64 {
            return None;
        }
        match self.next()? {
            b'C' => Some(vec![self.identifier()?]),
            b'N' => {
                let namespace = self.next()?;
                let mut parts = self.path(depth.saturating_add(1))?;
                let identifier = self.identifier()?;
                parts.push(if namespace.is_ascii_uppercase() {
                    format!("{{{}}}", if namespace == b'C' { "closure" } else { "shim" })
                } else {
                    identifier
                });
                Some(parts)
            }
            _ => None,
        }
    }
}

fn is_mapping_symbol(name: &str) -> bool {
    name == "$x" || name == "$d" || name.starts_with("$x.") || name.starts_with("$d.")
}

/// Analyses ELF bytes.
pub fn analyse(bytes: &[u8], settings: &ElfSettings) -> Result<ElfReport, String> {
    let file = object::File::parse(bytes).map_err(|error| error.to_string())?;
    if file.architecture() != object::Architecture::Aarch64 {
        return Err(format!("not an aarch64 ELF ({:?})", file.architecture()));
    }

    // Code symbols and data mapping ranges, per section.
    let mut symbols: BTreeMap<usize, Vec<(u64, u64, String)>> = BTreeMap::new();
    let mut mapping: BTreeMap<usize, Vec<(u64, bool)>> = BTreeMap::new();
    for symbol in file.symbols() {
        let Ok(name) = symbol.name() else { continue };
        let Some(section) = symbol.section_index() else {
            continue;
        };
        if is_mapping_symbol(name) {
            mapping
                .entry(section.0)
                .or_default()
                .push((symbol.address(), name.starts_with("$d")));
            continue;
        }
        if name.is_empty()
            || !matches!(
                symbol.kind(),
                SymbolKind::Text | SymbolKind::Label | SymbolKind::Unknown
            )
        {
            continue;
        }
        let executable = file
            .section_by_index(section)
            .is_ok_and(|s| s.kind() == object::SectionKind::Text);
        if executable {
            symbols.entry(section.0).or_default().push((
                symbol.address(),
                symbol.size(),
                name.to_owned(),
            ));
        }
    }
    for list in symbols.values_mut() {
        list.sort();
        list.dedup_by(|later, earlier| later.0 == earlier.0);
    }
    for list in mapping.values_mut() {
        list.sort();
    }

    let region_of = |section: SectionIndex, address: u64| -> Option<Region> {
        let list = symbols.get(&section.0)?;
        let section_end = file
            .section_by_index(section)
            .ok()
            .map(|s| s.address().saturating_add(s.size()))?;
        let index = list.partition_point(|(start, _, _)| *start <= address);
        let next_start = list.get(index).map_or(section_end, |(start, _, _)| *start);
        match index.checked_sub(1).and_then(|i| list.get(i)) {
            Some((start, size, name)) => {
                let end = if *size > 0 {
                    start.saturating_add(*size)
                } else {
                    next_start
                };
                if address < end {
                    Some(Region {
                        name: name.clone(),
                        section,
                        start: *start,
                        end,
                    })
                } else {
                    Some(Region {
                        name: format!("0x{address:x}"),
                        section,
                        start: address,
                        end: next_start,
                    })
                }
            }
            None => Some(Region {
                name: format!("0x{address:x}"),
                section,
                start: address,
                end: next_start,
            }),
        }
    };
    let section_of = |address: u64| -> Option<SectionIndex> {
        file.sections()
            .find(|s| {
                s.kind() == object::SectionKind::Text
                    && s.address() <= address
                    && address < s.address().saturating_add(s.size())
            })
            .map(|s| s.index())
    };

    let mut report = ElfReport::default();
    let mut queue: VecDeque<Region> = VecDeque::new();
    let mut parent: HashMap<u64, Option<u64>> = HashMap::new();
    let mut names: HashMap<u64, String> = HashMap::new();
    for wanted in &settings.vector_symbols {
        for (section, list) in &symbols {
            for (address, _, name) in list {
                if name == wanted && !parent.contains_key(address) {
                    report.roots.push(name.clone());
                    parent.insert(*address, None);
                    if let Some(region) = region_of(SectionIndex(*section), *address) {
                        names.insert(*address, region.name.clone());
                        queue.push_back(region);
                    }
                }
            }
        }
    }
    if report.roots.is_empty() {
        return Err(format!(
            "none of the vector symbols {:?} is in the symbol table",
            settings.vector_symbols
        ));
    }

    let is_panic = |name: &str| {
        let readable = demangle(name);
        settings
            .panic_symbols
            .iter()
            .any(|pattern| name.contains(pattern.as_str()) || readable.contains(pattern.as_str()))
    };
    // BOUND: each region is queued once (its start address enters `parent` first).
    while let Some(region) = queue.pop_front() {
        report.functions_reached = report.functions_reached.saturating_add(1);
        if is_panic(&region.name) {
            let mut path = Vec::new();
            let mut cursor = Some(region.start);
            // BOUND: parent links lead back to a root, one region per step.
            while let Some(address) = cursor {
                path.push(
                    names
                        .get(&address)
                        .map_or_else(|| format!("0x{address:x}"), |name| demangle(name)),
                );
                cursor = parent.get(&address).copied().flatten();
            }
            path.reverse();
            report.panic_paths.push(path);
            continue;
        }
        let Ok(section) = file.section_by_index(region.section) else {
            continue;
        };
        let Ok(data) = section.data() else { continue };
        let base = section.address();
        let ranges = mapping.get(&region.section.0);
        let mut address = region.start;
        // BOUND: `address` advances by 4 per iteration up to the region's end.
        while address.saturating_add(4) <= region.end {
            let in_data = ranges.is_some_and(|list| {
                let index = list.partition_point(|(start, _)| *start <= address);
                index
                    .checked_sub(1)
                    .and_then(|i| list.get(i))
                    .is_some_and(|(_, data)| *data)
            });
            let offset = usize::try_from(address.saturating_sub(base)).unwrap_or(usize::MAX);
            let word = data
                .get(offset..offset.saturating_add(4))
                .and_then(|b| <[u8; 4]>::try_from(b).ok());
            if let (false, Some(word)) = (in_data, word) {
                match decode_branch(u32::from_le_bytes(word), address) {
                    Some(Branch::Direct(target))
                        if target < region.start || target >= region.end =>
                    {
                        if let Some(target_section) = section_of(target) {
                            if let Some(next) = region_of(target_section, target) {
                                if let std::collections::hash_map::Entry::Vacant(slot) =
                                    parent.entry(next.start)
                                {
                                    slot.insert(Some(region.start));
                                    names.insert(next.start, next.name.clone());
                                    queue.push_back(next);
                                }
                            }
                        }
                    }
                    Some(Branch::Indirect) => {
                        report.indirect_branches = report.indirect_branches.saturating_add(1)
                    }
                    Some(Branch::Direct(_)) | None => {}
                }
            }
            address = address.saturating_add(4);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_encodings_decode() {
        // BL +8 at 0x1000.
        assert_eq!(
            decode_branch(0x9400_0002, 0x1000),
            Some(Branch::Direct(0x1008))
        );
        // B -4 at 0x1000.
        assert_eq!(
            decode_branch(0x17FF_FFFF, 0x1000),
            Some(Branch::Direct(0x0FFC))
        );
        // B.EQ +16.
        assert_eq!(
            decode_branch(0x5400_0080, 0x1000),
            Some(Branch::Direct(0x1010))
        );
        // CBZ x0, +8.
        assert_eq!(
            decode_branch(0xB400_0040, 0x1000),
            Some(Branch::Direct(0x1008))
        );
        // TBNZ w1, #3, +12.
        assert_eq!(
            decode_branch(0x3718_0061, 0x1000),
            Some(Branch::Direct(0x100C))
        );
        // BR x16, BLR x8, RET, NOP.
        assert_eq!(decode_branch(0xD61F_0200, 0), Some(Branch::Indirect));
        assert_eq!(decode_branch(0xD63F_0100, 0), Some(Branch::Indirect));
        assert_eq!(decode_branch(0xD65F_03C0, 0), None);
        assert_eq!(decode_branch(0xD503_201F, 0), None);
    }

    #[test]
    fn rust_names_demangle() {
        assert_eq!(
            demangle("_ZN4core9panicking5panic17h0123456789abcdefE"),
            "core::panicking::panic"
        );
        assert_eq!(
            demangle("bulkhead_exception_vectors"),
            "bulkhead_exception_vectors"
        );
        assert_eq!(
            demangle("_RNvNtNtCs3g5Gb6bJpu0_4core9panicking11panic_const23panic_const_rem_by_zero"),
            "core::panicking::panic_const::panic_const_rem_by_zero"
        );
        assert_eq!(demangle("_RINvCs1_1a1fE"), "_RINvCs1_1a1fE");
    }
}
