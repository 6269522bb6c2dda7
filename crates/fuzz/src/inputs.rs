//! The inputs a target is fed: its seeds mutated byte by byte and JSON node by node,
//! arbitrary JSON, arbitrary bytes, deep nesting and huge arrays.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Number, Value};

/// Field names of the payloads we parse, so that arbitrary JSON hits real fields.
const KEYS: &[&str] = &[
    "object",
    "entry",
    "id",
    "time",
    "messaging",
    "sender",
    "recipient",
    "timestamp",
    "message",
    "mid",
    "text",
    "quick_reply",
    "payload",
    "postback",
    "title",
    "attachments",
    "type",
    "url",
    "is_echo",
    "delivery",
    "read",
    "changes",
    "field",
    "value",
    "messaging_product",
    "metadata",
    "phone_number_id",
    "contacts",
    "profile",
    "name",
    "wa_id",
    "messages",
    "from",
    "body",
    "interactive",
    "button_reply",
    "list_reply",
    "statuses",
    "status",
    "conversation_id",
    "agent_id",
    "queue",
    "note",
    "mode",
    "en",
    "hu",
    "pl",
    "ids",
    "intent",
    "answer",
    "system",
    "related",
    "hub.mode",
    "hub.verify_token",
    "hub.challenge",
];

/// Text that breaks parsers: NUL, lone surrogates as JSON escapes, invalid UTF-8, huge and
/// odd numbers, quotes, TOML syntax, combining marks, right-to-left and zero-width marks.
const NASTY: &[&[u8]] = &[
    b"\0",
    b"\\u0000",
    b"\\ud800",
    b"\\udfff\\ud800",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"1e999",
    b"-1e-999",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"0.0000000000000000000000000001",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"[[]]",
    b"\"\"\"",
    b"'''",
    b"[[intent]]",
    b"=",
    b"{{",
    b"}}",
    b"{shop_name}",
    b"%",
    b"%ZZ",
    b"&",
    b"\xcc\x81\xcc\x81\xcc\x81",
    b"\xe2\x80\xae",
    b"\xe2\x80\x8b",
    b"\xef\xbb\xbf",
    b"\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
    b"\xef\xac\x81",
    b"\xc4\xb0",
];

/// Arbitrary JSON values, a few levels deep, with our field names as most keys.
pub fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<u64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|x| Number::from_f64(x).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        select(KEYS).prop_map(|k| Value::String(k.to_string())),
        "[A-Za-z0-9:_.-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        let key = prop_oneof![
            4 => select(KEYS).prop_map(str::to_string),
            1 => any::<String>(),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// One byte-level edit: (where, what, how).
type Edit = (usize, u8, u8);

fn apply(mut input: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for &(at, byte, how) in edits {
        let at = if input.is_empty() {
            0
        } else {
            at % (input.len() + 1)
        };
        match how % 7 {
            0 if at < input.len() => input[at] ^= 1 << (byte % 8),
            1 => input.insert(at, byte),
            2 if at < input.len() => {
                input.remove(at);
            }
            3 | 4 => {
                let nasty = NASTY[usize::from(byte) % NASTY.len()];
                input.splice(at..at, nasty.iter().copied());
            }
            5 => {
                // Repeat a slice (grows lists and nesting).
                let end = (at + usize::from(byte) + 1).min(input.len());
                let slice = input[at..end].to_vec();
                input.splice(at..at, slice);
            }
            _ => input.truncate(at),
        }
    }
    input
}

/// The number of nodes of `value`, itself included.
fn nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(nodes).sum(),
        Value::Object(fields) => fields.values().map(nodes).sum(),
        _ => 0,
    }
}

/// Replaces the `index`-th node of `value` (pre-order) with `with`.
fn replace(value: &mut Value, index: &mut usize, with: &Value) -> bool {
    if *index == 0 {
        *value = with.clone();
        return true;
    }
    *index -= 1;
    match value {
        Value::Array(items) => items.iter_mut().any(|item| replace(item, index, with)),
        Value::Object(fields) => fields.values_mut().any(|field| replace(field, index, with)),
        _ => false,
    }
}

/// A seed with some of its JSON nodes replaced by arbitrary values (the seed itself when it
/// is not JSON).
fn json_mutation(seed: &[u8], changes: &[(usize, Value)]) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<Value>(seed) else {
        return seed.to_vec();
    };
    for (at, with) in changes {
        let mut index = at % nodes(&value);
        replace(&mut value, &mut index, with);
    }
    value.to_string().into_bytes()
}

/// `depth` opening brackets (or objects), then as many closing ones, around a seed.
fn nested(seed: &[u8], depth: usize, objects: bool) -> Vec<u8> {
    let (open, close): (&[u8], &[u8]) = if objects {
        (b"{\"entry\":", b"}")
    } else {
        (b"[", b"]")
    };
    let mut out = open.repeat(depth);
    out.extend_from_slice(seed);
    out.extend_from_slice(&close.repeat(depth));
    out
}

/// A seed's first JSON array replaced by one of `len` elements (10^5 at most).
fn wide(seed: &[u8], len: usize, element: &[u8]) -> Vec<u8> {
    let mut list = b"[".to_vec();
    for i in 0..len {
        if i > 0 {
            list.push(b',');
        }
        list.extend_from_slice(element);
    }
    list.push(b']');
    match seed.iter().position(|b| *b == b'[') {
        Some(at) => {
            let mut out = seed[..at].to_vec();
            out.extend_from_slice(&list);
            out.extend_from_slice(b"}");
            out
        }
        None => list,
    }
}

/// The inputs of a target with these `seeds`.
pub fn inputs(seeds: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    let seed = select(seeds);
    let edits = prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..10);
    let element = select(vec![
        b"0".to_vec(),
        b"{}".to_vec(),
        b"\"\"".to_vec(),
        b"[]".to_vec(),
        br#"{"sender":{"id":"X"}}"#.to_vec(),
    ]);
    prop_oneof![
        6 => (seed.clone(), edits.clone()).prop_map(|(seed, edits)| apply(seed, &edits)),
        4 => (seed.clone(), prop::collection::vec((any::<usize>(), json()), 1..4))
            .prop_map(|(seed, changes)| json_mutation(&seed, &changes)),
        2 => (seed.clone(), prop::collection::vec((any::<usize>(), json()), 1..3), edits)
            .prop_map(|(seed, changes, edits)| apply(json_mutation(&seed, &changes), &edits)),
        2 => json().prop_map(|v| v.to_string().into_bytes()),
        2 => prop::collection::vec(any::<u8>(), 0..512),
        1 => (seed.clone(), 0..4000usize, any::<bool>())
            .prop_map(|(seed, depth, objects)| nested(&seed, depth, objects)),
        1 => (seed, prop_oneof![0..100usize, Just(100_000usize)], element)
            .prop_map(|(seed, len, element)| wide(&seed, len, &element)),
    ]
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_do_what_they_say() {
        assert_eq!(apply(b"abc".to_vec(), &[(1, b'x', 1)]), b"axbc");
        assert_eq!(apply(b"abc".to_vec(), &[(1, 0, 2)]), b"ac");
        assert_eq!(apply(b"abc".to_vec(), &[(1, 0, 6)]), b"a");
        assert_eq!(nested(b"1", 2, false), b"[[1]]");
        assert_eq!(wide(br#"{"a":[1]}"#, 3, b"0"), br#"{"a":[0,0,0]}"#);
        let mut value: Value = serde_json::from_str(r#"{"a":[1,2]}"#).unwrap();
        assert_eq!(nodes(&value), 4);
        replace(&mut value, &mut 3, &Value::Null);
        assert_eq!(value.to_string(), r#"{"a":[1,null]}"#);
    }
}
