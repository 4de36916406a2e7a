//! Live decoding of the hypervisor's binary `defmt` log.
//!
//! The hypervisor writes `defmt` frames (format-string indices plus raw arguments) to a second
//! UART, which QEMU stores in a file (`-serial file:…`). The strings themselves stay in the
//! image's `.defmt` section, so the log is small and costs the hypervisor no formatting; the
//! host decodes it with that section's table. [`follow`] tails the file while QEMU runs and
//! hands every decoded message to a callback (`cargo xtask run` prints `[hv] <message>`, the
//! test harness keeps them for its reports).

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use defmt_decoder::{DecodeError, StreamDecoder, Table};

/// How often the follower looks for new bytes when the file has not grown.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Reads what has been appended to a file since the last read.
#[derive(Debug)]
pub struct FileTail {
    path: PathBuf,
    file: Option<File>,
    offset: u64,
}

impl FileTail {
    /// Tails `path`, which need not exist yet (QEMU creates it when it starts).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            file: None,
            offset: 0,
        }
    }

    /// The bytes appended since the previous call; empty when there are none (or the file
    /// does not exist yet). A file that shrank was recreated: it is read from its start.
    pub fn read_new(&mut self) -> io::Result<Vec<u8>> {
        if self.file.is_none() {
            match File::open(&self.path) {
                Ok(file) => self.file = Some(file),
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(error) => return Err(error),
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(Vec::new());
        };
        let length = file.metadata()?.len();
        if length < self.offset {
            self.offset = 0;
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        self.offset += bytes.len() as u64;
        Ok(bytes)
    }
}

/// The format strings of one image's `.defmt` section.
#[derive(Debug)]
pub struct DefmtTable {
    table: Table,
}

impl DefmtTable {
    /// Reads the table of the ELF at `path`; `None` when the image does not use defmt.
    pub fn from_elf(path: &Path) -> Result<Option<Self>, DefmtLogError> {
        let bytes = std::fs::read(path).map_err(|source| DefmtLogError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_elf_bytes(&bytes).map_err(|reason| DefmtLogError::Table {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Reads the table of an ELF held in memory.
    pub fn from_elf_bytes(elf: &[u8]) -> Result<Option<Self>, String> {
        Table::parse(elf)
            .map(|table| table.map(|table| Self { table }))
            .map_err(|error| format!("{error:#}"))
    }

    /// A decoder for one log stream.
    pub fn decoder(&self) -> LogDecoder<'_> {
        LogDecoder {
            stream: self.table.new_stream_decoder(),
            recoverable: self.table.encoding().can_recover(),
            desynchronised: false,
        }
    }
}

/// Turns the bytes of one log stream into messages.
pub struct LogDecoder<'table> {
    stream: Box<dyn StreamDecoder + Send + Sync + 'table>,
    /// rzCOBS frames are delimited, so decoding resumes after a bad frame; raw frames are not.
    recoverable: bool,
    desynchronised: bool,
}

impl LogDecoder<'_> {
    /// Feeds `bytes` and returns every message completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut messages = Vec::new();
        if self.desynchronised {
            return messages;
        }
        self.stream.received(bytes);
        loop {
            match self.stream.decode() {
                Ok(frame) => messages.push(frame.display_message().to_string()),
                Err(DecodeError::UnexpectedEof) => break,
                Err(DecodeError::Malformed) if self.recoverable => {
                    messages.push("<malformed defmt frame skipped>".to_owned())
                }
                Err(DecodeError::Malformed) => {
                    messages.push(
                        "<malformed defmt frame: the rest of the log cannot be decoded>".to_owned(),
                    );
                    self.desynchronised = true;
                    break;
                }
            }
        }
        messages
    }
}

/// A thread decoding a growing log file; [`LogFollower::stop`] drains and joins it.
pub struct LogFollower {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl LogFollower {
    /// Reads what is left in the file, delivers it, and ends the thread.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            // A panic in the callback has already been reported by the panic hook.
            let _ = thread.join();
        }
    }
}

impl Drop for LogFollower {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Tails `log` and calls `deliver` with each message decoded with `table`, until stopped.
/// I/O errors end the thread after delivering a message saying why.
pub fn follow(
    log: PathBuf,
    table: DefmtTable,
    mut deliver: impl FnMut(String) + Send + 'static,
) -> LogFollower {
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    let thread = thread::spawn(move || {
        let mut tail = FileTail::new(&log);
        let mut decoder = table.decoder();
        loop {
            let last_round = stopping.load(Ordering::Acquire);
            match tail.read_new() {
                Ok(bytes) if bytes.is_empty() => {}
                Ok(bytes) => decoder.push(&bytes).into_iter().for_each(&mut deliver),
                Err(error) => {
                    deliver(format!("<cannot read {}: {error}>", log.display()));
                    return;
                }
            }
            if last_round {
                return;
            }
            thread::sleep(POLL_INTERVAL);
        }
    });
    LogFollower {
        stop,
        thread: Some(thread),
    }
}

/// Why a log cannot be decoded.
#[derive(Debug)]
pub enum DefmtLogError {
    /// The ELF could not be read.
    Read {
        /// The ELF.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The ELF's `.defmt` table is unusable (e.g. a defmt wire version this decoder lacks).
    Table {
        /// The ELF.
        path: PathBuf,
        /// The decoder's explanation.
        reason: String,
    },
}

impl fmt::Display for DefmtLogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::Table { path, reason } => {
                write!(f, "{}: unusable defmt table: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for DefmtLogError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Mutex;
    use std::time::Instant;

    use object::write::{Object, Symbol, SymbolSection};
    use object::{
        Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
    };

    /// Index of the `heartbeat {=u32}` string in [`tiny_elf`].
    const HEARTBEAT: u16 = 1;
    /// Index of the `core {=u8} online` string in [`tiny_elf`].
    const CORE_ONLINE: u16 = 2;

    /// An ELF with a two-entry `.defmt` table in the raw encoding, built the way the defmt
    /// linker script lays it out: each string is a JSON-named symbol whose address is its index.
    fn tiny_elf() -> Vec<u8> {
        let mut object = Object::new(BinaryFormat::Elf, Architecture::Aarch64, Endianness::Little);
        let section = object.add_section(Vec::new(), b".defmt".to_vec(), SectionKind::ReadOnlyData);
        object.append_section_data(section, &[0; 4], 1);
        let mut symbol = |name: String, value: u64, section: SymbolSection| {
            object.add_symbol(Symbol {
                name: name.into_bytes(),
                value,
                size: 1,
                kind: SymbolKind::Data,
                scope: SymbolScope::Compilation,
                weak: false,
                section,
                flags: SymbolFlags::None,
            });
        };
        let entry = |format: &str, disambiguator: u16| {
            format!(
                r#"{{"package":"bulkhead-hypervisor","tag":"defmt_info","data":"{format}","disambiguator":"{disambiguator}","crate_name":"bulkhead_hypervisor"}}"#
            )
        };
        symbol(
            entry("heartbeat {=u32}", HEARTBEAT),
            u64::from(HEARTBEAT),
            SymbolSection::Section(section),
        );
        symbol(
            entry("core {=u8} online", CORE_ONLINE),
            u64::from(CORE_ONLINE),
            SymbolSection::Section(section),
        );
        symbol("_defmt_version_ = 4".to_owned(), 0, SymbolSection::Absolute);
        symbol(
            "_defmt_encoding_ = raw".to_owned(),
            0,
            SymbolSection::Absolute,
        );
        object.write().expect("in-memory ELF")
    }

    fn heartbeat_frame(count: u32) -> Vec<u8> {
        let mut frame = HEARTBEAT.to_le_bytes().to_vec();
        frame.extend_from_slice(&count.to_le_bytes());
        frame
    }

    fn core_online_frame(core: u8) -> Vec<u8> {
        let mut frame = CORE_ONLINE.to_le_bytes().to_vec();
        frame.push(core);
        frame
    }

    /// A file name unique to this test process in the temporary directory.
    fn scratch_file(name: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("bulkhead-xtask-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn image_without_defmt_section_has_no_table() {
        let object = Object::new(BinaryFormat::Elf, Architecture::Aarch64, Endianness::Little);
        let elf = object.write().expect("in-memory ELF");
        assert!(
            DefmtTable::from_elf_bytes(&elf)
                .expect("valid ELF")
                .is_none()
        );
    }

    #[test]
    fn frames_split_across_reads_decode_once_complete() {
        let table = DefmtTable::from_elf_bytes(&tiny_elf())
            .expect("valid table")
            .expect("has .defmt");
        let mut decoder = table.decoder();
        let mut stream = heartbeat_frame(7);
        stream.extend(core_online_frame(3));
        assert_eq!(decoder.push(&stream[..3]), Vec::<String>::new());
        assert_eq!(decoder.push(&stream[3..8]), ["heartbeat 7"]);
        assert_eq!(decoder.push(&stream[8..]), ["core 3 online"]);
    }

    #[test]
    fn unknown_index_in_raw_stream_stops_decoding() {
        let table = DefmtTable::from_elf_bytes(&tiny_elf())
            .expect("valid table")
            .expect("has .defmt");
        let mut decoder = table.decoder();
        let messages = decoder.push(&[0x99, 0x00, 1, 2, 3]);
        assert_eq!(messages.len(), 1);
        assert!(messages[0].contains("malformed"), "{messages:?}");
        assert!(decoder.push(&heartbeat_frame(1)).is_empty());
    }

    #[test]
    fn tail_returns_only_appended_bytes_and_waits_for_the_file() {
        let path = scratch_file("tail.bin");
        let mut tail = FileTail::new(&path);
        assert_eq!(
            tail.read_new().expect("missing file is not an error"),
            Vec::<u8>::new()
        );
        let mut file = File::create(&path).expect("create");
        file.write_all(b"abc").expect("write");
        assert_eq!(tail.read_new().expect("read"), b"abc");
        assert_eq!(tail.read_new().expect("read"), b"");
        file.write_all(b"de").expect("write");
        assert_eq!(tail.read_new().expect("read"), b"de");
        std::fs::remove_file(&path).expect("scratch file removed");
    }

    #[test]
    fn tail_restarts_when_the_file_is_recreated() {
        let path = scratch_file("recreated.bin");
        std::fs::write(&path, b"first run").expect("write");
        let mut tail = FileTail::new(&path);
        assert_eq!(tail.read_new().expect("read"), b"first run");
        std::fs::write(&path, b"new").expect("truncate and write");
        assert_eq!(tail.read_new().expect("read"), b"new");
        std::fs::remove_file(&path).expect("scratch file removed");
    }

    #[test]
    fn follower_delivers_messages_written_while_it_runs() {
        let path = scratch_file("follow.bin");
        let table = DefmtTable::from_elf_bytes(&tiny_elf())
            .expect("valid table")
            .expect("has .defmt");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let follower = follow(path.clone(), table, move |message| {
            sink.lock().expect("sink").push(message)
        });
        let mut file = File::create(&path).expect("create");
        file.write_all(&heartbeat_frame(1)[..4]).expect("write");
        file.write_all(&heartbeat_frame(1)[4..]).expect("write");
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.lock().expect("sink").is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        file.write_all(&heartbeat_frame(2)).expect("write");
        follower.stop();
        assert_eq!(*seen.lock().expect("sink"), ["heartbeat 1", "heartbeat 2"]);
        std::fs::remove_file(&path).expect("scratch file removed");
    }
}
