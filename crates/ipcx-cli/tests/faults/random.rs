//! A small deterministic generator (xorshift64*) for kill points and
//! garbage: a run is repeated by its seed.

pub struct Rng(pub u64);

impl Rng {
    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.below(256) as u8).collect()
    }

    /// 1 to `most` random bytes.
    pub fn up_to(&mut self, most: u64) -> Vec<u8> {
        let n = 1 + self.below(most) as usize;
        self.bytes(n)
    }
}
