//! QEMU command lines for a board: one place shared by `cargo xtask run`, the board device
//! tree dump and the integration-test harness, so all three emulate the same machine.
//!
//! The board's `[qemu]` table fixes the machine; the caller chooses how the first UART (the
//! console every partition and the hypervisor print to) is connected. The second UART, when
//! the board has one, carries the hypervisor's binary defmt log and always goes to a file:
//! the log is binary and must never be mixed into the console.
//!
//! Every command line asks for exactly the devices Bulkhead uses. QEMU adds default devices
//! otherwise, and some load firmware files at start-up: `virt`'s default virtio NIC needs
//! `efi-virtio.rom` from `ipxe-qemu`, a package `apt-get install --no-install-recommends
//! qemu-system-arm` leaves out, so a fresh machine failed every boot. [`NO_DEFAULT_DEVICES`]
//! is part of every machine's arguments, and a test checks each board in each mode.

use std::path::PathBuf;
use std::process::Command;

use bulkhead_config::QemuSettings;

use crate::host_tools::QEMU;

/// The QEMU devices a board's facts beyond `[qemu]` ask for: the virtio-rng the hypervisor
/// draws the partitions' boot seeds from (`[entropy] source = "virtio-rng"`), modern (version
/// 2), on the bus of the transport `board.toml` names.
pub fn board_devices(board: &bulkhead_config::Board) -> Vec<String> {
    match board.entropy.as_ref().and_then(|entropy| entropy.qemu_bus) {
        Some(bus) => modern_virtio_device(format!("virtio-rng-device,bus=virtio-mmio-bus.{bus}")),
        None => Vec::new(),
    }
}

/// `-device <device>` on a virtio-mmio transport, made modern (version 2, what the
/// hypervisor's virtio drivers speak; QEMU `virt` defaults to legacy transports).
pub fn modern_virtio_device(device: String) -> Vec<String> {
    vec![
        "-global".to_owned(),
        "virtio-mmio.force-legacy=false".to_owned(),
        "-device".to_owned(),
        device,
    ]
}

/// Arguments that switch off QEMU's default devices Bulkhead never uses (and whose option
/// ROMs a minimal QEMU installation does not ship).
pub const NO_DEFAULT_DEVICES: [&str; 2] = ["-nic", "none"];

/// The board part of the command line, copied out of the board's `[qemu]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuBoard {
    /// `-M` value.
    pub machine: String,
    /// `-cpu` value.
    pub cpu: String,
    /// `-smp` value.
    pub smp: usize,
    /// `-m` value.
    pub memory: String,
    /// Further arguments as written in `board.toml`.
    pub extra_args: Vec<String>,
    /// UARTs to create: console first, then the log.
    pub serial_ports: usize,
}

impl From<&QemuSettings> for QemuBoard {
    fn from(settings: &QemuSettings) -> Self {
        Self {
            machine: settings.machine.clone(),
            cpu: settings.cpu.clone(),
            smp: settings.smp,
            memory: settings.memory.clone(),
            extra_args: settings.extra_args.clone(),
            serial_ports: settings.serial_ports,
        }
    }
}

impl QemuBoard {
    /// The board's machine as every command line starts it: its `[qemu]` table, plus the
    /// devices the board's other facts need ([`board_devices`]).
    pub fn for_board(board: &bulkhead_config::Board) -> Self {
        let mut machine = Self::from(&board.qemu);
        machine.extra_args.extend(board_devices(board));
        machine
    }

    /// Whether the second `-serial` carries the `defmt` log of a system that has
    /// (`system_has_log`) a log UART: both the port and the UART must exist.
    pub fn log_port(&self, system_has_log: bool) -> bool {
        self.serial_ports > 1 && system_has_log
    }

    /// `-M <machine> -cpu <cpu> -smp <n> -m <size> -nic none <extra…>`, with `machine_suffix`
    /// (such as `,dumpdtb=x.dtb`) appended to the machine value.
    pub fn machine_arguments(&self, machine_suffix: &str) -> Vec<String> {
        let mut arguments = vec![
            "-M".to_owned(),
            format!("{}{machine_suffix}", self.machine),
            "-cpu".to_owned(),
            self.cpu.clone(),
            "-smp".to_owned(),
            self.smp.to_string(),
            "-m".to_owned(),
            self.memory.clone(),
        ];
        arguments.extend(NO_DEFAULT_DEVICES.map(str::to_owned));
        arguments.extend(self.extra_args.iter().cloned());
        arguments
    }
}

/// `-drive`/`-device` pairs attaching each raw disk image of the manifest's `[qemu]
/// virtio_blk` as a read-only `virtio-blk-device` (QEMU `virt` puts the first on its highest
/// virtio-mmio transport). Read-only, so that parallel runs (tests, benchmark) may share one
/// image: QEMU takes a shared lock on it instead of an exclusive one.
pub fn virtio_blk_arguments(disks: &[PathBuf]) -> Vec<String> {
    disks
        .iter()
        .enumerate()
        .flat_map(|(index, disk)| {
            [
                "-drive".to_owned(),
                // QEMU's option syntax doubles a comma inside a value.
                format!(
                    "if=none,format=raw,readonly=on,file={},id=vd{index}",
                    disk.display().to_string().replace(',', ",,")
                ),
                "-device".to_owned(),
                format!("virtio-blk-device,drive=vd{index}"),
            ]
        })
        .collect()
}

/// Where the console UART goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Console {
    /// The user's terminal, multiplexed with the QEMU monitor (`mon:stdio`): raw keys reach
    /// the guest, Ctrl-A x quits, Ctrl-A c opens the monitor.
    Terminal,
    /// QEMU's stdin/stdout, for a program driving the console through pipes (no monitor, and
    /// a guest reset ends QEMU instead of rebooting silently).
    Pipes,
}

/// One QEMU run of a built image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuRun {
    /// The emulated board.
    pub board: QemuBoard,
    /// The hypervisor ELF (`-kernel`).
    pub kernel: PathBuf,
    /// Console connection.
    pub console: Console,
    /// File receiving the second UART, when the board has one.
    pub log_file: Option<PathBuf>,
    /// Further arguments for this run only (e.g. `-icount shift=0,sleep=off`).
    pub extra_args: Vec<String>,
}

impl QemuRun {
    /// `cargo xtask run`: the console on the user's terminal, the log UART to `log_file`.
    pub fn interactive(board: &QemuBoard, kernel: PathBuf, log_file: Option<PathBuf>) -> Self {
        Self {
            board: board.clone(),
            kernel,
            console: Console::Terminal,
            log_file,
            extra_args: Vec::new(),
        }
    }

    /// A run driven by a program (the integration tests, the benchmark): console on pipes.
    pub fn piped(
        board: &QemuBoard,
        kernel: PathBuf,
        log_file: Option<PathBuf>,
        extra_args: Vec<String>,
    ) -> Self {
        Self {
            board: board.clone(),
            kernel,
            console: Console::Pipes,
            log_file,
            extra_args,
        }
    }

    /// The full argument list (without the program name).
    pub fn arguments(&self) -> Vec<String> {
        let mut arguments = self.board.machine_arguments("");
        arguments.extend(["-kernel".to_owned(), self.kernel.display().to_string()]);
        match self.console {
            Console::Terminal => {
                arguments.extend(["-nographic", "-serial", "mon:stdio"].map(str::to_owned))
            }
            Console::Pipes => {
                arguments.extend(
                    [
                        "-display",
                        "none",
                        "-monitor",
                        "none",
                        "-no-reboot",
                        "-serial",
                        "stdio",
                    ]
                    .map(str::to_owned),
                );
            }
        }
        arguments.extend(["-audio".to_owned(), "none".to_owned()]);
        for port in 1..self.board.serial_ports {
            let backend = match (&self.log_file, port) {
                (Some(file), 1) => format!("file:{}", file.display()),
                _ => "null".to_owned(),
            };
            arguments.extend(["-serial".to_owned(), backend]);
        }
        arguments.extend(self.extra_args.iter().cloned());
        arguments
    }

    /// The command, ready to be given stdio handles and spawned.
    pub fn command(&self) -> Command {
        let mut command = Command::new(QEMU);
        command.args(self.arguments());
        command
    }

    /// The command line as text, for reports.
    pub fn command_line(&self) -> String {
        std::iter::once(QEMU.to_owned())
            .chain(self.arguments())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn virt() -> QemuBoard {
        QemuBoard {
            machine: "virt,virtualization=on,gic-version=3".to_owned(),
            cpu: "cortex-a72".to_owned(),
            smp: 4,
            memory: "1G".to_owned(),
            extra_args: vec![],
            serial_ports: 2,
        }
    }

    fn run(console: Console) -> QemuRun {
        QemuRun {
            board: virt(),
            kernel: PathBuf::from("/out/bulkhead-hypervisor"),
            console,
            log_file: Some(PathBuf::from("/out/hv-log.bin")),
            extra_args: vec![],
        }
    }

    #[test]
    fn terminal_run_multiplexes_monitor_and_logs_second_uart_to_file() {
        assert_eq!(
            run(Console::Terminal).command_line(),
            "qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu cortex-a72 -smp 4 -m 1G -nic none \
             -kernel /out/bulkhead-hypervisor -nographic -serial mon:stdio -audio none -serial file:/out/hv-log.bin"
        );
    }

    #[test]
    fn piped_run_has_no_monitor_on_the_console() {
        let arguments = run(Console::Pipes).arguments();
        let serials: Vec<_> = arguments
            .windows(2)
            .filter(|pair| pair[0] == "-serial")
            .map(|pair| pair[1].as_str())
            .collect();
        assert_eq!(serials, ["stdio", "file:/out/hv-log.bin"]);
        assert!(
            arguments
                .windows(2)
                .any(|pair| pair == ["-monitor", "none"])
        );
        assert!(arguments.contains(&"-no-reboot".to_owned()));
    }

    #[test]
    fn ports_without_a_destination_are_null_and_run_arguments_come_last() {
        let mut board = virt();
        board.serial_ports = 3;
        let run = QemuRun {
            board,
            kernel: PathBuf::from("k"),
            console: Console::Pipes,
            log_file: None,
            extra_args: vec!["-icount".to_owned(), "shift=0,sleep=off".to_owned()],
        };
        let arguments = run.arguments();
        let serials: Vec<_> = arguments
            .windows(2)
            .filter(|pair| pair[0] == "-serial")
            .map(|pair| pair[1].as_str())
            .collect();
        assert_eq!(serials, ["stdio", "null", "null"]);
        assert_eq!(
            arguments[arguments.len() - 2..],
            ["-icount", "shift=0,sleep=off"]
        );
    }

    #[test]
    fn single_uart_board_gets_no_log_port() {
        let mut board = virt();
        board.serial_ports = 1;
        let run = QemuRun {
            board,
            ..run(Console::Terminal)
        };
        assert_eq!(
            run.arguments()
                .iter()
                .filter(|argument| *argument == "-serial")
                .count(),
            1
        );
    }

    #[test]
    fn board_extra_arguments_follow_the_machine() {
        let mut board = virt();
        board.extra_args = vec!["-semihosting".to_owned()];
        assert_eq!(
            board.machine_arguments(",dumpdtb=x.dtb")[..2],
            ["-M", "virt,virtualization=on,gic-version=3,dumpdtb=x.dtb"]
        );
        assert_eq!(
            board.machine_arguments("").last().map(String::as_str),
            Some("-semihosting")
        );
    }

    #[test]
    fn virtio_blk_disks_become_read_only_drive_and_device_pairs() {
        let arguments = virtio_blk_arguments(&[PathBuf::from("/t/disk.img"), PathBuf::from("/t/a,b.img")]);
        assert_eq!(
            arguments,
            [
                "-drive",
                "if=none,format=raw,readonly=on,file=/t/disk.img,id=vd0",
                "-device",
                "virtio-blk-device,drive=vd0",
                "-drive",
                "if=none,format=raw,readonly=on,file=/t/a,,b.img,id=vd1",
                "-device",
                "virtio-blk-device,drive=vd1",
            ]
        );
    }
}
