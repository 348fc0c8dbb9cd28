//! Tool-call ids: `call_` and 24 alphanumerics from a seeded generator, so tests can fix them.

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Number of random characters after `call_`.
const ID_CHARS: usize = 24;

/// A source of unique-looking tool-call ids (`call_` + 24 alphanumerics); the same seed gives
/// the same ids.
#[derive(Debug, Clone)]
pub struct CallIds {
    state: u64,
}

impl CallIds {
    /// Ids from a fixed seed (reproducible).
    pub fn seeded(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Ids from a random seed.
    pub fn random() -> Self {
        Self::seeded(rand::random())
    }

    /// The next id.
    pub fn next_id(&mut self) -> String {
        let mut id = String::with_capacity(5 + ID_CHARS);
        id.push_str("call_");
        let mut word = 0u64;
        for i in 0..ID_CHARS {
            if i % 8 == 0 {
                word = self.next_u64();
            }
            id.push(ALPHABET[(word % ALPHABET.len() as u64) as usize] as char);
            word /= ALPHABET.len() as u64;
        }
        id
    }

    /// SplitMix64: a well-mixed 64-bit sequence from a counter.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_reproducible_well_formed_and_distinct() {
        let mut a = CallIds::seeded(7);
        let mut b = CallIds::seeded(7);
        let ids: Vec<String> = (0..100).map(|_| a.next_id()).collect();
        assert_eq!(ids[0], b.next_id());
        for id in &ids {
            assert_eq!(id.len(), 29);
            assert!(id.starts_with("call_"));
            assert!(id[5..].chars().all(|c| c.is_ascii_alphanumeric()));
        }
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }
}
