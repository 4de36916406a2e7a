//! Plain memory laid out like a device's register block, for host tests of the drivers:
//! the test reads and writes words the way the device would, the driver sees its registers.

use core::sync::atomic::{AtomicU32, Ordering};

/// `WORDS` 32-bit registers, zeroed.
#[repr(C, align(8))]
pub struct RegisterMemory<const WORDS: usize>([AtomicU32; WORDS]);

impl<const WORDS: usize> RegisterMemory<WORDS> {
    /// A zeroed block that lives for the rest of the test process.
    pub fn leak() -> &'static Self {
        std::boxed::Box::leak(std::boxed::Box::new(Self([const { AtomicU32::new(0) }; WORDS])))
    }

    /// The register at byte `offset`.
    pub fn get(&self, offset: usize) -> u32 {
        self.0[offset / 4].load(Ordering::SeqCst)
    }

    /// Sets the register at byte `offset`, as the device would.
    pub fn set(&self, offset: usize, value: u32) {
        self.0[offset / 4].store(value, Ordering::SeqCst);
    }

    /// The block seen as register struct `T`.
    ///
    /// # Safety
    /// `T` must be a `register_structs!` block (32-bit registers with interior mutability)
    /// no larger than `WORDS * 4` bytes.
    pub unsafe fn as_registers<T>(&'static self) -> &'static T {
        assert!(core::mem::size_of::<T>() <= WORDS * 4);
        // SAFETY: the caller guarantees `T` fits and is made of `UnsafeCell<u32>`s, which have
        // the layout of the `AtomicU32`s here; both sides only use interior mutability.
        unsafe { &*core::ptr::from_ref(self).cast::<T>() }
    }
}
