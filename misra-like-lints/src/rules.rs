//! The rule catalogue: one entry per `MLR-nn` rule of `RULES.md`.
//!
//! The IDs are stable (a retired rule keeps its number and is never reused) because the
//! deviation register, `findings.json` and the traceability report all refer to them. The
//! prose rationale and the MISRA C:2025 mapping live in `RULES.md`; this table carries what the
//! tool needs at run time: the short title, the hint printed under each diagnostic, the
//! profiles a rule applies to and the rustc/Clippy lints that report the same thing.

use serde::{Serialize, Serializer};

use crate::config::Profile;

/// A rule of the Bulkhead coding standard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// MLR-00: every source file can be analysed (parses, compiles under Clippy).
    Analysable,
    /// MLR-01: no dynamic memory allocation.
    Heap,
    /// MLR-02: no panicking macros.
    PanicMacro,
    /// MLR-03: no `unwrap`/`expect`.
    UnwrapExpect,
    /// MLR-04: no panicking indexing or slicing.
    Indexing,
    /// MLR-05: integer arithmetic states its overflow behaviour.
    Arithmetic,
    /// MLR-06: no numeric `as` casts where a checked conversion exists.
    NumericCast,
    /// MLR-07: pointer/integer casts only in the arch and MMIO layer.
    PointerCast,
    /// MLR-08: no floating point in EL2 code.
    FloatingPoint,
    /// MLR-09: no recursion.
    Recursion,
    /// MLR-10: every loop carries a `// BOUND:` argument.
    LoopBound,
    /// MLR-11: every `unsafe` block and impl carries a `// SAFETY:` argument.
    SafetyComment,
    /// MLR-12: one unsafe operation per `unsafe` block.
    UnsafeOpsPerBlock,
    /// MLR-13: every `unsafe fn` and `unsafe trait` documents `# Safety`.
    SafetyDoc,
    /// MLR-14: crates that need no `unsafe` forbid it.
    ForbidUnsafe,
    /// MLR-15: no `static mut`.
    StaticMut,
    /// MLR-16: no shadowing.
    Shadowing,
    /// MLR-17: no wildcard arm in a match over our own enums.
    WildcardArm,
    /// MLR-18: every `Result` (every `#[must_use]` value) is used.
    UnusedResult,
    /// MLR-19: no large arrays on the stack.
    StackArray,
    /// MLR-20: inline assembly only in the arch layer.
    InlineAsm,
    /// MLR-21: volatile MMIO only through the register wrappers.
    Volatile,
    /// MLR-22: `transmute`, `forget`, `assume_init`, `zeroed` only in reviewed places.
    ReviewedIntrinsic,
    /// MLR-23: no `macro_rules!` that hides `unsafe`.
    UnsafeMacro,
    /// MLR-24: every item and module is documented.
    Documentation,
    /// MLR-25: suppressions only through approved deviations.
    Suppression,
    /// MLR-26: no stale deviations.
    StaleDeviation,
    /// MLR-27: no panic machinery reachable from the exception vectors.
    PanicReachable,
    /// MLR-28: crate roots declare the crate-level attributes the architecture relies on.
    CrateAttributes,
}

/// Static facts about one rule.
#[derive(Debug)]
pub struct RuleInfo {
    /// The rule.
    pub rule: Rule,
    /// Its stable ID, `MLR-nn`.
    pub id: &'static str,
    /// One line saying what the rule requires.
    pub title: &'static str,
    /// What to do instead; printed as `= help:` under each finding.
    pub help: &'static str,
    /// The MISRA C:2025 guideline(s) it mirrors (per Addendum 6), or the source of the rule.
    pub mirrors: &'static str,
    /// Whether the rule applies to EL2 code, guest examples, host tools.
    pub profiles: &'static [Profile],
    /// rustc and Clippy lints whose findings are this rule (`clippy::` prefix for Clippy),
    /// passed in every profile the rule applies to.
    pub lints: &'static [&'static str],
    /// Further lints of this rule passed for strict code only.
    pub strict_lints: &'static [&'static str],
    /// Whether constructs evaluated at compile time (const/static initialisers, array
    /// lengths, `const` blocks, enum discriminants) are exempt.
    pub exempt_in_const: bool,
    /// Whether Clippy's type-aware lints replace our syntactic approximation when Clippy ran
    /// on the crate (our own unsuppressed findings of this rule are then dropped).
    pub clippy_authoritative: bool,
}

const STRICT: &[Profile] = &[Profile::Strict];
const STRICT_GUEST: &[Profile] = &[Profile::Strict, Profile::Guest];
const ALL: &[Profile] = &[Profile::Strict, Profile::Guest, Profile::Host];

/// The whole catalogue, in ID order.
pub const RULES: &[RuleInfo] = &[
    RuleInfo {
        rule: Rule::Analysable,
        id: "MLR-00",
        title: "every source file can be analysed by the checker",
        help: "fix the syntax or compile error; code the checker cannot read is code nobody checked",
        mirrors: "MISRA C:2025 Dir 2.1 (sources compile without errors)",
        profiles: ALL,
        lints: &[],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::Heap,
        id: "MLR-01",
        title: "no dynamic memory allocation",
        help: "size the object statically (a `static`, a const generic, `heapless`) from the generated system tables",
        mirrors: "MISRA C:2025 Dir 4.12; Rule 21.3",
        profiles: STRICT,
        lints: &[],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::PanicMacro,
        id: "MLR-02",
        title: "no panicking macros at run time",
        help: "return an error value; for invariants known at build time use `const _: () = assert!(..)`",
        mirrors: "MISRA C:2025 Dir 4.1 (Addendum 6: run-time failures are mostly panics in Rust)",
        profiles: STRICT,
        lints: &[
            "clippy::panic",
            "clippy::todo",
            "clippy::unimplemented",
            "clippy::unreachable",
            "clippy::panic_in_result_fn",
        ],
        strict_lints: &[],
        exempt_in_const: true,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::UnwrapExpect,
        id: "MLR-03",
        title: "no `unwrap`/`expect`",
        help: "handle the `None`/`Err` case: `?`, `match`, `unwrap_or`, `ok_or(Error::..)`",
        mirrors: "MISRA C:2025 Dir 4.1",
        profiles: STRICT,
        lints: &[
            "clippy::unwrap_used",
            "clippy::expect_used",
            "clippy::unwrap_in_result",
            "clippy::get_unwrap",
        ],
        strict_lints: &[],
        exempt_in_const: true,
        clippy_authoritative: true,
    },
    RuleInfo {
        rule: Rule::Indexing,
        id: "MLR-04",
        title: "no panicking indexing or slicing",
        help: "use `.get(..)`/`.get_mut(..)` and handle `None`, or iterate",
        mirrors: "MISRA C:2025 Dir 4.1; Rule 18.1",
        profiles: STRICT,
        lints: &["clippy::indexing_slicing", "clippy::string_slice"],
        strict_lints: &[],
        exempt_in_const: true,
        clippy_authoritative: true,
    },
    RuleInfo {
        rule: Rule::Arithmetic,
        id: "MLR-05",
        title: "integer arithmetic states its overflow behaviour",
        help: "use `checked_*` (and handle `None`), `wrapping_*` or `saturating_*`",
        mirrors: "MISRA C:2025 Dir 4.1; Rule 1.3; Rule 12.4; SCRC gui_dCquvqE1csI3",
        profiles: STRICT,
        lints: &["clippy::arithmetic_side_effects"],
        strict_lints: &[],
        exempt_in_const: true,
        clippy_authoritative: true,
    },
    RuleInfo {
        rule: Rule::NumericCast,
        id: "MLR-06",
        title: "no numeric `as` where a checked or lossless conversion exists",
        help: "use `T::from(x)` when lossless, `T::try_from(x)` and handle the error otherwise",
        mirrors: "MISRA C:2025 Rule 10.5; Rule 10.8; SCRC gui_ADHABsmK9FXz",
        profiles: STRICT,
        lints: &[
            "clippy::cast_possible_truncation",
            "clippy::cast_possible_wrap",
            "clippy::cast_sign_loss",
            "clippy::cast_lossless",
            "clippy::cast_precision_loss",
            "clippy::cast_enum_truncation",
            "clippy::char_lit_as_u8",
        ],
        strict_lints: &[],
        exempt_in_const: true,
        clippy_authoritative: true,
    },
    RuleInfo {
        rule: Rule::PointerCast,
        id: "MLR-07",
        title: "pointer/integer casts only in the arch and MMIO layer",
        help: "take the address from a register wrapper or a `PhysAddr`/`VirtAddr` method in the arch/driver crates",
        mirrors: "MISRA C:2025 Rule 11.4; Rule 11.6; SCRC gui_PM8Vpf7lZ51U",
        profiles: STRICT,
        lints: &[
            "clippy::fn_to_numeric_cast",
            "clippy::fn_to_numeric_cast_any",
            "clippy::fn_to_numeric_cast_with_truncation",
        ],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::FloatingPoint,
        id: "MLR-08",
        title: "no floating point in EL2 code",
        help: "use integer or fixed-point arithmetic; EL2 is built soft-float and must never touch FP/SIMD state",
        mirrors: "MISRA C:2025 Dir 4.15; Rule 14.1",
        profiles: STRICT,
        lints: &[
            "clippy::float_arithmetic",
            "clippy::float_cmp",
            "clippy::lossy_float_literal",
        ],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::Recursion,
        id: "MLR-09",
        title: "no recursion, direct or through other functions",
        help: "rewrite as a bounded loop so the stack depth is known",
        mirrors: "MISRA C:2025 Rule 17.2; SCRC gui_ot2Zt3dd6of1",
        profiles: STRICT_GUEST,
        lints: &["unconditional_recursion"],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::LoopBound,
        id: "MLR-10",
        title: "every loop carries a `// BOUND:` argument",
        help: "add `// BOUND: <why this loop terminates, and after at most how many iterations>` on the line above",
        mirrors: "no MISRA C counterpart; serves Dir 4.1; SCRC draft gui_LoopTerminat",
        profiles: STRICT,
        lints: &[],
        strict_lints: &[],
        exempt_in_const: true,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::SafetyComment,
        id: "MLR-11",
        title: "every `unsafe` block and `unsafe impl` carries a `// SAFETY:` argument",
        help: "write `// SAFETY: <why every precondition holds here>` directly above the `unsafe`",
        mirrors: "Rust-specific: argues each place where Addendum 6's unsafe-only guidelines apply",
        profiles: ALL,
        lints: &["clippy::undocumented_unsafe_blocks"],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::UnsafeOpsPerBlock,
        id: "MLR-12",
        title: "one unsafe operation per `unsafe` block",
        help: "split the block so each `// SAFETY:` argument covers exactly one operation",
        mirrors: "Rust-specific: one argument per unsafe operation",
        profiles: ALL,
        lints: &[
            "clippy::multiple_unsafe_ops_per_block",
            "unsafe_op_in_unsafe_fn",
        ],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::SafetyDoc,
        id: "MLR-13",
        title: "every `unsafe fn` and `unsafe trait` documents a `# Safety` section",
        help: "add a `/// # Safety` section listing the caller's obligations",
        mirrors: "Rust-specific; analogue of MISRA C:2025 Dir 4.11 from the callee side",
        profiles: ALL,
        lints: &["clippy::missing_safety_doc"],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::ForbidUnsafe,
        id: "MLR-14",
        title: "a crate that needs no `unsafe` says `#![forbid(unsafe_code)]`",
        help: "add `#![forbid(unsafe_code)]` to the crate root",
        mirrors: "Rust-specific: Addendum 6's unsafe-only guidelines then cannot arise in the crate",
        profiles: ALL,
        lints: &[],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::StaticMut,
        id: "MLR-15",
        title: "no `static mut`",
        help: "use an atomic, a lock, or per-core state handed out once",
        mirrors: "MISRA C:2025 Dir 5.1; Rule 8.13",
        profiles: ALL,
        lints: &["static_mut_refs"],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::Shadowing,
        id: "MLR-16",
        title: "no binding shadows another binding of the same function",
        help: "give the new binding its own name",
        mirrors: "MISRA C:2025 Rule 5.3",
        profiles: STRICT_GUEST,
        lints: &[
            "clippy::shadow_reuse",
            "clippy::shadow_same",
            "clippy::shadow_unrelated",
        ],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::WildcardArm,
        id: "MLR-17",
        title: "no wildcard `_` arm in a match over our own enums",
        help: "list every variant so adding one is a compile error here",
        mirrors: "MISRA C:2025 Rule 16.4 does not apply to Rust (Addendum 6); this keeps matches exhaustive by name",
        profiles: STRICT,
        lints: &[
            "clippy::wildcard_enum_match_arm",
            "clippy::match_wildcard_for_single_variants",
        ],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: true,
    },
    RuleInfo {
        rule: Rule::UnusedResult,
        id: "MLR-18",
        title: "every `Result` and `#[must_use]` value is used",
        help: "handle the value; if discarding is right, bind it with its type and say why",
        mirrors: "MISRA C:2025 Rule 17.7",
        profiles: STRICT_GUEST,
        lints: &[
            "unused_must_use",
            "clippy::let_underscore_must_use",
            "clippy::let_underscore_untyped",
            "clippy::let_underscore_future",
        ],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: true,
    },
    RuleInfo {
        rule: Rule::StackArray,
        id: "MLR-19",
        title: "no large arrays on the stack",
        help: "move the buffer into a `static` sized by the system tables, or shrink it",
        mirrors: "MISRA C:2025 Dir 4.1 (stack overflow); Rule 17.2 rationale",
        profiles: STRICT,
        lints: &["clippy::large_stack_arrays", "clippy::large_stack_frames"],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: true,
    },
    RuleInfo {
        rule: Rule::InlineAsm,
        id: "MLR-20",
        title: "inline assembly only in the arch layer",
        help: "move the assembly into a safe wrapper in the arch crate",
        mirrors: "MISRA C:2025 Dir 4.3; Dir 4.2",
        profiles: STRICT,
        lints: &[],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::Volatile,
        id: "MLR-21",
        title: "volatile MMIO only through the register wrappers",
        help: "declare the register block (tock-registers) in the driver/arch layer and use its accessors",
        mirrors: "MISRA C:2025 Dir 4.3 (hardware access encapsulated); Rule 11.4",
        profiles: STRICT,
        lints: &[],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::ReviewedIntrinsic,
        id: "MLR-22",
        title: "`transmute`, `forget`, `assume_init` and `zeroed` only in reviewed places",
        help: "use a safe conversion; if none exists, add the site to the reviewed list in misra-like-lints.toml",
        mirrors: "MISRA C:2025 Rule 9.1; Rule 10.5; Rule 10.8; Rule 11.3; Rule 22.1",
        profiles: STRICT_GUEST,
        lints: &[
            "clippy::mem_forget",
            "clippy::uninit_assumed_init",
            "clippy::transmute_ptr_to_ptr",
            "clippy::transmute_ptr_to_ref",
            "unnecessary_transmutes",
            "clippy::transmute_bytes_to_str",
            "clippy::transmute_undefined_repr",
            "clippy::missing_transmute_annotations",
        ],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::UnsafeMacro,
        id: "MLR-23",
        title: "no `macro_rules!` whose expansion contains `unsafe`",
        help: "make the caller write the `unsafe` block (with its `// SAFETY:`), or use a function",
        mirrors: "SCRC gui_FRLaMIMb4t3S (do not hide unsafe blocks within macro expansions)",
        profiles: ALL,
        lints: &[],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::Documentation,
        id: "MLR-24",
        title: "every item and module is documented",
        help: "add a `///` doc (items) or a `//!` doc saying what and why (modules)",
        mirrors: "project rule (CONVENTIONS.md)",
        profiles: ALL,
        lints: &["missing_docs"],
        strict_lints: &["clippy::missing_docs_in_private_items"],
        exempt_in_const: false,
        clippy_authoritative: true,
    },
    RuleInfo {
        rule: Rule::Suppression,
        id: "MLR-25",
        title: "suppressions only through approved deviations",
        help: "use `#[expect(lint, reason = \"DEV-nnnn: ..\")]` or `// DEVIATION(DEV-nnnn, MLR-xx)` citing an approved entry of certification/deviations.toml",
        mirrors: "MISRA Compliance:2020 deviation process",
        profiles: ALL,
        lints: &["clippy::allow_attributes_without_reason"],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::StaleDeviation,
        id: "MLR-26",
        title: "no stale deviations or suppressions",
        help: "remove the suppression, or retire the deviation in certification/deviations.toml",
        mirrors: "MISRA Compliance:2020 deviation process",
        profiles: ALL,
        lints: &["unfulfilled_lint_expectations"],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::PanicReachable,
        id: "MLR-27",
        title: "no panic machinery reachable from the exception vectors in the release image",
        help: "find the call on the printed path that can panic and make it return an error instead",
        mirrors: "MISRA C:2025 Dir 4.1",
        profiles: STRICT,
        lints: &[],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
    RuleInfo {
        rule: Rule::CrateAttributes,
        id: "MLR-28",
        title: "crate roots declare the crate-level attributes the architecture relies on",
        help: "restore the attribute in the crate root; if the design changed, change `[[crate_attributes]]` in misra-like-lints.toml in review",
        mirrors: "project rule (architecture: safe-Rust, no_std crates); keeps MLR-14's promise for crates that must stay safe",
        profiles: ALL,
        lints: &[],
        strict_lints: &[],
        exempt_in_const: false,
        clippy_authoritative: false,
    },
];

impl Rule {
    /// The catalogue entry of this rule.
    pub fn info(self) -> &'static RuleInfo {
        let index = self as usize;
        // The table is in declaration order; the unit test `catalogue_is_in_enum_order`
        // proves it, so this lookup never misses.
        RULES
            .get(index)
            .filter(|info| info.rule == self)
            .unwrap_or(&RULES[0])
    }

    /// The stable ID, `MLR-nn`.
    pub fn id(self) -> &'static str {
        self.info().id
    }

    /// Parses an `MLR-nn` ID.
    pub fn from_id(id: &str) -> Option<Rule> {
        RULES
            .iter()
            .find(|info| info.id == id)
            .map(|info| info.rule)
    }

    /// Whether the rule applies to code of `profile`.
    pub fn applies_to(self, profile: Profile) -> bool {
        self.info().profiles.contains(&profile)
    }

    /// The rule a rustc or Clippy lint name (`clippy::x` or `x`) reports, if any.
    pub fn for_lint(lint: &str) -> Option<Rule> {
        let lint = lint.trim();
        RULES
            .iter()
            .find(|info| {
                info.lints
                    .iter()
                    .chain(info.strict_lints)
                    .any(|known| *known == lint)
            })
            .map(|info| info.rule)
            .or_else(|| {
                // Clippy's `transmute_*` family is open-ended; all of it is MLR-22.
                lint.strip_prefix("clippy::transmute_")
                    .map(|_| Rule::ReviewedIntrinsic)
            })
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_in_enum_order() {
        for (index, info) in RULES.iter().enumerate() {
            assert_eq!(info.rule as usize, index, "{} is out of place", info.id);
            assert_eq!(info.id, format!("MLR-{index:02}"));
        }
    }

    #[test]
    fn lint_names_map_to_rules() {
        assert_eq!(
            Rule::for_lint("clippy::unwrap_used"),
            Some(Rule::UnwrapExpect)
        );
        assert_eq!(Rule::for_lint("unused_must_use"), Some(Rule::UnusedResult));
        assert_eq!(
            Rule::for_lint("clippy::transmute_num_to_bytes"),
            Some(Rule::ReviewedIntrinsic)
        );
        assert_eq!(Rule::for_lint("clippy::needless_return"), None);
    }

    #[test]
    fn ids_round_trip() {
        for info in RULES {
            assert_eq!(Rule::from_id(info.id), Some(info.rule));
        }
        assert_eq!(Rule::from_id("MLR-99"), None);
    }
}
