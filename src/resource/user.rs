//! `user`: a user account (useradd, usermod, userdel from shadow-utils; or
//! BusyBox's adduser, deluser, addgroup and delgroup where the host has no
//! shadow tools, see [`AccountTools`]) and its `~/.ssh/authorized_keys`.
//!
//! * A missing user is created with the fields given (`-m` makes its home,
//!   except for a system user without `home` or keys). Fields not given are
//!   left to useradd's defaults, and later left alone.
//! * An existing user gets only the fields that differ changed: `uid`,
//!   `group` (primary), `groups` (exactly these supplementary groups), `shell`,
//!   and `home` (the home directory is moved, `usermod -d -m`). `system` only
//!   matters at creation.
//! * `authorized_keys` is the whole file: exactly these keys, one per line,
//!   mode 0600 in a 0700 `~/.ssh`, owned by the user. A symlinked `~/.ssh` or
//!   key file is refused rather than followed.
//! * `state: absent` removes the account (`userdel`); the home directory stays.
//! * With BusyBox, a user is created with every field, and its supplementary
//!   groups are changed (`addgroup USER GROUP`, `delgroup USER GROUP`), but
//!   BusyBox has no usermod: a different uid, primary group, shell or home on
//!   an existing user is an error at plan time.

use std::collections::BTreeSet;

use super::facts::AccountTools;
use super::file::sha256_hex;
use super::{Change, Decision, PlanInput, Probed};
use crate::diagnostic::Diag;
use crate::recipe::{Presence, Spanned, Text};
use crate::shell::{TaggedLines, data_block, decode, quote};
use serde::Deserialize;

use super::{Field, Holds, Kind, NameRule, Query, QueryInput, Resource, ResourceType, fields};

/// `user: deploy`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// User id.
    #[schemars(with = "Option<u32>")]
    pub uid: Option<Spanned<u32>>,
    /// Primary group.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub group: Option<Text>,
    /// Supplementary groups.
    #[serde(default, deserialize_with = "crate::recipe::de::null_as_default")]
    #[schemars(with = "Option<Vec<crate::recipe::schema::Scalar>>")]
    pub groups: Vec<Text>,
    /// Login shell.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub shell: Option<Text>,
    /// Home directory.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub home: Option<Text>,
    /// A system account.
    #[schemars(with = "Option<bool>")]
    pub system: Option<Spanned<bool>>,
    /// Public keys for ~/.ssh/authorized_keys.
    #[serde(default, deserialize_with = "crate::recipe::de::null_as_default")]
    #[schemars(with = "Option<Vec<crate::recipe::schema::Scalar>>")]
    pub authorized_keys: Vec<Text>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// The `user` type.
pub struct User;

impl ResourceType for User {
    const KEY: &'static str = "user";
    const NAME: Holds = Holds::Name(Kind::User);
    const NAME_RULE: Option<NameRule> = Some(NameRule {
        valid: valid_name,
        noun: "user name",
        label: "not a user name",
        help: "user names are lowercase letters, digits, _ and -, starting with a letter or _",
    });
    type Spec = UserSpec;

    fn removal(spec: &UserSpec) -> Option<crate::recipe::Location> {
        super::absent_at(&spec.state)
    }

    fn evidence(_: &UserSpec, input: &QueryInput<'_>) -> Vec<super::evidence::Subject> {
        input
            .planned
            .names
            .iter()
            .map(|n| super::evidence::Subject::User(n.clone()))
            .collect()
    }

    fn values<'r>(spec: &'r UserSpec, _: &'r Resource) -> Vec<Field<'r>> {
        let mut out: Vec<Field<'r>> = [
            fields::optional("`group`", &spec.group, Holds::Account),
            fields::optional("`shell`", &spec.shell, Holds::Path),
            fields::optional("`home`", &spec.home, Holds::Path),
        ]
        .into_iter()
        .flatten()
        .collect();
        out.extend(
            spec.groups
                .iter()
                .map(|g| fields::field("`groups`", g, Holds::Account)),
        );
        // A key from a `|` block ends with a line break, which is not part of it.
        out.extend(spec.authorized_keys.iter().map(|k| Field {
            text: std::borrow::Cow::Borrowed(k.value.trim()),
            ..fields::field("an authorized key", k, Holds::Line)
        }));
        out
    }

    fn queries(_: &UserSpec, input: &QueryInput<'_>) -> Vec<Query> {
        vec![Query::User { name: input.name() }]
    }

    fn plan(spec: &UserSpec, input: &PlanInput<'_>, probed: &mut Probed) -> Result<Decision, Diag> {
        let name = input.name().to_string();
        if !valid_name(&name) {
            return Err(
                Diag::at(input.planned.place(), format!("invalid user name '{name}'")).help(
                    "user names are lowercase letters, digits, _ and -, starting with a letter or _",
                ),
            );
        }
        let state = probed.users.get(&name).cloned().unwrap_or_default();
        let tools = probed.facts.accounts();
        if spec.state.as_ref().map(|s| s.value) == Some(Presence::Absent) {
            if !state.exists {
                return Ok(Decision::Ok);
            }
            probed.users.insert(name.clone(), UserState::default());
            let n = quote(&name);
            // BusyBox's deluser takes no options, not even `--`.
            let command = match tools {
                AccountTools::Shadow => format!("userdel -- {n}"),
                AccountTools::Busybox => format!("deluser {n}"),
            };
            return Ok(Decision::Apply {
                changes: vec![Change::Remove {
                    what: "user".into(),
                }],
                snippet: format!(
                    "if getent passwd -- {n} >/dev/null; then {command}; rg_emit \"$rg_tag\" changed removed; fi\n"
                ),
            });
        }
        let render_all = |items: &[crate::recipe::Text]| -> Result<Vec<String>, Diag> {
            items.iter().map(|t| input.render(t)).collect()
        };
        let groups = render_all(&spec.groups)?;
        let keys = render_all(&spec.authorized_keys)?;
        let wanted = Wanted {
            name: name.clone(),
            uid: spec.uid.as_ref().map(|u| u.value),
            group: spec.group.as_ref().map(|g| input.render(g)).transpose()?,
            groups: (!groups.is_empty()).then(|| groups.into_iter().collect()),
            shell: spec.shell.as_ref().map(|s| input.render(s)).transpose()?,
            home: spec.home.as_ref().map(|h| input.render(h)).transpose()?,
            system: spec.system.as_ref().is_some_and(|s| s.value),
            keys: (!keys.is_empty()).then(|| keys_file(&keys)),
        };
        for group in wanted.group.iter().chain(wanted.groups.iter().flatten()) {
            if !valid_name(group) && group.parse::<u32>().is_err() {
                return Err(Diag::at(
                    input.planned.place(),
                    format!("invalid group name '{group}'"),
                ));
            }
        }

        let mut changes = Vec::new();
        let mut snippet = String::new();
        if !state.exists {
            changes.push(Change::Create {
                what: if wanted.system { "system user" } else { "user" }.into(),
            });
            if wanted.keys.is_some() {
                changes.push(Change::Note {
                    text: "authorized_keys".into(),
                });
            }
            snippet.push_str(&create_snippet(&wanted, tools));
        } else {
            let differ = field_changes(&wanted, &state);
            if tools == AccountTools::Busybox {
                // BusyBox changes supplementary groups only.
                let fields: Vec<&str> = differ
                    .iter()
                    .map(|(field, _)| *field)
                    .filter(|field| *field != "groups")
                    .collect();
                if !fields.is_empty() {
                    return Err(Diag::at(
                        input.planned.place(),
                        format!(
                            "user '{name}' exists with another {}, and this host has BusyBox's adduser, which has no usermod to change it",
                            fields.join(", ")
                        ),
                    )
                    .help("install the shadow tools (Alpine: `package: shadow` before this resource) for usermod, or remove the field"));
                }
            }
            changes.extend(differ.into_iter().map(|(_, change)| change));
            if !changes.is_empty() {
                snippet.push_str(&modify_snippet(&wanted, tools));
            }
            if let Some(keys) = &wanted.keys {
                let owner_ok = |stat: &Option<String>, mode: &str| {
                    stat.as_deref() == Some(&format!("{mode} {name}"))
                };
                if state.keys.as_deref() != Some(keys.as_slice()) {
                    changes.push(Change::Content {
                        diff: super::file::unified_diff(
                            "authorized_keys",
                            state.keys.as_deref(),
                            keys,
                            state.keys.is_some(),
                        ),
                        from: state.keys.as_deref().map(sha256_hex),
                        to: sha256_hex(keys),
                    });
                } else if !owner_ok(&state.keys_stat, "600") || !owner_ok(&state.ssh_stat, "700") {
                    changes.push(Change::Note {
                        text: "mode or owner of ~/.ssh or authorized_keys".into(),
                    });
                }
            }
        }
        if let Some(keys) = &wanted.keys
            && !changes.is_empty()
        {
            snippet.push_str(&keys_snippet(&name, keys));
        }
        probed.users.insert(name.clone(), after(&wanted, state));
        if changes.is_empty() {
            return Ok(Decision::Ok);
        }
        Ok(Decision::Apply { changes, snippet })
    }
}

/// What the probe found about a user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserState {
    /// The account exists.
    pub exists: bool,
    /// User id.
    pub uid: Option<u32>,
    /// Primary group id.
    pub gid: Option<u32>,
    /// Primary group name.
    pub group: Option<String>,
    /// Supplementary group names.
    pub groups: BTreeSet<String>,
    /// Home directory.
    pub home: Option<String>,
    /// Login shell.
    pub shell: Option<String>,
    /// Content of `~/.ssh/authorized_keys` (None: no such file).
    pub keys: Option<Vec<u8>>,
    /// `MODE OWNER` of the key file.
    pub keys_stat: Option<String>,
    /// `MODE OWNER` of `~/.ssh`.
    pub ssh_stat: Option<String>,
}

impl UserState {
    /// Read the answer under `tag`.
    pub fn from_lines(lines: &TaggedLines, tag: &str) -> UserState {
        let Some(passwd) = lines
            .text(tag, "passwd")
            .map(|b| String::from_utf8_lossy(&b).into_owned())
        else {
            return UserState::default();
        };
        let fields: Vec<&str> = passwd.trim_end().split(':').collect();
        let field = |n: usize| fields.get(n).map(|s| s.to_string());
        let group = lines.get(tag, "group").map(str::to_string);
        let groups = lines
            .get(tag, "groups")
            .unwrap_or("")
            .split_whitespace()
            .filter(|g| Some(*g) != group.as_deref())
            .map(str::to_string)
            .collect();
        UserState {
            exists: true,
            uid: field(2).and_then(|u| u.parse().ok()),
            gid: field(3).and_then(|g| g.parse().ok()),
            group,
            groups,
            home: field(5),
            shell: field(6),
            keys: lines.get(tag, "keys").and_then(decode),
            keys_stat: lines.get(tag, "keys_stat").map(str::to_string),
            ssh_stat: lines.get(tag, "ssh_stat").map(str::to_string),
        }
    }

    /// True when `group` (a name or a gid) is the primary group.
    fn in_group(&self, group: &str) -> bool {
        self.group.as_deref() == Some(group)
            || self.gid.map(|g| g.to_string()).as_deref() == Some(group)
    }
}

/// Shell function of the probe that answers user queries.
pub const PROBE_FUNCTIONS: &str = r#"rg_user() {
  rg_l=$(getent passwd -- "$2") || return 0
  rg_text "$1" passwd "$rg_l"
  rg_gs=$(id -Gn -- "$2")
  rg_emit "$1" group "${rg_gs%% *}"
  rg_emit "$1" groups "$rg_gs"
  rg_h=${rg_l#*:*:*:*:*:}; rg_h=${rg_h%%:*}
  if [ -d "$rg_h/.ssh" ] && [ ! -L "$rg_h/.ssh" ]; then
    rg_emit "$1" ssh_stat "$(stat -c '%a %U' -- "$rg_h/.ssh")"
    if [ -f "$rg_h/.ssh/authorized_keys" ] && [ ! -L "$rg_h/.ssh/authorized_keys" ]; then
      rg_emit "$1" keys "$(rg_b64 < "$rg_h/.ssh/authorized_keys")"
      rg_emit "$1" keys_stat "$(stat -c '%a %U' -- "$rg_h/.ssh/authorized_keys")"
    fi
  fi
}
"#;

pub use super::fields::valid_account_name as valid_name;

/// The user as the resource wants it, rendered.
#[derive(Debug, Clone, Default)]
struct Wanted {
    name: String,
    uid: Option<u32>,
    group: Option<String>,
    groups: Option<BTreeSet<String>>,
    shell: Option<String>,
    home: Option<String>,
    system: bool,
    keys: Option<Vec<u8>>,
}

/// The content of authorized_keys for these keys.
fn keys_file(keys: &[String]) -> Vec<u8> {
    let mut out = String::new();
    for key in keys {
        out.push_str(key.trim());
        out.push('\n');
    }
    out.into_bytes()
}

/// What differs on an existing user, each with the field it is in.
fn field_changes(wanted: &Wanted, state: &UserState) -> Vec<(&'static str, Change)> {
    let mut changes = Vec::new();
    let note = |text: String| Change::Note { text };
    if let Some(uid) = wanted.uid
        && state.uid != Some(uid)
    {
        changes.push(("uid", note(format!("uid {} → {uid}", shown(state.uid)))));
    }
    if let Some(group) = &wanted.group
        && !state.in_group(group)
    {
        changes.push((
            "primary group",
            Change::Group {
                from: state.group.clone(),
                to: group.clone(),
            },
        ));
    }
    if let Some(groups) = &wanted.groups {
        let primary = wanted.group.as_ref().or(state.group.as_ref());
        let wanted_set: BTreeSet<&String> = groups.iter().filter(|g| Some(*g) != primary).collect();
        let have: BTreeSet<&String> = state.groups.iter().collect();
        if wanted_set != have {
            let join = |set: &BTreeSet<&String>| {
                set.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
            };
            changes.push((
                "groups",
                note(format!(
                    "groups {} → {}",
                    or_none(&join(&have)),
                    or_none(&join(&wanted_set))
                )),
            ));
        }
    }
    if let Some(shell) = &wanted.shell
        && state.shell.as_ref() != Some(shell)
    {
        changes.push((
            "shell",
            note(format!("shell {} → {shell}", shown(state.shell.as_ref()))),
        ));
    }
    if let Some(home) = &wanted.home
        && state.home.as_ref() != Some(home)
    {
        changes.push((
            "home",
            note(format!(
                "home {} → {home} (moved)",
                shown(state.home.as_ref())
            )),
        ));
    }
    changes
}

fn shown<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "?".to_string(), |v| v.to_string())
}

fn or_none(text: &str) -> &str {
    if text.is_empty() { "(none)" } else { text }
}

/// The user after the change, for resources planned later.
fn after(wanted: &Wanted, mut state: UserState) -> UserState {
    state.exists = true;
    if wanted.uid.is_some() {
        state.uid = wanted.uid;
    }
    if let Some(group) = &wanted.group
        && !state.in_group(group)
    {
        state.group = Some(group.clone());
        state.gid = group.parse().ok();
    }
    if let Some(groups) = &wanted.groups {
        state.groups = groups.clone();
        if let Some(primary) = &state.group {
            state.groups.remove(primary);
        }
    }
    if wanted.shell.is_some() {
        state.shell = wanted.shell.clone();
    }
    if wanted.home.is_some() {
        state.home = wanted.home.clone();
    }
    if wanted.keys.is_some() {
        state.keys = wanted.keys.clone();
        state.keys_stat = Some(format!("600 {}", wanted.name));
        state.ssh_stat = Some(format!("700 {}", wanted.name));
    }
    state
}

fn groups_arg(groups: &BTreeSet<String>) -> String {
    groups.iter().cloned().collect::<Vec<_>>().join(",")
}

/// Shell that creates the user unless it exists by now.
fn create_snippet(wanted: &Wanted, tools: AccountTools) -> String {
    let busybox = tools == AccountTools::Busybox;
    let mut args = Vec::new();
    if busybox {
        // No password (else adduser asks for one).
        args.push("-D".to_string());
    }
    if wanted.system {
        args.push(if busybox { "-S" } else { "-r" }.to_string());
    }
    let make_home = !wanted.system || wanted.home.is_some() || wanted.keys.is_some();
    match (make_home, busybox) {
        (true, false) => args.push("-m".to_string()),
        (false, false) => args.push("-M".to_string()),
        // BusyBox makes the home unless told not to.
        (true, true) => {}
        (false, true) => args.push("-H".to_string()),
    }
    if let Some(uid) = wanted.uid {
        args.push(format!("-u {uid}"));
    }
    if let Some(group) = &wanted.group {
        // BusyBox's -G is the primary group.
        args.push(format!(
            "-{} {}",
            if busybox { "G" } else { "g" },
            quote(group)
        ));
    }
    if let (Some(groups), false) = (&wanted.groups, busybox) {
        args.push(format!("-G {}", quote(&groups_arg(groups))));
    }
    if let Some(shell) = &wanted.shell {
        args.push(format!("-s {}", quote(shell)));
    }
    if let Some(home) = &wanted.home {
        args.push(format!(
            "-{} {}",
            if busybox { "h" } else { "d" },
            quote(home)
        ));
    }
    let n = quote(&wanted.name);
    let mut create = if busybox {
        format!("adduser {} {n}\n", args.join(" "))
    } else {
        format!("useradd {} -- {n}\n", args.join(" "))
    };
    if busybox {
        // Supplementary groups one at a time, as BusyBox adds them.
        create.push_str(&groups_snippet(wanted, tools));
    }
    // An else branch with nothing in it is a syntax error in sh: a user
    // without fields to re-check has none.
    let recheck = modify_snippet(wanted, tools);
    let otherwise = if recheck.is_empty() {
        String::new()
    } else {
        format!("else\n{}", indent(&recheck))
    };
    format!(
        "if ! getent passwd -- {n} >/dev/null; then\n\
         {}\
         \x20 rg_emit \"$rg_tag\" changed created\n\
         {otherwise}fi\n",
        indent(&create),
    )
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// Shell that re-checks every field given on the host and changes those that
/// differ. With BusyBox, only the supplementary groups can change: another
/// field that differs (the account changed since the plan) fails the step.
fn modify_snippet(wanted: &Wanted, tools: AccountTools) -> String {
    let n = quote(&wanted.name);
    let busybox = tools == AccountTools::Busybox;
    let change = |field: &str, shadow: String| -> String {
        if busybox {
            format!(
                "echo {} >&2; exit 1",
                quote(&format!(
                    "the {field} of {} differs, and BusyBox has no usermod to change it",
                    wanted.name
                ))
            )
        } else {
            format!(
                "{shadow}; rg_emit \"$rg_tag\" changed {}",
                field.replace(' ', "_")
            )
        }
    };
    let mut out = String::new();
    if let Some(uid) = wanted.uid {
        out.push_str(&format!(
            "if [ \"$(id -u -- {n})\" != {uid} ]; then {}; fi\n",
            change("uid", format!("usermod -u {uid} -- {n}"))
        ));
    }
    if let Some(group) = &wanted.group {
        let g = quote(group);
        out.push_str(&format!(
            "case \" $(id -gn -- {n}) $(id -g -- {n}) \" in *\" \"{g}\" \"*) ;; *) {} ;; esac\n",
            change("group", format!("usermod -g {g} -- {n}"))
        ));
    }
    out.push_str(&groups_snippet(wanted, tools));
    if let Some(shell) = &wanted.shell {
        let s = quote(shell);
        out.push_str(&format!(
            "if [ \"$(getent passwd -- {n} | cut -d: -f7)\" != {s} ]; then {}; fi\n",
            change("shell", format!("usermod -s {s} -- {n}"))
        ));
    }
    if let Some(home) = &wanted.home {
        let h = quote(home);
        out.push_str(&format!(
            "if [ \"$(getent passwd -- {n} | cut -d: -f6)\" != {h} ]; then {}; fi\n",
            change("home", format!("usermod -d {h} -m -- {n}"))
        ));
    }
    out
}

/// Shell that makes the supplementary groups exactly `groups` (compared as
/// sorted lists without the primary group).
fn groups_snippet(wanted: &Wanted, tools: AccountTools) -> String {
    let Some(groups) = &wanted.groups else {
        return String::new();
    };
    let n = quote(&wanted.name);
    let primary = match &wanted.group {
        Some(g) => quote(g),
        None => format!("\"$(id -gn -- {n})\""),
    };
    let wanted_list = quote(&groups_arg(groups));
    let mut out = format!(
        "rg_want=$(printf %s {wanted_list} | tr , '\\n' | grep -vx -- {primary} | sort -u | paste -sd, -)\n\
         rg_have=$(id -Gn -- {n} | tr ' ' '\\n' | grep -vx -- \"$(id -gn -- {n})\" | sort -u | paste -sd, -)\n"
    );
    match tools {
        // One group at a time: delgroup USER GROUP, addgroup USER GROUP.
        AccountTools::Busybox => out.push_str(&format!(
            "if [ \"$rg_want\" != \"$rg_have\" ]; then\n\
             \x20 for rg_g in $(printf %s \"$rg_have\" | tr , ' '); do case \",$rg_want,\" in *\",$rg_g,\"*) ;; *) delgroup {n} \"$rg_g\" ;; esac; done\n\
             \x20 for rg_g in $(printf %s \"$rg_want\" | tr , ' '); do case \",$rg_have,\" in *\",$rg_g,\"*) ;; *) addgroup {n} \"$rg_g\" ;; esac; done\n\
             \x20 rg_emit \"$rg_tag\" changed groups\n\
             fi\n"
        )),
        AccountTools::Shadow => out.push_str(&format!(
            "if [ \"$rg_want\" != \"$rg_have\" ]; then usermod -G \"$rg_want\" -- {n}; rg_emit \"$rg_tag\" changed groups; fi\n"
        )),
    }
    out
}

/// Shell that writes `~/.ssh/authorized_keys` through a temporary file, after
/// re-checking it, and fixes the modes and owners of the file and `~/.ssh`.
fn keys_snippet(name: &str, keys: &[u8]) -> String {
    let n = quote(name);
    let sha = quote(&sha256_hex(keys));
    let owner = quote(&format!("{name}:"));
    let mut out = format!(
        "rg_h=$(getent passwd -- {n} | cut -d: -f6)\n\
         rg_own={owner}\"$(id -gn -- {n})\"\n\
         if [ -z \"$rg_h\" ] || [ ! -d \"$rg_h\" ]; then echo \"the home directory of \"{n}\" ($rg_h) does not exist\" >&2; exit 1; fi\n\
         if [ -L \"$rg_h/.ssh\" ] || [ -L \"$rg_h/.ssh/authorized_keys\" ]; then echo \"$rg_h/.ssh or its authorized_keys is a symlink; not following it\" >&2; exit 1; fi\n\
         if [ ! -d \"$rg_h/.ssh\" ]; then mkdir -m 0700 -- \"$rg_h/.ssh\"; chown -- \"$rg_own\" \"$rg_h/.ssh\"; rg_emit \"$rg_tag\" changed ssh-dir; fi\n\
         if [ \"$(stat -c '%a %U' -- \"$rg_h/.ssh\")\" != \"700 \"{n} ]; then chmod 0700 -- \"$rg_h/.ssh\"; chown -- \"$rg_own\" \"$rg_h/.ssh\"; rg_emit \"$rg_tag\" changed ssh-dir; fi\n\
         rg_k=\"$rg_h/.ssh/authorized_keys\"\n\
         rg_cur=\n\
         if [ -f \"$rg_k\" ]; then rg_cur=$(sha256sum < \"$rg_k\" | cut -c1-64); fi\n\
         if [ \"$rg_cur\" != {sha} ]; then\n\
         \x20 rg_tmp=$(mktemp -- \"$rg_h/.ssh/.rg-XXXXXX\")\n\
         \x20 trap 'rm -f -- \"$rg_tmp\"' EXIT HUP INT TERM\n\
         \x20 base64 -d > \"$rg_tmp\" <<'RG_DATA'\n"
    );
    out.push_str(&data_block(keys));
    out.push_str(&format!(
        "  chmod 0600 -- \"$rg_tmp\"\n\
         \x20 chown -- \"$rg_own\" \"$rg_tmp\"\n\
         \x20 mv -f -- \"$rg_tmp\" \"$rg_k\"\n\
         \x20 trap - EXIT HUP INT TERM\n\
         \x20 rg_emit \"$rg_tag\" changed authorized_keys\n\
         fi\n\
         if [ \"$(stat -c '%a %U' -- \"$rg_k\")\" != \"600 \"{n} ]; then chmod 0600 -- \"$rg_k\"; chown -- \"$rg_own\" \"$rg_k\"; rg_emit \"$rg_tag\" changed authorized_keys-mode; fi\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy() -> Wanted {
        Wanted {
            name: "deploy".into(),
            uid: Some(1100),
            group: Some("app".into()),
            groups: Some(["adm".to_string(), "www-data".to_string()].into()),
            shell: Some("/bin/bash".into()),
            home: None,
            system: false,
            keys: Some(keys_file(&["ssh-ed25519 AAAAC3 deploy@laptop".into()])),
        }
    }

    #[test]
    fn names_follow_useradd() {
        assert!(valid_name("deploy"));
        assert!(valid_name("_apt"));
        assert!(valid_name("www-data"));
        assert!(valid_name("machine$"));
        assert!(!valid_name("Deploy"));
        assert!(!valid_name("-rf"));
        assert!(!valid_name("1000"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(""));
    }

    #[test]
    fn probe_answers_parse() {
        let passwd = crate::shell::encode(b"deploy:x:1100:1200::/home/deploy:/bin/bash");
        let keys = crate::shell::encode(b"ssh-ed25519 AAAA k\n");
        let lines = crate::shell::parse_lines(&format!(
            "@q0 passwd {passwd}\n@q0 group app\n@q0 groups app adm www-data\n@q0 keys {keys}\n@q0 keys_stat 600 deploy\n@q0 ssh_stat 700 deploy\n"
        ));
        let state = UserState::from_lines(&lines, "q0");
        assert!(state.exists);
        assert_eq!(state.uid, Some(1100));
        assert_eq!(state.group.as_deref(), Some("app"));
        assert_eq!(
            state.groups,
            ["adm".to_string(), "www-data".to_string()].into()
        );
        assert_eq!(state.home.as_deref(), Some("/home/deploy"));
        assert_eq!(state.keys.as_deref(), Some(&b"ssh-ed25519 AAAA k\n"[..]));
        assert!(!UserState::from_lines(&lines, "q1").exists);
    }

    #[test]
    fn an_existing_user_changes_only_what_differs() {
        let state = UserState {
            exists: true,
            uid: Some(1100),
            gid: Some(1200),
            group: Some("app".into()),
            groups: ["adm".to_string()].into(),
            shell: Some("/bin/sh".into()),
            home: Some("/home/deploy".into()),
            ..UserState::default()
        };
        let changes: Vec<String> = field_changes(&deploy(), &state)
            .iter()
            .map(|(_, change)| change.to_string())
            .collect();
        assert_eq!(
            changes,
            ["groups adm → adm,www-data", "shell /bin/sh → /bin/bash"]
        );
        let same = Wanted {
            group: Some("1200".into()),
            ..Wanted::default()
        };
        assert!(field_changes(&same, &state).is_empty());
    }

    #[test]
    fn create_snippet_rechecks() {
        insta::assert_snapshot!(create_snippet(&deploy(), AccountTools::Shadow));
    }

    /// A user with no field to re-check (`user: sysu`) makes valid shell
    /// (an empty else branch is a syntax error in sh).
    #[test]
    fn a_user_without_fields_parses() {
        for tools in [AccountTools::Shadow, AccountTools::Busybox] {
            let snippet = create_snippet(
                &Wanted {
                    name: "sysu".into(),
                    system: true,
                    ..Wanted::default()
                },
                tools,
            );
            let status = std::process::Command::new("sh")
                .args(["-n", "-c", &snippet])
                .status()
                .unwrap();
            assert!(status.success(), "{snippet}");
        }
    }

    /// BusyBox: adduser -D with every field (-G is its primary group), the
    /// supplementary groups one addgroup each; on an existing user only the
    /// groups change, anything else fails the step.
    #[test]
    fn busybox_create_snippet() {
        let snippet = create_snippet(&deploy(), AccountTools::Busybox);
        insta::assert_snapshot!(snippet);
        let status = std::process::Command::new("sh")
            .args(["-n", "-c", &snippet])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The BusyBox snippet run under `sh` against stand-ins for adduser,
    /// addgroup, delgroup, getent and id that record their arguments: a new
    /// user is made with one command and joins each group; an existing one
    /// leaves the groups it should not be in and joins the others.
    #[test]
    fn busybox_snippets_run_under_sh() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let stand_in = |name: &str, body: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        for tool in ["adduser", "addgroup", "delgroup", "usermod", "useradd"] {
            stand_in(tool, &format!("echo {tool} \"$@\" >> {}", log.display()));
        }
        let run = |exists: bool| -> String {
            std::fs::write(&log, "").unwrap();
            // getent answers as the account's existence says; id as a user in
            // groups deploy (primary), adm and audio.
            stand_in(
                "getent",
                if exists {
                    "echo deploy:x:1000:1000::/home/deploy:/bin/bash"
                } else {
                    "exit 2"
                },
            );
            stand_in(
                "id",
                "case $1 in -u) echo 1000 ;; -g) echo 1000 ;; -gn) echo deploy ;; -Gn) echo deploy adm audio ;; esac",
            );
            let wanted = Wanted {
                name: "deploy".into(),
                groups: Some(["adm".to_string(), "www-data".to_string()].into()),
                shell: Some("/bin/bash".into()),
                ..Wanted::default()
            };
            let script = format!(
                "{}rg_tag=r1\n{}",
                crate::shell::PRELUDE,
                create_snippet(&wanted, AccountTools::Busybox)
            );
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            format!(
                "{}{}",
                std::fs::read_to_string(&log).unwrap(),
                String::from_utf8_lossy(&out.stdout)
            )
        };
        // A new user: the stand-in id still answers adm and audio, so the
        // groups step only adds www-data and removes audio, as it would
        // for what adduser made.
        assert_eq!(
            run(false),
            "adduser -D -s /bin/bash deploy\ndelgroup deploy audio\naddgroup deploy www-data\n@r1 changed groups\n@r1 changed created\n"
        );
        assert_eq!(
            run(true),
            "delgroup deploy audio\naddgroup deploy www-data\n@r1 changed groups\n"
        );
    }

    #[test]
    fn keys_snippet_writes_through_a_temporary_file() {
        insta::assert_snapshot!(keys_snippet(
            "deploy",
            &keys_file(&["ssh-ed25519 AAAAC3 deploy@laptop".into()])
        ));
    }
}
