//! Hand-written deserializers for the parts of a recipe that serde's derive
//! cannot express without losing source locations: a resource is a mapping
//! whose first key is its type, and the common fields may appear anywhere in it.
//!
//! Everything here stays inside serde-saphyr's deserializer (no buffering
//! through flatten or untagged enums), so every [`Spanned`] keeps its place.

use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, IntoDeserializer, MapAccess,
    SeqAccess, Visitor,
};
use serde_json::{Map, Value};

use super::{
    COMMON_FIELDS, Common, Kind, Mode, Name, Resource, Spanned, Spec, Text, When, spec::*,
};

/// Deserialize a value whose `null` (an empty key, `vars:`) means its default.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
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
        let spec = match kind {
            Kind::Package => Spec::Package(PackageSpec::deserialize(fields)?),
            Kind::File => Spec::File(FileSpec::deserialize(fields)?),
            Kind::Template => Spec::Template(TemplateSpec::deserialize(fields)?),
            Kind::Directory => Spec::Directory(DirectorySpec::deserialize(fields)?),
            Kind::Link => Spec::Link(LinkSpec::deserialize(fields)?),
            Kind::Line => Spec::Line(LineSpec::deserialize(fields)?),
            Kind::User => Spec::User(UserSpec::deserialize(fields)?),
            Kind::Group => Spec::Group(GroupSpec::deserialize(fields)?),
            Kind::Service => Spec::Service(ServiceSpec::deserialize(fields)?),
            Kind::Command => Spec::Command(CommandSpec::deserialize(fields)?),
            Kind::Cron => Spec::Cron(CronSpec::deserialize(fields)?),
            Kind::Sysctl => Spec::Sysctl(SysctlSpec::deserialize(fields)?),
            Kind::AptRepository => Spec::AptRepository(AptRepositorySpec::deserialize(fields)?),
            Kind::Download => Spec::Download(DownloadSpec::deserialize(fields)?),
        };
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
        _ => unreachable!("only common fields are passed here"),
    }
    Ok(())
}

/// The rest of a resource's mapping, after its type key, as a deserializer for
/// the type's field struct. Common fields are taken out on the way, and an
/// unknown field is reported with every valid name (type fields and common ones).
struct Fields<'c, A> {
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

/// One string or a list of strings, each with its place.
struct OneOrMany(Vec<Text>);

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

#[cfg(test)]
mod tests {
    use crate::config::yaml;
    use crate::diagnostic::Source;
    use crate::recipe::{Name, Recipe, Spec, When};

    fn parse(text: &str) -> Result<Recipe, String> {
        yaml::parse::<Recipe>(&Source::new("r.yml", text)).map_err(|d| d.one_line())
    }

    #[test]
    fn a_resource_is_its_type_and_name_then_fields() {
        let recipe = parse(
            "resources:\n  - file: /etc/motd\n    content: hi\n    mode: 0640\n    notify: reload\n",
        )
        .unwrap();
        let res = &recipe.resources[0].value;
        assert_eq!(res.kind.value, "file");
        assert_eq!(res.name.value, Name::One("/etc/motd".into()));
        let Spec::File(file) = &res.spec else {
            panic!("not a file")
        };
        assert_eq!(file.content.as_ref().unwrap().value, "hi");
        assert_eq!(file.mode.as_ref().unwrap().value.0, 0o640);
        assert_eq!(res.common.notify[0].value, "reload");
        assert_eq!(res.name.referenced.line(), 2);
    }

    #[test]
    fn common_fields_may_come_first() {
        let recipe =
            parse("resources:\n  - name: greet\n    when: { os_family: debian }\n    file: /a\n")
                .unwrap();
        let res = &recipe.resources[0].value;
        assert_eq!(res.common.label.as_ref().unwrap().value, "greet");
        assert!(matches!(
            res.common.when.as_ref().unwrap().value,
            When::Match(_)
        ));
        assert_eq!(res.name.value, Name::One("/a".into()));
    }

    #[test]
    fn unknown_field_names_the_closest_and_the_spot() {
        let err = parse("resources:\n  - file: /a\n    onwer: root\n").unwrap_err();
        assert_eq!(
            err,
            "r.yml:3:5: unknown field 'onwer', did you mean 'owner'?"
        );
    }

    #[test]
    fn unknown_type_is_kept_for_validation() {
        let recipe = parse("resources:\n  - fiel: /a\n    owner: root\n").unwrap();
        assert!(matches!(recipe.resources[0].value.spec, Spec::Unknown));
        assert_eq!(recipe.resources[0].value.kind.value, "fiel");
    }

    #[test]
    fn bad_mode_points_at_the_value() {
        let err = parse("resources:\n  - file: /a\n    mode: \"0999\"\n").unwrap_err();
        assert!(err.starts_with("r.yml:3:11: invalid mode '0999'"), "{err}");
    }

    #[test]
    fn package_takes_a_list() {
        let recipe = parse("resources:\n  - package: [curl, git]\n").unwrap();
        assert_eq!(
            recipe.resources[0].value.name.value,
            Name::List(vec!["curl".into(), "git".into()])
        );
    }

    #[test]
    fn notify_takes_a_list() {
        let recipe = parse("resources:\n  - file: /a\n    notify: [a, b]\n").unwrap();
        let notify: Vec<_> = recipe.resources[0]
            .value
            .common
            .notify
            .iter()
            .map(|t| t.value.as_str())
            .collect();
        assert_eq!(notify, ["a", "b"]);
    }
}
