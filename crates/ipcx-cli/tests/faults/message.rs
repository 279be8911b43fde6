//! The numbered message every round sends: its sequence number, a length
//! derived from it, and bytes derived from both, so that a torn, mixed or
//! misplaced message cannot pass for a good one.

/// The bytes of message `seq`: 8 bytes of seq, 2 of length, then payload.
pub fn encode(seq: u64, out: &mut Vec<u8>) {
    let len = (seq.wrapping_mul(7919) % 300) as u16;
    out.clear();
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend((0..usize::from(len)).map(|i| byte(seq, i)));
}

/// The sequence number of an intact message; `None` for anything else.
pub fn decode(bytes: &[u8]) -> Option<u64> {
    let seq = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let len = u16::from_le_bytes(bytes.get(8..10)?.try_into().ok()?);
    let payload = &bytes[10..];
    let intact = payload.len() == usize::from(len)
        && u64::from(len) == seq.wrapping_mul(7919) % 300
        && payload.iter().enumerate().all(|(i, b)| *b == byte(seq, i));
    intact.then_some(seq)
}

fn byte(seq: u64, i: usize) -> u8 {
    (seq.wrapping_mul(31) as usize).wrapping_add(i.wrapping_mul(7)) as u8
}

/// What the receiving side reported, in order.
#[derive(Debug, Default)]
pub struct Seen {
    pub seqs: Vec<u64>,
    pub corrupt: usize,
}

impl Seen {
    /// Checks the order: each message once, in order, none torn. `gaps`
    /// allows missing numbers (UDP may drop), never a repeat or a step back.
    pub fn check(&self, first: u64, gaps: bool, what: &str) {
        assert_eq!(
            self.corrupt, 0,
            "{what}: torn or corrupt messages delivered"
        );
        let mut want = first;
        for (i, &seq) in self.seqs.iter().enumerate() {
            let ok = if gaps { seq >= want } else { seq == want };
            assert!(
                ok,
                "{what}: message {i} is #{seq}, expected #{want}{}",
                if seq < want {
                    " (a duplicate or reordering)"
                } else {
                    " (messages lost)"
                }
            );
            want = seq + 1;
        }
    }

    /// The number after the last one seen (`first` if none).
    pub fn next(&self, first: u64) -> u64 {
        self.seqs.last().map_or(first, |s| s + 1)
    }
}
