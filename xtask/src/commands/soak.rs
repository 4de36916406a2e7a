//! `cargo xtask soak --seconds N [--seed S]`: the attacker partition beside the heartbeat
//! partition (`partitions/chaos-demo.toml`) for N seconds, judged as the QEMU test judges
//! its 200 000 operations (`xtask::chaos::Verdict`).
//!
//! The manifest is built with the attacker's bootargs set to the seed (random unless given,
//! printed first), an unbounded operation count and `seconds=N`, so chaos stops itself, prints
//! its tallies and powers off; the neighbour then gets a few more seconds to show it runs on.
//! A progress line is printed every few seconds. The whole console is kept in
//! `target/bulkhead/chaos-soak/soak-console.txt`.

use std::fs;
use std::io::{self, Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use xtask::chaos::{self, ATTACKER, CHAOS_MANIFEST, NEIGHBOUR, Verdict};
use xtask::host_tools::{self, Need};
use xtask::paths::Repository;
use xtask::pipeline::{BuildRequest, Pipeline};
use xtask::progress::Progress;
use xtask::qemu::QemuRun;
use xtask::qemu_preflight;
use xtask::toolchain::BareMetalCargo;

use super::Failure;
use crate::cli::SoakArgs;

/// How often a progress line is printed.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);
/// Time for chaos to stop after its `seconds=` limit (emulation may run slower than the
/// counter on a loaded host) before the run is judged as it stands.
const STOP_MARGIN: Duration = Duration::from_secs(60);
/// How long the neighbour runs on after chaos stopped.
const AFTER: Duration = Duration::from_secs(3);

/// Builds, boots for `seconds`, judges and prints the summary.
pub fn soak(repository: &Repository, arguments: &SoakArgs) -> Result<(), Failure> {
    let seed = arguments.seed.unwrap_or_else(random_seed);
    println!("soak: chaos seed {seed} for {} s (replay: --seed {seed})", arguments.seconds);
    let progress = Progress::terminal();
    let cargo = BareMetalCargo::ensure(&progress)?;
    host_tools::ensure(Need::QemuAndDtc, &progress)?;
    let source = repository.root().join(CHAOS_MANIFEST);
    let text = fs::read_to_string(&source).map_err(|error| Failure::Io {
        path: source.clone(),
        source: error,
    })?;
    let bootargs = chaos::bootargs(seed, u64::MAX, arguments.seconds);
    let manifest_text = chaos::with_attacker_bootargs(&text, &bootargs).map_err(Failure::Soak)?;
    let manifest_dir = repository.root().join("target").join("bulkhead").join("soak-manifests");
    fs::create_dir_all(&manifest_dir).map_err(|error| Failure::Io {
        path: manifest_dir.clone(),
        source: error,
    })?;
    let manifest = manifest_dir.join("chaos-soak.toml");
    fs::write(&manifest, manifest_text).map_err(|error| Failure::Io {
        path: manifest.clone(),
        source: error,
    })?;
    let built = Pipeline::new(repository, cargo, progress).build(&BuildRequest {
        manifest,
        board: None,
    })?;
    qemu_preflight::ensure(&built.qemu, &progress)?;
    let run = QemuRun::piped(&built.qemu, built.hypervisor_elf(), None, Vec::new());
    println!("soak: {}", run.command_line());
    let mut child = run
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| Failure::Io {
            path: "qemu-system-aarch64".into(),
            source: error,
        })?;
    let console = Arc::new(Mutex::new(Vec::new()));
    let reader = child.stdout.take().map(|mut stdout| {
        let sink = Arc::clone(&console);
        thread::spawn(move || {
            let mut buffer = [0; 8192];
            while let Ok(count) = stdout.read(&mut buffer) {
                if count == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(&buffer[..count]);
            }
        })
    });
    let snapshot = || String::from_utf8_lossy(&console.lock().unwrap_or_else(PoisonError::into_inner)).into_owned();

    let started = Instant::now();
    let limit = Duration::from_secs(arguments.seconds) + STOP_MARGIN;
    let mut stopped_at = None;
    let mut last_report = Instant::now();
    while started.elapsed() < limit {
        thread::sleep(Duration::from_millis(500));
        let text = snapshot();
        if stopped_at.is_none() && attacker_stopped(&text) {
            stopped_at = Some(Instant::now());
        }
        if stopped_at.is_some_and(|at| at.elapsed() >= AFTER) {
            break;
        }
        if last_report.elapsed() >= PROGRESS_INTERVAL {
            last_report = Instant::now();
            println!("soak: {}", progress_line(&text, started.elapsed()));
            let _ = io::stdout().flush();
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    if let Some(reader) = reader {
        let _ = reader.join();
    }
    let text = snapshot();
    let saved = built.output.path().join("soak-console.txt");
    if let Err(error) = fs::write(&saved, &text) {
        eprintln!("soak: cannot save the console to {}: {error}", saved.display());
    }
    let verdict = Verdict::judge(&text, 0);
    println!("soak: ran {:.0} s; console in {}", started.elapsed().as_secs_f32(), saved.display());
    print!("{verdict}");
    if stopped_at.is_none() {
        println!("chaos did not power off within {} s", limit.as_secs());
    }
    if verdict.passed() && stopped_at.is_some() {
        Ok(())
    } else {
        Err(Failure::Soak(format!("the soak with seed {seed} failed its checks (see above)")))
    }
}

/// `elapsed, chaos ops, alpha heartbeat, stage-2 fault lines` from the console so far.
fn progress_line(text: &str, elapsed: Duration) -> String {
    let lines = chaos::complete_lines(text);
    let operations = chaos::lines_of(&lines, ATTACKER)
        .iter()
        .filter_map(|line| line.strip_prefix(chaos::PROGRESS_PREFIX)?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    let beats = chaos::lines_of(&lines, NEIGHBOUR)
        .iter()
        .filter_map(|line| line.strip_prefix("heartbeat ")?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    let faults = chaos::lines_of(&lines, "hv")
        .iter()
        .filter(|line| line.contains(": stage-2 fault at IPA "))
        .count();
    format!(
        "{:>5.0} s: chaos {operations} operations, {NEIGHBOUR} heartbeat {beats}, {faults} stage-2 fault lines",
        elapsed.as_secs_f32()
    )
}

/// Whether the hypervisor reported chaos off or halted.
fn attacker_stopped(text: &str) -> bool {
    let lines = chaos::complete_lines(text);
    chaos::lines_of(&lines, "hv").iter().any(|line| {
        line.strip_prefix(ATTACKER).is_some_and(|rest| {
            rest.starts_with(": powered off") || rest.starts_with(": halted") || rest.starts_with(": restart limit")
        })
    })
}

/// A seed from the clock and the process ID (no entropy source is needed: it is printed).
fn random_seed() -> u64 {
    let nanoseconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    (nanoseconds ^ u64::from(std::process::id()).rotate_left(32)) % 1_000_000_000_000
}
