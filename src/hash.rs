//! Stable hashes that never change between releases (they name data on disk and seed the
//! simulation): FNV-1a of bytes, SplitMix64's mixer, and hex for digests. Pure, no I/O.

/// A stable 64-bit hash (FNV-1a): of an LLM name (adding an LLM leaves the others' simulated
/// data unchanged), a migration's text, a run's parameters, the catalogue's fingerprint.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// SplitMix64's finaliser: spreads nearby inputs (seed 1, 2, 3) far apart.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Lower-case hex of `bytes` (a digest, or a prefix of one).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_the_published_ones() {
        // FNV-1a's reference values: a change here would reshuffle every stored hash.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        assert_ne!(splitmix64(1), splitmix64(2));
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
