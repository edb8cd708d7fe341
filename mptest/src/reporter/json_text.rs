//! A JSON value and its text: the little the JSON reporter writes.
//!
//! Written here rather than taken from serde_json: serde_json implements `PartialEq<Value>` for
//! `u8`, `i32`, `bool`, ..., and a crate's trait impls take part in type inference in every
//! target that links it — `assert_eq!(&bytes[..], &v[..])` with `v` a `Vec<_>` stops compiling
//! in a test target once mptest (and so serde_json) is linked. A test framework must not change
//! what the user's code means.

use std::fmt::{self, Display, Write as _};

/// A JSON value. Objects keep the order their fields were set in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An object of these fields, in this order.
    pub(crate) fn object<const N: usize>(fields: [(&str, Json); N]) -> Json {
        Json::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// Sets `field` of an object (replacing a field of that name); does nothing to another value.
    pub(crate) fn set(&mut self, field: &str, value: impl Into<Json>) {
        if let Json::Object(fields) = self {
            let value = value.into();
            match fields.iter_mut().find(|(k, _)| k == field) {
                Some((_, old)) => *old = value,
                None => fields.push((field.to_string(), value)),
            }
        }
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_string())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Str(s)
    }
}

impl From<&String> for Json {
    fn from(s: &String) -> Json {
        Json::Str(s.clone())
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}

impl From<f64> for Json {
    fn from(f: f64) -> Json {
        Json::Float(f)
    }
}

macro_rules! from_integer {
    ($($t:ty)*) => {$(
        impl From<$t> for Json {
            fn from(n: $t) -> Json {
                Json::Int(i128::from(n))
            }
        }
    )*};
}
from_integer!(u8 u16 u32 u64 i32 i64);

impl From<usize> for Json {
    fn from(n: usize) -> Json {
        Json::Int(n as i128)
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(value: Option<T>) -> Json {
        value.map_or(Json::Null, Into::into)
    }
}

impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(values: Vec<T>) -> Json {
        Json::Array(values.into_iter().map(Into::into).collect())
    }
}

impl Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Int(n) => write!(f, "{n}"),
            // JSON has no NaN or infinity; `{:?}` keeps a fraction (`1.0`), as serde_json does.
            Json::Float(x) if x.is_finite() => write!(f, "{x:?}"),
            Json::Float(_) => f.write_str("null"),
            Json::Str(s) => write_string(f, s),
            Json::Array(values) => {
                f.write_char('[')?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_char(']')
            }
            Json::Object(fields) => {
                f.write_char('{')?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write_string(f, k)?;
                    write!(f, ":{v}")?;
                }
                f.write_char('}')
            }
        }
    }
}

/// A JSON string: quotes, backslash escapes, `\u` for the other control characters.
fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_a_json_reader_reads() {
        let mut v = Json::object([("type", "test".into()), ("n", 3u32.into())]);
        v.set("message", "say \"hi\"\n\t\u{1}é");
        v.set("time", 1.0);
        v.set("none", Option::<String>::None);
        v.set("list", vec![1u64, 2]);
        v.set("n", 4u32);
        assert_eq!(
            v.to_string(),
            r#"{"type":"test","n":4,"message":"say \"hi\"\n\t\u0001é","time":1.0,"none":null,"list":[1,2]}"#
        );
        assert_eq!(Json::Float(f64::NAN).to_string(), "null");
    }
}
