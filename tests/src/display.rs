//! What the display tests share: a QMP connection (QEMU's JSON monitor on a Unix socket), the
//! scan-out buffer read back from the hypervisor's memory with `pmemsave` at the address the
//! hypervisor announces at boot, and a scratch directory for the socket and the dumps.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::session::{BootOptions, QemuSession};
use crate::system::TestSystem;
use crate::transcript::hex_after;

/// Where [`boot_with_qmp_tracing`] has QEMU write its trace, in the scratch directory.
pub const TRACE_FILE: &str = "qemu-trace.log";

/// A QMP connection (QEMU's JSON monitor) on a Unix socket.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects (retrying for up to 30 s while QEMU starts) and leaves negotiation mode.
    pub fn connect(socket: &Path) -> Self {
        let started = Instant::now();
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(stream) => break stream,
                Err(error) if started.elapsed() > Duration::from_secs(30) => {
                    panic!("cannot connect to QMP at {}: {error}", socket.display())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut qmp = Self { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream };
        qmp.reply();
        qmp.execute(r#"{"execute":"qmp_capabilities"}"#);
        qmp
    }

    /// The next line that is not an asynchronous event.
    fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("QMP answers");
            assert!(!line.is_empty(), "QMP closed the connection");
            if !line.contains("\"event\"") {
                return line;
            }
        }
    }

    /// Runs `command` (one JSON object) and returns QEMU's reply; a refusal panics.
    pub fn execute(&mut self, command: &str) -> String {
        writeln!(self.writer, "{command}").unwrap();
        let reply = self.reply();
        assert!(reply.contains("\"return\""), "QMP refused {command}: {reply}");
        reply
    }
}

/// The scan-out buffer of a `width`×`height` screen, read from the hypervisor's memory at the
/// address it announced (`[hv] display: ... scan-out at 0x...`), as XRGB8888 words.
pub fn scan_out(session: &QemuSession, qmp: &mut Qmp, directory: &Path, width: u32, height: u32) -> Vec<u32> {
    let transcript = session.wait_for("[hv] display: ");
    let address = transcript
        .complete_lines()
        .iter()
        .find_map(|line| hex_after(line, "scan-out at "))
        .unwrap_or_else(|| session.fail("no scan-out address announced"));
    let file = directory.join("scan-out.bin");
    let _ = std::fs::remove_file(&file);
    qmp.execute(&format!(
        r#"{{"execute":"pmemsave","arguments":{{"val":{address},"size":{},"filename":"{}"}}}}"#,
        width * height * 4,
        file.display()
    ));
    let bytes = std::fs::read(&file).unwrap_or_else(|error| session.fail(&format!("pmemsave wrote nothing: {error}")));
    bytes.chunks_exact(4).map(|word| u32::from_le_bytes(word.try_into().unwrap())).collect()
}

/// Boots `system` with a QMP socket in a fresh scratch directory (`options.extra_args` gets
/// the `-qmp` argument appended).
pub fn boot_with_qmp(system: &TestSystem, name: &str, options: BootOptions) -> (QemuSession, Qmp, Directory) {
    boot_with_qmp_tracing(system, name, options, &[])
}

/// [`boot_with_qmp`], with QEMU's trace events `events` written to [`TRACE_FILE`] in the
/// directory.
pub fn boot_with_qmp_tracing(
    system: &TestSystem,
    name: &str,
    mut options: BootOptions,
    events: &[&str],
) -> (QemuSession, Qmp, Directory) {
    let directory = Directory::new(name);
    let socket = directory.path().join("qmp.sock");
    options.extra_args.extend(["-qmp".to_owned(), format!("unix:{},server=on,wait=off", socket.display())]);
    for event in events {
        options.extra_args.extend(["-trace".to_owned(), (*event).to_owned()]);
    }
    if !events.is_empty() {
        options.extra_args.extend(["-D".to_owned(), directory.path().join(TRACE_FILE).display().to_string()]);
    }
    let session = system.boot_with(options);
    let qmp = Qmp::connect(&socket);
    (session, qmp, directory)
}

/// A scratch directory for the QMP socket and the memory dumps, removed when dropped (a short
/// path under the system's temporary directory: Unix socket paths are limited to about 100
/// bytes).
pub struct Directory(PathBuf);

impl Directory {
    /// Creates `bulkhead-<name>-<pid>`.
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("bulkhead-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Directory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
