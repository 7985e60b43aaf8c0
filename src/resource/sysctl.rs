//! `sysctl`: a kernel parameter, set now and (with `persist`, the default)
//! kept across reboots in `/etc/sysctl.d/90-redgreen-KEY.conf`.
//!
//! * The probe reads `/proc/sys/KEY` (dots become slashes); values are
//!   compared with their whitespace normalised (`"32768 60999"` equals the
//!   kernel's `"32768\t60999"`).
//! * The running value is set by writing `/proc/sys/KEY`; the file is written
//!   like a `file` resource. `persist: false` sets the running value only, and
//!   removes redgreen's file for the key if there is one.
//! * On a container host (facts: `container`), a parameter that is not
//!   namespaced (anything but `net.*` and the IPC ones) would change the
//!   machine the container runs on, not the host: it is refused. Test such
//!   parameters on a VM.

use super::file::{DesiredFile, plan_absent, plan_present};
use super::{Change, Decision, PlanInput, Probed, Query};
use crate::diagnostic::Diag;
use crate::recipe::{Spanned, Text};
use crate::shell::{TaggedLines, decode, quote};
use serde::Deserialize;

use super::{Check, Field, Holds, Kind, NameRule, QueryInput, Resource, ResourceType, fields};

/// `sysctl: net.ipv4.ip_forward`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SysctlSpec {
    /// The value.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub value: Option<Text>,
    /// Persist under /etc/sysctl.d (default true).
    #[schemars(with = "Option<bool>")]
    pub persist: Option<Spanned<bool>>,
}

/// The `sysctl` type.
pub struct Sysctl;

impl ResourceType for Sysctl {
    const KEY: &'static str = "sysctl";
    const NAME: Holds = Holds::Name(Kind::Sysctl);
    const NAME_RULE: Option<NameRule> = Some(NameRule {
        valid: valid_key,
        noun: "kernel parameter",
        label: "not a sysctl key",
        help: "a dotted key, like net.ipv4.ip_forward",
    });
    type Spec = SysctlSpec;

    fn values<'r>(spec: &'r SysctlSpec, _: &'r Resource) -> Vec<Field<'r>> {
        fields::optional("a kernel parameter's value", &spec.value, Holds::Line)
            .into_iter()
            .collect()
    }

    fn check(spec: &SysctlSpec, check: &mut Check<'_>) {
        check.required(&spec.value, "value", "\"1\"");
    }

    fn queries(_: &SysctlSpec, input: &QueryInput<'_>) -> Vec<Query> {
        let key = input.name();
        vec![
            Query::Sysctl { key: key.clone() },
            Query::Path {
                path: conf_path(&key),
                content_limit: input.content_limit().max(4096),
            },
        ]
    }

    fn plan(
        spec: &SysctlSpec,
        input: &PlanInput<'_>,
        probed: &mut Probed,
    ) -> Result<Decision, Diag> {
        let key = input.name().to_string();
        if !valid_key(&key) {
            return Err(Diag::at(
                input.planned.place(),
                format!("invalid kernel parameter '{key}'"),
            )
            .help("a key like net.ipv4.ip_forward"));
        }
        let container = probed.facts.container.clone();
        if !container.is_empty() && !namespaced(&key) {
            return Err(Diag::at(
                input.planned.place(),
                format!(
                    "{key} is not namespaced: on this {container} container it would change the machine the container runs on"
                ),
            )
            .label("not namespaced")
            .help("containers may only set network (net.*) and IPC parameters; test this one on a VM (test_hosts driver: qemu) or a real host"));
        }
        let Some(value) = spec.value.as_ref() else {
            return Err(Diag::at(input.planned.place(), "a sysctl needs `value`"));
        };
        let value = normalize(&input.render(value)?);
        let state = probed.sysctls.get(&key).cloned().unwrap_or_default();
        let Some(current) = state.value else {
            return Err(Diag::at(
                input.planned.place(),
                format!(
                    "there is no kernel parameter {key} on this host ({} does not exist)",
                    proc_path(&key)
                ),
            )
            .help("check the name with `sysctl -a`; a module may have to be loaded first"));
        };
        let mut changes = Vec::new();
        let mut snippet = String::new();
        if current != value {
            changes.push(Change::Note {
                text: format!("value {current} → {value}"),
            });
            snippet.push_str(&runtime_snippet(&key, &value));
            probed.sysctls.insert(
                key.clone(),
                SysctlState {
                    value: Some(value.clone()),
                },
            );
        }
        let persist = spec.persist.as_ref().is_none_or(|p| p.value);
        let conf = conf_path(&key);
        let file = if persist {
            plan_present(
                input,
                DesiredFile {
                    path: conf_path(&key),
                    content: Some(
                        format!("# Managed by redgreen.\n{key} = {value}\n").into_bytes(),
                    ),
                    attrs: super::attrs::Attrs::default(),
                    guard: None,
                },
                probed,
            )?
        } else {
            plan_absent(input, &conf_path(&key), probed)?
        };
        let file = super::naming(file, &conf);
        if let Decision::Apply {
            changes: file_changes,
            snippet: file_snippet,
        } = file
        {
            changes.extend(file_changes);
            if persist {
                snippet.push_str(&format!(
                    "if [ ! -d {d} ]; then mkdir -p -- {d}; fi\n",
                    d = quote(DIR)
                ));
            }
            snippet.push_str(&file_snippet);
        }
        if changes.is_empty() {
            return Ok(Decision::Ok);
        }
        Ok(Decision::Apply { changes, snippet })
    }
}

/// Where persisted parameters go.
pub const DIR: &str = "/etc/sysctl.d";

/// What the probe found about a kernel parameter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SysctlState {
    /// The value, whitespace normalised; None when the key does not exist.
    pub value: Option<String>,
}

impl SysctlState {
    /// Read the answer under `tag`.
    pub fn from_lines(lines: &TaggedLines, tag: &str) -> SysctlState {
        SysctlState {
            value: lines
                .get(tag, "value")
                .and_then(decode)
                .map(|v| normalize(&String::from_utf8_lossy(&v))),
        }
    }
}

/// Shell function of the probe that reads kernel parameters.
pub const PROBE_FUNCTIONS: &str = r#"rg_sysctl() {
  rg_f=/proc/sys/$(printf %s "$2" | tr ./ /.)
  if [ -f "$rg_f" ]; then rg_emit "$1" value "$(rg_b64 < "$rg_f")"; fi
}
"#;

/// Whitespace collapsed to single spaces, trimmed.
pub fn normalize(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The file under /proc/sys of a key (`net.ipv4.ip_forward` →
/// `/proc/sys/net/ipv4/ip_forward`; a slash in a key stands for a dot, as in
/// `net.ipv4.conf.eth0/1.forwarding`).
pub fn proc_path(key: &str) -> String {
    let swapped: String = key
        .chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect();
    format!("/proc/sys/{swapped}")
}

/// The file that persists a key.
pub fn conf_path(key: &str) -> String {
    format!("{DIR}/90-redgreen-{}.conf", key.replace('/', "."))
}

/// True for a well-formed key.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(['.', '/'])
        && !key.ends_with(['.', '/'])
        && !key.contains("..")
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
}

/// True when a container has its own copy of this parameter (network and
/// IPC namespaces), so setting it does not touch the machine underneath.
pub fn namespaced(key: &str) -> bool {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    key.starts_with("net.") || key.starts_with("fs.mqueue.") || IPC.contains(&key)
}

/// Shell that re-reads the running value and writes it if it differs.
fn runtime_snippet(key: &str, value: &str) -> String {
    let f = quote(&proc_path(key));
    let v = quote(value);
    format!(
        "if [ \"$(tr -s ' \\t' '  ' < {f})\" != {v} ]; then\n\
         \x20 if ! printf '%s\\n' {v} > {f}; then echo \"cannot write \"{f}\" (is /proc/sys read-only here?)\" >&2; exit 1; fi\n\
         \x20 rg_emit \"$rg_tag\" changed value\n\
         fi\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_proc_and_conf_paths() {
        assert_eq!(
            proc_path("net.ipv4.ip_forward"),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            proc_path("net.ipv4.conf.eth0/1.forwarding"),
            "/proc/sys/net/ipv4/conf/eth0.1/forwarding"
        );
        assert_eq!(
            conf_path("net.ipv4.ip_forward"),
            "/etc/sysctl.d/90-redgreen-net.ipv4.ip_forward.conf"
        );
        assert!(valid_key("vm.swappiness"));
        assert!(!valid_key("../../etc/passwd"));
        assert!(!valid_key("net ipv4"));
    }

    #[test]
    fn only_network_and_ipc_parameters_are_namespaced() {
        assert!(namespaced("net.ipv4.ip_forward"));
        assert!(namespaced("kernel.shmmax"));
        assert!(namespaced("fs.mqueue.msg_max"));
        assert!(!namespaced("vm.swappiness"));
        assert!(!namespaced("kernel.pid_max"));
        assert!(!namespaced("fs.file-max"));
    }

    #[test]
    fn values_compare_with_whitespace_normalised() {
        let raw = crate::shell::encode(b"32768\t60999\n");
        let lines = crate::shell::parse_lines(&format!("@q0 value {raw}\n"));
        assert_eq!(
            SysctlState::from_lines(&lines, "q0").value.as_deref(),
            Some("32768 60999")
        );
        assert_eq!(SysctlState::from_lines(&lines, "q1").value, None);
    }

    #[test]
    fn runtime_snippet_rechecks() {
        insta::assert_snapshot!(runtime_snippet(
            "net.ipv4.ip_local_port_range",
            "32768 60999"
        ));
    }

    use crate::resource::testing;

    fn probed(container: &str) -> Probed {
        let mut probed = testing::debian();
        probed.facts.container = container.into();
        for key in ["vm.swappiness", "net.ipv4.ip_forward"] {
            probed.sysctls.insert(
                key.into(),
                SysctlState {
                    value: Some("0".into()),
                },
            );
        }
        probed
    }

    #[test]
    fn parameters_that_are_not_namespaced_are_refused_on_containers() {
        let recipe = "resources:\n  - sysctl: vm.swappiness\n    value: \"10\"\n  - sysctl: net.ipv4.ip_forward\n    value: 1\n";
        let out = testing::plan(recipe, &[], &mut probed("docker"));
        assert_eq!(
            testing::changes(&out[0]),
            [
                "error: vm.swappiness is not namespaced: on this docker container it would change the machine the container runs on"
            ]
        );
        assert_eq!(testing::changes(&out[1])[0], "value 0 → 1");
        let out = testing::plan(recipe, &[], &mut probed(""));
        assert_eq!(testing::changes(&out[0])[0], "value 0 → 10");
    }

    #[test]
    fn a_value_already_set_and_persisted_is_ok() {
        let mut probed = probed("");
        probed.paths.insert(
            conf_path("vm.swappiness"),
            crate::resource::PathState {
                kind: crate::resource::PathKind::File,
                sha256: Some(crate::resource::file::sha256_hex(
                    b"# Managed by redgreen.\nvm.swappiness = 0\n",
                )),
                mode: Some(0o644),
                ..Default::default()
            },
        );
        let out = testing::plan(
            "resources:\n  - sysctl: vm.swappiness\n    value: \"0\"\n",
            &[],
            &mut probed,
        );
        assert_eq!(testing::changes(&out[0]), ["ok"]);
    }
}
