//! Delivery driven against [`FakeListRegisters`], with the fake playing the guest.
//!
//! [utest->dsn~vgic-list-registers~1]

use super::fake::FakeListRegisters;
use super::*;
use crate::layout;
use crate::mmio::AccessWidth;
use crate::vgic::{Backing, Effect, SgiRegister};

type Gic = VirtualGic<2>;

const GICD_CTLR: u64 = 0x0000;
const GICD_ISENABLER: u64 = 0x0100;
const GICD_ICENABLER: u64 = 0x0180;
const GICD_ISPENDR: u64 = 0x0200;
const GICD_ICPENDR: u64 = 0x0280;
const GICD_ISACTIVER: u64 = 0x0300;
const GICD_IPRIORITYR: u64 = 0x0400;
const GICD_ICFGR: u64 = 0x0c00;
const GICR_ISENABLER0: u64 = 0x1_0100;
const GICR_IPRIORITYR0: u64 = 0x1_0400;
const VTIMER: u32 = layout::timer_intid::VIRTUAL;

/// A partition of `vcpus` vCPUs with both groups on, every SGI, PPI and SPI enabled at
/// priority 0xa0, every SPI routed to vCPU 0.
fn booted(vcpus: usize) -> Gic {
    let mut gic = Gic::new(vcpus).expect("valid vCPU count");
    let _ = gic.distributor_write(GICD_CTLR, AccessWidth::Word, 0b11).unwrap();
    for block in 1..=2_u64 {
        let _ = gic.distributor_write(GICD_ISENABLER + 4 * block, AccessWidth::Word, 0xffff_ffff).unwrap();
    }
    for intid in (32..96).step_by(4) {
        let _ = gic.distributor_write(GICD_IPRIORITYR + intid, AccessWidth::Word, 0xa0a0_a0a0).unwrap();
    }
    for vcpu in 0..vcpus {
        let base = vcpu as u64 * layout::VGICR_STRIDE;
        let _ = gic.redistributor_write(base + GICR_ISENABLER0, AccessWidth::Word, 0xffff_ffff).unwrap();
        for intid in (0..32).step_by(4) {
            let _ = gic.redistributor_write(base + GICR_IPRIORITYR0 + intid, AccessWidth::Word, 0xa0a0_a0a0).unwrap();
        }
    }
    gic
}

fn set_priority(gic: &mut Gic, intid: u32, priority: u8) {
    let _ = gic.distributor_write(GICD_IPRIORITYR + u64::from(intid), AccessWidth::Byte, u64::from(priority)).unwrap();
}

fn sync(gic: &mut Gic, shadow: &mut ListRegisterShadow, vcpu: usize, registers: &mut FakeListRegisters) -> VcpuSet {
    synchronise(gic, shadow, vcpu, registers, VcpuSet::EMPTY)
}

#[test]
fn more_pending_than_list_registers_go_in_priority_order_and_refill_on_maintenance() {
    let mut gic = booted(1);
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(4);
    // Six edge-triggered SPIs, priorities 0x60 (most urgent) ... 0xb0.
    let _ = gic.distributor_write(GICD_ICFGR + 16, AccessWidth::Word, 0xaaaa_aaaa).unwrap();
    for (n, intid) in (64..70).enumerate() {
        set_priority(&mut gic, intid, 0xb0 - 0x10 * n as u8);
        let _ = gic.set_spi_level(intid, true).unwrap();
    }
    assert!(sync(&mut gic, &mut shadow, 0, &mut registers).is_empty());
    let mut placed = registers.valid_intids();
    placed.sort_unstable();
    assert_eq!(placed.as_slice(), &[66, 67, 68, 69], "the four most urgent go first");
    assert!(registers.refill_maintenance, "two still wait: NPIE asks for a refill");

    // The guest takes and ends all four, in priority order.
    for expected in [69, 68, 67, 66] {
        assert_eq!(registers.guest_acknowledge(), Some(expected));
        registers.guest_end_of_interrupt(expected);
    }
    assert!(registers.maintenance_asserted());
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    let mut placed = registers.valid_intids();
    placed.sort_unstable();
    assert_eq!(placed.as_slice(), &[64, 65]);
    assert!(!registers.refill_maintenance, "nothing waits any more");
    assert_eq!(registers.guest_acknowledge(), Some(65));
}

#[test]
fn hardware_backed_eoi_deactivates_the_physical_interrupt_and_frees_the_register() {
    let mut gic = booted(1);
    gic.set_hardware_backed(48, 79).unwrap();
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(4);
    let _ = gic.set_spi_pending(48).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.entry(0).backing, Backing::Hardware { physical_intid: 79 }, "the stored physical INTID");
    assert_eq!(registers.guest_acknowledge(), Some(48));
    registers.guest_end_of_interrupt(48);
    assert_eq!(registers.deactivated.as_slice(), &[79]);
    assert!(!registers.maintenance_asserted(), "HW entries need no EOI maintenance");
    // The next exit retires it: it can be raised and delivered again.
    let _ = gic.set_spi_pending(48).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.valid_intids().as_slice(), &[48]);
}

#[test]
fn software_eoi_raises_maintenance_and_is_retired() {
    let mut gic = booted(1);
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(4);
    let _ = gic.set_spi_level(layout::VUART_INTID, true).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.entry(0).backing, Backing::Software { maintenance_on_eoi: true });
    assert_eq!(registers.guest_acknowledge(), Some(layout::VUART_INTID));
    let _ = gic.set_spi_level(layout::VUART_INTID, false).unwrap();
    registers.guest_end_of_interrupt(layout::VUART_INTID);
    assert_eq!(registers.end_of_interrupt_status(), 1);
    assert!(registers.maintenance_asserted());
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert!(!registers.maintenance_asserted(), "rewriting the register clears the EOI status");
    assert!(registers.valid_intids().is_empty(), "the line is low: nothing to deliver again");
    assert_eq!(shadow.held(0), None);
}

#[test]
fn sgi_between_vcpus_kicks_the_target_and_lands_in_its_list_registers() {
    let mut gic = booted(2);
    let mut shadows = [ListRegisterShadow::EMPTY; 2];
    let mut registers = [FakeListRegisters::new(4), FakeListRegisters::new(4)];
    // vCPU 0 sends SGI 3 to vCPU 1 (TargetList bit 1).
    let raised = gic.send_sgi(0, SgiRegister::Sgi1r, (3 << 24) | 0b10).unwrap();
    let kick = synchronise(&mut gic, &mut shadows[0], 0, &mut registers[0], raised);
    assert_eq!(kick, VcpuSet::single(1));
    assert!(registers[0].valid_intids().is_empty());
    // vCPU 1's core, kicked, synchronises its own registers.
    let [_, second_shadow] = &mut shadows;
    let [_, second] = &mut registers;
    assert!(synchronise(&mut gic, second_shadow, 1, second, VcpuSet::EMPTY).is_empty());
    assert_eq!(second.valid_intids().as_slice(), &[3]);
    assert_eq!(second.guest_acknowledge(), Some(3));
}

#[test]
fn level_interrupt_still_asserted_after_eoi_is_delivered_again() {
    let mut gic = booted(1);
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(4);
    let _ = gic.set_spi_level(layout::VUART_INTID, true).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.guest_acknowledge(), Some(layout::VUART_INTID));
    registers.guest_end_of_interrupt(layout::VUART_INTID);
    // The line is still high: retiring the entry re-delivers it at once.
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.valid_intids().as_slice(), &[layout::VUART_INTID]);
    assert_eq!(registers.guest_acknowledge(), Some(layout::VUART_INTID));
}

#[test]
fn higher_priority_arrival_evicts_the_lowest_priority_unacknowledged_entry() {
    let mut gic = booted(1);
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(2);
    let _ = gic.distributor_write(GICD_ICFGR + 16, AccessWidth::Word, 0xaaaa_aaaa).unwrap();
    set_priority(&mut gic, 64, 0xa0);
    set_priority(&mut gic, 65, 0xc0);
    set_priority(&mut gic, 66, 0x40);
    let _ = gic.set_spi_level(64, true).unwrap();
    let _ = gic.set_spi_level(65, true).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert!(!registers.refill_maintenance);
    // A more urgent interrupt arrives while both registers hold less urgent ones.
    let _ = gic.set_spi_level(66, true).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    let mut placed = registers.valid_intids();
    placed.sort_unstable();
    assert_eq!(placed.as_slice(), &[64, 66], "0xc0 gave way to 0x40");
    assert!(registers.refill_maintenance, "the evicted one waits for a free register");
    assert_eq!(registers.guest_acknowledge(), Some(66));
    // Once the guest is done with both, the evicted interrupt comes back.
    registers.guest_end_of_interrupt(66);
    assert_eq!(registers.guest_acknowledge(), Some(64));
    registers.guest_end_of_interrupt(64);
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.valid_intids().as_slice(), &[65]);
}

#[test]
fn acknowledged_entries_are_never_evicted() {
    let mut gic = booted(1);
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(1);
    let _ = gic.distributor_write(GICD_ICFGR + 16, AccessWidth::Word, 0xaaaa_aaaa).unwrap();
    set_priority(&mut gic, 64, 0xc0);
    set_priority(&mut gic, 66, 0x40);
    let _ = gic.set_spi_level(64, true).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.guest_acknowledge(), Some(64));
    let _ = gic.set_spi_level(66, true).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.valid_intids().as_slice(), &[64], "the guest is handling it: it stays");
    assert!(!registers.maintenance_asserted(), "no entry is Pending: NPIE would fire forever");
    registers.guest_end_of_interrupt(64);
    assert!(registers.maintenance_asserted(), "the software entry's EOI asks for the refill");
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.valid_intids().as_slice(), &[66]);
}

#[test]
fn eoimode1_with_every_register_active_and_one_more_pending_does_not_livelock() {
    // Issue 14: with EOImode = 1 the guest drops priority (EOIR) but deactivates later (DIR),
    // so all four list registers can hold Active interrupts while a fifth waits. NPIE then
    // fired at once after every sync, which could place nothing: a maintenance livelock.
    let mut gic = booted(1);
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(4);
    let _ = gic.distributor_write(GICD_ICFGR + 16, AccessWidth::Word, 0xaaaa_aaaa).unwrap();
    for intid in 64..68 {
        let _ = gic.set_spi_level(intid, true).unwrap();
    }
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    for _ in 0..4 {
        assert!(registers.guest_acknowledge().is_some());
    }
    let _ = gic.set_spi_level(68, true).unwrap();
    // Bounded: a livelock shows as the maintenance interrupt still asserted after each sync.
    for round in 0..100 {
        let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
        assert!(!registers.maintenance_asserted(), "maintenance interrupt still asserted after sync {round}");
    }
    assert_eq!(registers.valid_intids().len(), 4);
    // The guest's deactivation (DIR) of one frees its register; the fifth goes in.
    registers.guest_end_of_interrupt(65);
    assert!(registers.maintenance_asserted());
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert!(registers.valid_intids().contains(&68));
    assert!(!registers.maintenance_asserted());
}

#[test]
fn an_interrupt_disabled_and_cleared_while_listed_is_never_delivered() {
    // Issue 14: ICENABLER + ICPENDR (and GICD_CTLR = 0) while the interrupt sat in a list
    // register, unacknowledged: the guest still took it. Each write must pull it back out.
    for (register, value) in [(GICD_ICENABLER + 8, 1_u64), (GICD_ICPENDR + 8, 1), (GICD_CTLR, 0)] {
        let mut gic = booted(1);
        let mut shadow = ListRegisterShadow::EMPTY;
        let mut registers = FakeListRegisters::new(4);
        let _ = gic.distributor_write(GICD_ICFGR + 16, AccessWidth::Word, 0xaaaa_aaaa).unwrap();
        let _ = gic.set_spi_level(64, true).unwrap();
        let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
        assert_eq!(registers.valid_intids().as_slice(), &[64]);
        let outcome = gic.distributor_write(register, AccessWidth::Word, value).unwrap();
        assert!(outcome.refill().contains(0), "the write at {register:#x} must make vCPU 0 sync");
        let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
        assert_eq!(registers.guest_acknowledge(), None, "delivered after the write at {register:#x}");
        assert!(registers.valid_intids().is_empty());
        let active = gic.distributor_read(GICD_ISACTIVER + 8, AccessWidth::Word).unwrap().value;
        assert_eq!(active & 1, 0, "INTID 64 reads active after the write at {register:#x}");
        if register == GICD_ICPENDR + 8 {
            // Cleared: gone for good, even once enabled again.
            let _ = gic.distributor_write(GICD_ISENABLER + 8, AccessWidth::Word, 1).unwrap();
            let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
            assert!(registers.valid_intids().is_empty(), "a cleared edge came back");
        } else {
            // Only disabled (or its group off): still pending, delivered once re-enabled.
            let _ = gic.distributor_write(GICD_ISENABLER + 8, AccessWidth::Word, 1).unwrap();
            let _ = gic.distributor_write(GICD_CTLR, AccessWidth::Word, 0b11).unwrap();
            let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
            assert_eq!(registers.valid_intids().as_slice(), &[64]);
        }
    }
}

#[test]
fn an_acknowledged_interrupt_is_not_withdrawn_by_a_late_clear() {
    let mut gic = booted(1);
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(4);
    let _ = gic.distributor_write(GICD_ICFGR + 16, AccessWidth::Word, 0xaaaa_aaaa).unwrap();
    let _ = gic.set_spi_level(64, true).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.guest_acknowledge(), Some(64));
    let _ = gic.distributor_write(GICD_ICPENDR + 8, AccessWidth::Word, 1).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.valid_intids().as_slice(), &[64], "the guest is handling it: it stays");
    let active = gic.distributor_read(GICD_ISACTIVER + 8, AccessWidth::Word).unwrap().value;
    assert_eq!(active & 1, 1, "acknowledged: reads active");
}

#[test]
fn isactiver_reads_zero_until_the_guest_acknowledges() {
    let mut gic = booted(1);
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(4);
    let _ = gic.distributor_write(GICD_ICFGR + 16, AccessWidth::Word, 0xaaaa_aaaa).unwrap();
    let _ = gic.set_spi_level(64, true).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    let _refill = observe(&mut gic, &mut shadow, 0, &mut registers);
    let read = |gic: &Gic, offset| gic.distributor_read(offset, AccessWidth::Word).unwrap().value & 1;
    assert_eq!(read(&gic, GICD_ISACTIVER + 8), 0, "in a list register, not acknowledged");
    assert_eq!(read(&gic, GICD_ISPENDR + 8), 1);
    assert_eq!(registers.guest_acknowledge(), Some(64));
    let _refill = observe(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(read(&gic, GICD_ISACTIVER + 8), 1, "acknowledged");
    assert_eq!(read(&gic, GICD_ISPENDR + 8), 0);
}

#[test]
fn a_masked_sgi_sent_10000_times_is_delivered_once() {
    // Issue 14: the guest keeps interrupts masked (never acknowledges) while SGI 3 is sent to
    // it 10 000 times; after unmasking it must take SGI 3 once.
    let mut gic = booted(1);
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(4);
    let sgi_3_to_self = (3 << 24) | 1;
    for _ in 0..10_000 {
        let raised = gic.send_sgi(0, SgiRegister::Sgi1r, sgi_3_to_self).unwrap();
        let _ = synchronise(&mut gic, &mut shadow, 0, &mut registers, raised);
    }
    let mut taken = 0;
    for _ in 0..10 {
        let Some(intid) = registers.guest_acknowledge() else { break };
        assert_eq!(intid, 3);
        taken += 1;
        registers.guest_end_of_interrupt(intid);
        let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    }
    assert_eq!(taken, 1, "SGI 3 delivered {taken} times");
}

#[test]
fn timer_short_path_writes_the_hardware_entry_and_retires_the_previous_one() {
    let mut gic = booted(1);
    gic.set_hardware_backed(VTIMER, VTIMER).unwrap();
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(4);
    assert_eq!(deliver_hardware_private(&mut gic, &mut shadow, 0, VTIMER, &mut registers), FastDelivery::Done);
    assert_eq!(registers.entry(0).backing, Backing::Hardware { physical_intid: VTIMER as u16 });
    assert_eq!(registers.guest_acknowledge(), Some(VTIMER));
    registers.guest_end_of_interrupt(VTIMER);
    // The next tick finds the previous instance finished and reuses the register.
    assert_eq!(deliver_hardware_private(&mut gic, &mut shadow, 0, VTIMER, &mut registers), FastDelivery::Done);
    assert_eq!(registers.valid_intids().as_slice(), &[VTIMER]);
    assert_eq!(shadow.held(0), Some(VTIMER));
}

#[test]
fn timer_short_path_defers_to_synchronise_without_a_free_register() {
    let mut gic = booted(1);
    gic.set_hardware_backed(VTIMER, VTIMER).unwrap();
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(1);
    let _ = gic.set_spi_level(layout::VUART_INTID, true).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(
        deliver_hardware_private(&mut gic, &mut shadow, 0, VTIMER, &mut registers),
        FastDelivery::NeedsSynchronise
    );
    // The timer was latched: the full path places it (same priority, lower INTID: no
    // eviction, so it waits with NPIE set).
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert!(registers.refill_maintenance);
    assert_eq!(registers.guest_acknowledge(), Some(layout::VUART_INTID));
}

#[test]
fn disabled_timer_is_latched_but_not_delivered() {
    let mut gic = booted(1);
    gic.set_hardware_backed(VTIMER, VTIMER).unwrap();
    let _ = gic.redistributor_write(0x1_0180, AccessWidth::Word, 1 << VTIMER).unwrap();
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(4);
    assert_eq!(deliver_hardware_private(&mut gic, &mut shadow, 0, VTIMER, &mut registers), FastDelivery::Done);
    assert!(registers.valid_intids().is_empty());
    let _ = gic.redistributor_write(GICR_ISENABLER0, AccessWidth::Word, 1 << VTIMER).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.valid_intids().as_slice(), &[VTIMER]);
}

#[test]
fn a_listed_timer_disabled_or_cleared_is_withdrawn_and_its_physical_twin_follows() {
    // Issue 14: the hardware-backed timer entry stayed in its list register after the guest
    // disabled and cleared it. Each write must pull it back out; a disable also disables the
    // physical timer interrupt (the write's effect), a clear releases it (delivery).
    const GICR_ICENABLER0: u64 = 0x1_0180;
    const GICR_ICPENDR0: u64 = 0x1_0280;
    for (frame_offset, value) in [(GICR_ICENABLER0, 1_u64 << VTIMER), (GICR_ICPENDR0, 1 << VTIMER), (GICD_CTLR, 0)] {
        let mut gic = booted(1);
        gic.set_hardware_backed(VTIMER, VTIMER).unwrap();
        let mut shadow = ListRegisterShadow::EMPTY;
        let mut registers = FakeListRegisters::new(4);
        assert_eq!(deliver_hardware_private(&mut gic, &mut shadow, 0, VTIMER, &mut registers), FastDelivery::Done);
        assert_eq!(registers.valid_intids().as_slice(), &[VTIMER]);
        let outcome = if frame_offset == GICD_CTLR {
            gic.distributor_write(frame_offset, AccessWidth::Word, value).unwrap()
        } else {
            gic.redistributor_write(frame_offset, AccessWidth::Word, value).unwrap()
        };
        assert!(outcome.refill().contains(0), "the write at {frame_offset:#x} must make vCPU 0 sync");
        let physical: heapless::Vec<Effect, 8> = outcome.effects().filter(|effect| !matches!(effect, Effect::RefillListRegisters { .. })).collect();
        match frame_offset {
            GICR_ICENABLER0 => {
                assert_eq!(physical.as_slice(), &[Effect::PhysicalEnable { intid: VTIMER, vcpu: Some(0), enabled: false }]);
            }
            _ => assert!(physical.is_empty(), "{physical:?}"),
        }
        let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
        assert_eq!(registers.guest_acknowledge(), None, "the timer was delivered after the write at {frame_offset:#x}");
        assert!(registers.valid_intids().is_empty());
        // Only a cleared timer releases its physical twin (nothing else would); a disabled one
        // keeps it active until the guest's EOI of its next delivery.
        let released: &[u16] = if frame_offset == GICR_ICPENDR0 { &[VTIMER as u16] } else { &[] };
        assert_eq!(registers.deactivated.as_slice(), released, "after the write at {frame_offset:#x}");
        // Enabled again (and the group on): a cleared timer stays gone until it fires again,
        // a disabled one is still pending and goes back in, hardware-backed.
        let _ = gic.redistributor_write(GICR_ISENABLER0, AccessWidth::Word, 1 << VTIMER).unwrap();
        let _ = gic.distributor_write(GICD_CTLR, AccessWidth::Word, 0b11).unwrap();
        let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
        if frame_offset == GICR_ICPENDR0 {
            assert!(registers.valid_intids().is_empty(), "a cleared timer came back without firing");
            assert_eq!(deliver_hardware_private(&mut gic, &mut shadow, 0, VTIMER, &mut registers), FastDelivery::Done);
        }
        assert_eq!(registers.valid_intids().as_slice(), &[VTIMER], "after the write at {frame_offset:#x}");
        assert_eq!(registers.entry(0).backing, Backing::Hardware { physical_intid: VTIMER as u16 });
    }
}

#[test]
fn an_edge_interrupt_ends_without_a_maintenance_interrupt_and_is_retired_by_the_next_sync() {
    let mut gic = booted(1);
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(4);
    let _ = gic.distributor_write(GICD_ICFGR + 16, AccessWidth::Word, 0xaaaa_aaaa).unwrap();
    let _ = gic.set_spi_level(64, true).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.entry(0).backing, Backing::Software { maintenance_on_eoi: false });
    assert_eq!(registers.guest_acknowledge(), Some(64));
    registers.guest_end_of_interrupt(64);
    assert!(!registers.maintenance_asserted(), "an edge interrupt's end costs no exit");
    // A vGIC access finds it finished before answering.
    let refill = observe(&mut gic, &mut shadow, 0, &mut registers);
    assert!(refill.contains(0));
    assert_eq!(gic.distributor_read(GICD_ISACTIVER + 8, AccessWidth::Word).unwrap().value & 1, 0);
    assert!(registers.valid_intids().is_empty());
    assert_eq!(shadow.held(0), None);
}

#[test]
fn an_edge_interrupt_raised_again_while_handled_asks_for_the_end_and_comes_back() {
    let mut gic = booted(1);
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(4);
    let _ = gic.distributor_write(GICD_ICFGR + 16, AccessWidth::Word, 0xaaaa_aaaa).unwrap();
    let _ = gic.set_spi_level(64, true).unwrap();
    let _ = gic.set_spi_level(64, false).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.guest_acknowledge(), Some(64));
    // A second edge while the guest handles the first (the doorbell rung twice).
    let _ = gic.set_spi_level(64, true).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.entry(0).backing, Backing::Software { maintenance_on_eoi: true }, "armed");
    registers.guest_end_of_interrupt(64);
    assert!(registers.maintenance_asserted(), "the second edge waits for this deactivation");
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.guest_acknowledge(), Some(64), "delivered again");
}

#[test]
fn an_edge_interrupt_raised_after_a_silent_end_names_its_vcpu_to_sync() {
    // Found by the doorbell bench: the peer finished the doorbell silently (no EOI
    // maintenance), the model still held it active, and the next ring named no vCPU to kick:
    // the peer slept in WFI forever.
    let mut gic = booted(1);
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(4);
    let _ = gic.distributor_write(GICD_ICFGR + 16, AccessWidth::Word, 0xaaaa_aaaa).unwrap();
    assert_eq!(gic.set_spi_pending(64), Ok(Some(0)));
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.guest_acknowledge(), Some(64));
    registers.guest_end_of_interrupt(64);
    assert!(!registers.maintenance_asserted());
    assert_eq!(gic.set_spi_pending(64), Ok(Some(0)), "the second ring must make vCPU 0 sync");
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.guest_acknowledge(), Some(64), "delivered again");
}

#[test]
fn a_level_interrupt_asks_for_its_end_to_sample_its_line_again() {
    let mut gic = booted(1);
    let mut shadow = ListRegisterShadow::EMPTY;
    let mut registers = FakeListRegisters::new(4);
    let _ = gic.set_spi_level(64, true).unwrap();
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.entry(0).backing, Backing::Software { maintenance_on_eoi: true });
    assert_eq!(registers.guest_acknowledge(), Some(64));
    registers.guest_end_of_interrupt(64);
    assert!(registers.maintenance_asserted());
    let _ = sync(&mut gic, &mut shadow, 0, &mut registers);
    assert_eq!(registers.guest_acknowledge(), Some(64), "still asserted: pending again");
}

#[test]
fn status_masks_are_walked_across_both_halves() {
    let mut mask = (1_u64 << 40) | 0b101;
    assert_eq!(take_lowest_64(&mut mask), Some(0));
    assert_eq!(take_lowest_64(&mut mask), Some(2));
    assert_eq!(take_lowest_64(&mut mask), Some(40));
    assert_eq!(take_lowest_64(&mut mask), None);
}
