//! `redgreen schema`: JSON Schema of `redgreen.yml` and of recipes, derived
//! from the very types the loader reads them into (with `schemars`), for
//! editors: the YAML language server completes fields, shows their docs and
//! flags typos as you type.
//!
//! Draft-07, the draft every YAML language server reads. Unknown fields are
//! not allowed anywhere (`additionalProperties: false`), as in the loader.
//! The schema checks shapes (fields, types, enumerations, modes); what needs
//! the whole project (references, templates, includes) is `redgreen validate`.

use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::config::Inventory;
use crate::config::Recipe;

/// Which file the schema is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Document {
    /// redgreen.yml: defaults, hosts, groups, test hosts.
    Project,
    /// A recipe under recipes/: vars, include, resources, handlers.
    Recipe,
}

/// The JSON Schema of `document`.
pub fn schema(document: Document) -> Value {
    let generator = SchemaSettings::draft07().into_generator();
    let (mut schema, title) = match document {
        Document::Project => (
            generator.into_root_schema_for::<Inventory>(),
            "redgreen.yml",
        ),
        Document::Recipe => (
            generator.into_root_schema_for::<Recipe>(),
            "redgreen recipe",
        ),
    };
    schema.insert("title".into(), Value::String(title.into()));
    schema.to_value()
}
