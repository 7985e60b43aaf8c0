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

    /// Shell that re-checks each attribute of `path` on the host and fixes
    /// it: one `stat` for all of them, one `chown` for owner and group, and
    /// the mode last, since changing the owner clears setuid and setgid.
    pub fn snippet(&self, path: &str) -> String {
        let p = quote(path);
        let mut out = String::new();
        if self.owner.is_none() && self.group.is_none() {
            if let Some(mode) = self.mode {
                out.push_str(&format!(
                    "if [ \"$(stat -c %a -- {p})\" != {actual} ]; then chmod {mode:04o} -- {p}; rg_emit \"$rg_tag\" changed mode; fi\n",
                    actual = quote(&format!("{mode:o}")),
                ));
            }
            return out;
        }
        // `MODE:USER:UID:GROUP:GID`; names hold no colon.
        out.push_str(&format!(
            "rg_a=$(stat -c %a:%U:%u:%G:%g -- {p}); rg_m=${{rg_a%%:*}}; rg_a=${{rg_a#*:}}; rg_o=:${{rg_a%:*:*}}:; rg_g=:${{rg_a#*:*:}}:\n\
             rg_c=\n"
        ));
        // rg_c: chown's argument, OWNER, OWNER:GROUP or :GROUP.
        if let Some(owner) = &self.owner {
            out.push_str(&format!(
                "case $rg_o in *:{o}:*) ;; *) rg_c={o} ;; esac\n",
                o = quote(owner)
            ));
        }
        if let Some(group) = &self.group {
            out.push_str(&format!(
                "case $rg_g in *:{g}:*) ;; *) rg_c=$rg_c:{g} ;; esac\n",
                g = quote(group)
            ));
        }
        out.push_str(&format!(
            "case $rg_c in '') ;; :*) chgrp -- \"${{rg_c#:}}\" {p} ;; *) chown -- \"$rg_c\" {p} ;; esac\n"
        ));
        if let Some(mode) = self.mode {
            // A new owner took setuid and setgid away: give them back.
            let again = if mode & 0o6000 != 0 {
                format!("; elif [ -n \"$rg_c\" ]; then chmod {mode:04o} -- {p}")
            } else {
                String::new()
            };
            out.push_str(&format!(
                "if [ \"$rg_m\" != {actual} ]; then chmod {mode:04o} -- {p}; rg_emit \"$rg_tag\" changed mode{again}; fi\n",
                actual = quote(&format!("{mode:o}")),
            ));
        }
        if self.owner.is_some() {
            out.push_str("case $rg_c in :*|'') ;; *) rg_emit \"$rg_tag\" changed owner ;; esac\n");
        }
        if self.group.is_some() {
            out.push_str("case $rg_c in *:*) rg_emit \"$rg_tag\" changed group ;; esac\n");
        }
        out
    }

    /// Shell that gives the temporary file `"$rg_tmp"` these attributes
    /// before it is renamed into place (file, template, download): owner and
    /// group first, since changing them clears setuid and setgid.
    pub fn set_on_tmp(&self) -> String {
        let mut out = String::new();
        match (&self.owner, &self.group) {
            (Some(o), Some(g)) => out.push_str(&format!(
                "  chown -- {} \"$rg_tmp\"\n",
                quote(&format!("{o}:{g}"))
            )),
            (Some(o), None) => out.push_str(&format!("  chown -- {} \"$rg_tmp\"\n", quote(o))),
            (None, Some(g)) => out.push_str(&format!("  chgrp -- {} \"$rg_tmp\"\n", quote(g))),
            (None, None) => {}
        }
        if let Some(mode) = self.mode {
            out.push_str(&format!("  chmod {mode:04o} -- \"$rg_tmp\"\n"));
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

    /// Run `attrs`' snippet on `path` under sh: what it reported.
    fn apply(attrs: &Attrs, path: &std::path::Path) -> Vec<String> {
        let script = format!(
            "{}rg_tag=r0\nset -e\n{}",
            crate::shell::PRELUDE,
            attrs.snippet(path.to_str().unwrap())
        );
        let out = crate::transport::Output::of_sh(&script);
        assert_eq!(out.status, 0, "{}", out.stderr_text());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect()
    }

    fn id(flag: &str) -> String {
        let out = std::process::Command::new("id").arg(flag).output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    #[test]
    fn the_snippet_changes_only_what_differs() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("it's here");
        std::fs::write(&path, "x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        // The owner by uid, the group by name: both as they are.
        let attrs = Attrs {
            owner: Some(id("-u")),
            group: Some(id("-gn")),
            mode: Some(0o640),
        };
        assert_eq!(apply(&attrs, &path), ["@r0 changed mode"]);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o640);
        assert!(apply(&attrs, &path).is_empty(), "nothing differs now");
    }

    /// Changing the owner clears setuid: the snippet sets the mode again.
    /// Only root can give a file away.
    #[test]
    fn a_new_owner_keeps_setuid() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if id("-u") != "0" {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tool");
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let attrs = Attrs {
            owner: Some("nobody".into()),
            group: Some("65534".into()),
            mode: Some(0o4755),
        };
        assert_eq!(
            apply(&attrs, &path),
            ["@r0 changed owner", "@r0 changed group"]
        );
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o4755);
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    }
}
