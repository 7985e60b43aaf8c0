//! One resource as it applies to one host: its names (and `line`'s path)
//! rendered with the host's variables.

use super::{Kind, Resource};
use crate::diagnostic::{Place, Source};
use crate::recipe::Spanned;

/// One resource as it applies to one host.
#[derive(Debug, Clone)]
pub struct PlannedResource<'p> {
    /// The recipe file it is written in.
    pub source: &'p Source,
    /// The resource as written.
    pub resource: &'p Spanned<Resource>,
    /// Its names, rendered with the host's vars (one, or several for `package: [..]`).
    pub names: Vec<String>,
    /// `line` only: the path, rendered.
    pub path: Option<String>,
}

impl PlannedResource<'_> {
    /// The resource's type.
    pub fn kind(&self) -> Kind {
        self.resource
            .value
            .kind()
            .expect("expanded resources have known types")
    }

    /// The place of the resource in its recipe.
    pub fn place(&self) -> Place {
        let res = &self.resource.value;
        self.source.place(res.kind.referenced)
    }

    /// What identifies it on a host: type and name (and path for `line`).
    pub fn identities(&self) -> Vec<String> {
        let kind = self.kind();
        match &self.path {
            Some(path) => vec![format!("{kind} {path}: {}", self.names[0])],
            None => self.names.iter().map(|n| format!("{kind} {n}")).collect(),
        }
    }

    /// What it is, as shown in output: its type and name (`file /etc/motd`,
    /// `line /etc/ssh/sshd_config: PermitRootLogin no`), escaped for a
    /// terminal ([`crate::output::shown`]).
    pub fn identity(&self) -> String {
        let names = self.names.join(", ");
        let identity = match &self.path {
            Some(path) => format!("{} {path}: {names}", self.kind()),
            None => format!("{} {names}", self.kind()),
        };
        crate::output::shown(&identity).into_owned()
    }

    /// How the resource is shown in output: always its identity, so that no
    /// label can hide what a resource changes or removes, then its `name:`
    /// label, if it has one: `file /srv/old [remove the old site]`.
    pub fn title(&self) -> String {
        match &self.resource.value.common.label {
            Some(label) => format!(
                "{} [{}]",
                self.identity(),
                crate::output::shown(&label.value)
            ),
            None => self.identity(),
        }
    }
}
