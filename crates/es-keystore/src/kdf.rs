//! PBKDF2-HMAC-SHA512 for keystore keys (at most one 64-byte output block; keys are 16 bytes).
//!
//! Why not just `pbkdf2::pbkdf2_hmac::<Sha512>`: a format-6 keystore costs 210,000 iterations,
//! i.e. 420,000 SHA-512 compressions, per open and again per save, and `keystore add`,
//! `list` and every `setup` run pay for it. The generic HMAC loop spends a good share of
//! that on buffer handling and byte-order conversions, and the stock SHA-512 compression
//! keeps the integer units busy with the message schedule. This module removes both:
//!
//! - Every iteration hashes exactly one 128-byte block whose last 64 bytes are constant
//!   (the previous 64-byte digest, then SHA-512 padding for a 192-byte message: the 128-byte
//!   HMAC pad block was already absorbed into the precomputed inner/outer states). So the
//!   loop works on eight `u64` words end to end, with no byte buffers at all.
//! - On x86-64 with AVX2 and BMI2, the compression computes the message schedule in SIMD
//!   registers, two words at a time, interleaved with the scalar rounds (which use BMI2's
//!   `rorx`), so the two halves of the work run on different execution units. With
//!   AVX-512VL the schedule uses native 64-bit vector rotates.
//! - Anywhere else the same word-level loop runs on `sha2::compress512`.
//!
//! The kernel is chosen by runtime CPU detection only, never by build profile, so what the
//! tests run is what users run. The SIMD kernels need their intrinsics inlined, so build
//! this crate optimized even in dev/test profiles (the workspace root sets
//! `[profile.dev.package.es-keystore] opt-level = 3`; a debug build is correct, just slow).
//!
//! Every kernel is checked against the RustCrypto `pbkdf2` crate over password and salt
//! lengths 0–300 (including the 128-byte block boundary), iteration counts up to a few
//! thousand and key lengths 1–64, and against the keystores written by Elasticsearch
//! (`tests/kdf_kernels.rs`, `tests/fixtures.rs`); a kernel the CPU lacks is reported there as
//! skipped.

use sha2::digest::generic_array::GenericArray;
use sha2::digest::typenum::U128;
use sha2::Digest;
use zeroize::{Zeroize, Zeroizing};

/// SHA-512 initial hash value (FIPS 180-4, 5.3.5).
const SHA512_IV: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

/// Words 8..16 of every iterated block: the 0x80 padding byte, zeros, and the message
/// length in bits (128-byte pad block + 64-byte digest = 1536 bits).
const PAD_WORD: u64 = 0x8000_0000_0000_0000;
const LENGTH_BITS: u64 = (128 + 64) * 8;

/// SHA-512 block size, which is also the HMAC key block size.
const BLOCK_LEN: usize = 128;
/// The largest output one PBKDF2 block gives (one SHA-512 digest).
pub const MAX_OUTPUT_LEN: usize = 64;

/// Why a derivation was refused. Nothing is written to the output when it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KdfError {
    /// The requested key is empty or longer than one PBKDF2 block (64 bytes): this module
    /// computes only the first block, and would otherwise return a key shorter than asked.
    #[error("PBKDF2-HMAC-SHA512 key length {len} is not supported: it must be 1 to 64 bytes")]
    OutputLength {
        /// The requested key length in bytes.
        len: usize,
    },
    /// The kernel asked for needs CPU features this machine does not have.
    #[error("PBKDF2 kernel {kernel:?} is not supported by this CPU")]
    Unsupported {
        /// The kernel that was asked for.
        kernel: Kernel,
    },
}

/// The PBKDF2 implementations; [`Kernel::detect`] picks the fastest this CPU supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Word-level loop on `sha2::compress512`.
    Portable,
    /// SIMD message schedule (AVX2) with BMI2 scalar rounds.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// As `Avx2`, with AVX-512VL rotates in the schedule.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernel {
    /// Every kernel compiled for this architecture, supported by this CPU or not.
    pub const ALL: &'static [Kernel] = &[
        Kernel::Portable,
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2,
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512,
    ];

    /// The fastest kernel this CPU supports. Runtime detection only: the build profile does
    /// not matter (see the module docs).
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("bmi1")
                && std::arch::is_x86_feature_detected!("bmi2");
            if avx2
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                return Kernel::Avx512;
            }
            if avx2 {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }

    /// Whether this CPU can run the kernel (always true for `Portable`).
    pub fn is_supported(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("bmi1")
                    && std::arch::is_x86_feature_detected!("bmi2")
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                Kernel::Avx2.is_supported()
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
        }
    }
}

/// PBKDF2-HMAC-SHA512(password, salt, iterations) as an `N`-byte key, on the fastest
/// kernel this CPU has. `N` must be 1 to 64 (one PBKDF2 block; keystore keys are 16 bytes):
/// any other length does not compile, so a short key can never come back silently.
/// `iterations` of 0 is treated as 1, as PBKDF2 defines no zero-iteration result.
///
/// ```
/// let key = es_keystore::kdf::pbkdf2_hmac_sha512::<16>(b"password", b"salt", 4096);
/// assert_eq!(key[..4], [0xd1, 0x97, 0xb1, 0xb3]);
/// ```
pub fn pbkdf2_hmac_sha512<const N: usize>(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Zeroizing<[u8; N]> {
    const {
        assert!(
            N >= 1 && N <= MAX_OUTPUT_LEN,
            "PBKDF2 key length must be 1 to 64 bytes"
        )
    };
    let mut out = Zeroizing::new([0u8; N]);
    derive(Kernel::detect(), password, salt, iterations, out.as_mut());
    out
}

/// PBKDF2-HMAC-SHA512 on an explicit kernel into `out`, for tests and benchmarks that
/// compare kernels. Refuses (and leaves `out` untouched) when the CPU lacks the kernel's
/// features or `out` is not 1 to 64 bytes long, instead of quietly doing something else.
pub fn pbkdf2_with(
    kernel: Kernel,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    out: &mut [u8],
) -> Result<(), KdfError> {
    if !kernel.is_supported() {
        return Err(KdfError::Unsupported { kernel });
    }
    if out.is_empty() || out.len() > MAX_OUTPUT_LEN {
        return Err(KdfError::OutputLength { len: out.len() });
    }
    derive(kernel, password, salt, iterations, out);
    Ok(())
}

/// The derivation itself; callers have checked that `kernel` is supported and
/// `1 <= out.len() <= 64`.
fn derive(kernel: Kernel, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    debug_assert!(kernel.is_supported() && !out.is_empty() && out.len() <= MAX_OUTPUT_LEN);
    // HMAC key block: the password, or its SHA-512 if longer than a block, zero-padded.
    let mut key_block = Zeroizing::new([0u8; BLOCK_LEN]);
    if password.len() > BLOCK_LEN {
        key_block[..64].copy_from_slice(&sha2::Sha512::digest(password));
    } else {
        key_block[..password.len()].copy_from_slice(password);
    }
    let inner = Zeroizing::new(pad_state(&key_block, 0x36));
    let outer = Zeroizing::new(pad_state(&key_block, 0x5c));

    // U1 = HMAC(password, salt || INT(1)), finished with the standard padding code.
    let mut u = Zeroizing::new(first_block(&inner, &outer, salt));
    let mut acc = Zeroizing::new(*u);
    let rest = iterations.max(1) - 1;
    match kernel {
        Kernel::Portable => iterate_portable(&inner, &outer, &mut u, &mut acc, rest),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the callers of `derive` checked `is_supported`, i.e. the CPU has the
        // features these kernels are compiled for.
        Kernel::Avx2 => unsafe { x86::iterate_avx2(&inner, &outer, &mut u, &mut acc, rest) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::Avx512 => unsafe { x86::iterate_avx512(&inner, &outer, &mut u, &mut acc, rest) },
    }

    let mut digest = Zeroizing::new([0u8; MAX_OUTPUT_LEN]);
    for (chunk, word) in digest.chunks_exact_mut(8).zip(acc.iter()) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    let n = out.len();
    out.copy_from_slice(&digest[..n]);
}

/// SHA-512 state after absorbing the key block XOR `pad` (HMAC's ipad/opad).
fn pad_state(key_block: &[u8; BLOCK_LEN], pad: u8) -> [u64; 8] {
    let mut block = GenericArray::clone_from_slice(key_block);
    block.iter_mut().for_each(|b| *b ^= pad);
    let mut state = SHA512_IV;
    sha2::compress512(&mut state, std::slice::from_ref(&block));
    block.zeroize();
    state
}

/// Finish a SHA-512 whose first 128-byte block is already in `state`, over `tail`.
fn finish(state: &[u64; 8], tail: &[u8]) -> [u64; 8] {
    let mut st = *state;
    let total_bits = ((BLOCK_LEN + tail.len()) as u128) * 8;
    // Message tail, 0x80, zeros, 128-bit length: one or more whole blocks.
    let blocks_len = (tail.len() + 1 + 16).div_ceil(BLOCK_LEN) * BLOCK_LEN;
    let mut buf = Zeroizing::new(vec![0u8; blocks_len]);
    buf[..tail.len()].copy_from_slice(tail);
    buf[tail.len()] = 0x80;
    buf[blocks_len - 16..].copy_from_slice(&total_bits.to_be_bytes());
    let blocks: Vec<GenericArray<u8, _>> = buf
        .chunks_exact(BLOCK_LEN)
        .map(GenericArray::clone_from_slice)
        .collect();
    sha2::compress512(&mut st, &blocks);
    let mut blocks = blocks;
    blocks.iter_mut().for_each(|b| b.zeroize());
    st
}

fn words_to_bytes(words: &[u64; 8]) -> Zeroizing<[u8; 64]> {
    let mut out = Zeroizing::new([0u8; 64]);
    for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// U1 = HMAC(key, salt || 00 00 00 01) as words.
fn first_block(inner: &[u64; 8], outer: &[u64; 8], salt: &[u8]) -> [u64; 8] {
    let mut msg = Zeroizing::new(Vec::with_capacity(salt.len() + 4));
    msg.extend_from_slice(salt);
    msg.extend_from_slice(&1u32.to_be_bytes());
    let inner_digest = words_to_bytes(&finish(inner, &msg));
    finish(outer, inner_digest.as_ref())
}

/// The iterated block `words || padding for a 192-byte message`, kept as big-endian `u64`s
/// so refilling it is eight byte swaps (this path also serves unoptimized debug builds,
/// where per-byte copying would cost more than the hashing itself).
#[repr(C)]
struct PaddedBlock([u64; 16]);

impl PaddedBlock {
    fn new() -> Self {
        let mut words = [0u64; 16];
        words[8] = PAD_WORD.to_be();
        words[15] = LENGTH_BITS.to_be();
        PaddedBlock(words)
    }

    fn load(&mut self, words: &[u64; 8]) {
        let w = &mut self.0;
        w[0] = words[0].to_be();
        w[1] = words[1].to_be();
        w[2] = words[2].to_be();
        w[3] = words[3].to_be();
        w[4] = words[4].to_be();
        w[5] = words[5].to_be();
        w[6] = words[6].to_be();
        w[7] = words[7].to_be();
    }

    fn as_block(&self) -> &GenericArray<u8, U128> {
        // SAFETY: `[u64; 16]` is 128 initialized bytes without padding, every byte pattern is
        // a valid `u8`, alignment only decreases, and the slice borrows `self`.
        let bytes: &[u8] =
            unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast::<u8>(), BLOCK_LEN) };
        GenericArray::from_slice(bytes)
    }
}

/// Iterations 2..=n: U_i = HMAC(U_{i-1}), acc ^= U_i.
fn iterate_portable(
    inner: &[u64; 8],
    outer: &[u64; 8],
    u: &mut [u64; 8],
    acc: &mut [u64; 8],
    rest: u32,
) {
    let mut block = PaddedBlock::new();
    let mut state = [0u64; 8];
    for _ in 0..rest {
        block.load(u);
        state = *inner;
        sha2::compress512(&mut state, std::slice::from_ref(block.as_block()));
        block.load(&state);
        *u = *outer;
        sha2::compress512(u, std::slice::from_ref(block.as_block()));
        acc[0] ^= u[0];
        acc[1] ^= u[1];
        acc[2] ^= u[2];
        acc[3] ^= u[3];
        acc[4] ^= u[4];
        acc[5] ^= u[5];
        acc[6] ^= u[6];
        acc[7] ^= u[7];
    }
    block.0.zeroize();
    state.zeroize();
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The SIMD-schedule compression. Layout of one compression of the block
    //! `W[0..8] = input words, W[8..16] = padding`:
    //! - eight 128-bit registers `x0..x7` hold the last 16 schedule words, two per register;
    //! - each pair of rounds first computes the next two schedule words (16 ahead) in SIMD
    //!   and stores `W + K` for them into `kw`, then runs two scalar rounds reading `kw`;
    //! - round variables are renamed by macro arguments instead of being moved.

    use core::arch::x86_64::*;

    use zeroize::Zeroize;

    /// SHA-512 round constants (FIPS 180-4, 4.2.3).
    const K: [u64; 80] = [
        0x428a2f98d728ae22,
        0x7137449123ef65cd,
        0xb5c0fbcfec4d3b2f,
        0xe9b5dba58189dbbc,
        0x3956c25bf348b538,
        0x59f111f1b605d019,
        0x923f82a4af194f9b,
        0xab1c5ed5da6d8118,
        0xd807aa98a3030242,
        0x12835b0145706fbe,
        0x243185be4ee4b28c,
        0x550c7dc3d5ffb4e2,
        0x72be5d74f27b896f,
        0x80deb1fe3b1696b1,
        0x9bdc06a725c71235,
        0xc19bf174cf692694,
        0xe49b69c19ef14ad2,
        0xefbe4786384f25e3,
        0x0fc19dc68b8cd5b5,
        0x240ca1cc77ac9c65,
        0x2de92c6f592b0275,
        0x4a7484aa6ea6e483,
        0x5cb0a9dcbd41fbd4,
        0x76f988da831153b5,
        0x983e5152ee66dfab,
        0xa831c66d2db43210,
        0xb00327c898fb213f,
        0xbf597fc7beef0ee4,
        0xc6e00bf33da88fc2,
        0xd5a79147930aa725,
        0x06ca6351e003826f,
        0x142929670a0e6e70,
        0x27b70a8546d22ffc,
        0x2e1b21385c26c926,
        0x4d2c6dfc5ac42aed,
        0x53380d139d95b3df,
        0x650a73548baf63de,
        0x766a0abb3c77b2a8,
        0x81c2c92e47edaee6,
        0x92722c851482353b,
        0xa2bfe8a14cf10364,
        0xa81a664bbc423001,
        0xc24b8b70d0f89791,
        0xc76c51a30654be30,
        0xd192e819d6ef5218,
        0xd69906245565a910,
        0xf40e35855771202a,
        0x106aa07032bbd1b8,
        0x19a4c116b8d2d0c8,
        0x1e376c085141ab53,
        0x2748774cdf8eeb99,
        0x34b0bcb5e19b48a8,
        0x391c0cb3c5c95a63,
        0x4ed8aa4ae3418acb,
        0x5b9cca4f7763e373,
        0x682e6ff3d6b2b8a3,
        0x748f82ee5defb2fc,
        0x78a5636f43172f60,
        0x84c87814a1f0ab72,
        0x8cc702081a6439ec,
        0x90befffa23631e28,
        0xa4506cebde82bde9,
        0xbef9a3f7b2c67915,
        0xc67178f2e372532b,
        0xca273eceea26619c,
        0xd186b8c721c0c207,
        0xeada7dd6cde0eb1e,
        0xf57d4f7fee6ed178,
        0x06f067aa72176fba,
        0x0a637dc5a2c898a6,
        0x113f9804bef90dae,
        0x1b710b35131c471b,
        0x28db77f523047d84,
        0x32caab7b40c72493,
        0x3c9ebe0a15c9bebc,
        0x431d67c49c100d4c,
        0x4cc5d4becb3e42b6,
        0x597f299cfc657e2a,
        0x5fcb6fab3ad6faec,
        0x6c44198c4a475817,
    ];

    /// `W + K` for the 80 rounds of one compression, 16-byte aligned for vector stores.
    #[repr(C, align(16))]
    pub(super) struct Schedule([u64; 80]);

    impl Zeroize for Schedule {
        fn zeroize(&mut self) {
            self.0.zeroize();
        }
    }

    // σ0(x) = ror1 ^ ror8 ^ shr7 and σ1(x) = ror19 ^ ror61 ^ shr6 on both 64-bit lanes.
    // AVX2 has no 64-bit rotate, so a rotate is two shifts; XOR of the halves is the OR.
    macro_rules! small_sigma0_avx2 {
        ($x:expr) => {{
            let x = $x;
            _mm_xor_si128(
                _mm_xor_si128(
                    _mm_xor_si128(_mm_srli_epi64::<1>(x), _mm_slli_epi64::<63>(x)),
                    _mm_xor_si128(_mm_srli_epi64::<8>(x), _mm_slli_epi64::<56>(x)),
                ),
                _mm_srli_epi64::<7>(x),
            )
        }};
    }
    macro_rules! small_sigma1_avx2 {
        ($x:expr) => {{
            let x = $x;
            _mm_xor_si128(
                _mm_xor_si128(
                    _mm_xor_si128(_mm_srli_epi64::<19>(x), _mm_slli_epi64::<45>(x)),
                    _mm_xor_si128(_mm_srli_epi64::<61>(x), _mm_slli_epi64::<3>(x)),
                ),
                _mm_srli_epi64::<6>(x),
            )
        }};
    }
    // AVX-512VL: native rotates, and one ternary-logic op (0x96 = a ^ b ^ c) for the XORs.
    macro_rules! small_sigma0_avx512 {
        ($x:expr) => {{
            let x = $x;
            _mm_ternarylogic_epi64::<0x96>(
                _mm_ror_epi64::<1>(x),
                _mm_ror_epi64::<8>(x),
                _mm_srli_epi64::<7>(x),
            )
        }};
    }
    macro_rules! small_sigma1_avx512 {
        ($x:expr) => {{
            let x = $x;
            _mm_ternarylogic_epi64::<0x96>(
                _mm_ror_epi64::<19>(x),
                _mm_ror_epi64::<61>(x),
                _mm_srli_epi64::<6>(x),
            )
        }};
    }

    // One new pair of schedule words: W[t..t+2] = W[t-16..] + σ0(W[t-15..]) + W[t-7..]
    // + σ1(W[t-2..]); `alignr` builds the odd-aligned pairs.
    macro_rules! schedule_pair {
        ($s0:ident, $s1:ident, $x0:ident, $x1:ident, $x4:ident, $x5:ident, $x7:ident) => {{
            let w15 = _mm_alignr_epi8::<8>($x1, $x0);
            let w7 = _mm_alignr_epi8::<8>($x5, $x4);
            $x0 = _mm_add_epi64(_mm_add_epi64($x0, $s0!(w15)), _mm_add_epi64(w7, $s1!($x7)));
        }};
    }

    macro_rules! round {
        ($kw:expr, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {
            let s1 = $e.rotate_right(14) ^ $e.rotate_right(18) ^ $e.rotate_right(41);
            let ch = (($f ^ $g) & $e) ^ $g;
            let t1 = $h.wrapping_add($kw).wrapping_add(ch).wrapping_add(s1);
            let s0 = $a.rotate_right(28) ^ $a.rotate_right(34) ^ $a.rotate_right(39);
            let maj = ($a & $b) | ($c & ($a | $b));
            $d = $d.wrapping_add(t1);
            $h = t1.wrapping_add(s0).wrapping_add(maj);
        };
    }

    // Rounds t and t+1; first schedules the pair for t+16 (while there is one) and stores
    // its W + K.
    macro_rules! two_rounds {
        ($s0:ident, $s1:ident, $kw:ident, $t:expr, $x0:ident, $x1:ident, $x4:ident, $x5:ident, $x7:ident,
         $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {
            if $t + 16 < 80 {
                schedule_pair!($s0, $s1, $x0, $x1, $x4, $x5, $x7);
                // SAFETY: `$t` is even and `$t + 16 < 80`, so words `$t + 16` and `$t + 17`
                // lie inside both 80-word arrays; the unaligned load reads those two words of
                // `K`, and the aligned store is aligned because `Schedule` is 16-byte aligned
                // and an even word offset is a multiple of 16 bytes. `kw` is borrowed
                // mutably here and nowhere else.
                unsafe {
                    let k = _mm_loadu_si128(K.as_ptr().add($t + 16) as *const __m128i);
                    _mm_store_si128(
                        $kw.0.as_mut_ptr().add($t + 16) as *mut __m128i,
                        _mm_add_epi64($x0, k),
                    );
                }
            }
            round!($kw.0[$t], $a, $b, $c, $d, $e, $f, $g, $h);
            round!($kw.0[$t + 1], $h, $a, $b, $c, $d, $e, $f, $g);
        };
    }

    // Sixteen rounds; the schedule window and the round variables rotate by renaming.
    macro_rules! sixteen_rounds {
        ($s0:ident, $s1:ident, $kw:ident, $t:expr,
         $x0:ident, $x1:ident, $x2:ident, $x3:ident, $x4:ident, $x5:ident, $x6:ident, $x7:ident,
         $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {
            two_rounds!($s0, $s1, $kw, $t, $x0, $x1, $x4, $x5, $x7, $a, $b, $c, $d, $e, $f, $g, $h);
            two_rounds!(
                $s0,
                $s1,
                $kw,
                $t + 2,
                $x1,
                $x2,
                $x5,
                $x6,
                $x0,
                $g,
                $h,
                $a,
                $b,
                $c,
                $d,
                $e,
                $f
            );
            two_rounds!(
                $s0,
                $s1,
                $kw,
                $t + 4,
                $x2,
                $x3,
                $x6,
                $x7,
                $x1,
                $e,
                $f,
                $g,
                $h,
                $a,
                $b,
                $c,
                $d
            );
            two_rounds!(
                $s0,
                $s1,
                $kw,
                $t + 6,
                $x3,
                $x4,
                $x7,
                $x0,
                $x2,
                $c,
                $d,
                $e,
                $f,
                $g,
                $h,
                $a,
                $b
            );
            two_rounds!(
                $s0,
                $s1,
                $kw,
                $t + 8,
                $x4,
                $x5,
                $x0,
                $x1,
                $x3,
                $a,
                $b,
                $c,
                $d,
                $e,
                $f,
                $g,
                $h
            );
            two_rounds!(
                $s0,
                $s1,
                $kw,
                $t + 10,
                $x5,
                $x6,
                $x1,
                $x2,
                $x4,
                $g,
                $h,
                $a,
                $b,
                $c,
                $d,
                $e,
                $f
            );
            two_rounds!(
                $s0,
                $s1,
                $kw,
                $t + 12,
                $x6,
                $x7,
                $x2,
                $x3,
                $x5,
                $e,
                $f,
                $g,
                $h,
                $a,
                $b,
                $c,
                $d
            );
            two_rounds!(
                $s0,
                $s1,
                $kw,
                $t + 14,
                $x7,
                $x0,
                $x3,
                $x4,
                $x6,
                $c,
                $d,
                $e,
                $f,
                $g,
                $h,
                $a,
                $b
            );
        };
    }

    // state + compress(m[0..8] || padding for a 192-byte message).
    macro_rules! compress {
        ($s0:ident, $s1:ident, $kw:ident, $state:expr, $m:expr) => {{
            let state: &[u64; 8] = $state;
            let m: &[u64; 8] = $m;
            let mut x0 = _mm_set_epi64x(m[1] as i64, m[0] as i64);
            let mut x1 = _mm_set_epi64x(m[3] as i64, m[2] as i64);
            let mut x2 = _mm_set_epi64x(m[5] as i64, m[4] as i64);
            let mut x3 = _mm_set_epi64x(m[7] as i64, m[6] as i64);
            let mut x4 = _mm_set_epi64x(0, super::PAD_WORD as i64);
            let mut x5 = _mm_setzero_si128();
            let mut x6 = _mm_setzero_si128();
            let mut x7 = _mm_set_epi64x(super::LENGTH_BITS as i64, 0);
            for (i, x) in [x0, x1, x2, x3, x4, x5, x6, x7].into_iter().enumerate() {
                // SAFETY: `i < 8`, so words `2 * i` and `2 * i + 1` (at most 15) lie inside
                // both 80-word arrays; the store is 16-byte aligned because `Schedule` is and
                // `2 * i` words are a multiple of 16 bytes.
                unsafe {
                    let k = _mm_loadu_si128(K.as_ptr().add(2 * i) as *const __m128i);
                    _mm_store_si128(
                        $kw.0.as_mut_ptr().add(2 * i) as *mut __m128i,
                        _mm_add_epi64(x, k),
                    );
                }
            }
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
            sixteen_rounds!(
                $s0, $s1, $kw, 0, x0, x1, x2, x3, x4, x5, x6, x7, a, b, c, d, e, f, g, h
            );
            sixteen_rounds!(
                $s0, $s1, $kw, 16, x0, x1, x2, x3, x4, x5, x6, x7, a, b, c, d, e, f, g, h
            );
            sixteen_rounds!(
                $s0, $s1, $kw, 32, x0, x1, x2, x3, x4, x5, x6, x7, a, b, c, d, e, f, g, h
            );
            sixteen_rounds!(
                $s0, $s1, $kw, 48, x0, x1, x2, x3, x4, x5, x6, x7, a, b, c, d, e, f, g, h
            );
            sixteen_rounds!(
                $s0, $s1, $kw, 64, x0, x1, x2, x3, x4, x5, x6, x7, a, b, c, d, e, f, g, h
            );
            [
                state[0].wrapping_add(a),
                state[1].wrapping_add(b),
                state[2].wrapping_add(c),
                state[3].wrapping_add(d),
                state[4].wrapping_add(e),
                state[5].wrapping_add(f),
                state[6].wrapping_add(g),
                state[7].wrapping_add(h),
            ]
        }};
    }

    /// One kernel per instruction set; they differ only in the σ functions.
    macro_rules! kernel {
        ($name:ident, $features:literal, $s0:ident, $s1:ident) => {
            /// Iterations 2..=n of PBKDF2 (see `iterate_portable` in the parent module).
            ///
            /// # Safety
            /// The CPU must support the target features this function is compiled for.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn $name(
                inner: &[u64; 8],
                outer: &[u64; 8],
                u: &mut [u64; 8],
                acc: &mut [u64; 8],
                rest: u32,
            ) {
                let mut kw = Schedule([0; 80]);
                let mut h = [0u64; 8];
                for _ in 0..rest {
                    h = compress!($s0, $s1, kw, inner, u);
                    *u = compress!($s0, $s1, kw, outer, &h);
                    for (a, x) in acc.iter_mut().zip(u.iter()) {
                        *a ^= x;
                    }
                }
                h.zeroize();
                kw.zeroize();
            }
        };
    }

    kernel!(
        iterate_avx2,
        "avx2,bmi1,bmi2",
        small_sigma0_avx2,
        small_sigma1_avx2
    );
    kernel!(
        iterate_avx512,
        "avx2,bmi1,bmi2,avx512f,avx512vl",
        small_sigma0_avx512,
        small_sigma1_avx512
    );
}

// The differential test against the `pbkdf2` crate over every kernel is
// `tests/kdf_kernels.rs`; these cover this module's own contract.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_picks_a_supported_kernel_and_ignores_the_build_profile() {
        let k = Kernel::detect();
        assert!(k.is_supported());
        // The fastest supported kernel, whatever `debug_assertions` says.
        let fastest = Kernel::ALL.iter().rev().find(|k| k.is_supported()).copied();
        assert_eq!(Some(k), fastest);
    }

    #[test]
    fn known_answer_on_the_detected_kernel() {
        // PBKDF2-HMAC-SHA512("password", "salt", 4096), a widely published test vector.
        let expected = [
            0xd1, 0x97, 0xb1, 0xb3, 0x3d, 0xb0, 0x14, 0x3e, 0x01, 0x8b, 0x12, 0xf3, 0xd1, 0xd1,
            0x47, 0x9e,
        ];
        assert_eq!(
            *pbkdf2_hmac_sha512::<16>(b"password", b"salt", 4096),
            expected
        );
    }

    #[test]
    fn zero_iterations_count_as_one_and_short_outputs_are_prefixes() {
        let zero = pbkdf2_hmac_sha512::<16>(b"pw", b"salt", 0);
        let one = pbkdf2_hmac_sha512::<16>(b"pw", b"salt", 1);
        let full = pbkdf2_hmac_sha512::<64>(b"pw", b"salt", 1);
        assert_eq!(zero, one);
        assert_eq!(one[..], full[..16]);
    }

    #[test]
    fn a_key_longer_than_one_block_or_empty_is_refused_not_left_zero() {
        for len in [0usize, 65, 128] {
            let mut out = vec![0xeeu8; len];
            let err = pbkdf2_with(Kernel::Portable, b"pw", b"salt", 1, &mut out).unwrap_err();
            assert_eq!(err, KdfError::OutputLength { len });
            assert!(err.to_string().contains("1 to 64 bytes"), "{err}");
            assert!(out.iter().all(|b| *b == 0xee), "output touched on refusal");
        }
        let mut out = [0u8; 64];
        pbkdf2_with(Kernel::Portable, b"pw", b"salt", 1, &mut out).unwrap();
        assert!(
            out[32..].iter().any(|b| *b != 0),
            "the whole key is written"
        );
    }

    #[test]
    fn an_unsupported_kernel_is_refused_not_replaced() {
        match Kernel::ALL.iter().find(|k| !k.is_supported()) {
            Some(&kernel) => {
                let mut out = [0u8; 16];
                assert_eq!(
                    pbkdf2_with(kernel, b"pw", b"salt", 1, &mut out),
                    Err(KdfError::Unsupported { kernel })
                );
            }
            None => println!(
                "skipped: this CPU supports every kernel ({:?})",
                Kernel::ALL
            ),
        }
    }
}
