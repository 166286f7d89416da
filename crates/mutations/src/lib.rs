//! Mutations for the property tests of decoders (the `hostile_input` tests of the wire, sandbox
//! and store crates; a dev-dependency only): valid inputs cut short, with bits flipped, bytes or
//! tokens spliced in, runs deleted or doubled, and JSON nodes replaced by values of the wrong
//! type or at the edges of the numbers.

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

/// One change to a byte string; positions are drawn relative to its length.
#[derive(Clone, Debug)]
pub enum Mutation {
    Truncate(Index),
    Flip(Index, u8),
    Splice(Index, Vec<u8>),
    Delete(Index, usize),
    Duplicate(Index, usize),
}

/// Mutations; what is spliced in is random bytes or one of `tokens` (say, JSON punctuation).
pub fn mutation(tokens: &'static [&'static str]) -> impl Strategy<Value = Mutation> {
    let random = prop::collection::vec(any::<u8>(), 1..12).boxed();
    let inserted = if tokens.is_empty() {
        random
    } else {
        prop_oneof![random, prop::sample::select(tokens).prop_map(|t| t.as_bytes().to_vec())].boxed()
    };
    prop_oneof![
        2 => any::<Index>().prop_map(Mutation::Truncate),
        3 => (any::<Index>(), 1u8..=255).prop_map(|(i, mask)| Mutation::Flip(i, mask)),
        3 => (any::<Index>(), inserted).prop_map(|(i, b)| Mutation::Splice(i, b)),
        1 => (any::<Index>(), 1usize..32).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<Index>(), 1usize..32).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

/// `bytes` with `mutations` applied in turn (none once it is empty).
pub fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        match m {
            Mutation::Truncate(at) => bytes.truncate(at.index(bytes.len())),
            Mutation::Flip(at, mask) => {
                let at = at.index(bytes.len());
                bytes[at] ^= mask;
            }
            Mutation::Splice(at, inserted) => {
                let at = at.index(bytes.len() + 1);
                bytes.splice(at..at, inserted.iter().copied());
            }
            Mutation::Delete(at, n) => {
                let at = at.index(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
            Mutation::Duplicate(at, n) => {
                let at = at.index(bytes.len());
                let end = (at + n).min(bytes.len());
                let copy: Vec<u8> = bytes[at..end].to_vec();
                bytes.splice(end..end, copy);
            }
        }
    }
    bytes
}

/// JSON values of every type and at the edges of the numbers decoders read, and `extra` (JSON
/// texts) besides.
pub fn json_value(extra: &'static [&'static str]) -> impl Strategy<Value = Value> {
    const COMMON: [&str; 14] = [
        "null",
        "true",
        "0",
        "-1",
        "4294967296",
        "18446744073709551615",
        "-9223372036854775808",
        "1.5",
        "1e300",
        "\"\"",
        "\"RUNNING\"",
        "[]",
        "[null]",
        "{}",
    ];
    let texts: Vec<&'static str> = COMMON.iter().chain(extra).copied().collect();
    prop::sample::select(texts).prop_map(|text| serde_json::from_str(text).expect("a JSON value"))
}

/// Replaces the node `path` leads to (each step picks a child, stopping at a leaf or when the
/// steps run out) with `replacement`, or removes it from its object when `remove`.
pub fn replace_node(value: &mut Value, path: &[Index], replacement: Value, remove: bool) {
    let Some((step, rest)) = path.split_first() else {
        *value = replacement;
        return;
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(step.index(map.len())).expect("an index within the map").clone();
            if rest.is_empty() && remove {
                map.remove(&key);
            } else {
                replace_node(map.get_mut(&key).expect("the key just read"), rest, replacement, remove);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let at = step.index(items.len());
            replace_node(&mut items[at], rest, replacement, remove);
        }
        leaf => *leaf = replacement,
    }
}

#[cfg(test)]
mod tests {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    use super::*;

    #[test]
    fn mutations_change_bytes_and_node_replacement_reaches_a_node() {
        let mut runner = TestRunner::deterministic();
        let bytes = br#"{"a": [1, 2, {"b": true}]}"#.to_vec();
        let strategy = prop::collection::vec(mutation(&["{"]), 1..4);
        let mut changed = 0;
        for _ in 0..64 {
            let mutations = strategy.new_tree(&mut runner).expect("a value").current();
            if mutate(bytes.clone(), &mutations) != bytes {
                changed += 1;
            }
        }
        assert!(changed > 48, "most mutations change something: {changed} of 64");
        let original: Value = serde_json::from_slice(&bytes).unwrap();
        let mut whole = original.clone();
        replace_node(&mut whole, &[], Value::Null, false);
        assert_eq!(whole, Value::Null, "no steps: the whole value");
        let paths = prop::collection::vec(any::<Index>(), 1..4);
        for _ in 0..16 {
            let path = paths.new_tree(&mut runner).expect("a path").current();
            let mut value = original.clone();
            replace_node(&mut value, &path, Value::Null, false);
            assert_ne!(value, original, "a node was replaced along {path:?}");
        }
    }
}
