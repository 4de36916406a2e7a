//! One headless QEMU run of a built system, driven through its console.
//!
//! QEMU's first UART is connected to pipes: a thread collects everything the system prints,
//! and tests wait for patterns in it or type into it. The second UART (the hypervisor's
//! binary defmt log) goes to a file that is decoded as it grows. Every wait is bounded by its
//! own timeout and by the session's overall deadline; when one expires, or QEMU exits early,
//! QEMU is killed and the test fails with everything captured so far — console, decoded
//! hypervisor log, QEMU's stderr and the command line — so a failure can be diagnosed from
//! the CI log alone.
//!
//! At most [`concurrent_sessions`] QEMUs run at once in a test process: each emulates several
//! cores, and running more than the host can schedule makes the guests' timers (and so the
//! tests) slow in ways unrelated to Bulkhead.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use xtask::defmt_log::{self, DefmtTable, LogFollower};
use xtask::qemu::QemuRun;

use crate::system::TestSystem;
use crate::transcript::Transcript;

/// Default bound for one [`QemuSession::wait_for`]: generous (the demo's events take a few
/// seconds even on a loaded machine), since a passing wait returns as soon as the pattern
/// appears.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// Console text after which nothing awaited can appear any more: the hypervisor stopped a
/// core or panicked, or a guest panicked. Waits fail as soon as one shows up instead of
/// running into their timeout.
pub const DEFAULT_FATAL_PATTERNS: &[&str] = &[
    "[hv] hypervisor fault on core",
    "[hv] hypervisor panic",
    " panicked at ",
];

/// Default bound for a whole session.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(180);

/// The byte that makes the hypervisor's console switch input focus (Ctrl-T); the next byte
/// (`1`, `2`, …) names the partition, counted from 1 in manifest order.
pub const FOCUS_KEY: u8 = 0x14;

/// How often [`QemuSession::wait_for_log`] looks at the decoded log.
const LOG_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Lines of console shown in a failure report (the end of the transcript).
const REPORTED_CONSOLE_LINES: usize = 400;

/// How to boot.
#[derive(Clone, Debug)]
pub struct BootOptions {
    /// Arguments appended to the board's (e.g. `-icount shift=0,sleep=off`).
    pub extra_args: Vec<String>,
    /// Overall limit: QEMU is killed and the test fails when a wait runs past it.
    pub session_timeout: Duration,
    /// A complete console line containing one of these fails any wait at once (a test that
    /// expects one of them clears this list).
    pub fatal_patterns: Vec<String>,
    /// The file QEMU boots instead of the system's ELF: the same image in another container
    /// (an arm64 Linux `Image`, which QEMU enters as firmware enters a kernel). The ELF still
    /// decodes the defmt log.
    pub kernel: Option<PathBuf>,
}

impl Default for BootOptions {
    fn default() -> Self {
        Self {
            extra_args: Vec::new(),
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            fatal_patterns: DEFAULT_FATAL_PATTERNS
                .iter()
                .map(|pattern| (*pattern).to_owned())
                .collect(),
            kernel: None,
        }
    }
}

/// Console bytes and whether QEMU closed its end.
#[derive(Default)]
struct ConsoleState {
    bytes: Vec<u8>,
    closed: bool,
}

/// The console, shared with the thread reading it.
#[derive(Default)]
struct SharedConsole {
    state: Mutex<ConsoleState>,
    grew: Condvar,
}

impl SharedConsole {
    fn lock(&self) -> MutexGuard<'_, ConsoleState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running QEMU; dropping it kills QEMU.
pub struct QemuSession {
    child: Mutex<Child>,
    stdin: Mutex<Option<ChildStdin>>,
    console: Arc<SharedConsole>,
    stderr: Arc<Mutex<String>>,
    hypervisor_log: Arc<Mutex<Vec<String>>>,
    follower: Mutex<Option<LogFollower>>,
    readers: Mutex<Vec<thread::JoinHandle<()>>>,
    log_file: Option<PathBuf>,
    command_line: String,
    fatal_patterns: Vec<String>,
    deadline: Instant,
    _slot: SessionSlot,
}

impl QemuSession {
    /// Boots `system` headless.
    pub fn boot(system: &TestSystem, options: BootOptions) -> Self {
        let slot = SessionSlot::acquire();
        let log_file = system.log_port().then(|| unique_log_file(system));
        let run = QemuRun::piped(
            system.qemu(),
            options.kernel.clone().unwrap_or_else(|| system.image().to_path_buf()),
            log_file.clone(),
            options.extra_args.clone(),
        );
        let command_line = run.command_line();
        let table = match DefmtTable::from_elf(system.image()) {
            Ok(table) => table,
            Err(error) => panic!("cannot read the hypervisor's defmt table: {error}"),
        };
        let mut child = match run
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(error) => panic!("cannot start `{command_line}`: {error}"),
        };
        let console = Arc::new(SharedConsole::default());
        let stderr = Arc::new(Mutex::new(String::new()));
        let hypervisor_log = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(read_console(stdout, Arc::clone(&console)));
        }
        if let Some(pipe) = child.stderr.take() {
            readers.push(read_stderr(pipe, Arc::clone(&stderr)));
        }
        let follower = match (&log_file, table) {
            (Some(log), Some(table)) => {
                let sink = Arc::clone(&hypervisor_log);
                Some(defmt_log::follow(log.clone(), table, move |message| {
                    sink.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(message);
                }))
            }
            _ => None,
        };
        Self {
            stdin: Mutex::new(child.stdin.take()),
            child: Mutex::new(child),
            console,
            stderr,
            hypervisor_log,
            follower: Mutex::new(follower),
            readers: Mutex::new(readers),
            log_file,
            command_line,
            fatal_patterns: options.fatal_patterns,
            deadline: Instant::now() + options.session_timeout,
            _slot: slot,
        }
    }

    /// The console output so far.
    pub fn transcript(&self) -> Transcript {
        Transcript::from_bytes(&self.console.lock().bytes)
    }

    /// The hypervisor's decoded defmt messages so far.
    pub fn hypervisor_log(&self) -> Vec<String> {
        self.hypervisor_log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until a complete console line contains `pattern` (within [`DEFAULT_WAIT`]);
    /// returns the transcript holding that line. A line still being printed does not count,
    /// so the caller can always find the line in [`Transcript::complete_lines`].
    pub fn wait_for(&self, pattern: &str) -> Transcript {
        self.wait_for_within(pattern, DEFAULT_WAIT)
    }

    /// Waits until a complete console line contains `pattern`, at most `timeout`.
    pub fn wait_for_within(&self, pattern: &str, timeout: Duration) -> Transcript {
        self.wait_until(
            &format!("`{pattern}` on the console"),
            timeout,
            |transcript| transcript.line_index(pattern).map(|_| transcript.clone()),
        )
    }

    /// Waits until `condition` returns `Some` for the console output, at most `timeout`;
    /// `description` says what was awaited in the failure report.
    pub fn wait_until<T>(
        &self,
        description: &str,
        timeout: Duration,
        mut condition: impl FnMut(&Transcript) -> Option<T>,
    ) -> T {
        let deadline = (Instant::now() + timeout).min(self.deadline);
        let mut state = self.console.lock();
        loop {
            let transcript = Transcript::from_bytes(&state.bytes);
            if let Some(found) = condition(&transcript) {
                return found;
            }
            let fatal = transcript
                .complete_lines()
                .into_iter()
                .find(|line| {
                    self.fatal_patterns
                        .iter()
                        .any(|pattern| line.contains(pattern.as_str()))
                })
                .map(str::to_owned);
            if let Some(line) = fatal {
                drop(state);
                self.fail(&format!(
                    "while waiting for {description}, the system stopped: `{line}`"
                ));
            }
            if state.closed {
                drop(state);
                let status = self.exit_status_soon();
                self.fail(&format!(
                    "QEMU exited ({status}) before {description} appeared"
                ));
            }
            let now = Instant::now();
            if now >= deadline {
                drop(state);
                let limit = if deadline == self.deadline {
                    "the session timeout"
                } else {
                    "the wait timeout"
                };
                self.fail(&format!(
                    "waited {:.1} s for {description}: {limit} expired",
                    timeout.as_secs_f32()
                ));
            }
            state = self
                .console
                .grew
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits until `condition` returns `Some` for the hypervisor's decoded defmt log (every
    /// message so far, in order), at most `timeout`; `description` says what was awaited in
    /// the failure report. The log is decoded while QEMU runs, so this polls it; a fatal
    /// console line or QEMU's exit fails the wait as in [`Self::wait_until`].
    pub fn wait_for_log<T>(
        &self,
        description: &str,
        timeout: Duration,
        mut condition: impl FnMut(&[String]) -> Option<T>,
    ) -> T {
        if self.log_file.is_none() {
            self.fail(&format!(
                "waiting for {description} in the hypervisor's log, but this board has no log UART"
            ));
        }
        let deadline = (Instant::now() + timeout).min(self.deadline);
        loop {
            if let Some(found) = condition(&self.hypervisor_log()) {
                return found;
            }
            let transcript = self.transcript();
            let fatal = transcript.complete_lines().into_iter().find(|line| {
                self.fatal_patterns
                    .iter()
                    .any(|pattern| line.contains(pattern.as_str()))
            });
            if let Some(line) = fatal {
                self.fail(&format!(
                    "while waiting for {description} in the hypervisor's log, the system stopped: `{line}`"
                ));
            }
            if self.console.lock().closed {
                let status = self.exit_status_soon();
                self.fail(&format!(
                    "QEMU exited ({status}) before {description} appeared in the hypervisor's log"
                ));
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "waited {:.1} s for {description} in the hypervisor's log",
                    timeout.as_secs_f32()
                ));
            }
            thread::sleep(LOG_POLL_INTERVAL);
        }
    }

    /// Types `bytes` on the console.
    pub fn send_input(&self, bytes: &[u8]) {
        let mut stdin = self.stdin.lock().unwrap_or_else(PoisonError::into_inner);
        let written = match stdin.as_mut() {
            Some(pipe) => pipe.write_all(bytes).and_then(|()| pipe.flush()),
            None => Ok(()),
        };
        drop(stdin);
        if let Err(error) = written {
            self.fail(&format!("cannot type {bytes:?} on the console: {error}"));
        }
    }

    /// Gives console input focus to partition `number` (1-based, manifest order).
    pub fn focus_partition(&self, number: u8) {
        self.send_input(&[FOCUS_KEY, b'0' + number]);
    }

    /// Waits for QEMU to exit on its own, at most `timeout`.
    pub fn wait_for_exit(&self, timeout: Duration) -> ExitStatus {
        let deadline = (Instant::now() + timeout).min(self.deadline);
        loop {
            let status = self
                .child
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .try_wait();
            match status {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Ok(None) => self.fail(&format!(
                    "QEMU still running after {:.1} s",
                    timeout.as_secs_f32()
                )),
                Err(error) => self.fail(&format!("cannot query QEMU's status: {error}")),
            }
        }
    }

    /// Kills QEMU and fails the test with `reason` and everything captured.
    pub fn fail(&self, reason: &str) -> ! {
        self.stop();
        panic!("{reason}\n{}", self.report());
    }

    /// Everything captured, for failure messages.
    pub fn report(&self) -> String {
        let transcript = self.transcript();
        let lines = transcript.text().lines().collect::<Vec<_>>();
        let skipped = lines.len().saturating_sub(REPORTED_CONSOLE_LINES);
        let mut report = String::new();
        let _ = writeln!(report, "--- QEMU command ---\n{}", self.command_line);
        let _ = writeln!(
            report,
            "--- console ({} lines{}) ---",
            lines.len(),
            if skipped > 0 {
                format!(", first {skipped} not shown")
            } else {
                String::new()
            }
        );
        for line in &lines[skipped..] {
            let _ = writeln!(report, "{}", line.trim_end_matches('\r'));
        }
        let log = self.hypervisor_log();
        let _ = writeln!(
            report,
            "--- hypervisor defmt log ({} messages) ---",
            log.len()
        );
        for message in &log {
            let _ = writeln!(report, "[hv] {message}");
        }
        let stderr = self
            .stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let _ = writeln!(report, "--- QEMU stderr ---\n{}", stderr.trim_end());
        report
    }

    /// QEMU's status shortly after its console closed (it may take a moment to exit).
    fn exit_status_soon(&self) -> String {
        for _ in 0..50 {
            if let Ok(Some(status)) = self
                .child
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .try_wait()
            {
                return status.to_string();
            }
            thread::sleep(Duration::from_millis(20));
        }
        "still running".to_owned()
    }

    /// Kills QEMU and waits until everything it wrote has been collected.
    fn stop(&self) {
        {
            let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
            // Killing an exited child fails harmlessly; the wait reaps it either way.
            let _ = child.kill();
            let _ = child.wait();
        }
        for reader in self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            let _ = reader.join();
        }
        if let Some(follower) = self
            .follower
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            follower.stop();
        }
    }
}

impl Drop for QemuSession {
    fn drop(&mut self) {
        self.stop();
        // Keep the log of a failed test for inspection; a passing test's log is noise.
        if let (false, Some(log)) = (thread::panicking(), &self.log_file) {
            let _ = fs::remove_file(log);
        }
    }
}

/// A per-session log path under the system's output directory.
fn unique_log_file(system: &TestSystem) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let directory = system.output_dir().join("qemu-tests");
    if let Err(error) = fs::create_dir_all(&directory) {
        panic!("cannot create {}: {error}", directory.display());
    }
    let path = directory.join(format!(
        "hv-log-{}-{}.bin",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_file(&path);
    path
}

fn read_console(
    mut pipe: impl Read + Send + 'static,
    console: Arc<SharedConsole>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buffer = [0; 4096];
        loop {
            let count = pipe.read(&mut buffer).unwrap_or(0);
            let mut state = console.lock();
            if count == 0 {
                state.closed = true;
            } else {
                state.bytes.extend_from_slice(&buffer[..count]);
            }
            drop(state);
            console.grew.notify_all();
            if count == 0 {
                return;
            }
        }
    })
}

fn read_stderr(
    mut pipe: impl Read + Send + 'static,
    stderr: Arc<Mutex<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut text = Vec::new();
        let _ = pipe.read_to_end(&mut text);
        stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_str(&String::from_utf8_lossy(&text));
    })
}

/// How many QEMUs may run at once: half the host's CPUs (each QEMU emulates several cores),
/// at least one.
pub fn concurrent_sessions() -> usize {
    thread::available_parallelism().map_or(1, |cpus| (cpus.get() / 2).max(1))
}

/// A permit to run one QEMU; released on drop.
struct SessionSlot;

static RUNNING: Mutex<usize> = Mutex::new(0);
static SLOT_FREED: Condvar = Condvar::new();

impl SessionSlot {
    fn acquire() -> Self {
        let limit = concurrent_sessions();
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        while *running >= limit {
            running = SLOT_FREED
                .wait(running)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *running += 1;
        Self
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        *running = running.saturating_sub(1);
        SLOT_FREED.notify_one();
    }
}
