//! MLR-27 on synthetic aarch64 ELF files assembled by hand in the test: the call graph
//! follows direct branches from the vector symbol, skips `$d` data, counts indirect
//! branches, and finds (or does not find) the panic symbol.

use misra_like_lints::config::ElfSettings;
use misra_like_lints::elf::analyse;
use misra_like_lints::{Config, Rule, run};

const TEXT_BASE: u64 = 0x4008_0000;
const NOP: u32 = 0xD503_201F;
const RET: u32 = 0xD65F_03C0;
const BLR_X8: u32 = 0xD63F_0100;

fn branch(opcode: u32, from: u64, to: u64) -> u32 {
    let offset = (i64::try_from(to).unwrap_or(0) - i64::try_from(from).unwrap_or(0)) / 4;
    opcode | (u32::try_from(offset & 0x03FF_FFFF).unwrap_or(0))
}

fn bl(from: u64, to: u64) -> u32 {
    branch(0x9400_0000, from, to)
}

fn b(from: u64, to: u64) -> u32 {
    branch(0x1400_0000, from, to)
}

/// A symbol: name, offset in .text, size, ELF type (2 = FUNC, 0 = NOTYPE), global?
struct Symbol(&'static str, u64, u64, u8, bool);

/// Writes a minimal ELF64 executable: header, .text, .symtab, .strtab, .shstrtab.
fn elf(machine: u16, text: &[u32], symbols: &[Symbol]) -> Vec<u8> {
    let text_bytes: Vec<u8> = text.iter().flat_map(|word| word.to_le_bytes()).collect();
    let mut strtab = vec![0u8];
    let mut symtab = vec![0u8; 24];
    let mut ordered: Vec<&Symbol> = symbols.iter().filter(|s| !s.4).collect();
    let first_global = ordered.len() + 1;
    ordered.extend(symbols.iter().filter(|s| s.4));
    for Symbol(name, offset, size, kind, global) in ordered {
        let name_offset = u32::try_from(strtab.len()).unwrap_or(0);
        strtab.extend_from_slice(name.as_bytes());
        strtab.push(0);
        symtab.extend_from_slice(&name_offset.to_le_bytes());
        symtab.push((u8::from(*global) << 4) | kind);
        symtab.push(0);
        symtab.extend_from_slice(&1u16.to_le_bytes());
        symtab.extend_from_slice(&(TEXT_BASE + offset).to_le_bytes());
        symtab.extend_from_slice(&size.to_le_bytes());
    }
    let shstrtab = b"\0.text\0.symtab\0.strtab\0.shstrtab\0".to_vec();
    let text_offset = 64u64;
    let symtab_offset = (text_offset + text_bytes.len() as u64 + 7) & !7;
    let strtab_offset = symtab_offset + symtab.len() as u64;
    let shstrtab_offset = strtab_offset + strtab.len() as u64;
    let section_headers = (shstrtab_offset + shstrtab.len() as u64 + 7) & !7;

    let mut out = Vec::new();
    out.extend_from_slice(&[0x7F, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&machine.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&TEXT_BASE.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&section_headers.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for value in [64u16, 56, 0, 64, 5, 4] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&text_bytes);
    out.resize(usize::try_from(symtab_offset).unwrap_or(0), 0);
    out.extend_from_slice(&symtab);
    out.extend_from_slice(&strtab);
    out.extend_from_slice(&shstrtab);
    out.resize(usize::try_from(section_headers).unwrap_or(0), 0);

    let mut header = |name: u32,
                      kind: u32,
                      flags: u64,
                      address: u64,
                      offset: u64,
                      size: u64,
                      link: u32,
                      info: u32,
                      align: u64,
                      entry: u64| {
        out.extend_from_slice(&name.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&address.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&link.to_le_bytes());
        out.extend_from_slice(&info.to_le_bytes());
        out.extend_from_slice(&align.to_le_bytes());
        out.extend_from_slice(&entry.to_le_bytes());
    };
    header(0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    header(
        1,
        1,
        6,
        TEXT_BASE,
        text_offset,
        text_bytes.len() as u64,
        0,
        0,
        4,
        0,
    );
    header(
        7,
        2,
        0,
        0,
        symtab_offset,
        symtab.len() as u64,
        3,
        u32::try_from(first_global).unwrap_or(0),
        8,
        24,
    );
    header(15, 3, 0, 0, strtab_offset, strtab.len() as u64, 0, 0, 1, 0);
    header(
        23,
        3,
        0,
        0,
        shstrtab_offset,
        shstrtab.len() as u64,
        0,
        0,
        1,
        0,
    );
    out
}

const PANIC: &str = "_ZN4core9panicking5panic17h0123456789abcdefE";

/// vectors → handler → helper → core::panicking::panic; `unused` → rust_begin_unwind is
/// not reachable; handler ends in a `$d` word that decodes as `bl rust_begin_unwind`.
fn image_with_panic_path(machine: u16) -> Vec<u8> {
    let at = |offset: u64| TEXT_BASE + offset;
    let text = [
        // 0x00 exception_vectors (no size: extends to `handler`)
        bl(at(0x00), at(0x10)),
        b(at(0x04), at(0x04)),
        NOP,
        NOP,
        // 0x10 handler
        bl(at(0x10), at(0x20)),
        BLR_X8,
        RET,
        bl(at(0x1C), at(0x34)), // data, marked `$d`
        // 0x20 helper: tail call
        b(at(0x20), at(0x28)),
        RET,
        // 0x28 core::panicking::panic
        RET,
        // 0x2C unused
        bl(at(0x2C), at(0x34)),
        RET,
        // 0x34 rust_begin_unwind
        RET,
    ];
    let symbols = [
        Symbol("$x", 0x00, 0, 0, false),
        Symbol("$d", 0x1C, 0, 0, false),
        Symbol("$x", 0x20, 0, 0, false),
        Symbol("exception_vectors", 0x00, 0, 0, true),
        Symbol("handler", 0x10, 0x10, 2, true),
        Symbol("helper", 0x20, 0x08, 2, true),
        Symbol(PANIC, 0x28, 0x04, 2, true),
        Symbol("unused", 0x2C, 0x08, 2, true),
        Symbol("rust_begin_unwind", 0x34, 0x04, 2, true),
    ];
    elf(machine, &text, &symbols)
}

fn settings() -> ElfSettings {
    ElfSettings {
        vector_symbols: vec![
            "__exception_vectors".to_owned(),
            "exception_vectors".to_owned(),
        ],
        panic_symbols: vec![
            "core::panicking::".to_owned(),
            "rust_begin_unwind".to_owned(),
        ],
    }
}

#[test]
fn panic_reachable_through_a_tail_call_is_found_with_its_path() {
    let report =
        analyse(&image_with_panic_path(183), &settings()).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(report.roots, ["exception_vectors"]);
    assert_eq!(
        report.panic_paths,
        [[
            "exception_vectors",
            "handler",
            "helper",
            "core::panicking::panic"
        ]],
        "{report:?}"
    );
    assert_eq!(report.indirect_branches, 1, "the `blr x8` in handler");
    assert_eq!(
        report.functions_reached, 4,
        "vectors, handler, helper, panic; not `unused`"
    );
}

const BOUNDS_CHECK: &str = "_ZN4core9panicking18panic_bounds_check17h0123456789abcdefE";

/// vectors → handler, which calls three helpers; each reaches a different panic symbol:
/// `read` → core::panicking::panic, `index` → core::panicking::panic_bounds_check,
/// `abort` → rust_begin_unwind.
fn image_with_three_panic_paths() -> Vec<u8> {
    let at = |offset: u64| TEXT_BASE + offset;
    let text = [
        // 0x00 exception_vectors
        bl(at(0x00), at(0x08)),
        RET,
        // 0x08 handler
        bl(at(0x08), at(0x18)),
        bl(at(0x0C), at(0x20)),
        bl(at(0x10), at(0x28)),
        RET,
        // 0x18 read
        bl(at(0x18), at(0x30)),
        RET,
        // 0x20 index
        b(at(0x20), at(0x34)),
        RET,
        // 0x28 abort
        bl(at(0x28), at(0x38)),
        RET,
        // 0x30 core::panicking::panic
        RET,
        // 0x34 core::panicking::panic_bounds_check
        RET,
        // 0x38 rust_begin_unwind
        RET,
    ];
    let symbols = [
        Symbol("exception_vectors", 0x00, 0x08, 2, true),
        Symbol("handler", 0x08, 0x10, 2, true),
        Symbol("read", 0x18, 0x08, 2, true),
        Symbol("index", 0x20, 0x08, 2, true),
        Symbol("abort", 0x28, 0x08, 2, true),
        Symbol(PANIC, 0x30, 0x04, 2, true),
        Symbol(BOUNDS_CHECK, 0x34, 0x04, 2, true),
        Symbol("rust_begin_unwind", 0x38, 0x04, 2, true),
    ];
    elf(183, &text, &symbols)
}

#[test]
fn every_reachable_panic_symbol_is_its_own_finding_with_its_path() {
    let expected_paths = [
        "exception_vectors → handler → read → core::panicking::panic",
        "exception_vectors → handler → index → core::panicking::panic_bounds_check",
        "exception_vectors → handler → abort → rust_begin_unwind",
    ];
    let analysed =
        analyse(&image_with_three_panic_paths(), &settings()).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(analysed.panic_paths.len(), 3, "{analysed:?}");

    let root = std::env::temp_dir().join(format!(
        "misra-like-lints-elf-three-{}",
        std::process::id()
    ));
    let _ignored = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap_or_else(|error| panic!("{error}"));
    let image = root.join("bulkhead.elf");
    std::fs::write(&image, image_with_three_panic_paths())
        .unwrap_or_else(|error| panic!("{error}"));
    let mut config = Config::for_root(&root).unwrap_or_else(|error| panic!("{error}"));
    config.settings.elf = settings();
    config.elf = Some(image);
    let report = run(&config).unwrap_or_else(|error| panic!("{error}"));

    let messages: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.rule == Rule::PanicReachable)
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    let rendered = report.render(&root, false);
    for path in expected_paths {
        assert!(
            messages.iter().any(|message| message.ends_with(path)),
            "no finding carries `{path}`: {messages:?}"
        );
        assert!(rendered.contains(path), "`{path}` is not printed:\n{rendered}");
    }
    assert_eq!(rendered.matches("error[MLR-27]").count(), 3, "{rendered}");
    let _ignored = std::fs::remove_dir_all(&root);
}

#[test]
fn clean_handlers_have_no_panic_path() {
    let at = |offset: u64| TEXT_BASE + offset;
    let text = [bl(at(0x00), at(0x08)), b(at(0x04), at(0x04)), RET, RET];
    let symbols = [
        Symbol("__exception_vectors", 0x00, 0x08, 0, true),
        Symbol("handler", 0x08, 0x04, 2, true),
        Symbol(PANIC, 0x0C, 0x04, 2, true),
    ];
    let report =
        analyse(&elf(183, &text, &symbols), &settings()).unwrap_or_else(|error| panic!("{error}"));
    assert!(report.panic_paths.is_empty(), "{report:?}");
    assert_eq!(report.functions_reached, 2);
    assert!(report.findings().is_empty());
}

#[test]
fn missing_vector_symbol_is_an_error_not_a_pass() {
    let mut wrong = settings();
    wrong.vector_symbols = vec!["no_such_symbol".to_owned()];
    let result = analyse(&image_with_panic_path(183), &wrong);
    assert!(result.is_err_and(|message| message.contains("no_such_symbol")));
}

#[test]
fn non_aarch64_images_are_refused() {
    let result = analyse(&image_with_panic_path(62), &settings());
    assert!(result.is_err_and(|message| message.contains("aarch64")));
}

#[test]
fn reachable_panic_is_an_mlr27_finding_that_a_symbol_deviation_justifies() {
    let root = std::env::temp_dir().join(format!("misra-like-lints-elf-{}", std::process::id()));
    let _ignored = std::fs::remove_dir_all(&root);
    let certification = root.join("certification");
    std::fs::create_dir_all(&certification).unwrap_or_else(|error| panic!("{error}"));
    let image = root.join("bulkhead.elf");
    std::fs::write(&image, image_with_panic_path(183)).unwrap_or_else(|error| panic!("{error}"));

    let mut config = Config::for_root(&root).unwrap_or_else(|error| panic!("{error}"));
    config.settings.elf = settings();
    config.elf = Some(image.clone());
    let report = run(&config).unwrap_or_else(|error| panic!("{error}"));
    let elf_findings: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule == Rule::PanicReachable)
        .collect();
    assert_eq!(elf_findings.len(), 1, "{elf_findings:?}");
    assert!(elf_findings.iter().all(|f| f.suppressed_by.is_none()));
    assert!(!report.passed(false));

    std::fs::write(
        certification.join("deviations.toml"),
        r#"schema_version = 1

[[deviation]]
id = "DEV-0001"
rules = ["MLR-27"]
kind = "false-positive"
status = "approved"
summary = "synthetic image"
justification = "The helper's panic branch is dead code in this synthetic image."
verification = "Test."
symbols = ["core::panicking::panic"]
"#,
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let report = run(&config).unwrap_or_else(|error| panic!("{error}"));
    let elf_findings: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule == Rule::PanicReachable)
        .collect();
    assert_eq!(
        elf_findings
            .first()
            .and_then(|f| f.suppressed_by.as_deref()),
        Some("DEV-0001")
    );
    assert!(report.passed(false), "{}", report.render(&root, true));
    let _ignored = std::fs::remove_dir_all(&root);
}
