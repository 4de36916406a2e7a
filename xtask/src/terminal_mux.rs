//! One terminal, two sources: the console UART (QEMU's stdout) and the hypervisor's decoded
//! defmt log. Each log message is one whole line, and it is written only where the console
//! is at the start of a line, so a flood of hypervisor warnings can never break a partition's
//! line in the middle of a word (and a partition's output never splits a log line).
//!
//! [`LineMux`] is the decision logic, free of I/O so it is tested on the host; [`Terminal`]
//! wires it to a writer from two threads. A console that stays mid-line (a prompt waiting for
//! input) holds the log back for at most [`PROMPT_PATIENCE`]; then the log line is written on
//! a line of its own and the console continues below it. Log lines waiting for the console
//! are bounded ([`MAX_WAITING_LOG_LINES`]); beyond that they are counted and the count is
//! written in their place.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a console line may stay open before waiting log lines are written anyway.
pub const PROMPT_PATIENCE: Duration = Duration::from_millis(300);

/// Log lines kept while the console is mid-line; further ones are counted, not kept.
pub const MAX_WAITING_LOG_LINES: usize = 256;

/// Interleaves console bytes and log lines at console line boundaries.
#[derive(Debug)]
pub struct LineMux {
    console_mid_line: bool,
    mid_line_since: Option<Instant>,
    waiting: Vec<String>,
    dropped: u64,
}

impl Default for LineMux {
    fn default() -> Self {
        Self::new()
    }
}

impl LineMux {
    /// A terminal at the start of a line with nothing waiting.
    pub fn new() -> Self {
        Self {
            console_mid_line: false,
            mid_line_since: None,
            waiting: Vec::new(),
            dropped: 0,
        }
    }

    /// Console output arrived at `now`: returns the bytes to write, with waiting log lines
    /// inserted after each console line that ends in `bytes`.
    pub fn console(&mut self, bytes: &[u8], now: Instant) -> Vec<u8> {
        let mut output = Vec::with_capacity(bytes.len());
        for &byte in bytes {
            if !self.console_mid_line {
                self.mid_line_since = Some(now);
            }
            output.push(byte);
            self.console_mid_line = byte != b'\n';
            if !self.console_mid_line {
                self.mid_line_since = None;
                self.drain_into(&mut output);
            }
        }
        output
    }

    /// A decoded log message: returns what to write now (nothing while the console is mid-line).
    pub fn log(&mut self, message: &str, now: Instant) -> Vec<u8> {
        if self.waiting.len() < MAX_WAITING_LOG_LINES {
            self.waiting.push(format!("[hv] {}\n", message.trim_end_matches('\n')));
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
        self.tick(now)
    }

    /// Time passed: writes waiting log lines when the console is at a line start, or when it
    /// has been mid-line for longer than [`PROMPT_PATIENCE`].
    pub fn tick(&mut self, now: Instant) -> Vec<u8> {
        let mut output = Vec::new();
        if self.waiting.is_empty() && self.dropped == 0 {
            return output;
        }
        if self.console_mid_line {
            let patient = self
                .mid_line_since
                .is_some_and(|since| now.duration_since(since) < PROMPT_PATIENCE);
            if patient {
                return output;
            }
            output.push(b'\n');
            self.console_mid_line = false;
            self.mid_line_since = None;
        }
        self.drain_into(&mut output);
        output
    }

    fn drain_into(&mut self, output: &mut Vec<u8>) {
        for line in self.waiting.drain(..) {
            output.extend_from_slice(line.as_bytes());
        }
        if self.dropped > 0 {
            output.extend_from_slice(
                format!("[hv] ... {} log lines dropped while the console was busy\n", self.dropped).as_bytes(),
            );
            self.dropped = 0;
        }
    }
}

/// A [`LineMux`] in front of a writer, shared by the console and log threads.
#[derive(Clone)]
pub struct Terminal {
    shared: Arc<Mutex<(LineMux, Box<dyn Write + Send>)>>,
}

impl Terminal {
    /// Writes to `output` (the user's stdout).
    pub fn new(output: Box<dyn Write + Send>) -> Self {
        Self {
            shared: Arc::new(Mutex::new((LineMux::new(), output))),
        }
    }

    fn write_with(&self, decide: impl FnOnce(&mut LineMux) -> Vec<u8>) {
        let mut guard = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        let (mux, output) = &mut *guard;
        let bytes = decide(mux);
        if !bytes.is_empty() {
            // A closed terminal ends QEMU too; nothing useful can be done with the error.
            let _ = output.write_all(&bytes).and_then(|()| output.flush());
        }
    }

    /// Console bytes from QEMU.
    pub fn console(&self, bytes: &[u8]) {
        self.write_with(|mux| mux.console(bytes, Instant::now()));
    }

    /// One decoded log message.
    pub fn log(&self, message: &str) {
        self.write_with(|mux| mux.log(message, Instant::now()));
    }

    /// Copies `source` (QEMU's stdout) to the terminal until it closes, on a thread that
    /// also releases held log lines when the console stays mid-line.
    pub fn pump_console(&self, mut source: impl io::Read + Send + 'static) -> thread::JoinHandle<()> {
        let ticker = self.clone();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let finished = Arc::clone(&done);
        thread::spawn(move || {
            while !finished.load(std::sync::atomic::Ordering::Acquire) {
                thread::sleep(PROMPT_PATIENCE / 3);
                ticker.write_with(|mux| mux.tick(Instant::now()));
            }
        });
        let console = self.clone();
        thread::spawn(move || {
            let mut buffer = [0_u8; 4096];
            loop {
                match source.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(count) => console.console(&buffer[..count]),
                }
            }
            console.write_with(|mux| mux.tick(Instant::now() + PROMPT_PATIENCE));
            done.store(true, std::sync::atomic::Ordering::Release);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).expect("test text is UTF-8")
    }

    #[test]
    fn a_log_line_waits_for_the_console_line_to_end() {
        let start = Instant::now();
        let mut mux = LineMux::new();
        let mut shown = text(mux.console(b"[alpha] heart", start));
        shown += &text(mux.log("beta: stage-2 fault at IPA 0x0", start));
        shown += &text(mux.console(b"beat 4\n[beta] hello\n", start));
        assert_eq!(
            shown,
            "[alpha] heartbeat 4\n[hv] beta: stage-2 fault at IPA 0x0\n[beta] hello\n"
        );
    }

    #[test]
    fn at_a_line_start_the_log_line_is_written_at_once() {
        let mut mux = LineMux::new();
        let now = Instant::now();
        assert_eq!(text(mux.console(b"[alpha] heartbeat 1\n", now)), "[alpha] heartbeat 1\n");
        assert_eq!(text(mux.log("focus: beta", now)), "[hv] focus: beta\n");
    }

    #[test]
    fn a_prompt_that_stays_open_holds_the_log_only_for_a_while() {
        let start = Instant::now();
        let mut mux = LineMux::new();
        mux.console(b"login: ", start);
        assert_eq!(text(mux.log("partition restarted", start)), "");
        assert_eq!(text(mux.tick(start + PROMPT_PATIENCE / 2)), "");
        assert_eq!(
            text(mux.tick(start + PROMPT_PATIENCE)),
            "\n[hv] partition restarted\n"
        );
        assert_eq!(text(mux.console(b"root\n", start + PROMPT_PATIENCE)), "root\n");
    }

    #[test]
    fn a_log_flood_is_bounded_and_counted() {
        let start = Instant::now();
        let mut mux = LineMux::new();
        mux.console(b"[alpha] heart", start);
        for index in 0..MAX_WAITING_LOG_LINES + 10 {
            assert!(mux.log(&format!("warning {index}"), start).is_empty());
        }
        let shown = text(mux.console(b"beat 9\n", start));
        assert!(shown.starts_with("beat 9\n[hv] warning 0\n"), "{shown}");
        assert!(shown.ends_with("[hv] ... 10 log lines dropped while the console was busy\n"), "{shown}");
        assert_eq!(shown.lines().count(), 1 + MAX_WAITING_LOG_LINES + 1);
    }

    #[test]
    fn no_console_line_is_ever_split_by_a_log_line() {
        let start = Instant::now();
        let mut mux = LineMux::new();
        let mut shown = String::new();
        for (index, chunk) in ["[al", "pha] heart", "beat 1\n[be", "ta] x\n"].iter().enumerate() {
            shown += &text(mux.console(chunk.as_bytes(), start));
            shown += &text(mux.log(&format!("log {index}"), start));
        }
        for line in shown.lines() {
            assert!(
                ["[alpha] heartbeat 1", "[beta] x"].contains(&line) || line.starts_with("[hv] log "),
                "torn line {line:?} in\n{shown}"
            );
        }
    }
}
