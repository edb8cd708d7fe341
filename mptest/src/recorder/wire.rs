//! What a process writes to the recorder per entry: a postcard frame, COBS-encoded, so that a
//! zero byte ends each entry and a reader can cut the stream without knowing the entries.
//!
//! postcard does not describe itself, and an entry's arguments are any serde value: they travel
//! as a [`Node`], serde_value's [`Value`] with each variant named.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_value::Value;

/// One entry.
#[derive(Serialize, Deserialize)]
pub(super) struct Line<'a> {
    pub(super) name: Cow<'a, str>,
    pub(super) args: Node,
    pub(super) role: Cow<'a, str>,
    pub(super) pid: u32,
    pub(super) at_ns: u64,
}

impl Line<'_> {
    /// The entry's bytes, ending with the zero byte that ends every entry.
    pub(super) fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_stdvec_cobs(self)
    }

    /// An entry from its bytes (without the zero byte); `frame` is decoded in place.
    pub(super) fn decode(frame: &mut [u8]) -> Result<Line<'static>, postcard::Error> {
        postcard::from_bytes_cobs(frame)
    }
}

/// A [`Value`], each variant named.
#[derive(Serialize, Deserialize)]
pub(super) enum Node {
    Bool(bool),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Char(char),
    String(String),
    Unit,
    Option(Option<Box<Node>>),
    Newtype(Box<Node>),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
    Bytes(Vec<u8>),
}

impl From<Value> for Node {
    fn from(value: Value) -> Node {
        match value {
            Value::Bool(v) => Node::Bool(v),
            Value::U8(v) => Node::U8(v),
            Value::U16(v) => Node::U16(v),
            Value::U32(v) => Node::U32(v),
            Value::U64(v) => Node::U64(v),
            Value::I8(v) => Node::I8(v),
            Value::I16(v) => Node::I16(v),
            Value::I32(v) => Node::I32(v),
            Value::I64(v) => Node::I64(v),
            Value::F32(v) => Node::F32(v),
            Value::F64(v) => Node::F64(v),
            Value::Char(v) => Node::Char(v),
            Value::String(v) => Node::String(v),
            Value::Unit => Node::Unit,
            Value::Option(v) => Node::Option(v.map(|v| Box::new(Node::from(*v)))),
            Value::Newtype(v) => Node::Newtype(Box::new(Node::from(*v))),
            Value::Seq(v) => Node::Seq(v.into_iter().map(Node::from).collect()),
            Value::Map(v) => Node::Map(v.into_iter().map(|(k, v)| (k.into(), v.into())).collect()),
            Value::Bytes(v) => Node::Bytes(v),
        }
    }
}

impl From<Node> for Value {
    fn from(node: Node) -> Value {
        match node {
            Node::Bool(v) => Value::Bool(v),
            Node::U8(v) => Value::U8(v),
            Node::U16(v) => Value::U16(v),
            Node::U32(v) => Value::U32(v),
            Node::U64(v) => Value::U64(v),
            Node::I8(v) => Value::I8(v),
            Node::I16(v) => Value::I16(v),
            Node::I32(v) => Value::I32(v),
            Node::I64(v) => Value::I64(v),
            Node::F32(v) => Value::F32(v),
            Node::F64(v) => Value::F64(v),
            Node::Char(v) => Value::Char(v),
            Node::String(v) => Value::String(v),
            Node::Unit => Value::Unit,
            Node::Option(v) => Value::Option(v.map(|v| Box::new(Value::from(*v)))),
            Node::Newtype(v) => Value::Newtype(Box::new(Value::from(*v))),
            Node::Seq(v) => Value::Seq(v.into_iter().map(Value::from).collect()),
            Node::Map(v) => Value::Map(v.into_iter().map(|(k, v)| (k.into(), v.into())).collect()),
            Node::Bytes(v) => Value::Bytes(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_and_ends_with_its_only_zero_byte() {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        enum Kind {
            Plain,
            With(u8),
        }
        let args = (
            "a\0b".to_string(),
            0u32,
            Some(vec![Kind::Plain, Kind::With(0)]),
            std::collections::BTreeMap::from([("k".to_string(), -1.5f64)]),
        );
        let line = Line {
            name: "n".into(),
            args: serde_value::to_value(&args).unwrap().into(),
            role: "child".into(),
            pid: 7,
            at_ns: 0,
        };
        let mut bytes = line.encode().unwrap();
        assert_eq!(bytes.iter().filter(|&&b| b == 0).count(), 1);
        assert_eq!(bytes.last(), Some(&0));
        let end = bytes.len() - 1;
        let back = Line::decode(&mut bytes[..end]).unwrap();
        assert_eq!((back.name.as_ref(), back.pid), ("n", 7));
        let value = Value::from(back.args);
        assert_eq!(
            value
                .deserialize_into::<(
                    String,
                    u32,
                    Option<Vec<Kind>>,
                    std::collections::BTreeMap<String, f64>
                )>()
                .unwrap(),
            args
        );
    }
}
