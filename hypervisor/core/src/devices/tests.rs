//! The device map and the dispatch through [`MmioDevice`], driven as the trap handler does.
//!
//! [utest->dsn~vgic-frames~1] [utest->dsn~vpl011~1]

use super::*;

type Devices = EmulatedDevices<2>;

const UART_DR: u64 = 0x000;
const UART_CR: u64 = 0x030;
const UART_IMSC: u64 = 0x038;
const GICD_CTLR: u64 = 0x0000;
const GICD_TYPER: u64 = 0x0004;
const GICD_ISENABLER1: u64 = 0x0104;

fn uart(offset: u64) -> u64 {
    layout::VUART_BASE.raw() + offset
}

fn distributor(offset: u64) -> u64 {
    layout::VGICD_BASE.raw() + offset
}

#[test]
fn map_follows_the_guest_layout_and_the_vcpu_count() {
    let map = DeviceMap::with_vcpus(2);
    assert_eq!(map.find(distributor(0x10)).map(|(window, offset)| (window.device, offset)), Some((DeviceKind::Distributor, 0x10)));
    let second_redistributor = layout::VGICR_BASE.raw() + layout::VGICR_STRIDE + 8;
    assert_eq!(map.find(second_redistributor).map(|(window, _)| window.device), Some(DeviceKind::Redistributors));
    let third_redistributor = layout::VGICR_BASE.raw() + 2 * layout::VGICR_STRIDE;
    assert_eq!(map.find(third_redistributor), None, "only two vCPUs");
    assert_eq!(map.window(DeviceKind::ConsoleUart).and_then(|window| window.interrupt), Some(layout::VUART_INTID));
    assert_eq!(map.find(uart(0x1000)), None);
}

#[test]
fn every_device_of_the_table_has_one_disjoint_window() {
    for vcpus in 1..=4 {
        let map = DeviceMap::with_vcpus(vcpus);
        let window_of = |kind: &DeviceKind| map.window(*kind).expect("mapped");
        for (index, kind) in DeviceKind::ALL.iter().enumerate() {
            let window = window_of(kind);
            assert!(window.size > 0, "{window:?}");
            for other in DeviceKind::ALL[index + 1..].iter().map(window_of) {
                let disjoint = window.base.raw() + window.size <= other.base.raw() || other.base.raw() + other.size <= window.base.raw();
                assert!(disjoint, "{window:?} overlaps {other:?}");
            }
            assert_eq!(map.find(window.base.raw()).map(|(found, offset)| (found.device, offset)), Some((window.device, 0)));
        }
    }
}

#[test]
fn only_the_vgic_frames_read_list_register_state_first() {
    let observing = DeviceKind::ALL.iter().map(|kind| (*kind, kind.observes_list_registers()));
    let expected = [(DeviceKind::ConsoleUart, false), (DeviceKind::Distributor, true), (DeviceKind::Redistributors, true)];
    assert!(observing.eq(expected), "{:?}", DeviceKind::ALL);
}

#[test]
fn unmapped_and_refused_accesses_are_typed_errors() {
    let map = DeviceMap::with_vcpus(1);
    let mut devices = Devices::new(1).unwrap();
    assert_eq!(devices.access(&map, 0x1234_0000, AccessWidth::Word, None).unwrap_err(), MmioError::Unmapped { ipa: 0x1234_0000 });
    assert_eq!(
        devices.access(&map, distributor(GICD_TYPER), AccessWidth::Byte, None).unwrap_err(),
        MmioError::UnsupportedWidth { offset: GICD_TYPER, width: AccessWidth::Byte }
    );
    assert_eq!(
        devices.access(&map, uart(0x31), AccessWidth::Byte, Some(0)).unwrap_err(),
        MmioError::PartialWrite { offset: 0x31, width: AccessWidth::Byte }
    );
}

#[test]
fn uart_transmit_and_receive_interrupt_are_wired_to_its_spi() {
    let map = DeviceMap::with_vcpus(1);
    let mut devices = Devices::new(1).unwrap();
    let _ = devices.access(&map, distributor(GICD_CTLR), AccessWidth::Word, Some(0b10)).unwrap();
    let outcome = devices.access(&map, distributor(GICD_ISENABLER1), AccessWidth::Word, Some(1 << 1)).unwrap();
    assert!(outcome.gic_effects.is_some(), "a vGIC write reports its effects");
    // Enable the UART (UARTEN, TXE, RXE) and its receive interrupt.
    let _ = devices.access(&map, uart(UART_CR), AccessWidth::Word, Some(0x301)).unwrap();
    let outcome = devices.access(&map, uart(UART_DR), AccessWidth::Word, Some(u64::from(b'x'))).unwrap();
    assert_eq!(outcome.transmit, Some(b'x'));
    let _ = devices.access(&map, uart(UART_IMSC), AccessWidth::Word, Some(1 << 4)).unwrap();
    assert_eq!(devices.push_console_input(&map, b'k'), Ok(VcpuSet::single(0)), "the receive interrupt reaches vCPU 0");
    assert!(devices.vgic.next_pending(0).is_some_and(|pending| pending.intid == layout::VUART_INTID));
    // Reading the byte drains the FIFO, which lowers the line.
    let outcome = devices.access(&map, uart(UART_DR), AccessWidth::Word, None).unwrap();
    assert_eq!(outcome.read, Some(u64::from(b'k')));
    assert_eq!(devices.vgic.next_pending(0), None);
}

#[test]
fn constant_registers_are_answered_from_the_map_alone() {
    let map = DeviceMap::with_vcpus(2);
    let mut devices = Devices::new(2).unwrap();
    let typer = devices.access(&map, distributor(GICD_TYPER), AccessWidth::Word, None).unwrap().read;
    assert_eq!(map.read_constant::<2>(distributor(GICD_TYPER), AccessWidth::Word), typer);
    let last = layout::VGICR_BASE.raw() + layout::VGICR_STRIDE + 8;
    let gicr_typer = devices.access(&map, last, AccessWidth::Doubleword, None).unwrap().read;
    assert_eq!(map.read_constant::<2>(last, AccessWidth::Doubleword), gicr_typer);
    assert_eq!(map.read_constant::<2>(uart(0x18), AccessWidth::Word), None, "UARTFR changes");
    assert_eq!(map.read_constant::<2>(distributor(GICD_CTLR), AccessWidth::Word), None);
}

#[test]
fn the_console_window_is_searched_first() {
    // Linux's console traps twice per byte: its window must be the first `locate` tries.
    for architecture in [GicArchitecture::V3, GicArchitecture::V2] {
        let map = DeviceMap::with_vcpus_on(2, architecture);
        assert_eq!(map.windows.first().map(|window| window.device), Some(DeviceKind::ConsoleUart), "{architecture:?}");
    }
}

#[test]
fn the_lock_free_uart_flags_match_the_locked_read_on_every_path_that_changes_them() {
    const UART_FR: u64 = 0x018;
    const UART_LCR_H: u64 = 0x02c;
    static PUBLISHED: PublishedRegisters = PublishedRegisters::new();
    let map = DeviceMap::with_vcpus(1);
    let window = map.window(DeviceKind::ConsoleUart).expect("console window");
    let mut devices = Devices::new(1).unwrap();
    let lock_free = |width| map.read_lock_free_in::<2>(&window, UART_FR, width, &PUBLISHED);
    assert_eq!(lock_free(AccessWidth::Halfword), None, "not attached: the locked path answers");
    devices.publish_console_to(&PUBLISHED);
    let check = |devices: &mut Devices, step: &str| {
        for width in [AccessWidth::Byte, AccessWidth::Halfword, AccessWidth::Word] {
            let locked = devices.access(&map, uart(UART_FR), width, None).unwrap().read;
            assert_eq!(lock_free(width), locked, "{step}, {width:?}");
        }
    };
    check(&mut devices, "attached");
    let _ = devices.access(&map, uart(UART_LCR_H), AccessWidth::Word, Some(0x70)).unwrap();
    let _ = devices.access(&map, uart(UART_CR), AccessWidth::Word, Some(0x301)).unwrap();
    check(&mut devices, "FIFOs on, enabled");
    for byte in 0..40 {
        let _ = devices.push_console_input(&map, byte);
        check(&mut devices, "input");
    }
    assert_ne!(devices.access(&map, uart(UART_FR), AccessWidth::Word, None).unwrap().read.unwrap() & 1 << 6, 0, "RXFF");
    let _ = devices.read_in(&window, 0, UART_DR, AccessWidth::Halfword).unwrap();
    check(&mut devices, "the trap path's data read");
    let _ = devices.access(&map, uart(UART_DR), AccessWidth::Word, None).unwrap();
    check(&mut devices, "a data read");
    let _ = devices.access(&map, uart(UART_LCR_H), AccessWidth::Word, Some(0x60)).unwrap();
    check(&mut devices, "FIFOs off");
    let _ = devices.access(&map, uart(UART_LCR_H), AccessWidth::Word, Some(0x70)).unwrap();
    for _ in 0..32 {
        let _ = devices.read_in(&window, 0, UART_DR, AccessWidth::Word).unwrap();
    }
    check(&mut devices, "drained");
    // Loopback: the trap path's console write puts the byte into the receive FIFO.
    let _ = devices.write_console_in(&window, UART_CR, AccessWidth::Word, 0x381).unwrap();
    let _ = devices.write_console_in(&window, UART_DR, AccessWidth::Halfword, u64::from(b'l')).unwrap();
    check(&mut devices, "looped back");
    assert_eq!(devices.access(&map, uart(UART_FR), AccessWidth::Word, None).unwrap().read.map(|flags| flags & 1 << 4), Some(0));
    devices.reset();
    check(&mut devices, "reset");
    // The vGIC frames still answer their constants, and only them.
    let distributor_window = map.window(DeviceKind::Distributor).expect("distributor window");
    let typer = map.read_constant::<2>(distributor(GICD_TYPER), AccessWidth::Word);
    assert!(typer.is_some());
    assert_eq!(map.read_lock_free_in::<2>(&distributor_window, GICD_TYPER, AccessWidth::Word, &PUBLISHED), typer);
    assert_eq!(map.read_lock_free_in::<2>(&distributor_window, GICD_CTLR, AccessWidth::Word, &PUBLISHED), None);
    assert_eq!(map.read_lock_free_in::<2>(&window, UART_CR, AccessWidth::Word, &PUBLISHED), None, "UARTCR: locked");
}

#[test]
fn reset_in_place_matches_a_fresh_model() {
    let map = DeviceMap::with_vcpus(2);
    let mut devices = Devices::new(2).unwrap();
    devices.vgic.set_hardware_backed(48, 79).unwrap();
    let _ = devices.access(&map, distributor(GICD_CTLR), AccessWidth::Word, Some(0b11)).unwrap();
    let _ = devices.access(&map, distributor(GICD_ISENABLER1), AccessWidth::Word, Some(u64::MAX)).unwrap();
    let _ = devices.access(&map, uart(UART_CR), AccessWidth::Word, Some(0x301)).unwrap();
    devices.reset();
    let mut fresh = Devices::new(2).unwrap();
    for ipa in [distributor(GICD_CTLR), distributor(GICD_ISENABLER1), uart(UART_CR), uart(UART_IMSC)] {
        let after_reset = devices.access(&map, ipa, AccessWidth::Word, None).unwrap().read;
        assert_eq!(after_reset, fresh.access(&map, ipa, AccessWidth::Word, None).unwrap().read, "{ipa:#x}");
    }
    assert_eq!(devices.vgic.physical_intid(48), None, "hardware backing is declared again by the caller");
}

#[test]
fn reads_without_side_effects_leave_the_uart_line_as_it_was() {
    const UART_FR: u64 = 0x018;
    const UART_MIS: u64 = 0x040;
    let map = DeviceMap::with_vcpus(1);
    let mut devices = Devices::new(1).unwrap();
    let _ = devices.access(&map, distributor(GICD_CTLR), AccessWidth::Word, Some(0b10)).unwrap();
    let _ = devices.access(&map, distributor(GICD_ISENABLER1), AccessWidth::Word, Some(1 << 1)).unwrap();
    let _ = devices.access(&map, uart(UART_CR), AccessWidth::Word, Some(0x301)).unwrap();
    let _ = devices.access(&map, uart(UART_IMSC), AccessWidth::Word, Some(1 << 4)).unwrap();
    assert_eq!(devices.push_console_input(&map, b'k'), Ok(VcpuSet::single(0)));
    // Only UARTDR reads change the model (they pop the receive FIFO).
    assert!(Vpl011::read_changes_state(UART_DR));
    assert!(Vpl011::read_changes_state(UART_DR + 1), "a byte lane of UARTDR pops it too");
    assert!(!Vpl011::read_changes_state(UART_FR));
    assert!(!Vpl011::read_changes_state(UART_MIS));
    // A flag or status read neither drops nor re-raises the line: the SPI stays pending and
    // nobody is asked to refill.
    for offset in [UART_FR, UART_MIS, UART_IMSC] {
        let outcome = devices.access(&map, uart(offset), AccessWidth::Word, None).unwrap();
        assert_eq!(outcome.refill, VcpuSet::EMPTY, "{offset:#x}");
        assert!(devices.vgic.next_pending(0).is_some_and(|pending| pending.intid == layout::VUART_INTID), "{offset:#x}");
    }
    assert_eq!(devices.access(&map, uart(UART_MIS), AccessWidth::Word, None).unwrap().read, Some(1 << 4));
    // The data read still drives the line down afterwards.
    assert_eq!(devices.access(&map, uart(UART_DR), AccessWidth::Word, None).unwrap().read, Some(u64::from(b'k')));
    assert_eq!(devices.vgic.next_pending(0), None);
    // And input after it raises the line again, as the driven level was kept in step.
    assert_eq!(devices.push_console_input(&map, b'j'), Ok(VcpuSet::single(0)));
}

#[test]
fn locate_names_the_same_window_as_find() {
    let map = DeviceMap::with_vcpus(2);
    for ipa in [distributor(0x10), layout::VGICR_BASE.raw() + layout::VGICR_STRIDE + 8, uart(0x18), uart(0x1000), 0x1234_0000] {
        assert_eq!(map.locate(ipa).map(|(window, offset)| (*window, offset)), map.find(ipa), "{ipa:#x}");
    }
}

#[test]
fn every_byte_of_a_window_is_found_and_none_beside_them() {
    for architecture in [GicArchitecture::V3, GicArchitecture::V2] {
        let map = DeviceMap::with_vcpus_on(4, architecture);
        for &device in DeviceKind::ALL.iter() {
            let Some(window) = map.window(device) else { continue };
            let (first, last) = (window.base.raw(), window.base.raw() + window.size - 1);
            assert_eq!(map.locate(first).map(|(found, offset)| (found.device, offset)), Some((device, 0)));
            assert_eq!(map.locate(last).map(|(found, offset)| (found.device, offset)), Some((device, window.size - 1)));
        }
        let lowest = DeviceKind::ALL.iter().filter_map(|&device| map.window(device)).map(|window| window.base.raw()).min();
        let highest = DeviceKind::ALL
            .iter()
            .filter_map(|&device| map.window(device))
            .map(|window| window.base.raw() + window.size)
            .max();
        assert_eq!(lowest.and_then(|lowest| map.locate(lowest - 1)).map(|(found, _)| found.device), None);
        assert_eq!(highest.and_then(|highest| map.locate(highest)).map(|(found, _)| found.device), None);
        assert_eq!(map.locate(0x4401_0000).map(|(found, _)| found.device), None, "a doorbell page");
    }
}

/// A two-vCPU device map and two identical device sets with the distributor enabled (Group
/// 1) and INTID 33 enabled: the trap path's short access and the general one start alike.
fn two_devices_with_the_distributor_on() -> (DeviceMap, Devices, Devices) {
    let map = DeviceMap::with_vcpus(2);
    let mut general = Devices::new(2).unwrap();
    let mut short = Devices::new(2).unwrap();
    for devices in [&mut general, &mut short] {
        let _ = devices.access(&map, distributor(GICD_CTLR), AccessWidth::Word, Some(0b10)).unwrap();
        let _ = devices.access(&map, distributor(GICD_ISENABLER1), AccessWidth::Word, Some(1 << 1)).unwrap();
    }
    (map, general, short)
}

#[test]
fn the_trap_paths_read_matches_the_general_access() {
    let (map, mut general, mut short) = two_devices_with_the_distributor_on();
    for devices in [&mut general, &mut short] {
        let _ = devices.access(&map, uart(UART_CR), AccessWidth::Word, Some(0x301)).unwrap();
        let _ = devices.access(&map, uart(UART_IMSC), AccessWidth::Word, Some(1 << 4)).unwrap();
        assert_eq!(devices.push_console_input(&map, b'q'), Ok(VcpuSet::single(0)));
    }
    let redistributor = layout::VGICR_BASE.raw() + layout::VGICR_STRIDE + 8;
    for (ipa, width) in [
        (distributor(GICD_TYPER), AccessWidth::Word),
        (distributor(GICD_ISENABLER1), AccessWidth::Word),
        (redistributor, AccessWidth::Doubleword),
        (uart(0x018), AccessWidth::Word),
        (uart(UART_DR), AccessWidth::Word),
        (uart(UART_DR), AccessWidth::Word),
        (distributor(GICD_TYPER), AccessWidth::Byte),
    ] {
        let (window, offset) = map.locate(ipa).unwrap();
        let expected = general.access(&map, ipa, width, None).map(|outcome| (outcome.read.unwrap_or(0), outcome.refill));
        assert_eq!(short.read_in(window, 0, offset, width), expected, "{ipa:#x} {width:?}");
    }
    assert_eq!(short.vgic.next_pending(0), general.vgic.next_pending(0));
}

#[test]
fn a_gicv2_partition_has_a_distributor_and_no_redistributors() {
    let map = DeviceMap::with_vcpus_on(2, GicArchitecture::V2);
    assert_eq!(map.window(DeviceKind::Redistributors), None);
    assert_eq!(map.find(layout::VGICR_BASE.raw()), None, "the GICv3 redistributor window is unmapped");
    assert_eq!(map.find(layout::VGICC_BASE.raw()), None, "GICC is the GICV frame stage 2 maps, not emulated");
    // GICD_TYPER on GICv2: ITLinesNumber 2, CPUNumber 1.
    assert_eq!(map.read_constant::<2>(distributor(GICD_TYPER), AccessWidth::Word), Some(2 | 1 << 5));
}

#[test]
fn a_gicv2_distributor_access_reaches_the_bank_of_the_vcpu_that_makes_it() {
    let map = DeviceMap::with_vcpus_on(2, GicArchitecture::V2);
    let mut devices = Devices::with_architecture(2, GicArchitecture::V2).unwrap();
    let _enabled = devices.access_by(&map, 1, distributor(0x100), AccessWidth::Word, Some(1 << 27)).unwrap();
    let read = |devices: &mut Devices, vcpu| devices.access_by(&map, vcpu, distributor(0x100), AccessWidth::Word, None);
    assert_eq!(read(&mut devices, 1).unwrap().read, Some(1 << 27));
    assert_eq!(read(&mut devices, 0).unwrap().read, Some(0));
    let (window, offset) = map.locate(distributor(0x800)).unwrap();
    assert_eq!(devices.read_in(window, 1, offset, AccessWidth::Word).unwrap().0, 0x0202_0202, "ITARGETSR0 names the reader");
}

#[test]
fn the_trap_paths_console_write_matches_the_general_access() {
    let (map, mut general, mut short) = two_devices_with_the_distributor_on();
    // Enable, unmask the transmit interrupt (its line rises), print, acknowledge it (ICR),
    // write a partial word (refused), print with the transmitter off, and a byte store.
    for (offset, width, value) in [
        (UART_CR, AccessWidth::Word, 0x301),
        (UART_IMSC, AccessWidth::Word, 1 << 5),
        (UART_DR, AccessWidth::Word, u64::from(b'x')),
        (0x044, AccessWidth::Word, 1 << 5),
        (UART_DR + 1, AccessWidth::Byte, 0x55),
        (UART_CR, AccessWidth::Word, 0),
        (UART_DR, AccessWidth::Byte, u64::from(b'\n')),
        (0xfe0, AccessWidth::Word, 7),
    ] {
        let ipa = uart(offset);
        let (window, at) = map.locate(ipa).unwrap();
        let expected = general.access(&map, ipa, width, Some(value)).map(|outcome| (outcome.transmit, outcome.refill));
        assert_eq!(short.write_console_in(window, at, width, value), expected, "{offset:#x} {width:?}");
    }
    assert_eq!(short.vgic.next_pending(0), general.vgic.next_pending(0));
}
