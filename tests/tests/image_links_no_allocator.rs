//! The EL2 image links no heap allocator and nothing from the `alloc` crate: every piece of
//! hypervisor state is sized when the image is built, so no allocation can fail (or
//! fragment, or take unbounded time) while partitions run.
//!
//! The check reads the image's symbol table and demangles every Rust symbol (legacy `_ZN…`
//! and v0 `_R…` manglings alike), then looks for the allocator entry points — which current
//! compilers emit as `__rustc::__rust_alloc` and older ones as plain `__rust_alloc` — and for
//! any path rooted in the `alloc` crate (`alloc::vec::Vec…`, `<alloc::string::String as …>`).
//! `core::alloc::Layout` is in `core` and is allowed.

use object::{Object, ObjectSymbol};

use bulkhead_qemu_tests::Handoff;

/// The global allocator's entry points and the shims that forward to them.
const ALLOCATOR_FUNCTIONS: &[&str] = &[
    "__rust_alloc",
    "__rust_alloc_zeroed",
    "__rust_realloc",
    "__rust_dealloc",
    "__rust_alloc_error_handler",
    "__rg_alloc",
    "__rg_alloc_zeroed",
    "__rg_realloc",
    "__rg_dealloc",
    "__rg_oom",
];

/// Why `symbol` shows an allocator is linked, if it does.
fn allocator_evidence(symbol: &str) -> Option<String> {
    let demangled = rustc_demangle::try_demangle(symbol)
        .map_or_else(|_| symbol.to_owned(), |name| format!("{name:#}"));
    if ALLOCATOR_FUNCTIONS
        .iter()
        .any(|function| demangled == *function || demangled.ends_with(&format!("::{function}")))
    {
        return Some(format!("allocator entry point `{demangled}` ({symbol})"));
    }
    names_alloc_crate(&demangled).then(|| format!("`alloc` crate item `{demangled}` ({symbol})"))
}

/// True when `path` contains a path whose first segment is the `alloc` crate: `alloc::` at
/// the start or after a character that cannot end an identifier or a `::`.
fn names_alloc_crate(path: &str) -> bool {
    path.match_indices("alloc::").any(|(start, _)| {
        path[..start].chars().next_back().is_none_or(|previous| {
            !(previous.is_alphanumeric() || previous == '_' || previous == ':')
        })
    })
}

/// Every symbol in `elf` that shows an allocator is linked; `Err` when the file cannot be
/// read as an object file or has no symbols at all (a stripped image proves nothing).
fn allocator_symbols(elf: &[u8]) -> Result<Vec<String>, String> {
    let file = object::File::parse(elf).map_err(|error| format!("not an object file: {error}"))?;
    let names: Vec<&str> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter_map(|symbol| symbol.name().ok())
        .collect();
    if names.is_empty() {
        return Err("the file has no symbol table; build the image unstripped".to_owned());
    }
    Ok(names.into_iter().filter_map(allocator_evidence).collect())
}

// [itest->swr~no-allocator~1]
#[test]
fn hypervisor_image_links_no_allocator() {
    let image = Handoff::from_environment().image;
    let bytes = match std::fs::read(&image) {
        Ok(bytes) => bytes,
        Err(error) => panic!("{}: {error}", image.display()),
    };
    match allocator_symbols(&bytes) {
        Ok(found) => assert!(
            found.is_empty(),
            "{} links an allocator:\n  {}",
            image.display(),
            found.join("\n  ")
        ),
        Err(reason) => panic!("{}: {reason}", image.display()),
    }
}

#[test]
fn allocator_check_finds_the_allocator_of_a_host_binary() {
    let this_test = std::env::current_exe().expect("path of the running test binary");
    let bytes = std::fs::read(&this_test).expect("the running test binary is readable");
    let found = allocator_symbols(&bytes).expect("host test binaries have symbols");
    assert!(
        found
            .iter()
            .any(|evidence| evidence.starts_with("allocator entry point")),
        "no allocator entry point in {found:?}"
    );
    assert!(
        found
            .iter()
            .any(|evidence| evidence.starts_with("`alloc` crate item")),
        "no alloc crate item in {found:?}"
    );
}

#[test]
fn allocator_check_reads_both_manglings_and_spares_core_alloc() {
    let legacy = "_ZN5alloc7raw_vec11finish_grow17h0123456789abcdefE";
    let v0 = "_RNvNtCs1234_5alloc7raw_vec11finish_grow";
    let shim = "_RNvCs1234_7___rustc12___rust_alloc";
    let generic = "_ZN4core3ptr42drop_in_place$LT$alloc..string..String$GT$17h0123456789abcdefE";
    for symbol in [legacy, v0, shim, generic, "__rust_alloc"] {
        assert!(allocator_evidence(symbol).is_some(), "{symbol} not flagged");
    }
    let layout = "_ZN4core5alloc6layout6Layout5array5inner17h0123456789abcdefE";
    let own_module = "_ZN9allocator5alloc4init17h0123456789abcdefE";
    for symbol in [
        layout,
        own_module,
        "main",
        "_ZN4core9panicking5panic17h0123456789abcdefE",
    ] {
        assert_eq!(allocator_evidence(symbol), None, "{symbol} wrongly flagged");
    }
}
