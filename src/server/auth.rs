//! API keys: the `X-API-KEY` header against the configured keys, in constant time.

use subtle::ConstantTimeEq;

use crate::config::Secret;

/// Keys published in documentation: fine on a laptop, never in production.
pub const WELL_KNOWN_KEYS: &[&str] = &["GPA-prince-edusei-2024"];

pub struct Keys(Vec<Secret>);

impl Keys {
    pub fn new(keys: &[Secret]) -> Keys {
        Keys(keys.iter().filter(|k| !k.is_empty()).cloned().collect())
    }

    /// True when `given` equals one of the keys. Every key is compared, each in constant time
    /// for its length, so timing tells nothing about which key or how much of it matched.
    pub fn accepts(&self, given: &[u8]) -> bool {
        let mut ok = subtle::Choice::from(0u8);
        for k in &self.0 {
            ok |= k.expose().as_bytes().ct_eq(given);
        }
        ok.into()
    }

    /// True when a documented key is configured.
    pub fn well_known_in_use(&self) -> bool {
        self.0.iter().any(|k| WELL_KNOWN_KEYS.contains(&k.expose()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_any_configured_key_and_nothing_else() {
        let keys = Keys::new(&[
            Secret::new("alpha-key"),
            Secret::new(""),
            Secret::new("beta"),
        ]);
        assert!(keys.accepts(b"alpha-key"));
        assert!(keys.accepts(b"beta"));
        assert!(!keys.accepts(b""));
        assert!(!keys.accepts(b"alpha"));
        assert!(!keys.accepts(b"alpha-key "));
        assert!(!keys.well_known_in_use());
        assert!(Keys::new(&[Secret::new("GPA-prince-edusei-2024")]).well_known_in_use());
    }
}
