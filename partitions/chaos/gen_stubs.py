# Generates src/stubs.rs: `python3 gen_stubs.py` from partitions/chaos/ (the output is committed).
stubs = []  # (group, name, align, asm lines, doc)
def add(group, name, asm, align=1, doc=""):
    stubs.append((group, name, align, asm if isinstance(asm, list) else [asm], doc))

# ---- Access: x0 = address, x1/x2 = values; result in x0.
A = "Access"
for n, a, al in [("ldrb", "ldrb w0, [x0]", 1), ("ldrh", "ldrh w0, [x0]", 2), ("ldr_w", "ldr w0, [x0]", 4),
                 ("ldr_x", "ldr x0, [x0]", 8), ("ldrsb_x", "ldrsb x0, [x0]", 1), ("ldrsb_w", "ldrsb w0, [x0]", 1),
                 ("ldrsh_x", "ldrsh x0, [x0]", 2), ("ldrsw", "ldrsw x0, [x0]", 4), ("ldur_x", "ldur x0, [x0]", 8),
                 ("ldr_regoffset", "ldr w0, [x0, xzr, lsl #2]", 4),
                 ("strb", "strb w1, [x0]", 1), ("strh", "strh w1, [x0]", 2), ("str_w", "str w1, [x0]", 4),
                 ("str_x", "str x1, [x0]", 8), ("str_xzr", "str xzr, [x0]", 8), ("strb_wzr", "strb wzr, [x0]", 1)]:
    add(A, n, a, al, "single register access (ISV=1 at stage 2)")
for n, a, al in [("ldp_x", "ldp x2, x3, [x0]", 16), ("stp_x", "stp x1, x2, [x0]", 16), ("ldp_w", "ldp w2, w3, [x0]", 8),
                 ("stp_w", "stp w1, w2, [x0]", 8), ("ldr_pre", "ldr x1, [x0, #0]!", 8), ("ldr_post", "ldr x1, [x0], #8", 8),
                 ("str_pre", "str x1, [x0, #0]!", 8), ("str_post", "str x1, [x0], #8", 8), ("ldrb_pre", "ldrb w1, [x0, #0]!", 1),
                 ("strh_post", "strh w1, [x0], #2", 2), ("ldr_w_post", "ldr w1, [x0], #4", 4),
                 ("ldp_pre", "ldp x2, x3, [x0, #0]!", 16), ("stp_post", "stp x1, x2, [x0], #16", 16)]:
    add(A, n, a, al, "pair or writeback access (ISV=0 at stage 2)")
for n, a, al in [("ldxr_x", "ldxr x0, [x0]", 8), ("ldxr_w", "ldxr w0, [x0]", 4), ("ldxrb", "ldxrb w0, [x0]", 1),
                 ("ldxrh", "ldxrh w0, [x0]", 2), ("ldaxr_x", "ldaxr x0, [x0]", 8)]:
    add(A, n, [a, "clrex"], al, "load-exclusive")
for n, a, al in [("stxr_x", "stxr w3, x1, [x0]", 8), ("stxr_w", "stxr w3, w1, [x0]", 4), ("stxrb", "stxrb w3, w1, [x0]", 1),
                 ("stxrh", "stxrh w3, w1, [x0]", 2), ("stlxr_x", "stlxr w3, x1, [x0]", 8)]:
    add(A, n, ["mov w3, #2", "ldxr x2, [x0]", a, "mov x0, x3"], al, "load-exclusive then store-exclusive; result is the status")
add(A, "ldxp", ["ldxp x2, x3, [x0]", "clrex"], 16, "load-exclusive pair")
add(A, "stxp", ["mov w3, #2", "stxp w3, x1, x2, [x0]", "mov x0, x3"], 16, "store-exclusive pair without a reservation")
for n, a, al in [("ldar_x", "ldar x0, [x0]", 8), ("stlr_x", "stlr x1, [x0]", 8), ("ldarb", "ldarb w0, [x0]", 1),
                 ("stlrh", "stlrh w1, [x0]", 2)]:
    add(A, n, a, al, "load-acquire/store-release")
for n, a in [("dc_zva", "dc zva, x0"), ("dc_civac", "dc civac, x0"), ("dc_cvac", "dc cvac, x0"), ("dc_cvau", "dc cvau, x0"),
             ("ic_ivau", "ic ivau, x0"), ("prfm", "prfm pldl1keep, [x0]")]:
    add(A, n, [a, "dsb sy"], 1, "cache maintenance or prefetch by address")
add(A, "at_s1e1r", ["at s1e1r, x0", "isb", "mrs x0, par_el1"], 1, "address translation (never faults)")
add(A, "at_s1e1w", ["at s1e1w, x0", "isb", "mrs x0, par_el1"], 1, "address translation (never faults)")
add(A, "fetch", ["mov x4, x30", "blr x0", "mov x30, x4"], 4, "branch to the address: an instruction fetch")

# ---- Sysreg: legal at EL1; only EL2 can refuse them. x1 = value.
S = "Sysreg"
pmu_reads = ["pmccntr_el0", "pmcr_el0", "pmcntenset_el0", "pmuserenr_el0", "pmselr_el0", "pmevcntr0_el0", "pmceid0_el0",
             "pmovsset_el0", "pmccfiltr_el0", "pmevtyper0_el0"]
reads = ["mdscr_el1", "oslsr_el1", "mdccsr_el0", "dbgbcr0_el1", "dbgbvr0_el1", "dbgwcr0_el1", "dbgwvr0_el1",
         "dbgclaimclr_el1", "mdccint_el1", "cntp_ctl_el0", "cntp_cval_el0", "cntp_tval_el0",
         "cntpct_el0", "cntvct_el0", "cntfrq_el0", "cntkctl_el1", "cntv_ctl_el0", "actlr_el1", "sctlr_el1", "tcr_el1",
         "mair_el1", "amair_el1", "afsr0_el1", "afsr1_el1", "contextidr_el1", "id_aa64pfr0_el1", "id_aa64dfr0_el1",
         "id_aa64isar0_el1", "id_aa64mmfr0_el1", "id_aa64mmfr1_el1", "id_pfr0_el1", "id_dfr0_el1", "midr_el1",
         "mpidr_el1", "revidr_el1", "aidr_el1", "ccsidr_el1", "clidr_el1", "csselr_el1", "ctr_el0", "dczid_el0",
         "isr_el1", "par_el1", "s3_0_c12_c11_3", "s3_0_c12_c12_2", "s3_0_c12_c12_4", "s3_0_c4_c6_0",
         "s3_0_c12_c12_5", "s3_0_c12_c12_7", "s3_1_c11_c0_2", "s3_1_c11_c0_3", "s3_1_c15_c2_0", "s3_1_c15_c2_1"]
for r in pmu_reads:
    add(S + "Pmu", "mrs_" + r, "mrs x0, " + r, 1, "PMU register read")
for r in reads:
    add(S, "mrs_" + r, "mrs x0, " + r, 1, "system register read")
pmu_writes = [("pmccntr_el0", None), ("pmselr_el0", "#0x1f"), ("pmcntenset_el0", None), ("pmcntenclr_el0", None),
              ("pmovsclr_el0", None), ("pmintenclr_el1", None), ("pmuserenr_el0", "#0xf"), ("pmevtyper0_el0", None),
              ("pmccfiltr_el0", None), ("pmcr_el0", "#0x7f"), ("pmevcntr0_el0", None), ("pmswinc_el0", None)]
for r, m in pmu_writes:
    add(S + "Pmu", "msr_" + r, (["and x1, x1, " + m] if m else []) + ["msr " + r + ", x1", "isb"], 1, "PMU register write")
writes = [("mdscr_el1", None, "bic x1, x1, #1"), ("oslar_el1", "#1", None), ("osdlr_el1", "#1", None),
          ("dbgclaimset_el1", "#0xff", None), ("mdccint_el1", None, None), ("cntp_ctl_el0", "#3", None), ("cntp_cval_el0", None, None),
          ("cntp_tval_el0", None, None), ("contextidr_el1", "#0xffff", None), ("afsr0_el1", None, None), ("afsr1_el1", None, None),
          ("csselr_el1", "#0xf", None), ("cntkctl_el1", "#0x3ff", None), ("s3_0_c4_c6_0", "#0xff", None),
          ("s3_0_c12_c8_3", "#0x7", None), ("s3_0_c12_c12_1", "#0x3ff", None), ("s3_0_c12_c11_1", "#0x3ff", None)]
for r, m, pre in writes:
    lines = []
    if m: lines.append("and x1, x1, " + m)
    if pre: lines.append(pre)
    add(S, "msr_" + r, lines + ["msr " + r + ", x1", "isb"], 1, "system register write")
add(S, "msr_actlr_el1_same", ["mrs x1, actlr_el1", "msr actlr_el1, x1", "isb"], 1, "ACTLR_EL1 written with its own value")
add(S, "msr_sctlr_el1_same", ["mrs x1, sctlr_el1", "msr sctlr_el1, x1", "isb"], 1, "SCTLR_EL1 written with its own value (TVM)")
add(S, "msr_mair_el1_same", ["mrs x1, mair_el1", "msr mair_el1, x1", "isb"], 1, "MAIR_EL1 written with its own value (TVM)")
for n, a in [("dc_cisw", "dc cisw, x1"), ("dc_csw", "dc csw, x1"), ("tlbi_vmalle1", "tlbi vmalle1"),
             ("tlbi_vmalle1is", "tlbi vmalle1is"), ("tlbi_vae1", "tlbi vae1, x1"), ("tlbi_aside1", "tlbi aside1, x1"),
             ("tlbi_vaae1is", "tlbi vaae1is, x1"), ("ic_iallu", "ic iallu"), ("ic_ialluis", "ic ialluis")]:
    add(S, n, [a, "dsb sy", "isb"], 1, "cache or TLB maintenance (set/way, by VA, all)")

# ---- Local: UNDEFINED at EL1 whatever EL2 does.
L = "Local"
for r in ["hcr_el2", "vttbr_el2", "vtcr_el2", "esr_el2", "far_el2", "hpfar_el2", "vbar_el2", "sctlr_el2", "elr_el2",
          "spsr_el2", "tpidr_el2", "cnthctl_el2", "cntvoff_el2", "mdcr_el2", "vmpidr_el2", "vpidr_el2", "cptr_el2",
          "ttbr0_el2", "ich_hcr_el2", "ich_vmcr_el2", "ich_lr0_el2", "ich_vtr_el2", "ich_misr_el2", "icc_sre_el2",
          "cnthp_ctl_el2", "scr_el3", "sctlr_el3", "vbar_el3", "elr_el3", "cptr_el3", "mdcr_el3", "icc_sre_el3",
          "sp_el1", "sp_el2"]:
    add(L, "mrs_" + r, "mrs x0, " + r, 1, "EL2/EL3 register read")
for r in ["hcr_el2", "vttbr_el2", "vtcr_el2", "vbar_el2", "sctlr_el2", "cnthctl_el2", "mdcr_el2", "cptr_el2",
          "ich_hcr_el2", "ich_lr0_el2", "scr_el3", "vbar_el3", "sp_el1"]:
    add(L, "msr_" + r, "msr " + r + ", x1", 1, "EL2/EL3 register write")
for r in ["s3_0_c12_c11_5", "s3_0_c12_c11_7", "s3_0_c12_c11_6", "s3_0_c12_c12_1", "s3_0_c12_c11_1"]:
    add(L, "mrs_wo_" + r, "mrs x0, " + r, 1, "read of a write-only register")
for r in ["s3_0_c0_c0_0", "s3_3_c0_c0_1", "s3_0_c0_c4_0", "s3_0_c12_c12_0", "s3_3_c14_c0_1"]:
    add(L, "msr_ro_" + r, "msr " + r + ", x1", 1, "write of a read-only register")
add(L, "udf", "udf #0x1234", 1, "permanently undefined instruction")
add(L, "inst_zero", ".inst 0x00000000", 1, "the all-zero encoding (UDF #0)")
add(L, "inst_ones", ".inst 0xffffffff", 1, "the all-ones encoding (unallocated)")

# ---- Sgi: SGI generation registers (trap to EL2 with HCR_EL2.IMO/FMO).
G = "Sgi"
add(G, "msr_icc_sgi1r", "msr s3_0_c12_c11_5, x1", 1, "ICC_SGI1R_EL1")
add(G, "msr_icc_sgi0r", "msr s3_0_c12_c11_7, x1", 1, "ICC_SGI0R_EL1")
add(G, "msr_icc_asgi1r", "msr s3_0_c12_c11_6, x1", 1, "ICC_ASGI1R_EL1")

# ---- Wait.
W = "Wait"
add(W, "wfe", "wfe", 1, "WFE (woken by the event stream)")
add(W, "sevl_wfe", ["sevl", "wfe"], 1, "SEVL then WFE: returns at once")
add(W, "sev", "sev", 1, "SEV")
add(W, "yield", "yield", 1, "YIELD")
add(W, "wfi", "wfi", 1, "WFI (the caller arms the virtual timer first)")

# ---- Call: x0 = function ID, x1-x3 arguments; SMCCC result in x0.
C = "Call"
add(C, "hvc_0", "hvc #0", 1, "HVC #0")
add(C, "hvc_1", "hvc #1", 1, "HVC with a non-zero immediate")
add(C, "hvc_ffff", "hvc #0xffff", 1, "HVC with the largest immediate")
add(C, "smc_0", "smc #0", 1, "SMC #0")
add(C, "smc_1234", "smc #0x1234", 1, "SMC with a non-zero immediate")

order = ["Access", "Sysreg", "SysregPmu", "Local", "Sgi", "Wait", "Call"]
stubs.sort(key=lambda s: order.index(s[0]))
ranges = {}
for i, s in enumerate(stubs):
    g = s[0]
    lo, hi = ranges.get(g, (i, i))
    ranges[g] = (min(lo, i), i + 1)

out = []
out.append("//! The attack instructions: one small assembly routine (a *stub*) per instruction form, all")
out.append("//! reached through one dispatcher, so that the Rust side has a single `unsafe` call site.")
out.append("//!")
out.append("//! Calling convention of every stub: `x0` = address or SMCCC function ID, `x1`..`x3` = values")
out.append("//! or arguments, result in `x0`; `x0`-`x17` and `x30` are clobbered. A stub's faulting")
out.append("//! instruction is skipped by the exception handler ([`crate::vectors`]), which resumes at the")
out.append("//! next instruction (or, for the `fetch` stub's branch, at its return address), so every stub")
out.append("//! returns whatever its instructions did.")
out.append("//!")
out.append("//! Generated by `gen_stubs.py` (do not edit by hand): the groups are contiguous and")
out.append("//! in this order, which the `*_STUBS` ranges describe.")
out.append("")
out.append("use core::arch::global_asm;")
out.append("use core::ops::Range;")
out.append("")
out.append("/// One stub: the alignment its address operand needs to reach stage 2 rather than fault at")
out.append("/// stage 1 (1 for stubs that take no address). Its name is in the comment of its entry.")
out.append("#[derive(Clone, Copy, Debug)]")
out.append("pub struct Stub {")
out.append("    /// Natural alignment of the access, in bytes.")
out.append("    pub align: u64,")
out.append("}")
out.append("")
docs = {"Access": "Loads, stores, exclusives, pairs, writeback forms, cache maintenance and fetches by address.",
        "Sysreg": "System register accesses and maintenance legal at EL1 (only EL2 can refuse them).",
        "SysregPmu": "PMU register accesses, legal at EL1 when the PMU exists (only EL2 can refuse them).",
        "Local": "Instructions UNDEFINED at EL1 whatever EL2 does (EL2/EL3 registers, write-only reads, read-only writes, UDF).",
        "Sgi": "The three SGI generation registers.",
        "Wait": "WFE, SEVL, SEV, YIELD and WFI.",
        "Call": "HVC and SMC with different immediates."}
for g in order:
    lo, hi = ranges[g]
    const = {"Access": "ACCESS", "Sysreg": "SYSREG", "SysregPmu": "PMU", "Local": "LOCAL", "Sgi": "SGI", "Wait": "WAIT", "Call": "CALL"}[g]
    out.append("/// " + docs[g])
    out.append(f"pub const {const}_STUBS: Range<usize> = {lo}..{hi};")
import re
# GICv3 CPU interface registers (ICC_*: op0=3, op1=0, CRn=12, CRm=8..12; ICC_PMR_EL1 is
# S3_0_C4_C6_0). On a GICv2 they do not exist: EL1 takes UNDEF without reaching EL2.
icc = re.compile(r"s3_0_c12_c(8|9|10|11|12)_[0-7]\b|s3_0_c4_c6_0\b")
gic_cpu_interface = [i for i, (g, n, al, asm, doc) in enumerate(stubs)
                     if g in ("Sysreg", "Sgi") and any(icc.search(line) for line in asm)]
out.append("/// The system-register and SGI stubs that access a GICv3 CPU interface register")
out.append("/// (`ICC_*`): on a GICv2 they are UNDEFINED at EL1 and never reach the hypervisor.")
out.append(f"pub const GIC_CPU_INTERFACE_STUBS: [usize; {len(gic_cpu_interface)}] = {gic_cpu_interface};")
names = {}
for i, s in enumerate(stubs):
    names[s[1]] = i
for special in ["wfi", "strb", "str_w", "fetch"]:
    out.append(f"/// Index of the `{special}` stub.")
    out.append(f"pub const STUB_{special.upper()}: usize = {names[special]};")
out.append("")
out.append(f"/// Number of stubs; the dispatcher refuses larger indices.")
out.append(f"pub const STUB_COUNT: usize = {len(stubs)};")
out.append("")
out.append("/// Every stub, by index.")
out.append(f"pub static STUBS: [Stub; STUB_COUNT] = [")
for g, n, al, asm, doc in stubs:
    out.append(f"    Stub {{ align: {al} }}, // {n}")
out.append("];")
out.append("")
out.append("global_asm!(")
out.append("    r#\"")
out.append("    .section .text.chaos_stubs, \"ax\"")
out.append("    .balign 8")
out.append("    .global chaos_dispatch")
out.append("// x9 = stub index. Out-of-range indices return x0 unchanged.")
out.append("chaos_dispatch:")
out.append("    cmp     x9, #{count}")
out.append("    b.hs    1f")
out.append("    adr     x10, chaos_stub_table")
out.append("    ldr     x10, [x10, x9, lsl #3]")
out.append("    br      x10")
out.append("1:  ret")
out.append("")
out.append("    .balign 8")
out.append("chaos_stub_table:")
for i, s in enumerate(stubs):
    out.append(f"    .quad   chaos_stub_{i}")
out.append("")
for i, (g, n, al, asm, doc) in enumerate(stubs):
    out.append(f"// {i}: {n}: {doc}")
    out.append(f"chaos_stub_{i}:")
    for a in asm:
        out.append(f"    {a}")
    out.append("    ret")
out.append("\"#,")
out.append("    count = const STUB_COUNT,")
out.append(");")
open("src/stubs.rs", "w").write("\n".join(out) + "\n")
print(len(stubs), ranges)
