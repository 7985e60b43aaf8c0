//! A resource as written: a mapping whose first key is its type and whose
//! value is its name, then its type's fields and the common ones in any
//! order. The deserializer and the JSON Schema are generic: they ask the
//! registry ([`super::Kind`]) for each type's fields.
//!
//! Everything here stays inside serde-saphyr's deserializer (no buffering
//! through flatten or untagged enums), so every [`Spanned`] keeps its place.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, IntoDeserializer, MapAccess,
    Visitor,
};
use serde_json::{Map, Value, json};

use super::{Kind, Spec};
use crate::recipe::de::OneOrMany;
use crate::recipe::schema::{text, text_list};
use crate::recipe::{COMMON_FIELDS, Common, Name, Spanned, Text, When};

/// One resource: its type, its name, the fields common to every type, and the
/// fields of its type.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The type key as written (`file`, `package`, ...), with its place.
    pub kind: Text,
    /// The resource's name: the thing it manages.
    pub name: Spanned<Name>,
    /// `when`, `notify`, `tags`, `name`.
    pub common: Common,
    /// The type-specific fields; `Unknown` when the type key is not a known type.
    pub spec: Spec,
}

impl Resource {
    /// The resource's type, if it is a known one.
    pub fn kind(&self) -> Option<Kind> {
        self.spec.kind()
    }
}

impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ResourceVisitor)
    }
}

struct ResourceVisitor;

impl<'de> Visitor<'de> for ResourceVisitor {
    type Value = Resource;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a resource: a mapping whose first key is its type, like `file: /etc/motd`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Resource, A::Error> {
        let mut common = Common::default();
        // Common fields may come before the type key (`name:` first, as Ansible users write).
        let kind_key: Text = loop {
            let Some(key) = map.next_key::<Text>()? else {
                return Err(de::Error::custom(
                    "a resource needs a type key with its name, like `file: /etc/motd`",
                ));
            };
            if COMMON_FIELDS.contains(&key.value.as_str()) {
                read_common(&key.value, &mut map, &mut common)?;
                continue;
            }
            break key;
        };
        let name: Spanned<Name> = map.next_value()?;
        let Some(kind) = Kind::from_name(&kind_key.value) else {
            // Reported by validation with a suggestion; skip the rest of the mapping.
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Resource {
                kind: kind_key,
                name,
                common,
                spec: Spec::Unknown,
            });
        };
        let fields = Fields {
            map,
            common: &mut common,
        };
        let spec = Spec::deserialize_fields(kind, fields)?;
        Ok(Resource {
            kind: kind_key,
            name,
            common,
            spec,
        })
    }
}

fn read_common<'de, A: MapAccess<'de>>(
    key: &str,
    map: &mut A,
    common: &mut Common,
) -> Result<(), A::Error> {
    match key {
        "when" => common.when = Some(map.next_value()?),
        "notify" => common.notify = map.next_value::<OneOrMany>()?.0,
        "tags" => common.tags = map.next_value::<OneOrMany>()?.0,
        "name" => common.label = Some(map.next_value()?),
        "reason" => common.reason = Some(map.next_value()?),
        "unused_for" => common.unused_for = Some(map.next_value()?),
        "after" => common.after = map.next_value::<OneOrMany>()?.0,
        _ => unreachable!("only common fields are passed here"),
    }
    Ok(())
}

/// The rest of a resource's mapping, after its type key, as a deserializer for
/// the type's field struct. Common fields are taken out on the way, and an
/// unknown field is reported with every valid name (type fields and common ones).
pub(super) struct Fields<'c, A> {
    map: A,
    common: &'c mut Common,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for Fields<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        self.deserialize_struct("", &[], visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(FieldsAccess {
            map: self.map,
            common: self.common,
            fields,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

struct FieldsAccess<'c, A> {
    map: A,
    common: &'c mut Common,
    fields: &'static [&'static str],
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for FieldsAccess<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            // The key is checked while serde-saphyr reads it, so that an
            // unknown field is reported at the key itself.
            let key = self.map.next_key_seed(FieldSeed {
                fields: self.fields,
            })?;
            match key {
                None => return Ok(None),
                Some(FieldKey::Common(name)) => read_common(&name, &mut self.map, self.common)?,
                Some(FieldKey::Field(name)) => {
                    return seed
                        .deserialize(IntoDeserializer::<A::Error>::into_deserializer(name))
                        .map(Some);
                }
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

enum FieldKey {
    Common(String),
    Field(String),
}

/// Reads a field name of a resource, accepting its type's fields and the
/// common ones, and rejecting anything else with every valid name.
struct FieldSeed {
    fields: &'static [&'static str],
}

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = FieldKey;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<FieldKey, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed {
    type Value = FieldKey;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<FieldKey, E> {
        if COMMON_FIELDS.contains(&key) {
            return Ok(FieldKey::Common(key.to_string()));
        }
        if self.fields.contains(&key) {
            return Ok(FieldKey::Field(key.to_string()));
        }
        let expected = self
            .fields
            .iter()
            .chain(COMMON_FIELDS)
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ");
        Err(E::custom(format!(
            "unknown field `{key}`, expected one of {expected}"
        )))
    }
}

// The schema: // JSON Schema of the parts of a recipe that are read by hand (see above): a
// resource is a mapping whose first key is its type, so its schema is one
// alternative per type, each built from that type's field struct (derived)
// plus the type key and the common fields, with no other property allowed.
//
// JSON Schema cannot say "the first key": a mapping with two type keys
// matches no alternative (each allows only its own), but a type key that is
// also a field of another type (`group` on a `user`) is told apart by the
// loader by its place, and by the schema by which alternative fits.

/// The value of a type key: the resource's name (a list for `package`).
fn name_schema(kind: Kind) -> Value {
    let one = json!({ "type": ["string", "number"], "minLength": 1 });
    if kind.takes_a_list() {
        json!({
            "description": "The package, or a list of packages installed in one transaction.",
            "anyOf": [one, { "type": "array", "items": { "type": "string" }, "minItems": 1 }]
        })
    } else {
        let mut one = one;
        one["description"] = json!(format!("The {kind}'s name: the thing it manages."));
        one
    }
}

/// `when`, `notify`, `tags`, `name`: allowed on every resource.
fn common_properties(generator: &mut SchemaGenerator) -> Map<String, Value> {
    let mut out = Map::new();
    let mut when = generator.subschema_for::<When>().to_value();
    if let Some(object) = when.as_object_mut() {
        object.insert("description".into(), json!("Apply only when this holds."));
    }
    out.insert("when".into(), when);
    let mut notify = text_list();
    notify["description"] = json!(
        "Handlers to run once, at the end, if this changed: `service NAME restart|reload`, or the name of a command under `handlers:`."
    );
    out.insert("notify".into(), notify);
    let mut tags = text_list();
    tags["description"] = json!("Labels that `--tags` selects.");
    out.insert("tags".into(), tags);
    let mut name = text();
    name["description"] = json!("A label for output.");
    out.insert("name".into(), name);
    let mut reason = text();
    reason["description"] = json!(
        "Why this is removed: required on every removal (`state: absent`); shown in the plan, kept in saved plans, recorded on the host with what was removed."
    );
    reason["minLength"] = json!(1);
    out.insert("reason".into(), reason);
    out.insert(
        "unused_for".into(),
        json!({
            "description": "Refuse the removal when the host shows it was used more recently than this: a number and s, m, h, d or w (`7d`).",
            "type": "string",
            "pattern": "^[0-9]+[smhdw]$"
        }),
    );
    let mut after = text_list();
    after["description"] = json!(
        "On a removal: features (a feature file, a scenario's name, or a @tag) that must pass on the host before the removal runs; everything else is applied first, and if they fail the removal is not applied and the host fails."
    );
    out.insert("after".into(), after);
    debug_assert_eq!(out.len(), COMMON_FIELDS.len());
    out
}

impl JsonSchema for Resource {
    fn schema_name() -> Cow<'static, str> {
        "Resource".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let common = common_properties(generator);
        let mut variants = Vec::new();
        for kind in Kind::ALL {
            let mut fields = kind.fields_schema(generator);
            let object = fields.ensure_object();
            let description = object.remove("description");
            let mut properties = Map::new();
            properties.insert(kind.as_str().into(), name_schema(kind));
            if let Some(Value::Object(own)) = object.remove("properties") {
                properties.extend(own);
            }
            let removable = properties.contains_key("state");
            properties.extend(common.clone());
            let mut variant = json!({
                "title": format!("{kind} resource"),
                "description": description.unwrap_or_else(|| json!(kind.as_str())),
                "type": "object",
                "properties": properties,
                "required": [kind.as_str()],
                "additionalProperties": false,
            });
            if removable {
                // A removal says why (validation says the same, with the place).
                variant["if"] = json!({
                    "properties": { "state": { "const": "absent" } },
                    "required": ["state"]
                });
                variant["then"] = json!({ "required": ["reason"] });
            }
            variants.push(variant);
        }
        json_schema!({
            "description": "A resource: a mapping whose first key is its type and whose value is its name (`file: /etc/motd`), then its fields.",
            "type": "object",
            "oneOf": variants,
        })
    }
}
