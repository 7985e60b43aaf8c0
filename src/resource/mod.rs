//! Resource types as pure functions: what to ask the host ([`Query`]), what
//! must change given the answers ([`Change`]), and the shell snippet that makes
//! the change ([`Decision::Apply`]).
//!
//! A resource never runs anything. The engine gathers the queries of every
//! resource of a host into one probe script (one round trip), plans every
//! resource locally, and sends every apply snippet in one more script.
//! Each apply snippet re-checks its own condition on the host just before it
//! acts, and prints `@TAG changed WHAT` for what it did.
//!
//! # One file per type
//!
//! Each type is one file that holds everything about it: its fields as the
//! user writes them (a serde struct, its doc comments the JSON Schema's
//! descriptions), what its name and values may hold, its checks before any
//! host ([`ResourceType::check`]), its questions for the probe, its plan
//! and its shell snippets. It implements [`ResourceType`] and is listed once
//! in the registry below. The generic layers never name a type: the loader
//! reads a resource's fields through [`Spec::deserialize_fields`], the JSON
//! Schema takes each type's [`Kind::fields_schema`], validation calls
//! [`check`], the engine calls [`queries`] and [`plan`].
//!
//! To add a type `NAME`:
//!
//! 1. write `src/resource/NAME.rs`: the fields struct (`#[derive(Debug,
//!    Clone, Default, Deserialize, schemars::JsonSchema)]`,
//!    `#[serde(deny_unknown_fields)]`, every field an `Option<Text>` or
//!    another spanned value so that errors can point at it), a unit struct
//!    `Name` and `impl ResourceType for Name` (its `plan` and `queries`, and
//!    whatever else it has: checks, values that reach a script, sources
//!    under files/, managed paths);
//! 2. add one line to the `registry!` below: `Name => name::Name,`;
//! 3. document it in docs/resources.md, and test it: unit tests of its plan
//!    and snippets beside it (see `testing`), an integration test on a real
//!    host in tests/, a case under fixtures/bad/ for each input it refuses.

pub mod apt_repository;
mod attrs;
pub mod change;
pub mod command;
pub mod cron;
pub mod directory;
pub mod download;
pub mod evidence;
pub mod facts;
pub mod fields;
pub mod file;
pub mod group;
pub mod input;
pub mod line;
pub mod link;
pub mod package;
pub mod package_manager;
pub mod path;
pub mod planned;
pub mod query;
pub mod rpm_repository;
pub mod service;
pub mod sysctl;
pub mod template;
pub mod user;
pub mod written;

use schemars::{Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use change::{Change, Decision, naming};
pub use facts::Facts;
pub use fields::{Field, Holds};
pub use input::{PlanInput, QueryInput};
pub use path::{PathKind, PathState};
pub use planned::PlannedResource;
pub use query::{Probed, Query};
pub use written::Resource;

use crate::diagnostic::{Diag, Place, Source};
use crate::recipe::{Location, Presence, Spanned, Text};
use crate::template::Templates;

/// What a resource type is: everything the generic layers ask of it. Only
/// [`ResourceType::Spec`], [`ResourceType::KEY`], [`ResourceType::queries`]
/// and [`ResourceType::plan`] are required; the rest has defaults that
/// suit a type without them.
pub trait ResourceType {
    /// The type key as users write it (`file`).
    const KEY: &'static str;
    /// What the resource's name is on the host, and so what it may hold.
    const NAME: Holds;
    /// How the name is called in messages about what it holds.
    const NAME_WHAT: &'static str = "the path";
    /// Whether the name may be a list (`package: [curl, git]`).
    const LIST: bool = false;
    /// The rule for names when [`ResourceType::NAME`] is
    /// [`Holds::Name`]: which names are valid, and how to say it.
    const NAME_RULE: Option<NameRule> = None;

    /// Its fields as the user writes them.
    type Spec: DeserializeOwned + schemars::JsonSchema + std::fmt::Debug + Clone;

    /// The values of the fields that reach a script, with what each may
    /// hold ([`fields`]); the name is [`ResourceType::NAME`].
    fn values<'r>(_spec: &'r Self::Spec, _resource: &'r Resource) -> Vec<Field<'r>> {
        Vec::new()
    }

    /// The files under files/ it reads (`source`, an apt key file).
    fn sources(_spec: &Self::Spec) -> Vec<&Text> {
        Vec::new()
    }

    /// The file it works in when its name is not a path (`line`'s `path`),
    /// rendered with the host's variables like the name.
    fn path_field(_spec: &Self::Spec) -> Option<&Text> {
        None
    }

    /// The type's own checks of a resource as written, before any host:
    /// required fields, values that can be checked without a host.
    fn check(_spec: &Self::Spec, _check: &mut Check<'_>) {}

    /// Render what can be rendered before any host (with placeholder facts),
    /// so that a template that cannot render is reported by `validate`.
    fn render_early(
        _spec: &Self::Spec,
        _planned: &PlannedResource<'_>,
        _templates: &Templates,
        _context: &Value,
    ) -> Result<(), Diag> {
        Ok(())
    }

    /// The questions it asks the probe.
    fn queries(spec: &Self::Spec, input: &QueryInput<'_>) -> Vec<Query>;

    /// What must change, given what the probe found and what the resources
    /// planned before it will leave; updates `probed` to what it leaves.
    fn plan(
        spec: &Self::Spec,
        input: &PlanInput<'_>,
        probed: &mut Probed,
    ) -> Result<Decision, Diag>;

    /// The paths it manages, for `restart_on` (a service restarts when a
    /// resource that manages one of these paths changes).
    fn managed_paths(_spec: &Self::Spec, _planned: &PlannedResource<'_>) -> Vec<String> {
        Vec::new()
    }

    /// Things worth knowing about a resource that will change (a command
    /// that runs on every converge), for the host's notes.
    fn notes(_spec: &Self::Spec, _title: &str) -> Vec<String> {
        Vec::new()
    }

    /// Where the resource says it removes what it manages (its
    /// `state: absent`), when it does: such a resource needs a `reason:`,
    /// and the probe asks for evidence of use of what it removes.
    fn removal(_spec: &Self::Spec) -> Option<Location> {
        None
    }

    /// What shows whether the thing a removal removes is still used (see
    /// [`evidence`]); asked by the probe only for resources with a
    /// [`ResourceType::removal`].
    fn evidence(_spec: &Self::Spec, _input: &QueryInput<'_>) -> Vec<evidence::Subject> {
        Vec::new()
    }
}

/// Which names of a type are valid, and how a bad one is explained.
#[derive(Debug, Clone, Copy)]
pub struct NameRule {
    /// True for a valid name.
    pub valid: fn(&str) -> bool,
    /// What a name is: "package name".
    pub noun: &'static str,
    /// The words under the caret: "not a package name".
    pub label: &'static str,
    /// What a valid one looks like.
    pub help: &'static str,
}

/// The registry: every resource type, once, in the order the documentation
/// lists them. It makes [`Kind`], [`Spec`] and the dispatch from them to
/// each type's [`ResourceType`] implementation.
macro_rules! registry {
    ($($(#[$doc:meta])* $variant:ident => $module:ident::$type:ident,)*) => {
        /// The resource types.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $($(#[$doc])* $variant,)*
        }

        const COUNT: usize = [$(stringify!($variant)),*].len();

        impl Kind {
            /// Every type, in the order the documentation lists them.
            pub const ALL: [Kind; COUNT] = [$(Kind::$variant),*];

            /// The type key as users write it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => <$module::$type as ResourceType>::KEY,)*
                }
            }

            /// What a resource's name is on the host.
            pub fn name_holds(self) -> Holds {
                match self {
                    $(Kind::$variant => <$module::$type as ResourceType>::NAME,)*
                }
            }

            /// How the name is called in messages.
            pub fn name_what(self) -> &'static str {
                match self {
                    $(Kind::$variant => <$module::$type as ResourceType>::NAME_WHAT,)*
                }
            }

            /// The rule for names of this type, if it has one of its own.
            pub fn name_rule(self) -> Option<NameRule> {
                match self {
                    $(Kind::$variant => <$module::$type as ResourceType>::NAME_RULE,)*
                }
            }

            /// Whether the name may be a list.
            pub fn takes_a_list(self) -> bool {
                match self {
                    $(Kind::$variant => <$module::$type as ResourceType>::LIST,)*
                }
            }

            /// The JSON Schema of the type's fields (derived from its struct).
            pub fn fields_schema(self, generator: &mut SchemaGenerator) -> Schema {
                match self {
                    $(Kind::$variant => <<$module::$type as ResourceType>::Spec as schemars::JsonSchema>::json_schema(generator),)*
                }
            }
        }

        /// The type-specific fields of a resource.
        #[derive(Debug, Clone)]
        pub enum Spec {
            /// The type key was not a known type; the problem is reported by validation.
            Unknown,
            $($(#[$doc])* $variant(<$module::$type as ResourceType>::Spec),)*
        }

        impl Spec {
            /// The type of this spec; `None` for [`Spec::Unknown`].
            pub fn kind(&self) -> Option<Kind> {
                match self {
                    Spec::Unknown => None,
                    $(Spec::$variant(_) => Some(Kind::$variant),)*
                }
            }

            /// Read the fields of a resource of type `kind`.
            pub fn deserialize_fields<'de, D: serde::Deserializer<'de>>(
                kind: Kind,
                fields: D,
            ) -> Result<Spec, D::Error> {
                match kind {
                    $(Kind::$variant => serde::Deserialize::deserialize(fields).map(Spec::$variant),)*
                }
            }
        }

        /// The values of `resource` that reach a script, but its name.
        pub fn values(resource: &Resource) -> Vec<Field<'_>> {
            match &resource.spec {
                Spec::Unknown => Vec::new(),
                $(Spec::$variant(spec) => <$module::$type as ResourceType>::values(spec, resource),)*
            }
        }

        /// The files under files/ that `resource` reads.
        pub fn sources(resource: &Resource) -> Vec<&Text> {
            match &resource.spec {
                Spec::Unknown => Vec::new(),
                $(Spec::$variant(spec) => <$module::$type as ResourceType>::sources(spec),)*
            }
        }

        /// The file `resource` works in when its name is not a path.
        pub fn path_field(resource: &Resource) -> Option<&Text> {
            match &resource.spec {
                Spec::Unknown => None,
                $(Spec::$variant(spec) => <$module::$type as ResourceType>::path_field(spec),)*
            }
        }

        /// The type's own checks of a resource as written.
        pub fn check(check: &mut Check<'_>) {
            match &check.resource.spec {
                Spec::Unknown => {}
                $(Spec::$variant(spec) => <$module::$type as ResourceType>::check(spec, check),)*
            }
        }

        /// Render what can be rendered before any host.
        pub fn render_early(
            planned: &PlannedResource<'_>,
            templates: &Templates,
            context: &Value,
        ) -> Result<(), Diag> {
            match &planned.resource.value.spec {
                Spec::Unknown => Ok(()),
                $(Spec::$variant(spec) => {
                    <$module::$type as ResourceType>::render_early(spec, planned, templates, context)
                })*
            }
        }

        /// The questions a resource asks the probe.
        pub fn queries(input: &QueryInput<'_>) -> Vec<Query> {
            match &input.planned.resource.value.spec {
                Spec::Unknown => Vec::new(),
                $(Spec::$variant(spec) => <$module::$type as ResourceType>::queries(spec, input),)*
            }
        }

        /// Decide what a resource must change, given what the probe found and
        /// what the resources before it leave, and update that to what it
        /// will leave.
        pub fn plan(input: &PlanInput<'_>, probed: &mut Probed) -> Result<Decision, Diag> {
            input.check_values()?;
            match &input.planned.resource.value.spec {
                Spec::Unknown => Err(Diag::at(
                    input.planned.place(),
                    "unknown resource type (reported by validation)",
                )),
                $(Spec::$variant(spec) => <$module::$type as ResourceType>::plan(spec, input, probed),)*
            }
        }

        /// The paths a resource manages, for `restart_on`.
        pub fn managed_paths(planned: &PlannedResource<'_>) -> Vec<String> {
            match &planned.resource.value.spec {
                Spec::Unknown => Vec::new(),
                $(Spec::$variant(spec) => <$module::$type as ResourceType>::managed_paths(spec, planned),)*
            }
        }

        /// Where `resource` says it removes what it manages (`state: absent`).
        pub fn removal(resource: &Resource) -> Option<Location> {
            match &resource.spec {
                Spec::Unknown => None,
                $(Spec::$variant(spec) => <$module::$type as ResourceType>::removal(spec),)*
            }
        }

        /// What shows whether what a removal removes is still used.
        pub fn evidence(input: &QueryInput<'_>) -> Vec<evidence::Subject> {
            match &input.planned.resource.value.spec {
                Spec::Unknown => Vec::new(),
                $(Spec::$variant(spec) => <$module::$type as ResourceType>::evidence(spec, input),)*
            }
        }

        /// Things worth knowing about a resource that will change.
        pub fn notes(planned: &PlannedResource<'_>, title: &str) -> Vec<String> {
            match &planned.resource.value.spec {
                Spec::Unknown => Vec::new(),
                $(Spec::$variant(spec) => <$module::$type as ResourceType>::notes(spec, title),)*
            }
        }
    };
}

registry! {
    /// OS packages.
    Package => package::Package,
    /// A regular file with inline content or a source from files/.
    File => file::File,
    /// A file rendered from a handlebars template in templates/.
    Template => template::Template,
    /// A directory.
    Directory => directory::Directory,
    /// A symbolic link.
    Link => link::Link,
    /// One line in a file.
    Line => line::Line,
    /// A user account.
    User => user::User,
    /// A group.
    Group => group::Group,
    /// A service.
    Service => service::Service,
    /// An arbitrary command.
    Command => command::Command,
    /// A cron entry.
    Cron => cron::Cron,
    /// A kernel parameter.
    Sysctl => sysctl::Sysctl,
    /// An apt source and its key.
    AptRepository => apt_repository::AptRepository,
    /// A dnf, yum or zypper repository (.repo file) and its key.
    RpmRepository => rpm_repository::RpmRepository,
    /// A file fetched from a URL on the host.
    Download => download::Download,
}

impl Kind {
    /// The type for a type key, if it is one.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Every type key, for suggestions.
    pub fn names() -> Vec<&'static str> {
        Kind::ALL.iter().map(|k| k.as_str()).collect()
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a type's [`ResourceType::check`] may look at, and where its
/// problems go.
pub struct Check<'a> {
    /// The resource as written.
    pub resource: &'a Resource,
    /// The recipe file it is written in.
    pub source: &'a Source,
    /// The project's templates.
    pub templates: &'a Templates,
    /// The problems found so far.
    pub diags: &'a mut Vec<Diag>,
}

impl Check<'_> {
    /// The place of a value of the resource.
    pub fn at(&self, loc: Location) -> Place {
        self.source.place(loc)
    }

    /// Record a problem.
    pub fn push(&mut self, diag: Diag) {
        self.diags.push(diag);
    }

    /// The resource's (first) name as written.
    pub fn name(&self) -> String {
        self.resource
            .name
            .value
            .items()
            .first()
            .copied()
            .unwrap_or("")
            .to_string()
    }

    /// A field the type needs: a problem when it is missing.
    pub fn required(&mut self, field: &Option<Text>, name: &str, example: &str) {
        if field.is_none() {
            let kind = self.resource.kind.value.clone();
            let place = self.at(self.resource.kind.referenced);
            self.push(
                Diag::at(place, format!("a {kind} needs `{name}`"))
                    .label(format!("add `{name}:` to this {kind}"))
                    .help(format!("for example {name}: {example}")),
            );
        }
    }

    /// A template written in a field, checked for syntax.
    pub fn template(&mut self, text: &Text) {
        if let Err(diag) = Templates::check_inline(&text.value, &self.at(text.referenced)) {
            self.push(diag);
        }
    }

    /// A name that must be one of `known` (a template, a file): the problem
    /// when it is not, with the closest and the list.
    pub fn unknown(&mut self, text: &Text, what: &str, known: &[&str], fix: &str) {
        let place = self.at(text.referenced);
        self.push(Diag::unknown(place, what, &text.value, known, fix));
    }
}

/// Where `state: absent` is written, when it is.
pub fn absent_at(state: &Option<Spanned<Presence>>) -> Option<Location> {
    state
        .as_ref()
        .filter(|s| s.value == Presence::Absent)
        .map(|s| s.referenced)
}

/// `state:` as written, present when not given.
pub fn presence(state: &Option<Spanned<Presence>>) -> Presence {
    state.as_ref().map(|s| s.value).unwrap_or_default()
}

/// True for a value written as it is: one with `{{` is a template, checked
/// once it is rendered.
pub fn literal(text: &str) -> bool {
    !text.contains("{{")
}

/// Plan a recipe's resources against what a probe could have found on a
/// made-up host.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Decision, PlanInput, Probed};
    use crate::config::{Overrides, Project, expand_host};

    /// What planning each resource of `recipe` (in order) decided; `files`
    /// are put under files/. Errors are one-line diagnostics.
    pub fn plan(
        recipe: &str,
        files: &[(&str, &[u8])],
        probed: &mut Probed,
    ) -> Vec<Result<Decision, String>> {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(
            dir.path().join("redgreen.yml"),
            "hosts:\n  h: { address: 127.0.0.1, groups: [g] }\ngroups:\n  g: { recipes: [r] }\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("recipes")).unwrap();
        std::fs::create_dir_all(dir.path().join("files")).unwrap();
        std::fs::write(dir.path().join("recipes/r.yml"), recipe).unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join("files").join(name), content).unwrap();
        }
        let project = Project::load(dir.path())
            .map_err(|d| format!("{d:?}"))
            .unwrap();
        let host = crate::template::host_value("h", "127.0.0.1", &["g".into()]);
        let expanded = expand_host(
            &project,
            &["g".into()],
            &Default::default(),
            &host,
            &Overrides::default(),
        )
        .map_err(|d| format!("{d:?}"))
        .unwrap();
        let facts = probed.facts.to_value();
        let context = crate::template::context(&expanded.vars, &host, Some(&facts));
        expanded
            .resources
            .iter()
            .map(|planned| {
                let input = PlanInput {
                    planned,
                    context: &context,
                    templates: &project.templates,
                    files_dir: &project.files_dir(),
                    want_diff: true,
                };
                let decision = super::plan(&input, probed).map_err(|d| d.message.clone());
                if matches!(decision, Ok(Decision::Apply { .. })) {
                    probed.changed_earlier = true;
                }
                decision
            })
            .collect()
    }

    /// A Debian 12 host with systemd and apt, as the probe would describe it.
    pub fn debian() -> Probed {
        let mut probed = Probed::default();
        probed.facts.os_family = "debian".into();
        probed.facts.os_id = "debian".into();
        probed.facts.os_codename = "bookworm".into();
        probed.facts.init = "systemd".into();
        probed.facts.package_manager = "apt".into();
        probed.facts.account_tools = "shadow".into();
        probed
    }

    /// The changes of a decision, as shown to people.
    pub fn changes(decision: &Result<Decision, String>) -> Vec<String> {
        match decision {
            Ok(Decision::Apply { changes, .. }) => {
                changes.iter().map(ToString::to_string).collect()
            }
            Ok(Decision::Ok) => vec!["ok".into()],
            Ok(Decision::Skip(why)) => vec![format!("skip: {why}")],
            Err(e) => vec![format!("error: {e}")],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.as_str()), Some(kind));
        }
    }
}
