//! Measuring statement and branch coverage of the host-tested hypervisor core with LLVM's
//! source-based coverage, and writing `coverage.json` (schema in `results::coverage`).
//!
//! Steps: build the core's unit-test binaries with `-C instrument-coverage` (plus rustc's
//! `-Z coverage-options=branch` for branch counters, which needs `RUSTC_BOOTSTRAP=1` on a
//! stable compiler; without it only regions, lines and functions are measured) in a target
//! directory of their own (`target/coverage`, so normal builds are not invalidated), run
//! them with `LLVM_PROFILE_FILE` set, merge the raw profiles with `llvm-profdata`, and
//! summarise per file from `llvm-cov export`. The LLVM tools must match
//! rustc's LLVM major version (`rustc -vV`); Debian's `llvm-<major>` package provides them
//! and is installed with apt when missing and running as root.
//!
//! Regions are LLVM's coverage regions: the closest measure to statement coverage.
//! Test code is left out of the figures (test files, `#[cfg(test)]` modules and `#[test]`
//! functions, found with syn), so they measure the code under test.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::apt;
use crate::error::Error;
use crate::git::SourceState;
use crate::results::coverage::{Counter, Counters, Coverage, FileCoverage, SCHEMA_VERSION};

/// What to measure.
#[derive(Clone, Debug)]
pub struct MeasureOptions {
    /// The repository root.
    pub repo_root: PathBuf,
    /// Where `coverage.json` goes (normally `target/test-results`).
    pub results_dir: PathBuf,
    /// Packages whose unit tests run, and whose sources are measured.
    pub packages: Vec<String>,
    /// Source directories (repository-relative) whose files are reported.
    pub source_dirs: Vec<String>,
    /// Ask rustc for branch counters.
    pub branch: bool,
}

impl MeasureOptions {
    /// The core crate, with branch coverage.
    pub fn core(repo_root: impl Into<PathBuf>) -> MeasureOptions {
        let repo_root = repo_root.into();
        MeasureOptions {
            results_dir: repo_root.join(crate::RESULTS_DIR),
            packages: vec!["bulkhead-core".to_owned()],
            source_dirs: vec!["hypervisor/core/src".to_owned()],
            branch: true,
            repo_root,
        }
    }
}

/// `llvm-profdata` and `llvm-cov` of one LLVM version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlvmTools {
    /// `llvm-profdata`.
    pub profdata: PathBuf,
    /// `llvm-cov`.
    pub cov: PathBuf,
    /// `llvm-cov --version`'s version line.
    pub version: String,
}

/// Runs a command, returning stdout or a [`Error::Tool`] with stderr.
fn output(command: &mut Command) -> Result<String, Error> {
    let program = command.get_program().to_string_lossy().into_owned();
    let result =
        command.output().map_err(|error| Error::Tool { program: program.clone(), message: error.to_string() })?;
    if !result.status.success() {
        let stderr = String::from_utf8_lossy(&result.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        return Err(Error::Tool { program, message: tail.into_iter().rev().collect::<Vec<_>>().join("\n") });
    }
    Ok(String::from_utf8_lossy(&result.stdout).into_owned())
}

/// The LLVM major version rustc was built with.
pub fn rustc_llvm_major() -> Result<u32, Error> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let text = output(Command::new(rustc).arg("-vV"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("LLVM version:"))
        .and_then(|version| version.trim().split('.').next()?.parse().ok())
        .ok_or_else(|| Error::Tool {
            program: "rustc".to_owned(),
            message: "`rustc -vV` names no LLVM version".to_owned(),
        })
}

/// Finds `llvm-profdata`/`llvm-cov` of LLVM `major`: `llvm-*-<major>` on PATH, Debian's
/// `/usr/lib/llvm-<major>/bin`, then rustup's `llvm-tools` component; installs Debian's
/// `llvm-<major>` when none is found and running as root.
pub fn find_llvm_tools(major: u32) -> Result<LlvmTools, Error> {
    let candidates = |major: u32| -> Vec<(PathBuf, PathBuf)> {
        let mut list = Vec::new();
        if let Some(path) = std::env::var_os("PATH") {
            for directory in std::env::split_paths(&path) {
                list.push((
                    directory.join(format!("llvm-profdata-{major}")),
                    directory.join(format!("llvm-cov-{major}")),
                ));
            }
        }
        let debian = PathBuf::from(format!("/usr/lib/llvm-{major}/bin"));
        list.push((debian.join("llvm-profdata"), debian.join("llvm-cov")));
        if let Ok(sysroot) = output(
            Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned())).args(["--print", "sysroot"]),
        ) {
            let rustlib = Path::new(sysroot.trim()).join("lib/rustlib");
            if let Ok(entries) = std::fs::read_dir(&rustlib) {
                for entry in entries.flatten() {
                    let bin = entry.path().join("bin");
                    list.push((bin.join("llvm-profdata"), bin.join("llvm-cov")));
                }
            }
        }
        list
    };
    let find = || {
        candidates(major).into_iter().find_map(|(profdata, cov)| {
            if !profdata.is_file() || !cov.is_file() {
                return None;
            }
            let version = output(Command::new(&cov).arg("--version")).ok()?;
            let line = version.lines().find(|line| line.contains("LLVM version"))?.trim().to_owned();
            line.contains(&format!("version {major}.")).then_some(LlvmTools { profdata, cov, version: line })
        })
    };
    if let Some(tools) = find() {
        return Ok(tools);
    }
    let package = format!("llvm-{major}");
    if apt::is_root()
        && apt::install(&package, "llvm-profdata and llvm-cov for the coverage evidence")
        && let Some(tools) = find()
    {
        return Ok(tools);
    }
    Err(Error::Tool {
        program: format!("llvm-cov-{major}"),
        message: format!(
            "no LLVM {major} coverage tools: install Debian's `{package}` (apt-get install {package}) or `rustup component add llvm-tools`"
        ),
    })
}

/// Builds, runs and summarises; writes `coverage.json` into the results directory.
pub fn measure(options: &MeasureOptions) -> Result<Coverage, Error> {
    let root = &options.repo_root;
    let major = rustc_llvm_major()?;
    let tools = find_llvm_tools(major)?;
    let target_dir = root.join("target/coverage");
    let profiles = target_dir.join("profraw");
    let _ = std::fs::remove_dir_all(&profiles);
    std::fs::create_dir_all(&profiles).map_err(|error| Error::io(&profiles, error))?;
    let (binaries, branch) = match build(options, &target_dir, options.branch) {
        Ok(binaries) => (binaries, options.branch),
        Err(_) if options.branch => (build(options, &target_dir, false)?, false),
        Err(error) => return Err(error),
    };
    for binary in &binaries {
        let status = Command::new(binary)
            .current_dir(root)
            .env("LLVM_PROFILE_FILE", profiles.join("%p-%m.profraw"))
            .arg("--quiet")
            .output()
            .map_err(|error| Error::Tool { program: binary.display().to_string(), message: error.to_string() })?;
        if !status.status.success() {
            return Err(Error::Tool {
                program: binary.display().to_string(),
                message: "the instrumented tests failed; coverage of a failing suite is not evidence".to_owned(),
            });
        }
    }
    let raw: Vec<PathBuf> = std::fs::read_dir(&profiles)
        .map_err(|error| Error::io(&profiles, error))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "profraw"))
        .collect();
    let merged = target_dir.join("merged.profdata");
    output(Command::new(&tools.profdata).arg("merge").arg("-sparse").args(&raw).arg("-o").arg(&merged))?;
    let mut export = Command::new(&tools.cov);
    export.arg("export").arg("-skip-expansions").arg(format!("-instr-profile={}", merged.display()));
    for (index, binary) in binaries.iter().enumerate() {
        if index > 0 {
            export.arg("-object");
        }
        export.arg(binary);
    }
    let json = output(&mut export)?;
    let source = SourceState::query(root)?;
    let mut command = format!(
        "RUSTFLAGS='-C instrument-coverage{}' cargo test -p {}",
        if branch { " -Z coverage-options=branch" } else { "" },
        options.packages.join(" -p ")
    );
    command.push_str(" + llvm-profdata merge + llvm-cov export");
    let scope = options.packages.join(", ");
    let test_ranges =
        |file: &str| std::fs::read_to_string(root.join(file)).map(|text| test_line_ranges(&text)).unwrap_or_default();
    let context = SummaryContext {
        repo_root: root,
        source_dirs: &options.source_dirs,
        branch,
        tool: &tools.version,
        command: &command,
        source: &source,
        scope: &scope,
        test_ranges: &test_ranges,
    };
    let coverage = summarise(&json, &context)?;
    std::fs::create_dir_all(&options.results_dir).map_err(|error| Error::io(&options.results_dir, error))?;
    coverage.write(&options.results_dir.join(crate::run_record::COVERAGE))?;
    Ok(coverage)
}

/// Builds the instrumented unit-test binaries and returns their paths.
fn build(options: &MeasureOptions, target_dir: &Path, branch: bool) -> Result<Vec<PathBuf>, Error> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut flags = "-C instrument-coverage".to_owned();
    if branch {
        flags.push_str(" -Z coverage-options=branch");
    }
    let mut command = Command::new(cargo);
    command.current_dir(&options.repo_root).args(["test", "--no-run", "--lib", "--message-format=json"]);
    for package in &options.packages {
        command.args(["-p", package]);
    }
    command.env("RUSTFLAGS", flags).env("CARGO_TARGET_DIR", target_dir).env_remove("RUSTDOCFLAGS");
    if branch {
        command.env("RUSTC_BOOTSTRAP", "1");
    }
    let messages = output(&mut command)?;
    let binaries: Vec<PathBuf> = messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message.get("reason").and_then(serde_json::Value::as_str) == Some("compiler-artifact"))
        .filter(|message| message.pointer("/profile/test").and_then(serde_json::Value::as_bool) == Some(true))
        .filter_map(|message| message.get("executable").and_then(serde_json::Value::as_str).map(PathBuf::from))
        .collect();
    if binaries.is_empty() {
        return Err(Error::Tool {
            program: "cargo".to_owned(),
            message: "no instrumented test binary was built".to_owned(),
        });
    }
    Ok(binaries)
}

/// Line ranges (1-based, inclusive) of test-only code in a Rust source: `#[cfg(test)]`
/// modules and `#[test]` functions. A file syn cannot parse has none.
pub fn test_line_ranges(text: &str) -> Vec<(usize, usize)> {
    use syn::spanned::Spanned;
    use syn::visit::Visit;
    /// Collects the ranges.
    struct Ranges(Vec<(usize, usize)>);
    /// Whether attributes hold `#[cfg(test)]`.
    fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
        attrs.iter().any(|attr| {
            attr.path().is_ident("cfg") && attr.parse_args::<syn::Ident>().is_ok_and(|ident| ident == "test")
        })
    }
    impl<'ast> Visit<'ast> for Ranges {
        fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
            if is_cfg_test(&item.attrs) {
                self.0.push((item.span().start().line, item.span().end().line));
            } else {
                syn::visit::visit_item_mod(self, item);
            }
        }
        fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
            let is_test = item
                .attrs
                .iter()
                .any(|attr| attr.path().segments.last().is_some_and(|segment| segment.ident == "test"));
            if is_test || is_cfg_test(&item.attrs) {
                self.0.push((item.span().start().line, item.span().end().line));
            }
        }
    }
    let mut ranges = Ranges(Vec::new());
    if let Ok(file) = syn::parse_file(text) {
        ranges.visit_file(&file);
    }
    ranges.0
}

/// What [`summarise`] needs besides the export.
pub struct SummaryContext<'a> {
    /// The repository root (export file names are absolute).
    pub repo_root: &'a Path,
    /// Reported directories, repository-relative.
    pub source_dirs: &'a [String],
    /// Whether branch counters were compiled in.
    pub branch: bool,
    /// Tool version line.
    pub tool: &'a str,
    /// The command, for the record.
    pub command: &'a str,
    /// The tree measured.
    pub source: &'a SourceState,
    /// What was measured.
    pub scope: &'a str,
    /// Test-only line ranges of a repository-relative file.
    pub test_ranges: &'a dyn Fn(&str) -> Vec<(usize, usize)>,
}

/// Per-file accumulation of deduplicated counters (generic functions have one record per
/// instantiation; a source region counts once, covered if any instantiation covered it).
#[derive(Default)]
struct FileCounts {
    /// Code regions: (start line, start column, end line, end column) → highest count.
    regions: std::collections::BTreeMap<(u64, u64, u64, u64), u64>,
    /// Branches: position → highest (true, false) counts.
    branches: std::collections::BTreeMap<(u64, u64, u64, u64), (u64, u64)>,
    /// Functions by first region start → highest entry count.
    functions: std::collections::BTreeMap<(u64, u64), u64>,
}

/// The `u64` at `index` of a JSON array.
fn at(array: &[serde_json::Value], index: usize) -> u64 {
    array.get(index).and_then(serde_json::Value::as_u64).unwrap_or(0)
}

/// Turns a full `llvm-cov export` (functions with regions and branches) into [`Coverage`]:
/// only files under the source directories, without test files and without functions that
/// start in test-only code, so the figures measure the code under test, not the tests.
/// Regions of kind 0 (code) count as statements; lines are those inside code regions, each
/// with the count of the innermost region containing it.
pub fn summarise(json: &str, context: &SummaryContext<'_>) -> Result<Coverage, Error> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|error| Error::Json { path: PathBuf::from("llvm-cov export"), message: error.to_string() })?;
    let functions =
        value.pointer("/data/0/functions").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
    let mut files: std::collections::BTreeMap<String, FileCounts> = std::collections::BTreeMap::new();
    let mut ranges: std::collections::BTreeMap<String, Vec<(usize, usize)>> = std::collections::BTreeMap::new();
    for function in &functions {
        let filenames: Vec<String> = function
            .get("filenames")
            .and_then(serde_json::Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .map(|name| {
                        crate::requirements::relative_path(
                            context.repo_root,
                            Path::new(name.as_str().unwrap_or_default()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let regions = function.get("regions").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
        let Some(first) = regions.first().and_then(serde_json::Value::as_array) else { continue };
        let Some(file) = filenames.get(usize::try_from(at(first, 5)).unwrap_or(usize::MAX)) else { continue };
        let in_scope = context.source_dirs.iter().any(|directory| file.starts_with(&format!("{directory}/")));
        if !in_scope || file.ends_with("/tests.rs") || file.contains("/tests/") {
            continue;
        }
        let test_ranges = ranges.entry(file.clone()).or_insert_with(|| (context.test_ranges)(file));
        let start_line = usize::try_from(at(first, 0)).unwrap_or(0);
        if test_ranges.iter().any(|(from, to)| (*from..=*to).contains(&start_line)) {
            continue;
        }
        let counts = files.entry(file.clone()).or_default();
        let entry = function.get("count").and_then(serde_json::Value::as_u64).unwrap_or(0);
        let slot = counts.functions.entry((at(first, 0), at(first, 1))).or_insert(0);
        *slot = (*slot).max(entry);
        for region in regions.iter().filter_map(serde_json::Value::as_array) {
            let same_file = filenames.get(usize::try_from(at(region, 5)).unwrap_or(usize::MAX)) == Some(file);
            if at(region, 7) != 0 || !same_file {
                continue;
            }
            let slot = counts.regions.entry((at(region, 0), at(region, 1), at(region, 2), at(region, 3))).or_insert(0);
            *slot = (*slot).max(at(region, 4));
        }
        for branch in function.get("branches").and_then(serde_json::Value::as_array).into_iter().flatten() {
            let Some(branch) = branch.as_array() else { continue };
            if filenames.get(usize::try_from(at(branch, 6)).unwrap_or(usize::MAX)) != Some(file) {
                continue;
            }
            let slot =
                counts.branches.entry((at(branch, 0), at(branch, 1), at(branch, 2), at(branch, 3))).or_insert((0, 0));
            *slot = (slot.0.max(at(branch, 4)), slot.1.max(at(branch, 5)));
        }
    }
    let zero = Counter { covered: 0, count: 0 };
    let mut kept = Vec::new();
    for (file, counts) in &files {
        let covered = |values: &mut dyn Iterator<Item = bool>| {
            values.fold(zero, |total, hit| Counter { covered: total.covered + u64::from(hit), count: total.count + 1 })
        };
        let regions = covered(&mut counts.regions.values().map(|count| *count > 0));
        let functions = covered(&mut counts.functions.values().map(|count| *count > 0));
        let branches =
            covered(&mut counts.branches.values().flat_map(|(taken, not_taken)| [*taken > 0, *not_taken > 0]));
        let mut lines: std::collections::BTreeMap<u64, ((u64, u64), u64)> = std::collections::BTreeMap::new();
        for (&(start_line, start_column, end_line, _), &count) in &counts.regions {
            for line in start_line..=end_line {
                let slot = lines.entry(line).or_insert(((0, 0), count));
                if (start_line, start_column) >= slot.0 {
                    *slot = ((start_line, start_column), count);
                }
            }
        }
        let lines = covered(&mut lines.values().map(|(_, count)| *count > 0));
        kept.push(FileCoverage {
            file: file.clone(),
            counters: Counters { lines, regions, functions, branches: context.branch.then_some(branches) },
        });
    }
    let sum = |pick: &dyn Fn(&Counters) -> Counter| {
        kept.iter().fold(zero, |total, file| {
            let counter = pick(&file.counters);
            Counter { covered: total.covered + counter.covered, count: total.count + counter.count }
        })
    };
    let totals = Counters {
        lines: sum(&|counters| counters.lines),
        regions: sum(&|counters| counters.regions),
        functions: sum(&|counters| counters.functions),
        branches: context.branch.then(|| sum(&|counters| counters.branches.unwrap_or(zero))),
    };
    Ok(Coverage {
        schema_version: SCHEMA_VERSION,
        tool: context.tool.to_owned(),
        command: context.command.to_owned(),
        commit: context.source.commit.clone(),
        dirty: context.source.dirty,
        scope: context.scope.to_owned(),
        totals,
        files: kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full export with two instantiations of one function in `addr.rs` (regions merged),
    /// a test function in an inline test module, a test file and a dependency.
    const EXPORT: &str = r#"{"data": [{"functions": [
        {"name": "a1", "count": 1, "filenames": ["/repo/hypervisor/core/src/addr.rs"],
         "regions": [[1, 1, 5, 2, 1, 0, 0, 0], [2, 5, 2, 20, 0, 0, 0, 0], [3, 5, 3, 20, 1, 0, 0, 0]],
         "branches": [[2, 8, 2, 12, 1, 0, 0, 0, 4]]},
        {"name": "a2", "count": 0, "filenames": ["/repo/hypervisor/core/src/addr.rs"],
         "regions": [[1, 1, 5, 2, 0, 0, 0, 0], [2, 5, 2, 20, 3, 0, 0, 0], [3, 5, 3, 20, 0, 0, 0, 0]],
         "branches": [[2, 8, 2, 12, 0, 0, 0, 0, 4]]},
        {"name": "never", "count": 0, "filenames": ["/repo/hypervisor/core/src/addr.rs"],
         "regions": [[7, 1, 8, 2, 0, 0, 0, 0]], "branches": []},
        {"name": "test_in_module", "count": 1, "filenames": ["/repo/hypervisor/core/src/addr.rs"],
         "regions": [[12, 1, 14, 2, 1, 0, 0, 0]], "branches": []},
        {"name": "test_file", "count": 1, "filenames": ["/repo/hypervisor/core/src/stage2/tests.rs"],
         "regions": [[1, 1, 9, 2, 1, 0, 0, 0]], "branches": []},
        {"name": "dependency", "count": 1, "filenames": ["/home/.cargo/registry/src/x/lib.rs"],
         "regions": [[1, 1, 9, 2, 0, 0, 0, 0]], "branches": []}
    ]}]}"#;

    #[test]
    fn functions_are_merged_across_instantiations_and_test_code_is_left_out() {
        let source = SourceState { commit: "c".repeat(40), dirty: false, changes: Vec::new(), changed: 0 };
        let directories = ["hypervisor/core/src".to_owned()];
        let test_ranges = |file: &str| if file.ends_with("addr.rs") { vec![(10, 20)] } else { Vec::new() };
        let context = SummaryContext {
            repo_root: Path::new("/repo"),
            source_dirs: &directories,
            branch: true,
            tool: "llvm-cov 22",
            command: "cmd",
            source: &source,
            scope: "bulkhead-core",
            test_ranges: &test_ranges,
        };
        let coverage = summarise(EXPORT, &context).unwrap();
        let files: Vec<&str> = coverage.files.iter().map(|file| file.file.as_str()).collect();
        assert_eq!(files, ["hypervisor/core/src/addr.rs"]);
        let totals = &coverage.totals;
        assert_eq!(
            totals.regions,
            Counter { covered: 3, count: 4 },
            "three regions hit by one instantiation or the other"
        );
        assert_eq!(totals.functions, Counter { covered: 1, count: 2 });
        assert_eq!(totals.branches, Some(Counter { covered: 1, count: 2 }), "taken once, never not taken");
        assert_eq!(totals.lines, Counter { covered: 5, count: 7 }, "lines 1-5 covered, 7-8 not");
        let without_branches = summarise(EXPORT, &SummaryContext { branch: false, ..context }).unwrap();
        assert_eq!(without_branches.totals.branches, None);
    }

    #[test]
    fn test_modules_and_test_functions_are_found_by_line() {
        let text = "fn code() {}\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn a() {}\n}\n#[test]\nfn b() {}\n";
        assert_eq!(test_line_ranges(text), [(2, 6), (7, 8)]);
        assert!(test_line_ranges("fn (").is_empty());
    }
}
