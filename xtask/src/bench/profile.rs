//! `--profile`: where Bulkhead's instructions go on each measured trap, function by function.
//!
//! QEMU can log the address of every instruction it executes (`-accel
//! tcg,one-insn-per-tb=on -d exec,nochain`: one translation block per instruction, each
//! execution logged). On the probe's core, a run of addresses inside the hypervisor's text
//! between two guest addresses is one trap; the guest address before it tells which probe
//! function trapped (the probe never inlines its measurement functions). The samples of a
//! metric come in order, so the first N hypercall traps are `SMCCC_VERSION`, the next N the
//! unknown function, and likewise for the two MMIO reads and the two timer waits. For each
//! metric the trap of median length is broken down by the hypervisor function executing
//! each instruction, in the order they ran.
//!
//! The log holds every instruction of the run (a few million lines, a few hundred MB), so it
//! is parsed once and deleted.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use object::{Object, ObjectSection, ObjectSymbol, SectionKind};
use serde::{Deserialize, Serialize};

use crate::progress::Progress;
use crate::qemu::QemuRun;

use super::image_facts::demangle;
use super::machine::{self, CaptureError};

/// One measured trap, broken down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrapProfile {
    /// The probe metric.
    pub metric: String,
    /// Traps of this metric found in the log (the probe's sample count when all is well).
    pub traps: u64,
    /// Hypervisor instructions of the median trap.
    pub instructions: u64,
    /// Its instructions by function, in execution order (consecutive instructions of one
    /// function form one stage; a function entered twice appears twice).
    pub stages: Vec<Stage>,
}

/// Consecutive instructions of one function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// The function (demangled, without hash).
    pub function: String,
    /// Instructions executed.
    pub instructions: u64,
}

/// Why no profile could be made.
#[derive(Debug)]
pub enum ProfileError {
    /// QEMU did not run the probe to its end.
    Capture(CaptureError),
    /// An ELF or the log could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// An ELF could not be parsed.
    Elf {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Capture(CaptureError::Spawn { command, source }) => {
                write!(f, "`{command}` could not start: {source}")
            }
            Self::Capture(CaptureError::Timeout { limit, .. }) => {
                write!(
                    f,
                    "the traced run did not finish within {} s",
                    limit.as_secs()
                )
            }
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Elf { path, reason } => write!(f, "{}: {reason}", path.display()),
        }
    }
}

impl std::error::Error for ProfileError {}

/// Probe functions whose traps are measured, with the metrics their samples belong to, in
/// the order the probe takes them.
const TRAPPING_FUNCTIONS: &[(&str, [&str; 2])] = &[
    (
        "probe::measure::hypercall",
        ["hypercall_smccc_version", "hypercall_unknown_function"],
    ),
    (
        "probe::measure::mmio_read",
        ["mmio_read_gicd_typer", "mmio_read_uart_fr"],
    ),
    (
        "probe::timer_latency::ProbeVectors::measure",
        [
            "timer_interrupt_spinning",
            "timer_interrupt_wait_for_interrupt",
        ],
    ),
];

/// Runs `run` (the Bulkhead system with the probe) with instruction tracing and breaks the
/// measured traps down by hypervisor function. `samples` is the probe's sample count.
pub fn profile(
    run: &QemuRun,
    hypervisor_elf: &Path,
    probe_elf: &Path,
    samples: u64,
    directory: &Path,
    progress: &Progress,
    limit: Duration,
) -> Result<Vec<TrapProfile>, ProfileError> {
    let hypervisor = Symbols::read(hypervisor_elf)?;
    let probe = Symbols::read(probe_elf)?;
    let log = directory.join("bulkhead-trace.log");
    let mut traced = run.clone();
    traced.extra_args.extend(
        [
            "-accel",
            "tcg,one-insn-per-tb=on",
            "-d",
            "exec,nochain",
            "-D",
        ]
        .map(str::to_owned),
    );
    traced.extra_args.push(log.display().to_string());
    let step = progress.step("profiling Bulkhead's trap paths");
    let transcript = machine::capture(&mut traced.command(), limit, &step);
    if let Err(error) = transcript {
        step.fail("");
        let _ = fs::remove_file(&log);
        return Err(ProfileError::Capture(error));
    }
    let traps = read_traps(&log, &hypervisor);
    let _ = fs::remove_file(&log);
    let traps = traps?;
    let profiles = attribute(&traps, &hypervisor, &probe, samples);
    step.succeed(&format!("{} traps", traps.len()));
    Ok(profiles)
}

/// Function symbols of an ELF, by address.
struct Symbols {
    /// (address, name), ascending.
    functions: Vec<(u64, String)>,
    /// The executable range.
    text: std::ops::Range<u64>,
}

impl Symbols {
    fn read(path: &Path) -> Result<Self, ProfileError> {
        let bytes = fs::read(path).map_err(|source| ProfileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file = object::File::parse(&*bytes).map_err(|error| ProfileError::Elf {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
        let (start, end) = file
            .sections()
            .filter(|section| section.kind() == SectionKind::Text)
            .fold((u64::MAX, 0), |(start, end), section| {
                (
                    start.min(section.address()),
                    end.max(section.address() + section.size()),
                )
            });
        let text = start..end;
        let mut functions: Vec<(u64, String)> = file
            .symbols()
            .filter(|symbol| text.contains(&symbol.address()))
            .filter_map(|symbol| {
                let name = symbol.name().ok()?;
                // `$x`/`$d` mark code and data inside functions; they name nothing.
                (!name.starts_with('$') && !name.is_empty())
                    .then(|| (symbol.address(), demangle(name)))
            })
            .collect();
        functions.sort();
        functions.dedup_by_key(|(address, _)| *address);
        Ok(Self { functions, text })
    }

    /// The function containing `address` (the last symbol at or below it).
    fn function(&self, address: u64) -> &str {
        let index = self
            .functions
            .partition_point(|(start, _)| *start <= address);
        index
            .checked_sub(1)
            .and_then(|index| self.functions.get(index))
            .map_or("?", |(_, name)| name.as_str())
    }
}

/// One stay in the hypervisor on the probe's core.
struct Trap {
    /// The guest instruction executed last before it.
    guest_pc: u64,
    /// The hypervisor instructions, in order.
    pcs: Vec<u64>,
}

/// The traps on core 0 after the first guest instruction, from QEMU's `-d exec` log.
fn read_traps(log: &Path, hypervisor: &Symbols) -> Result<Vec<Trap>, ProfileError> {
    let file = File::open(log).map_err(|source| ProfileError::Io {
        path: log.to_path_buf(),
        source,
    })?;
    let mut traps = Vec::new();
    let mut last_guest: Option<u64> = None;
    let mut current: Option<Trap> = None;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|source| ProfileError::Io {
            path: log.to_path_buf(),
            source,
        })?;
        let Some(pc) = core_zero_pc(&line) else {
            continue;
        };
        if hypervisor.text.contains(&pc) {
            match (&mut current, last_guest) {
                (Some(trap), _) => trap.pcs.push(pc),
                (None, Some(guest_pc)) => {
                    current = Some(Trap {
                        guest_pc,
                        pcs: vec![pc],
                    });
                }
                // Still booting: no guest has run yet.
                (None, None) => {}
            }
        } else {
            if let Some(trap) = current.take() {
                traps.push(trap);
            }
            last_guest = Some(pc);
        }
    }
    Ok(traps)
}

/// The program counter of a `-d exec` line of CPU 0:
/// `Trace 0: 0x7f… [00000000/0000000040000000/00000461/ff022201] `.
fn core_zero_pc(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("Trace 0: ")?;
    let fields = &rest[rest.find('[')? + 1..];
    let mut parts = fields.split('/');
    parts.next()?;
    u64::from_str_radix(parts.next()?, 16).ok()
}

/// Assigns traps to metrics by the probe function they came from and their order, and breaks
/// down each metric's median trap.
fn attribute(
    traps: &[Trap],
    hypervisor: &Symbols,
    probe: &Symbols,
    samples: u64,
) -> Vec<TrapProfile> {
    let mut by_function: BTreeMap<&str, Vec<&Trap>> = BTreeMap::new();
    for trap in traps {
        let function = probe.function(trap.guest_pc);
        if TRAPPING_FUNCTIONS.iter().any(|(name, _)| *name == function) {
            by_function.entry(function).or_default().push(trap);
        }
    }
    let mut profiles = Vec::new();
    for (function, metrics) in TRAPPING_FUNCTIONS {
        let Some(found) = by_function.get(function) else {
            continue;
        };
        for (index, metric) in metrics.iter().enumerate() {
            let start = usize::try_from(samples)
                .unwrap_or(usize::MAX)
                .saturating_mul(index);
            let end = start.saturating_add(usize::try_from(samples).unwrap_or(usize::MAX));
            let Some(group) = found
                .get(start..end.min(found.len()))
                .filter(|group| !group.is_empty())
            else {
                continue;
            };
            let mut by_length: Vec<&&Trap> = group.iter().collect();
            by_length.sort_by_key(|trap| trap.pcs.len());
            let median = by_length[(by_length.len() - 1) / 2];
            profiles.push(TrapProfile {
                metric: (*metric).to_owned(),
                traps: group.len() as u64,
                instructions: median.pcs.len() as u64,
                stages: stages(&median.pcs, hypervisor),
            });
        }
    }
    profiles
}

/// Consecutive instructions of the same function, merged.
fn stages(pcs: &[u64], hypervisor: &Symbols) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    for &pc in pcs {
        let function = hypervisor.function(pc);
        match stages.last_mut() {
            Some(stage) if stage.function == function => stage.instructions += 1,
            _ => stages.push(Stage {
                function: function.to_owned(),
                instructions: 1,
            }),
        }
    }
    stages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbols(functions: &[(u64, &str)], text: std::ops::Range<u64>) -> Symbols {
        Symbols {
            functions: functions
                .iter()
                .map(|(address, name)| (*address, (*name).to_owned()))
                .collect(),
            text,
        }
    }

    #[test]
    fn exec_log_lines_of_core_zero_give_their_pc() {
        assert_eq!(
            core_zero_pc("Trace 0: 0x7fce64000100 [00000000/0000000040000c00/00000461/ff022201] "),
            Some(0x4000_0c00)
        );
        assert_eq!(
            core_zero_pc("Trace 1: 0x7fce64000100 [00000000/0000000040000c00/00000461/ff022201] "),
            None
        );
        assert_eq!(core_zero_pc("Linking TBs"), None);
    }

    #[test]
    fn traps_are_split_by_guest_instructions_and_named_by_order() {
        let hypervisor = symbols(&[(0x100, "vectors"), (0x200, "handler")], 0x100..0x300);
        let probe = symbols(
            &[
                (0x1000, "probe::measure::hypercall"),
                (0x2000, "probe::measure::mmio_read"),
            ],
            0x1000..0x3000,
        );
        let log: String = [
            0x100, 0x104, // boot: no guest yet
            0x1000, 0x1004, 0x100, 0x200, 0x204, // hypercall #1: 3 instructions
            0x1008, 0x1000, 0x100, 0x200, // hypercall #2: 2
            0x2000, 0x100, 0x104, 0x200, 0x204, 0x208, // mmio #1: 5
            0x2004,
        ]
        .iter()
        .map(|pc| format!("Trace 0: 0x7f [00000000/{pc:016x}/00000461/ff022201] \n"))
        .collect();
        let directory = std::env::temp_dir().join(format!("bench-profile-{}", std::process::id()));
        fs::create_dir_all(&directory).expect("temporary directory");
        let path = directory.join("trace.log");
        fs::write(&path, log).expect("write the log");
        let traps = read_traps(&path, &hypervisor).expect("readable log");
        let _ = fs::remove_dir_all(&directory);
        assert_eq!(traps.len(), 3);
        let profiles = attribute(&traps, &hypervisor, &probe, 1);
        let summary: Vec<(&str, u64)> = profiles
            .iter()
            .map(|profile| (profile.metric.as_str(), profile.instructions))
            .collect();
        assert_eq!(
            summary,
            [
                ("hypercall_smccc_version", 3),
                ("hypercall_unknown_function", 2),
                ("mmio_read_gicd_typer", 5),
            ]
        );
        assert_eq!(
            profiles[2].stages,
            [
                Stage {
                    function: "vectors".to_owned(),
                    instructions: 2
                },
                Stage {
                    function: "handler".to_owned(),
                    instructions: 3
                },
            ]
        );
    }
}
