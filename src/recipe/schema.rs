//! JSON Schema of the parts of a recipe that are read by hand (see `de`): a
//! resource is a mapping whose first key is its type, so its schema is one
//! alternative per type, each built from that type's field struct (derived)
//! plus the type key and the common fields, with no other property allowed.
//!
//! JSON Schema cannot say "the first key": a mapping with two type keys
//! matches no alternative (each allows only its own), but a type key that is
//! also a field of another type (`group` on a `user`) is told apart by the
//! loader by its place, and by the schema by which alternative fits.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use super::{COMMON_FIELDS, Kind, Mode, Resource, When, spec::*};

/// A scalar the loader reads as text: YAML turns `value: 1` into a number,
/// and redgreen takes its text.
pub fn text() -> Value {
    json!({ "type": ["string", "number", "boolean"] })
}

/// The schema of a text field (a [`super::Text`]): any scalar.
pub struct Scalar;

impl JsonSchema for Scalar {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        Schema::try_from(text()).expect("an object is a schema")
    }
}

fn text_list() -> Value {
    json!({ "anyOf": [text(), { "type": "array", "items": text() }] })
}

impl JsonSchema for Mode {
    fn schema_name() -> Cow<'static, str> {
        "Mode".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Permissions as 3 or 4 octal digits, quoted: \"0644\", \"0755\".",
            "anyOf": [
                { "type": "string", "pattern": "^(0o)?[0-7]{3,4}$" },
                { "type": "integer", "minimum": 0, "maximum": 7777 }
            ]
        })
    }
}

impl JsonSchema for When {
    fn schema_name() -> Cow<'static, str> {
        "When".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Apply only when this holds: a mapping of facts or vars that must all be equal (`{ os_family: debian }`), or a handlebars expression that renders to `true`.",
            "anyOf": [
                { "type": "object" },
                { "type": "string" },
                { "type": "boolean" }
            ]
        })
    }
}

/// The value of a type key: the resource's name (a list for `package`).
fn name_schema(kind: Kind) -> Value {
    let one = json!({ "type": ["string", "number"], "minLength": 1 });
    if kind == Kind::Package {
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
    debug_assert_eq!(out.len(), COMMON_FIELDS.len());
    out
}

/// The derived schema of a type's field struct.
fn fields_of(kind: Kind, generator: &mut SchemaGenerator) -> Schema {
    match kind {
        Kind::Package => PackageSpec::json_schema(generator),
        Kind::File => FileSpec::json_schema(generator),
        Kind::Template => TemplateSpec::json_schema(generator),
        Kind::Directory => DirectorySpec::json_schema(generator),
        Kind::Link => LinkSpec::json_schema(generator),
        Kind::Line => LineSpec::json_schema(generator),
        Kind::User => UserSpec::json_schema(generator),
        Kind::Group => GroupSpec::json_schema(generator),
        Kind::Service => ServiceSpec::json_schema(generator),
        Kind::Command => CommandSpec::json_schema(generator),
        Kind::Cron => CronSpec::json_schema(generator),
        Kind::Sysctl => SysctlSpec::json_schema(generator),
        Kind::AptRepository => AptRepositorySpec::json_schema(generator),
        Kind::Download => DownloadSpec::json_schema(generator),
    }
}

impl JsonSchema for Resource {
    fn schema_name() -> Cow<'static, str> {
        "Resource".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let common = common_properties(generator);
        let mut variants = Vec::new();
        for kind in Kind::ALL {
            let mut fields = fields_of(kind, generator);
            let object = fields.ensure_object();
            let description = object.remove("description");
            let mut properties = Map::new();
            properties.insert(kind.as_str().into(), name_schema(kind));
            if let Some(Value::Object(own)) = object.remove("properties") {
                properties.extend(own);
            }
            properties.extend(common.clone());
            variants.push(json!({
                "title": format!("{kind} resource"),
                "description": description.unwrap_or_else(|| json!(kind.as_str())),
                "type": "object",
                "properties": properties,
                "required": [kind.as_str()],
                "additionalProperties": false,
            }));
        }
        json_schema!({
            "description": "A resource: a mapping whose first key is its type and whose value is its name (`file: /etc/motd`), then its fields.",
            "type": "object",
            "oneOf": variants,
        })
    }
}
