//! `template`: a file rendered from a handlebars template under templates/,
//! written like a `file`.

use serde_json::Value;

use super::file::{DesiredFile, attrs_of, plan_absent, plan_present};
use super::{Decision, PlanInput, Probed};
use crate::diagnostic::Diag;
use crate::recipe::{Presence, Spanned, Text};
use serde::Deserialize;

use super::{
    Check, Field, Holds, PlannedResource, Query, QueryInput, Resource, ResourceType, fields,
};
use crate::recipe::Mode;
use crate::template::Templates;
use serde_json::Map;

/// `template: /etc/nginx/sites-enabled/default`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    /// A template under templates/.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub source: Option<Text>,
    /// Extra variables for this template only.
    #[serde(default, deserialize_with = "crate::recipe::de::null_as_default")]
    #[schemars(with = "Option<Map<String, Value>>")]
    pub vars: crate::recipe::Vars,
    /// Owner (name or uid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub owner: Option<Text>,
    /// Group (name or gid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub group: Option<Text>,
    /// Permissions.
    #[schemars(with = "Option<Mode>")]
    pub mode: Option<Spanned<Mode>>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// The `template` type.
pub struct Template;

impl ResourceType for Template {
    const KEY: &'static str = "template";
    const NAME: Holds = Holds::Path;
    type Spec = TemplateSpec;

    fn removal(spec: &TemplateSpec) -> Option<crate::recipe::Location> {
        super::absent_at(&spec.state)
    }

    fn evidence(_: &TemplateSpec, input: &QueryInput<'_>) -> Vec<super::evidence::Subject> {
        super::evidence::paths(input)
    }

    fn values<'r>(spec: &'r TemplateSpec, _: &'r Resource) -> Vec<Field<'r>> {
        fields::owner_and_group(&spec.owner, &spec.group)
    }

    fn check(spec: &TemplateSpec, check: &mut Check<'_>) {
        let source = check.source;
        check
            .diags
            .extend(spec.vars.name_problems(&|loc| source.place(loc)));
        check.required(&spec.source, "source", "site.conf.hbs");
        let templates = check.templates;
        if let Some(source) = &spec.source
            && !templates.contains(&source.value)
        {
            let fix = format!("create templates/{}", source.value);
            check.unknown(source, "template", &templates.names(), &fix);
        }
    }

    fn render_early(
        spec: &TemplateSpec,
        _: &PlannedResource<'_>,
        templates: &Templates,
        context: &Value,
    ) -> Result<(), Diag> {
        match &spec.source {
            Some(source) => templates
                .render_file(&source.value, &with_vars(context, spec))
                .map(drop),
            None => Ok(()),
        }
    }

    fn queries(_: &TemplateSpec, input: &QueryInput<'_>) -> Vec<Query> {
        vec![Query::Path {
            path: input.name(),
            content_limit: input.content_limit(),
        }]
    }

    fn plan(
        spec: &TemplateSpec,
        input: &PlanInput<'_>,
        probed: &mut Probed,
    ) -> Result<Decision, Diag> {
        let path = input.name().to_string();
        if spec.state.as_ref().map(|s| s.value) == Some(Presence::Absent) {
            return plan_absent(input, &path, probed);
        }
        let Some(source) = &spec.source else {
            return Err(Diag::at(input.planned.place(), "a template needs `source`"));
        };
        // The template's own vars win over the host's.
        let mut context = input.context.clone();
        if let Value::Object(map) = &mut context {
            for (key, value) in spec.vars.iter() {
                map.insert(key.clone(), value.clone());
            }
        }
        let content = input.templates.render_file(&source.value, &context)?;
        let attrs = attrs_of(
            input,
            spec.owner.as_ref(),
            spec.group.as_ref(),
            spec.mode.as_ref(),
        )?;
        plan_present(
            input,
            DesiredFile {
                path,
                content: Some(content.into_bytes()),
                attrs,
                guard: None,
            },
            probed,
        )
    }

    fn managed_paths(_: &TemplateSpec, planned: &PlannedResource<'_>) -> Vec<String> {
        planned.names.clone()
    }
}

/// The template context with the template's own vars, which win over the
/// host's.
fn with_vars(context: &Value, spec: &TemplateSpec) -> Value {
    let mut context = context.clone();
    if let Value::Object(map) = &mut context {
        for (key, value) in spec.vars.iter() {
            map.insert(key.clone(), value.clone());
        }
    }
    context
}
