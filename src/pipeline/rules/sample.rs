//! Which events a sample rule keeps: a hash of the key's values, so the same key gets the same
//! answer on every relay, for every sink and after every restart (a std `HashMap` hasher is
//! seeded per process, so it cannot be used here).

/// Whether the event whose key values are `values` is among the 1 in `rate` kept.
pub fn keeps<'v>(values: impl IntoIterator<Item = Option<&'v str>>, rate: u64) -> bool {
    rate <= 1 || stable_hash(values) % rate == 0
}

/// FNV-1a over the values (a missing value and an empty one differ; a separator byte keeps
/// `ab`,`c` apart from `a`,`bc`), then a SplitMix64 finalizer so that every bit of the result
/// depends on every byte: FNV's low bits alone are poorly mixed, and `% rate` reads them.
/// Eight lines, fixed for good: the kept set must not change with a dependency's version.
fn stable_hash<'v>(values: impl IntoIterator<Item = Option<&'v str>>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    let mut eat = |byte: u8| hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
    for value in values {
        match value {
            Some(text) => text.bytes().for_each(&mut eat),
            None => eat(0xff),
        }
        eat(0x1f);
    }
    let mut z = hash.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_never_changes_between_builds() {
        // Relays of different versions must keep the same sessions.
        assert_eq!(
            stable_hash([Some("10.0.0.1"), Some("53")]),
            0x2480_2419_1837_7437
        );
    }

    #[test]
    fn a_key_gets_one_answer_and_the_ratio_holds_over_many_keys() {
        let keys: Vec<String> = (0..10_000)
            .map(|n| format!("10.0.{}.{}", n / 256, n % 256))
            .collect();
        let kept = keys
            .iter()
            .filter(|k| keeps([Some(k.as_str())], 10))
            .count();
        assert!(
            (900..=1100).contains(&kept),
            "{kept} of 10 000 kept at 1 in 10"
        );
        for key in &keys {
            assert_eq!(
                keeps([Some(key.as_str())], 10),
                keeps([Some(key.as_str())], 10)
            );
        }
        assert_ne!(
            stable_hash([Some("ab"), Some("c")]),
            stable_hash([Some("a"), Some("bc")])
        );
        assert_ne!(stable_hash([None]), stable_hash([Some("")]));
    }
}
