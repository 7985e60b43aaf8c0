//! Hand-written deserializers for values that serde's derive cannot read
//! without losing source locations or their text: a name or a list of them,
//! `when`, a mode's octal digits, one string or a list of strings. (A
//! resource's own deserializer is in [`crate::resource`].)
//!
//! Everything here stays inside serde-saphyr's deserializer (no buffering
//! through flatten or untagged enums), so every [`Spanned`] keeps its place.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{Mode, Name, Spanned, Text, When};

/// Deserialize a value whose `null` (an empty key, `vars:`) means its default.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// One string or a list of strings, each with its place.
pub(crate) struct OneOrMany(pub Vec<Text>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A single string arrives through Spanned so that it keeps its place;
        // the items of a list are Spanned one by one.
        let Spanned {
            value,
            referenced,
            defined,
        } = Spanned::<StringOrSeq>::deserialize(deserializer)?;
        Ok(OneOrMany(match value {
            StringOrSeq::One(text) => vec![Spanned {
                value: text,
                referenced,
                defined,
            }],
            StringOrSeq::Many(items) => items,
        }))
    }
}

enum StringOrSeq {
    One(String),
    Many(Vec<Text>),
}

impl<'de> Deserialize<'de> for StringOrSeq {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringOrSeq;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringOrSeq, E> {
                Ok(StringOrSeq::One(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StringOrSeq, E> {
                Ok(StringOrSeq::One(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StringOrSeq, E> {
                Ok(StringOrSeq::One(v.to_string()))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<StringOrSeq, S::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Text>()? {
                    items.push(item);
                }
                Ok(StringOrSeq::Many(items))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the resource's name (a string), like `file: /etc/motd`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
                if v.is_empty() {
                    return Err(E::custom("the resource's name is empty"));
                }
                Ok(Name::One(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Name, E> {
                Ok(Name::One(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Name, E> {
                Ok(Name::One(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Name, E> {
                Ok(Name::One(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Name, E> {
                Err(E::custom(
                    "the resource has no name: write what it manages after the type, like `file: /etc/motd`",
                ))
            }
            fn visit_none<E: de::Error>(self) -> Result<Name, E> {
                self.visit_unit()
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Name, S::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                if names.is_empty() {
                    return Err(de::Error::custom("the list of names is empty"));
                }
                Ok(Name::List(names))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for When {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = When;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a mapping of facts or vars that must all be equal (`when: { os_family: debian }`) or a handlebars expression",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<When, E> {
                Ok(When::Expr(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<When, E> {
                Ok(When::Expr(v.to_string()))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<When, M::Error> {
                let mut conditions = Map::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    conditions.insert(key, value);
                }
                Ok(When::Match(conditions))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Read the scalar's text, so that `0644` keeps its digits instead of
        // becoming the decimal number 644 or the octal 420.
        let text = String::deserialize(deserializer)?;
        Mode::parse(&text).map_err(de::Error::custom)
    }
}
