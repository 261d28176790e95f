//! Strict JSON parsing for untrusted input: duplicate object keys are an error at any
//! depth (serde_json would silently keep the last one, so `{"user_id":"alice",
//! "user_id":"mallory"}` would lose an identity), and nesting is limited by serde_json's
//! recursion limit (128).

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::{Error, Result};

/// Parse one JSON document, refusing duplicate keys.
pub fn parse_strict(text: &str) -> Result<Value> {
    from_str_strict(text).map_err(|e| Error::invalid("JSON", e.to_string()))
}

/// [`parse_strict`] with serde_json's own error, whose message names line and column.
pub fn from_str_strict(text: &str) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = StrictValue.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("NaN and infinity are not JSON numbers"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(de::Error::custom(format!("duplicate key '{k}'")));
            }
            let v = map.next_value_seed(StrictValue)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_nesting_and_numbers() {
        assert!(parse_strict(r#"{"a":1,"b":{"c":[1,2.5,"x",null,true]}}"#).is_ok());
        let e = parse_strict(r#"{"user_id":"alice","user_id":"mallory"}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate key 'user_id'"), "{e}");
        assert!(parse_strict(r#"{"a":{"b":1,"b":2}}"#).is_err());
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(
            parse_strict(&deep)
                .unwrap_err()
                .to_string()
                .contains("recursion limit")
        );
        assert!(parse_strict("NaN").is_err());
        assert!(parse_strict(r#"{"x":Infinity}"#).is_err());
        assert!(parse_strict(r#"{"a":1} trailing"#).is_err());
        assert_eq!(
            parse_strict(r#""\u0000""#).unwrap(),
            Value::String("\0".into())
        );
    }
}
