//! A deterministic random bit generator built on the ChaCha20 block function (RFC 8439),
//! used as a fast-key-erasure generator (D. J. Bernstein, "Fast-key-erasure random-number
//! generators", 2017).
//!
//! Why: a partition's Linux wants fresh `/chosen/kaslr-seed` ([`KASLR_SEED_BYTES`]) and
//! `/chosen/rng-seed` ([`RNG_SEED_BYTES`]) at every boot (see [`crate::boot_seed`]). Asking
//! the hardware generator each time (virtio-rng on QEMU virt, iproc-rng200 on the
//! Raspberry Pi 4, or `RNDR`) would make a restart wait on a device, or fail with it. So
//! the hypervisor asks it once, at boot, for one [`SEED_BYTES`] seed, keys a [`Drbg`] with
//! it, [`Drbg::split`]s off one generator per partition, and fills both seeds from the
//! partition's generator at every (re)start: no device access after boot.
//!
//! Fast key erasure: every [`Drbg::fill`] replaces the key with keystream that is never
//! output, so the state kept afterwards cannot recompute what was handed out before
//! (backtracking resistance). This only holds for the key itself: the keystream blocks
//! computed on the stack are not wiped, because safe Rust has no store the compiler must
//! keep (a volatile write needs `unsafe`); that relies on no partition being able to read
//! the hypervisor's stacks.
//!
//! [`KASLR_SEED_BYTES`]: crate::boot_seed::KASLR_SEED_BYTES
//! [`RNG_SEED_BYTES`]: crate::boot_seed::RNG_SEED_BYTES

use core::fmt;

/// Bytes of a DRBG key / seed.
pub const SEED_BYTES: usize = 32;
/// Bytes of one ChaCha20 block (RFC 8439 §2.3).
const BLOCK_BYTES: usize = 64;
/// Bytes of a ChaCha20 nonce (RFC 8439 §2.3).
const NONCE_BYTES: usize = 12;
/// Bytes of a state word; every word is serialised little-endian (RFC 8439 §2.1).
const WORD_BYTES: usize = 4;
/// "expand 32-byte k", the first four words of every state (RFC 8439 §2.3).
const CONSTANTS: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];
/// ChaCha20 runs 20 rounds: 10 pairs of a column round and a diagonal round.
const DOUBLE_ROUNDS: usize = 10;
/// Blocks generated under one key, counter 0 to `BLOCKS_PER_KEY - 1`; far below the 32-bit
/// block counter's range, so the counter never wraps.
const BLOCKS_PER_KEY: usize = 16;
/// Output bytes one key yields: its blocks less the [`SEED_BYTES`] that become the next key.
/// A longer request is served in segments of this size, each from a fresh key, as if it
/// were that many requests in a row.
const SEGMENT_BYTES: usize = BLOCKS_PER_KEY * BLOCK_BYTES - SEED_BYTES;

/// ChaCha20 block function, RFC 8439 §2.3: 64 bytes of keystream.
pub fn chacha20_block(
    key: &[u8; SEED_BYTES],
    counter: u32,
    nonce: &[u8; NONCE_BYTES],
) -> [u8; BLOCK_BYTES] {
    let key_words: [u32; 8] = le_words(key);
    let nonce_words: [u32; 3] = le_words(nonce);
    let [c0, c1, c2, c3] = CONSTANTS;
    let [k0, k1, k2, k3, k4, k5, k6, k7] = key_words;
    let [n0, n1, n2] = nonce_words;
    let initial = [c0, c1, c2, c3, k0, k1, k2, k3, k4, k5, k6, k7, counter, n0, n1, n2];

    let [
        mut x0, mut x1, mut x2, mut x3, mut x4, mut x5, mut x6, mut x7,
        mut x8, mut x9, mut x10, mut x11, mut x12, mut x13, mut x14, mut x15,
    ] = initial;
    // BOUND: DOUBLE_ROUNDS (10) turns.
    for _ in 0..DOUBLE_ROUNDS {
        // Column round.
        (x0, x4, x8, x12) = quarter_round(x0, x4, x8, x12);
        (x1, x5, x9, x13) = quarter_round(x1, x5, x9, x13);
        (x2, x6, x10, x14) = quarter_round(x2, x6, x10, x14);
        (x3, x7, x11, x15) = quarter_round(x3, x7, x11, x15);
        // Diagonal round.
        (x0, x5, x10, x15) = quarter_round(x0, x5, x10, x15);
        (x1, x6, x11, x12) = quarter_round(x1, x6, x11, x12);
        (x2, x7, x8, x13) = quarter_round(x2, x7, x8, x13);
        (x3, x4, x9, x14) = quarter_round(x3, x4, x9, x14);
    }
    let mixed = [x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15];

    let mut block = [0u8; BLOCK_BYTES];
    let words = mixed.into_iter().zip(initial).map(|(word, start)| word.wrapping_add(start));
    for (target, byte) in block.iter_mut().zip(words.flat_map(u32::to_le_bytes)) {
        *target = byte;
    }
    block
}

/// The ChaCha quarter round (RFC 8439 §2.1); additions are mod 2^32.
const fn quarter_round(mut a: u32, mut b: u32, mut c: u32, mut d: u32) -> (u32, u32, u32, u32) {
    a = a.wrapping_add(b);
    d = (d ^ a).rotate_left(16);
    c = c.wrapping_add(d);
    b = (b ^ c).rotate_left(12);
    a = a.wrapping_add(b);
    d = (d ^ a).rotate_left(8);
    c = c.wrapping_add(d);
    b = (b ^ c).rotate_left(7);
    (a, b, c, d)
}

/// The little-endian 32-bit words of `bytes`, in order; `WORDS * 4` must equal its length
/// (missing words would stay zero).
fn le_words<const WORDS: usize>(bytes: &[u8]) -> [u32; WORDS] {
    let mut words = [0u32; WORDS];
    // BOUND: WORDS turns at most (the length of `words`).
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(WORD_BYTES)) {
        let mut serialised = [0u8; WORD_BYTES];
        for (target, &byte) in serialised.iter_mut().zip(chunk) {
            *target = byte;
        }
        *word = u32::from_le_bytes(serialised);
    }
    words
}

/// Fast-key-erasure generator (D. J. Bernstein, "Fast-key-erasure random-number
/// generators", 2017): ChaCha20 under the current key with a zero nonce, block counter
/// 0, 1, 2, …; the first [`SEED_BYTES`] of block 0 become the next key and the rest of the
/// keystream is the output.
///
/// Deliberately neither `Clone` nor `Copy`: a copy would repeat the original's output.
/// `Debug` shows no key.
pub struct Drbg {
    /// The ChaCha20 key of the next request; replaced by every non-empty request.
    key: [u8; SEED_BYTES],
}

impl Drbg {
    /// A generator keyed by `seed` (from a hardware generator, or from [`Drbg::split`]).
    pub const fn new(seed: [u8; SEED_BYTES]) -> Self {
        Self { key: seed }
    }

    /// Fills `out` with keystream, then replaces the key (so the state kept afterwards cannot
    /// reproduce `out`).
    ///
    /// Any length works. Up to 992 bytes (16 blocks under one key, less the next key) come
    /// from one key; a longer `out` is filled in 992-byte segments, each under the key the
    /// previous one left, exactly as that many shorter requests in a row would be. An empty
    /// `out` leaves the key as it is: nothing was handed out, so there is nothing to erase.
    pub fn fill(&mut self, out: &mut [u8]) {
        // BOUND: one turn per SEGMENT_BYTES of `out`, a finite slice.
        for segment in out.chunks_mut(SEGMENT_BYTES) {
            self.fill_segment(segment);
        }
    }

    /// A generator for one consumer (one partition), keyed from this one's output.
    pub fn split(&mut self) -> Drbg {
        let mut child_seed = [0u8; SEED_BYTES];
        self.fill(&mut child_seed);
        Drbg::new(child_seed)
    }

    /// Fills `segment` (at most [`SEGMENT_BYTES`]) from the current key and rekeys.
    fn fill_segment(&mut self, segment: &mut [u8]) {
        let zero_nonce = [0u8; NONCE_BYTES];
        let key = &self.key;
        let first = chacha20_block(key, 0, &zero_nonce);
        // Block 0 past the next key, then blocks 1, 2, … as `segment` needs them. The zip
        // takes from `segment` first, so no block is computed beyond its end; the inclusive
        // counter range ends instead of wrapping, and a segment needs at most
        // BLOCKS_PER_KEY - 1 of it.
        let later_blocks = (1..=u32::MAX).flat_map(|counter| chacha20_block(key, counter, &zero_nonce));
        let keystream = first.iter().copied().skip(SEED_BYTES).chain(later_blocks);
        // BOUND: one turn per byte of `segment`, at most SEGMENT_BYTES.
        for (target, byte) in segment.iter_mut().zip(keystream) {
            *target = byte;
        }
        for (key_byte, &byte) in self.key.iter_mut().zip(first.iter()) {
            *key_byte = byte;
        }
    }
}

impl fmt::Debug for Drbg {
    /// Prints `Drbg { .. }`: the key is secret.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("Drbg").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write as _;

    /// Bytes from a hex string with any whitespace.
    fn hex<const N: usize>(text: &str) -> [u8; N] {
        let digits: heapless::Vec<u8, 256> = text.bytes().filter(|byte| !byte.is_ascii_whitespace()).collect();
        assert_eq!(digits.len(), 2 * N, "hex length");
        let mut out = [0u8; N];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = u8::from_str_radix(core::str::from_utf8(pair).unwrap(), 16).unwrap();
        }
        out
    }

    /// The keystream a fresh `Drbg::new(key)` must produce for one request of `N` bytes
    /// (N ≤ 992), computed straight from the block function: block 0 from byte 32, then
    /// blocks 1, 2, …; and the key it leaves.
    fn expected_output<const N: usize>(key: &[u8; 32]) -> ([u8; N], [u8; 32]) {
        let mut stream = [0u8; 1024];
        for counter in 0..16u32 {
            let start = counter as usize * 64;
            stream[start..start + 64].copy_from_slice(&chacha20_block(key, counter, &[0; 12]));
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&stream[32..32 + N]);
        (out, stream[..32].try_into().unwrap())
    }

    #[test]
    fn quarter_round_matches_rfc_8439_section_2_1_1() {
        assert_eq!(
            quarter_round(0x1111_1111, 0x0102_0304, 0x9b8d_6f43, 0x0123_4567),
            (0xea2a_92f4, 0xcb1c_f8ce, 0x4581_472e, 0x5881_c4bb)
        );
    }

    #[test]
    fn block_matches_rfc_8439_section_2_3_2() {
        let key: [u8; 32] = core::array::from_fn(|index| index as u8);
        let nonce = hex::<12>("00 00 00 09 00 00 00 4a 00 00 00 00");
        let expected = hex::<64>(
            "10 f1 e7 e4 d1 3b 59 15 50 0f dd 1f a3 20 71 c4
             c7 d1 f4 c7 33 c0 68 03 04 22 aa 9a c3 d4 6c 4e
             d2 82 64 46 07 9f aa 09 14 c2 d7 05 d9 8b 02 a2
             b5 12 9c d1 de 16 4e b9 cb d0 83 e8 a2 50 3c 4e",
        );
        assert_eq!(chacha20_block(&key, 1, &nonce), expected);
    }

    #[test]
    fn blocks_match_rfc_8439_appendix_a_1() {
        let zero_key = [0u8; 32];
        let mut last_one_key = [0u8; 32];
        last_one_key[31] = 1;
        let mut ff_key = [0u8; 32];
        ff_key[1] = 0xff;
        let zero_nonce = [0u8; 12];
        let mut two_nonce = [0u8; 12];
        two_nonce[11] = 2;
        let vectors = [
            (
                "#1",
                &zero_key,
                0,
                &zero_nonce,
                "76 b8 e0 ad a0 f1 3d 90 40 5d 6a e5 53 86 bd 28
                 bd d2 19 b8 a0 8d ed 1a a8 36 ef cc 8b 77 0d c7
                 da 41 59 7c 51 57 48 8d 77 24 e0 3f b8 d8 4a 37
                 6a 43 b8 f4 15 18 a1 1c c3 87 b6 69 b2 ee 65 86",
            ),
            (
                "#2",
                &zero_key,
                1,
                &zero_nonce,
                "9f 07 e7 be 55 51 38 7a 98 ba 97 7c 73 2d 08 0d
                 cb 0f 29 a0 48 e3 65 69 12 c6 53 3e 32 ee 7a ed
                 29 b7 21 76 9c e6 4e 43 d5 71 33 b0 74 d8 39 d5
                 31 ed 1f 28 51 0a fb 45 ac e1 0a 1f 4b 79 4d 6f",
            ),
            (
                "#3",
                &last_one_key,
                1,
                &zero_nonce,
                "3a eb 52 24 ec f8 49 92 9b 9d 82 8d b1 ce d4 dd
                 83 20 25 e8 01 8b 81 60 b8 22 84 f3 c9 49 aa 5a
                 8e ca 00 bb b4 a7 3b da d1 92 b5 c4 2f 73 f2 fd
                 4e 27 36 44 c8 b3 61 25 a6 4a dd eb 00 6c 13 a0",
            ),
            (
                "#4",
                &ff_key,
                2,
                &zero_nonce,
                "72 d5 4d fb f1 2e c4 4b 36 26 92 df 94 13 7f 32
                 8f ea 8d a7 39 90 26 5e c1 bb be a1 ae 9a f0 ca
                 13 b2 5a a2 6c b4 a6 48 cb 9b 9d 1b e6 5b 2c 09
                 24 a6 6c 54 d5 45 ec 1b 73 74 f4 87 2e 99 f0 96",
            ),
            (
                "#5",
                &zero_key,
                0,
                &two_nonce,
                "c2 c6 4d 37 8c d5 36 37 4a e2 04 b9 ef 93 3f cd
                 1a 8b 22 88 b3 df a4 96 72 ab 76 5b 54 ee 27 c7
                 8a 97 0e 0e 95 5c 14 f3 a8 8e 74 1b 97 c2 86 f7
                 5f 8f c2 99 e8 14 83 62 fa 19 8a 39 53 1b ed 6d",
            ),
        ];
        for (name, key, counter, nonce, expected) in vectors {
            assert_eq!(chacha20_block(key, counter, nonce), hex::<64>(expected), "test vector {name}");
        }
    }

    #[test]
    fn the_first_fill_is_block_0_from_byte_32_then_the_following_blocks() {
        let seed = [0x5a; 32];
        let block0 = chacha20_block(&seed, 0, &[0; 12]);
        let block1 = chacha20_block(&seed, 1, &[0; 12]);
        let block2 = chacha20_block(&seed, 2, &[0; 12]);
        let mut short = [0u8; 32];
        Drbg::new(seed).fill(&mut short);
        assert_eq!(short, block0[32..]);
        let mut long = [0u8; 100];
        Drbg::new(seed).fill(&mut long);
        assert_eq!(long[..32], block0[32..]);
        assert_eq!(long[32..96], block1);
        assert_eq!(long[96..], block2[..4]);
        // The zero-key stream is RFC 8439 A.1 #1 and #2 (counters 0 and 1), so this pins the
        // generator to the published vectors too.
        let mut from_zero = [0u8; 32 + 64];
        Drbg::new([0; 32]).fill(&mut from_zero);
        let vector_1_tail = hex::<32>(
            "da 41 59 7c 51 57 48 8d 77 24 e0 3f b8 d8 4a 37
             6a 43 b8 f4 15 18 a1 1c c3 87 b6 69 b2 ee 65 86",
        );
        assert_eq!(from_zero[..32], vector_1_tail);
        assert_eq!(from_zero[32..36], [0x9f, 0x07, 0xe7, 0xbe]);
    }

    #[test]
    fn a_fill_matches_the_block_function_for_every_length_up_to_one_key() {
        let seed = [0x17; 32];
        let (expected, _) = expected_output::<992>(&seed);
        for length in [0usize, 1, 31, 32, 33, 63, 64, 65, 72, 96, 97, 200, 991, 992] {
            let mut out = [0u8; 992];
            Drbg::new(seed).fill(&mut out[..length]);
            assert_eq!(out[..length], expected[..length], "length {length}");
            assert!(out[length..].iter().all(|&byte| byte == 0), "length {length} wrote past its end");
        }
    }

    #[test]
    fn a_fill_replaces_the_key_with_the_first_half_of_block_0() {
        let seed = [0xc3; 32];
        let next_key: [u8; 32] = chacha20_block(&seed, 0, &[0; 12])[..32].try_into().unwrap();
        for first_length in [1usize, 32, 72, 200] {
            let mut generator = Drbg::new(seed);
            let mut first = [0u8; 200];
            generator.fill(&mut first[..first_length]);
            let mut second = [0u8; 72];
            generator.fill(&mut second);
            let mut from_next_key = [0u8; 72];
            Drbg::new(next_key).fill(&mut from_next_key);
            assert_eq!(second, from_next_key, "after a fill of {first_length}");
        }
    }

    #[test]
    fn an_empty_fill_keeps_the_key() {
        let mut generator = Drbg::new([9; 32]);
        generator.fill(&mut []);
        let mut after_empty = [0u8; 40];
        generator.fill(&mut after_empty);
        let mut fresh = [0u8; 40];
        Drbg::new([9; 32]).fill(&mut fresh);
        assert_eq!(after_empty, fresh);
    }

    #[test]
    fn consecutive_fills_differ() {
        let mut generator = Drbg::new([1; 32]);
        let mut previous = [0u8; 72];
        generator.fill(&mut previous);
        for _ in 0..8 {
            let mut next = [0u8; 72];
            generator.fill(&mut next);
            assert_ne!(next, previous);
            previous = next;
        }
    }

    #[test]
    fn fills_of_any_length_do_not_repeat_a_prefix() {
        for length in [0usize, 1, 31, 32, 33, 64, 72, 200] {
            let mut generator = Drbg::new([0x42; 32]);
            let mut out = [0u8; 200];
            generator.fill(&mut out[..length]);
            if length > 32 {
                // The bytes past the first 32 do not start over with the first 32.
                assert_ne!(out[32..64.min(length)], out[..64.min(length) - 32], "length {length}");
            }
            if length >= 64 {
                assert_ne!(out[..32], out[32..64], "length {length}");
            }
        }
    }

    #[test]
    fn a_long_request_is_served_as_segments_each_under_the_key_the_last_one_left() {
        let seed = [0x3c; 32];
        let mut long = [0u8; 4096];
        Drbg::new(seed).fill(&mut long);
        // The same bytes from requests of at most one segment each.
        let mut key = seed;
        for segment in long.chunks(992) {
            let (expected, next_key) = expected_output::<992>(&key);
            assert_eq!(segment, &expected[..segment.len()]);
            key = next_key;
        }
        // And the key left at the end is the one the last segment produced.
        let mut generator = Drbg::new(seed);
        generator.fill(&mut long);
        let mut after = [0u8; 16];
        generator.fill(&mut after);
        let mut expected_after = [0u8; 16];
        Drbg::new(key).fill(&mut expected_after);
        assert_eq!(after, expected_after);
        // No 64-byte block of the long output repeats another.
        for (index, block) in long.chunks(64).enumerate() {
            assert!(long.chunks(64).skip(index + 1).all(|other| other != block));
        }
    }

    #[test]
    fn split_children_differ_from_each_other_and_from_the_parent() {
        let mut parent = Drbg::new([0xee; 32]);
        let mut first_child = parent.split();
        let mut second_child = parent.split();
        let mut parent_next = [0u8; 72];
        parent.fill(&mut parent_next);
        let mut first = [0u8; 72];
        first_child.fill(&mut first);
        let mut second = [0u8; 72];
        second_child.fill(&mut second);
        assert_ne!(first, second);
        assert_ne!(first, parent_next);
        assert_ne!(second, parent_next);
        // Splitting is deterministic: the same seed gives the same children.
        let mut again = Drbg::new([0xee; 32]);
        let mut first_again = [0u8; 72];
        again.split().fill(&mut first_again);
        assert_eq!(first, first_again);
    }

    #[test]
    fn debug_prints_no_key() {
        let generator = Drbg::new([0xab; 32]);
        let mut text: heapless::String<64> = heapless::String::new();
        write!(text, "{generator:?}").unwrap();
        assert_eq!(text.as_str(), "Drbg { .. }");
    }

    #[test]
    fn drbg_is_neither_clone_nor_copy() {
        // Both impls apply only if `Drbg: Clone` (Copy implies Clone); the call below
        // would then be ambiguous and this test would not compile.
        trait AmbiguousIfClone<Marker> {
            fn check() {}
        }
        impl<T> AmbiguousIfClone<()> for T {}
        impl<T: Clone> AmbiguousIfClone<u8> for T {}
        <Drbg as AmbiguousIfClone<_>>::check();
    }
}
