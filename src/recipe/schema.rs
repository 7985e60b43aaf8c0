//! JSON Schema of the values recipes are written in (scalars read as text,
//! modes, `when`); a resource's schema is built from these and from each
//! type's fields in [`crate::resource`].

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};

use super::{Mode, When};

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

/// A scalar or a list of them.
pub fn text_list() -> Value {
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
