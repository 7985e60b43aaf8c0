//! `link`: a symbolic link, replaced atomically (a new link beside it, renamed
//! over the old one).

use super::{Change, Decision, PathKind, PathState, PlanInput, Probed};
use crate::diagnostic::Diag;
use crate::recipe::{Presence, Spanned, Text};
use crate::shell::quote;
use serde::Deserialize;

use super::{
    Check, Field, Holds, PlannedResource, Query, QueryInput, Resource, ResourceType, fields,
    presence,
};

/// `link: /srv/app/current`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// What the link points to.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub to: Option<Text>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// The `link` type.
pub struct Link;

impl ResourceType for Link {
    const KEY: &'static str = "link";
    const NAME: Holds = Holds::Path;
    type Spec = LinkSpec;

    fn removal(spec: &LinkSpec) -> Option<crate::recipe::Location> {
        super::absent_at(&spec.state)
    }

    fn evidence(_: &LinkSpec, input: &QueryInput<'_>) -> Vec<super::evidence::Subject> {
        super::evidence::paths(input)
    }

    fn values<'r>(spec: &'r LinkSpec, _: &'r Resource) -> Vec<Field<'r>> {
        fields::optional("`to`", &spec.to, Holds::Target)
            .into_iter()
            .collect()
    }

    fn check(spec: &LinkSpec, check: &mut Check<'_>) {
        if presence(&spec.state) == Presence::Present {
            check.required(&spec.to, "to", "/srv/app/releases/v1");
        }
    }

    fn queries(_: &LinkSpec, input: &QueryInput<'_>) -> Vec<Query> {
        vec![Query::Path {
            path: input.name(),
            content_limit: 0,
        }]
    }

    fn plan(spec: &LinkSpec, input: &PlanInput<'_>, probed: &mut Probed) -> Result<Decision, Diag> {
        let path = input.name().to_string();
        let state = probed.path(&path);
        let p = quote(&path);
        if spec.state.as_ref().map(|s| s.value) == Some(Presence::Absent) {
            return match state.kind {
                PathKind::Absent => Ok(Decision::Ok),
                PathKind::Link => {
                    probed.paths.insert(path.clone(), PathState::default());
                    Ok(Decision::Apply {
                        changes: vec![Change::Remove {
                            what: "symlink".into(),
                        }],
                        snippet: format!(
                            "if [ -L {p} ]; then rm -f -- {p}; rg_emit \"$rg_tag\" changed removed; fi\n"
                        ),
                    })
                }
                other => Err(not_a_link(input, &path, other)),
            };
        }
        let Some(to) = &spec.to else {
            return Err(Diag::at(input.planned.place(), "a link needs `to`"));
        };
        let to = input.render(to)?;
        match state.kind {
            PathKind::Absent | PathKind::Link => {}
            other => return Err(not_a_link(input, &path, other)),
        }
        if state.kind == PathKind::Link && state.target.as_deref() == Some(to.as_str()) {
            return Ok(Decision::Ok);
        }
        let changes = if state.kind == PathKind::Absent {
            vec![Change::Create {
                what: format!("symlink → {to}"),
            }]
        } else {
            vec![Change::Target {
                from: state.target.clone(),
                to: to.clone(),
            }]
        };
        probed.paths.insert(
            path.clone(),
            PathState {
                kind: PathKind::Link,
                target: Some(to.clone()),
                ..state
            },
        );
        let t = quote(&to);
        let tmp = quote(&format!(
            "{}/.rg-link",
            super::file::parent(&path).trim_end_matches('/')
        ));
        let snippet = format!(
            "if [ -e {p} ] && [ ! -L {p} ]; then echo {msg} >&2; exit 1; fi\n\
             if [ ! -L {p} ] || [ \"$(readlink -- {p})\" != {t} ]; then\n\
             \x20 rg_tmp={tmp}.$$\n\
             \x20 rm -f -- \"$rg_tmp\"\n\
             \x20 ln -s -- {t} \"$rg_tmp\"\n\
             \x20 mv -fT -- \"$rg_tmp\" {p}\n\
             \x20 rg_emit \"$rg_tag\" changed target\n\
             fi\n",
            msg = quote(&format!("{path} exists and is not a symlink")),
        );
        Ok(Decision::Apply { changes, snippet })
    }

    fn managed_paths(_: &LinkSpec, planned: &PlannedResource<'_>) -> Vec<String> {
        planned.names.clone()
    }
}

fn not_a_link(input: &PlanInput<'_>, path: &str, kind: PathKind) -> Diag {
    Diag::at(
        input.planned.place(),
        format!("{path} is {} on the host, not a symlink", kind.describe()),
    )
    .label("this link")
    .help("redgreen does not replace a file or directory with a link; remove it first with a file or directory resource (state: absent)")
}
