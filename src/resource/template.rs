//! `template`: a file rendered from a handlebars template under templates/,
//! written like a `file`.

use serde_json::Value;

use super::file::{DesiredFile, attrs_of, plan_absent, plan_present};
use super::{Decision, PlanInput, World};
use crate::diagnostic::Diag;
use crate::recipe::{Presence, TemplateSpec};

pub(super) fn plan(
    input: &PlanInput<'_>,
    spec: &TemplateSpec,
    world: &mut World,
) -> Result<Decision, Diag> {
    let path = input.name().to_string();
    if spec.state.as_ref().map(|s| s.value) == Some(Presence::Absent) {
        return plan_absent(input, &path, world);
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
        world,
    )
}
