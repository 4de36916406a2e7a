//! Bulkhead's coding standard checker: the rules of `RULES.md` (`MLR-nn`), enforced.
//!
//! Assessors ask which coding standard the hypervisor follows and how it is enforced
//! (ISO 26262-6, IEC 61508-3). The answer is this crate: syn passes for what Clippy cannot
//! see (recursion through the call graph, loop-bound and SAFETY arguments in comments,
//! layer boundaries for asm/MMIO, unsafe hidden in macros, ...), an optional Clippy run whose
//! lints are mapped to the same rule IDs, the deviation register that justifies exceptions,
//! and a release-ELF check that no panic machinery is reachable from the exception vectors.
//!
//! One call does a whole run: [`run`] takes a [`Config`] and returns a [`Report`], which
//! renders as rustc-style diagnostics and serialises as `findings.json`. The gate fails when
//! [`Report::passed`] is false: any finding not justified by an approved deviation.
#![forbid(unsafe_code)]

pub mod clippy;
pub mod config;
pub mod elf;
pub mod error;
pub mod facts;
pub mod finding;
pub mod passes;
pub mod register;
pub mod report;
pub mod rules;
pub mod source;
pub mod suppress;
pub mod syntax;
pub mod unit;
pub mod workspace;

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

pub use config::{Config, Profile, Settings};
pub use error::Error;
pub use finding::{Finding, Origin, Position, Severity};
pub use report::Report;
pub use rules::Rule;

use facts::CrateFacts;
use passes::Cx;
use register::Register;
use suppress::Suppressions;
use unit::FileUnit;
use workspace::{SourceFile, Tree};

/// Runs every configured stage on the tree at `config.root`.
pub fn run(config: &Config) -> Result<Report, Error> {
    let started = Instant::now();
    let root = config.root.canonicalize().map_err(|error| Error::Io {
        path: config.root.clone(),
        error,
    })?;
    let settings = &config.settings;
    let tree = Tree::discover(&root, settings)?;
    let register = Register::load(&root, &settings.register)?;

    let mut units = Vec::with_capacity(tree.files.len());
    for file in &tree.files {
        let text = std::fs::read_to_string(&file.absolute).map_err(|error| Error::Io {
            path: file.absolute.clone(),
            error,
        })?;
        units.push(FileUnit::new(file.clone(), &text));
    }
    mark_test_modules(&mut units);

    let mut findings = analyse(&units, settings);
    findings.extend(register.validate());
    let (mut suppressions, problems) = Suppressions::collect(&units, &register);
    findings.extend(problems);
    sort_and_dedup(&mut findings);
    suppressions.apply(&mut findings, &register);

    let mut clippy_status = report::ClippyStatus {
        ran: config.clippy,
        ..report::ClippyStatus::default()
    };
    if config.clippy {
        let outcome = clippy::run(&root, &settings.clippy, &tree, &config.clippy_environment);
        let covered: HashSet<&str> = outcome.covered.iter().map(String::as_str).collect();
        // Justified approximations stay: they record a use of their deviation, and Clippy
        // cannot report what an `#[expect]` silenced.
        findings.retain(|finding| {
            !(finding.approximates_clippy
                && finding.suppressed_by.is_none()
                && package_dir_of(&tree, &finding.file).is_some_and(|dir| covered.contains(dir)))
        });
        let own: HashSet<(Rule, String, usize)> = findings
            .iter()
            .map(|f| (f.rule, f.file.clone(), f.start.line))
            .collect();
        findings.extend(
            outcome
                .findings
                .into_iter()
                .filter(|finding| {
                    !own.contains(&(finding.rule, finding.file.clone(), finding.start.line))
                })
                .filter(|finding| applies_where_found(finding, &units))
                .filter(|finding| {
                    !(finding.rule == Rule::PointerCast
                        && in_layer(&finding.file, &settings.layers.mmio))
                }),
        );
        clippy_status.covered = outcome.covered.into_iter().collect();
        clippy_status.notes = outcome.notes;
    }

    let mut elf_report = None;
    if let Some(path) = &config.elf {
        let elf = elf::check_file(path, &settings.elf)?;
        findings.extend(elf.findings());
        elf_report = Some(elf);
    }

    sort_and_dedup(&mut findings);
    suppressions.apply(&mut findings, &register);
    findings.extend(suppressions.stale(&register));
    findings.sort_by(|a, b| (&a.file, a.start, a.rule).cmp(&(&b.file, b.start, b.rule)));

    let stale = suppressions.stale_deviations(&register);
    let mut report = Report::new(
        &root,
        &register,
        &suppressions.uses,
        &stale,
        findings,
        units.len(),
    );
    report.clippy = clippy_status;
    report.elf = elf_report;
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

/// Sorts findings by place and drops exact repeats (two passes reporting the same thing).
/// The message is part of the identity: findings about a whole file share one position
/// (every MLR-27 panic path of an ELF is at line 0), and each of them must be kept.
fn sort_and_dedup(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        (&a.file, a.start, a.rule, &a.message).cmp(&(&b.file, b.start, b.rule, &b.message))
    });
    findings.dedup_by(|later, earlier| {
        later.rule == earlier.rule
            && later.file == earlier.file
            && later.start == earlier.start
            && later.message == earlier.message
    });
}

/// Runs the syn passes over parsed files and keeps the findings whose rule applies where
/// they are. Public so tests can run the passes on fixtures without a tree on disk.
pub fn analyse(units: &[FileUnit], settings: &Settings) -> Vec<Finding> {
    let mut crates: BTreeMap<Option<usize>, Vec<&FileUnit>> = BTreeMap::new();
    for unit in units {
        crates.entry(unit.file.package).or_default().push(unit);
    }
    let mut findings = Vec::new();
    for members in crates.values() {
        let facts = CrateFacts::collect(members.iter().copied());
        for unit in members {
            match &unit.ast {
                Ok(ast) => {
                    let mut cx = Cx::new(unit, &facts, settings);
                    passes::run_file_passes(&mut cx, ast);
                    findings.extend(cx.findings);
                }
                Err(error) => {
                    let position = Position::from_line_column(error.span().start());
                    findings.push(Finding::new(
                        Rule::Analysable,
                        &unit.file.relative,
                        position,
                        position,
                        format!("the file does not parse: {error}"),
                    ));
                }
            }
        }
        findings.extend(passes::recursion::check(members));
        findings.extend(passes::crate_level::check(members, &facts));
    }
    findings.extend(passes::crate_level::check_required(units, settings));
    findings.retain(|finding| applies_where_found(finding, units));
    findings
}

/// Whether a finding's rule applies at its place: the profile there (test code is host
/// code) and, for rules that exempt them, not in a compile-time context. Findings outside
/// the analysed files (the register, the ELF) always apply.
fn applies_where_found(finding: &Finding, units: &[FileUnit]) -> bool {
    let Some(unit) = units.iter().find(|unit| unit.file.relative == finding.file) else {
        return true;
    };
    let profile = if finding.start.line == 0 {
        unit.file.profile
    } else {
        unit.profile_at(finding.start.line)
    };
    finding.rule.applies_to(profile)
        && !(finding.rule.info().exempt_in_const && unit.in_const(finding.start))
}

/// Parses one in-memory file as if it were at `relative` with `profile`, for tests and
/// editor integrations.
pub fn unit_from_source(relative: &str, profile: Profile, text: &str) -> FileUnit {
    let inside = relative
        .split_once("/src/")
        .map_or(relative, |(_, rest)| rest);
    let (module, is_crate_root) = workspace::module_path(&format!("src/{inside}"));
    let file = SourceFile {
        relative: relative.to_owned(),
        absolute: std::path::PathBuf::from(relative),
        package: Some(0),
        profile,
        module,
        is_crate_root,
    };
    FileUnit::new(file, text)
}

/// Whether a file lies in a layer (a list of path prefixes).
fn in_layer(file: &str, layer: &[String]) -> bool {
    layer
        .iter()
        .any(|prefix| config::path_has_prefix(file, prefix))
}

fn package_dir_of<'t>(tree: &'t Tree, file: &str) -> Option<&'t str> {
    tree.files
        .iter()
        .find(|candidate| candidate.relative == file)
        .and_then(|candidate| candidate.package)
        .and_then(|index| tree.packages.get(index))
        .map(|package| package.dir.as_str())
}

/// Files of modules declared `#[cfg(test)] mod x;` elsewhere are test code throughout.
fn mark_test_modules(units: &mut [FileUnit]) {
    let mut test_modules: Vec<(Option<usize>, Vec<String>)> = Vec::new();
    for unit in units.iter() {
        let Ok(ast) = &unit.ast else { continue };
        collect_test_modules(
            &ast.items,
            unit.file.package,
            &unit.file.module,
            &mut test_modules,
        );
    }
    for unit in units.iter_mut() {
        let is_test = test_modules.iter().any(|(package, module)| {
            *package == unit.file.package
                && !unit.file.is_crate_root
                && unit.file.module.starts_with(module)
        });
        if is_test {
            unit.test_ranges.push((0, usize::MAX));
        }
    }
}

fn collect_test_modules(
    items: &[syn::Item],
    package: Option<usize>,
    module: &[String],
    found: &mut Vec<(Option<usize>, Vec<String>)>,
) {
    for item in items {
        if let syn::Item::Mod(declaration) = item {
            let mut path = module.to_vec();
            path.push(declaration.ident.to_string());
            match &declaration.content {
                None if syntax::is_test_only(&declaration.attrs) => found.push((package, path)),
                Some((_, inner)) => collect_test_modules(inner, package, &path, found),
                None => {}
            }
        }
    }
}
