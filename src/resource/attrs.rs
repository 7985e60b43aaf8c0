//! Owner, group and mode: shared by files, templates, directories, lines and downloads.

use super::{Change, PathState};
use crate::shell::quote;

/// The owner, group and mode a path must have (None: leave as is).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attrs {
    /// User name or uid.
    pub owner: Option<String>,
    /// Group name or gid.
    pub group: Option<String>,
    /// Permission bits.
    pub mode: Option<u32>,
}

impl Attrs {
    /// What differs between these attributes and an existing path.
    pub fn changes(&self, state: &PathState) -> Vec<Change> {
        let mut changes = Vec::new();
        if let Some(mode) = self.mode
            && state.mode != Some(mode)
        {
            changes.push(Change::Mode {
                from: state.mode.map(|m| format!("{m:04o}")),
                to: format!("{mode:04o}"),
            });
        }
        if let Some(owner) = &self.owner
            && !state.owned_by(owner)
        {
            changes.push(Change::Owner {
                from: state.user.clone(),
                to: owner.clone(),
            });
        }
        if let Some(group) = &self.group
            && !state.in_group(group)
        {
            changes.push(Change::Group {
                from: state.group.clone(),
                to: group.clone(),
            });
        }
        changes
    }

    /// Shell that re-checks each attribute of `path` on the host and fixes it.
    pub fn snippet(&self, path: &str) -> String {
        let p = quote(path);
        let mut out = String::new();
        if let Some(mode) = self.mode {
            out.push_str(&format!(
                "if [ \"$(stat -c %a -- {p})\" != {actual} ]; then chmod {mode:04o} -- {p}; rg_emit \"$rg_tag\" changed mode; fi\n",
                actual = quote(&format!("{mode:o}")),
            ));
        }
        if let Some(owner) = &self.owner {
            out.push_str(&format!(
                "case \" $(stat -c '%U %u' -- {p}) \" in *\" \"{o}\" \"*) ;; *) chown -- {o} {p}; rg_emit \"$rg_tag\" changed owner ;; esac\n",
                o = quote(owner),
            ));
        }
        if let Some(group) = &self.group {
            out.push_str(&format!(
                "case \" $(stat -c '%G %g' -- {p}) \" in *\" \"{g}\" \"*) ;; *) chgrp -- {g} {p}; rg_emit \"$rg_tag\" changed group ;; esac\n",
                g = quote(group),
            ));
        }
        out
    }

    /// Shell that gives the temporary file `"$rg_tmp"` these attributes
    /// before it is renamed into place (file, template, download).
    pub fn set_on_tmp(&self) -> String {
        let mut out = String::new();
        if let Some(mode) = self.mode {
            out.push_str(&format!("  chmod {mode:04o} -- \"$rg_tmp\"\n"));
        }
        match (&self.owner, &self.group) {
            (Some(o), Some(g)) => out.push_str(&format!(
                "  chown -- {} \"$rg_tmp\"\n",
                quote(&format!("{o}:{g}"))
            )),
            (Some(o), None) => out.push_str(&format!("  chown -- {} \"$rg_tmp\"\n", quote(o))),
            (None, Some(g)) => out.push_str(&format!("  chgrp -- {} \"$rg_tmp\"\n", quote(g))),
            (None, None) => {}
        }
        out
    }

    /// The attributes after applying these to `state`.
    pub fn applied_to(&self, mut state: PathState) -> PathState {
        if let Some(mode) = self.mode {
            state.mode = Some(mode);
        }
        if let Some(owner) = &self.owner
            && !state.owned_by(owner)
        {
            state.user = Some(owner.clone());
            state.uid = owner.parse().ok();
        }
        if let Some(group) = &self.group
            && !state.in_group(group)
        {
            state.group = Some(group.clone());
            state.gid = group.parse().ok();
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing() -> PathState {
        PathState {
            kind: super::super::PathKind::File,
            mode: Some(0o600),
            uid: Some(0),
            gid: Some(0),
            user: Some("root".into()),
            group: Some("root".into()),
            ..PathState::default()
        }
    }

    #[test]
    fn names_and_ids_both_match() {
        let attrs = Attrs {
            owner: Some("0".into()),
            group: Some("root".into()),
            mode: Some(0o600),
        };
        assert!(attrs.changes(&existing()).is_empty());
    }

    #[test]
    fn differences_are_listed() {
        let attrs = Attrs {
            owner: Some("www-data".into()),
            group: None,
            mode: Some(0o644),
        };
        let changes = attrs.changes(&existing());
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].to_string(), "mode 0600 → 0644");
        assert_eq!(changes[1].to_string(), "owner root → www-data");
    }

    #[test]
    fn snippet_rechecks_on_the_host() {
        let attrs = Attrs {
            owner: Some("www-data".into()),
            group: Some("adm".into()),
            mode: Some(0o640),
        };
        insta::assert_snapshot!(attrs.snippet("/srv/it's here"));
    }
}
