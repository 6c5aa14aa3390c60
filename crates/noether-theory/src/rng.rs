//! A tiny self-contained PRNG (SplitMix64) so the crate stays dependency-free.
//!
//! Used only by the bootstrap helper ([`crate::schedule::bootstrap_percentile_interval`]).
//! SplitMix64 (Steele, Lea & Flood 2014; the reference C code by S. Vigna): the state
//! advances by the golden-ratio increment `0x9E3779B97F4A7C15` and each output is the
//! state passed through the "mix13" finaliser. It passes BigCrush, has period 2^64 and is
//! fully determined by its 64-bit seed, which makes bootstrap intervals reproducible.
//! It is not cryptographic and not meant to reproduce any NumPy/PyTorch stream.

/// SplitMix64 generator. `SplitMix64::new(seed)` gives a reproducible stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// Creates a generator whose first output is `mix(seed + 0x9E3779B97F4A7C15)`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform double in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Unbiased uniform integer in `0..n` (Lemire's multiply-shift with rejection).
    /// Returns 0 when `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut m = (self.next_u64() as u128) * (n as u128);
        let mut low = m as u64;
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                m = (self.next_u64() as u128) * (n as u128);
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }
}
