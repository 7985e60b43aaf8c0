//! `service`: a service of systemd, OpenRC or sysvinit (the host's `init`
//! fact), running or not, enabled at boot or not; and
//! the `service NAME restart|reload` handlers that `notify` and `restart_on`
//! trigger.
//!
//! * `running: true` starts an inactive service, `running: false` stops an
//!   active one; `enabled: true|false` enables or disables it. A field not
//!   given is left alone. Units that cannot be enabled (static, indirect,
//!   generated, alias) count as enabled.
//! * A unit the host does not know is an error, unless an earlier resource of
//!   the same converge changes the host (a package may bring the unit): then
//!   the apply snippet finds out.
//! * A unit file that changed on disk (systemd's NeedDaemonReload), or one
//!   that a resource earlier in the same converge writes under a systemd
//!   directory, gets `systemctl daemon-reload` before anything else.
//! * OpenRC: `rc-service NAME start|stop|status`, `rc-update add|del NAME
//!   default` (enabled: in the default runlevel). sysvinit: `service NAME
//!   start|stop|status`, `update-rc.d NAME defaults|enable|disable` (enabled:
//!   an `S` link in /etc/rc2.d to rc5.d). A service there is an init script
//!   in /etc/init.d; daemon-reload applies to systemd only.
//! * Handlers: `restart` is `systemctl restart` (which also starts a stopped
//!   service); `reload` is `systemctl reload` on an active service and
//!   `systemctl start` on an inactive one (a stopped service reads its new
//!   configuration when it starts).

use super::{Change, Decision, PlanInput, Probed};
use crate::diagnostic::Diag;
use crate::recipe::{Spanned, Text};
use crate::shell::{TaggedLines, quote};
use serde::Deserialize;

use super::{Field, Holds, Kind, NameRule, Query, QueryInput, Resource, ResourceType, fields};

/// `service: nginx`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Running now.
    #[schemars(with = "Option<bool>")]
    pub running: Option<Spanned<bool>>,
    /// Started at boot.
    #[schemars(with = "Option<bool>")]
    pub enabled: Option<Spanned<bool>>,
    /// Files whose change restarts the service.
    #[serde(default, deserialize_with = "crate::recipe::de::null_as_default")]
    #[schemars(with = "Option<Vec<crate::recipe::schema::Scalar>>")]
    pub restart_on: Vec<Text>,
}

/// The `service` type.
pub struct Service;

impl ResourceType for Service {
    const KEY: &'static str = "service";
    const NAME: Holds = Holds::Name(Kind::Service);
    const NAME_RULE: Option<NameRule> = Some(NameRule {
        valid: valid_name,
        noun: "service name",
        label: "not a unit name",
        help: "a systemd unit, like nginx or getty@tty1.service",
    });
    type Spec = ServiceSpec;

    fn values<'r>(spec: &'r ServiceSpec, _: &'r Resource) -> Vec<Field<'r>> {
        spec.restart_on
            .iter()
            .map(|p| fields::field("`restart_on`", p, Holds::Path))
            .collect()
    }

    fn queries(_: &ServiceSpec, input: &QueryInput<'_>) -> Vec<Query> {
        vec![Query::Service { name: input.name() }]
    }

    fn plan(
        spec: &ServiceSpec,
        input: &PlanInput<'_>,
        probed: &mut Probed,
    ) -> Result<Decision, Diag> {
        let name = input.name().to_string();
        if !valid_name(&name) {
            return Err(Diag::at(
                input.planned.place(),
                format!("invalid service name '{name}'"),
            ));
        }
        let init = probed.facts.init.clone();
        if !["systemd", "openrc", "sysvinit"].contains(&init.as_str()) {
            return Err(unsupported_init(input, &init));
        }
        let state = probed.services.get(&name).cloned().unwrap_or_default();
        let running = spec.running.as_ref().map(|r| r.value);
        let enabled = spec.enabled.as_ref().map(|e| e.value);
        match state.load.as_str() {
            "loaded" => {}
            "masked" => {
                return Err(Diag::at(
                    input.planned.place(),
                    format!("the unit {name} is masked on this host"),
                )
                .help(format!("unmask it first (`systemctl unmask {name}`)")));
            }
            _ if probed.changed_earlier => {
                // A package or file planned earlier may bring the unit: decide on the host.
                let mut changes = Vec::new();
                if running == Some(true) {
                    changes.push(Change::Note {
                        text: "start (the unit is not on the host yet)".into(),
                    });
                }
                if enabled == Some(true) {
                    changes.push(Change::Note {
                        text: "enable".into(),
                    });
                }
                let after = ServiceState {
                    load: "loaded".into(),
                    active: if running == Some(true) {
                        "active"
                    } else {
                        "inactive"
                    }
                    .into(),
                    enabled: if enabled == Some(true) {
                        "enabled"
                    } else {
                        "disabled"
                    }
                    .into(),
                    needs_daemon_reload: false,
                };
                probed.services.insert(name.clone(), after);
                if changes.is_empty() {
                    return Ok(Decision::Ok);
                }
                return Ok(Decision::Apply {
                    changes,
                    snippet: snippet(&init, &name, running, enabled),
                });
            }
            _ => {
                return Err(Diag::at(
                    input.planned.place(),
                    format!("there is no unit {name} on this host"),
                )
                .label("service")
                .help("install the package that provides it before this resource, or check the name (`systemctl list-unit-files`)"));
            }
        }
        let mut changes = Vec::new();
        let mut after = state.clone();
        if state.needs_daemon_reload {
            changes.push(Change::Note {
                text: "daemon-reload (the unit file changed on disk)".into(),
            });
            after.needs_daemon_reload = false;
        }
        match running {
            Some(true) if !state.is_active() => {
                changes.push(Change::Note {
                    text: format!("start ({} → running)", or_unknown(&state.active)),
                });
                after.active = "active".into();
            }
            Some(false) if state.is_active() => {
                changes.push(Change::Note {
                    text: "stop (running → stopped)".into(),
                });
                after.active = "inactive".into();
            }
            _ => {}
        }
        match enabled {
            Some(true) if !counts_as_enabled(&state.enabled) => {
                changes.push(Change::Note {
                    text: format!("enable ({} → enabled)", or_unknown(&state.enabled)),
                });
                after.enabled = "enabled".into();
            }
            Some(false) if matches!(state.enabled.as_str(), "enabled" | "enabled-runtime") => {
                changes.push(Change::Note {
                    text: "disable (enabled → disabled)".into(),
                });
                after.enabled = "disabled".into();
            }
            _ => {}
        }
        probed.services.insert(name.clone(), after);
        if changes.is_empty() && probed.unit_files_changed {
            // An earlier resource writes unit files: whether this unit needs a
            // daemon-reload (or more) is known on the host only.
            changes.push(Change::Note {
                text: "re-check on the host: earlier resources change unit files".into(),
            });
        }
        if changes.is_empty() {
            return Ok(Decision::Ok);
        }
        Ok(Decision::Apply {
            changes,
            snippet: snippet(&init, &name, running, enabled),
        })
    }
}

/// What the probe found about a unit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceState {
    /// LoadState: loaded, not-found, masked, ...
    pub load: String,
    /// is-active: active, inactive, failed, activating, ...
    pub active: String,
    /// is-enabled: enabled, disabled, static, masked, ...
    pub enabled: String,
    /// The unit file changed on disk since systemd read it.
    pub needs_daemon_reload: bool,
}

impl ServiceState {
    /// Read the answer under `tag`.
    pub fn from_lines(lines: &TaggedLines, tag: &str) -> ServiceState {
        let get = |key: &str| lines.get(tag, key).unwrap_or("").trim().to_string();
        ServiceState {
            load: get("load"),
            active: get("active"),
            enabled: get("enabled"),
            needs_daemon_reload: get("reload") == "yes",
        }
    }

    fn is_active(&self) -> bool {
        matches!(self.active.as_str(), "active" | "reloading" | "activating")
    }
}

/// is-enabled answers that need no `systemctl enable`.
const ENABLED: &str = "enabled|static|indirect|generated|alias";

fn counts_as_enabled(state: &str) -> bool {
    ENABLED.split('|').any(|s| s == state)
}

/// Shell function of the probe that answers service queries.
pub const PROBE_FUNCTIONS: &str = r#"rg_service() {
  case "$rg_init" in
  openrc|sysvinit)
    if [ -x "/etc/init.d/$2" ]; then rg_emit "$1" load loaded; else rg_emit "$1" load not-found; return 0; fi
    if [ "$rg_init" = openrc ]; then
      if rc-service -- "$2" status >/dev/null 2>&1; then rg_emit "$1" active active; else rg_emit "$1" active inactive; fi
      if rc-update show default 2>/dev/null | grep -q "^ *$2 |"; then rg_emit "$1" enabled enabled; else rg_emit "$1" enabled disabled; fi
    else
      if service "$2" status >/dev/null 2>&1; then rg_emit "$1" active active; else rg_emit "$1" active inactive; fi
      if ls /etc/rc[2345].d/S[0-9][0-9]"$2" >/dev/null 2>&1; then rg_emit "$1" enabled enabled; else rg_emit "$1" enabled disabled; fi
    fi
    return 0 ;;
  systemd) ;;
  *) return 0 ;;
  esac
  rg_emit "$1" load "$(systemctl show -p LoadState --value -- "$2" 2>/dev/null)"
  rg_emit "$1" active "$(systemctl is-active -- "$2" 2>/dev/null)"
  rg_emit "$1" enabled "$(systemctl is-enabled -- "$2" 2>/dev/null)"
  rg_emit "$1" reload "$(systemctl show -p NeedDaemonReload --value -- "$2" 2>/dev/null)"
}
"#;

/// True for a unit name systemctl accepts (`nginx`, `getty@tty1.service`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":_.@\\-".contains(c))
}

/// The error for a host whose init redgreen does not drive.
pub fn unsupported_init(input: &PlanInput<'_>, init: &str) -> Diag {
    Diag::at(
        input.planned.place(),
        format!("this host's init is {init}; redgreen manages services with systemd, OpenRC and sysvinit"),
    )
    .label("service")
    .help("use a `command` resource with `when: { init: ... }` for this host")
}

/// Shell that reloads systemd's view of a unit when it is not loaded or its
/// file changed on disk.
fn daemon_reload_snippet(u: &str) -> String {
    format!(
        "if [ \"$(systemctl show -p LoadState --value -- {u})\" != loaded ] || [ \"$(systemctl show -p NeedDaemonReload --value -- {u})\" = yes ]; then systemctl daemon-reload; rg_emit \"$rg_tag\" changed daemon-reload; fi\n"
    )
}

fn or_unknown(text: &str) -> &str {
    if text.is_empty() { "unknown" } else { text }
}

/// Shell that re-checks the unit on the host and starts, stops, enables or
/// disables it as needed.
fn snippet(init: &str, name: &str, running: Option<bool>, enabled: Option<bool>) -> String {
    match init {
        "openrc" | "sysvinit" => script_snippet(init, name, running, enabled),
        _ => systemd_snippet(name, running, enabled),
    }
}

/// [`snippet`] for OpenRC and sysvinit: init scripts in /etc/init.d.
fn script_snippet(init: &str, name: &str, running: Option<bool>, enabled: Option<bool>) -> String {
    let u = quote(name);
    let mut out = format!(
        "if [ ! -x /etc/init.d/{u} ]; then echo \"there is no init script /etc/init.d/\"{u}\" on this host\" >&2; exit 1; fi\n"
    );
    let (is_enabled, enable, disable, status, start, stop) = if init == "openrc" {
        (
            format!("rc-update show default 2>/dev/null | grep -q \"^ *\"{u}\" |\""),
            format!("rc-update add -- {u} default >/dev/null"),
            format!("rc-update del -- {u} default >/dev/null"),
            format!("rc-service -- {u} status >/dev/null 2>&1"),
            format!("rc-service -- {u} start"),
            format!("rc-service -- {u} stop"),
        )
    } else {
        (
            format!("ls /etc/rc[2345].d/S[0-9][0-9]{u} >/dev/null 2>&1"),
            format!(
                "{{ ls /etc/rc[0-6S].d/[SK][0-9][0-9]{u} >/dev/null 2>&1 || update-rc.d {u} defaults; }} && update-rc.d {u} enable"
            ),
            format!("update-rc.d {u} disable"),
            format!("service {u} status >/dev/null 2>&1"),
            format!("service {u} start"),
            format!("service {u} stop"),
        )
    };
    match enabled {
        Some(true) => out.push_str(&format!(
            "if ! {is_enabled}; then {enable}; rg_emit \"$rg_tag\" changed enabled; fi\n"
        )),
        Some(false) => out.push_str(&format!(
            "if {is_enabled}; then {disable}; rg_emit \"$rg_tag\" changed disabled; fi\n"
        )),
        None => {}
    }
    match running {
        Some(true) => out.push_str(&format!(
            "if ! {status}; then {start}; rg_emit \"$rg_tag\" changed started; fi\n"
        )),
        Some(false) => out.push_str(&format!(
            "if {status}; then {stop}; rg_emit \"$rg_tag\" changed stopped; fi\n"
        )),
        None => {}
    }
    out
}

/// [`snippet`] for systemd.
fn systemd_snippet(name: &str, running: Option<bool>, enabled: Option<bool>) -> String {
    let u = quote(name);
    let mut out = daemon_reload_snippet(&u);
    out.push_str(&format!(
        "if [ \"$(systemctl show -p LoadState --value -- {u})\" != loaded ]; then echo \"there is no unit \"{u}\" on this host\" >&2; exit 1; fi\n"
    ));
    match enabled {
        Some(true) => out.push_str(&format!(
            "case \"$(systemctl is-enabled -- {u} 2>/dev/null || true)\" in {ENABLED}) ;; *) systemctl enable -q -- {u}; rg_emit \"$rg_tag\" changed enabled ;; esac\n"
        )),
        Some(false) => out.push_str(&format!(
            "case \"$(systemctl is-enabled -- {u} 2>/dev/null || true)\" in enabled|enabled-runtime) systemctl disable -q -- {u}; rg_emit \"$rg_tag\" changed disabled ;; esac\n"
        )),
        None => {}
    }
    match running {
        Some(true) => out.push_str(&format!(
            "if ! systemctl is-active -q -- {u}; then systemctl start -- {u}; rg_emit \"$rg_tag\" changed started; fi\n"
        )),
        Some(false) => out.push_str(&format!(
            "if systemctl is-active -q -- {u}; then systemctl stop -- {u}; rg_emit \"$rg_tag\" changed stopped; fi\n"
        )),
        None => {}
    }
    out
}

/// What a service handler does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Pick up new configuration without stopping.
    Reload,
    /// Stop and start again.
    Restart,
}

impl Action {
    /// `reload` or `restart`.
    pub fn parse(word: &str) -> Option<Action> {
        match word {
            "reload" => Some(Action::Reload),
            "restart" => Some(Action::Restart),
            _ => None,
        }
    }

    /// The word, as written in `notify`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Reload => "reload",
            Action::Restart => "restart",
        }
    }
}

/// Shell of a `service NAME restart|reload` handler.
/// The host's init is told apart on the host, as the probe does.
pub fn handler_snippet(name: &str, action: Action) -> String {
    let u = quote(name);
    let systemd = match action {
        Action::Restart => {
            format!("systemctl restart -- {u}\nrg_emit \"$rg_tag\" changed restarted\n")
        }
        Action::Reload => format!(
            "if systemctl is-active -q -- {u}; then systemctl reload -- {u}; rg_emit \"$rg_tag\" changed reloaded\n\
             else systemctl start -- {u}; rg_emit \"$rg_tag\" changed started; fi\n"
        ),
    };
    let script = |tool: &str| match action {
        Action::Restart => format!("{tool} {u} restart\nrg_emit \"$rg_tag\" changed restarted\n"),
        Action::Reload => format!(
            "if {tool} {u} status >/dev/null 2>&1; then {tool} {u} reload; rg_emit \"$rg_tag\" changed reloaded\n\
             else {tool} {u} start; rg_emit \"$rg_tag\" changed started; fi\n"
        ),
    };
    format!(
        "if [ -d /run/systemd/system ]; then\n{systemd}elif command -v openrc >/dev/null 2>&1; then\n{}else\n{}fi\n",
        script("rc-service"),
        script("service"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("nginx"));
        assert!(valid_name("getty@tty1.service"));
        assert!(!valid_name("nginx; reboot"));
        assert!(!valid_name("--now"));
    }

    #[test]
    fn probe_answers_parse() {
        let lines = crate::shell::parse_lines(
            "@q0 load loaded\n@q0 active inactive\n@q0 enabled disabled\n",
        );
        let state = ServiceState::from_lines(&lines, "q0");
        assert_eq!(state.load, "loaded");
        assert!(!state.is_active());
        assert!(!counts_as_enabled(&state.enabled));
        assert!(counts_as_enabled("static"));
    }

    #[test]
    fn snippet_rechecks_on_the_host() {
        insta::assert_snapshot!(snippet("systemd", "nginx", Some(true), Some(true)));
        insta::assert_snapshot!("openrc", snippet("openrc", "cron", Some(true), Some(true)));
        insta::assert_snapshot!(
            "sysvinit",
            snippet("sysvinit", "cron", Some(false), Some(false))
        );
    }

    #[test]
    fn handler_snippets() {
        insta::assert_snapshot!("reload", handler_snippet("nginx", Action::Reload));
        insta::assert_snapshot!("restart", handler_snippet("nginx", Action::Restart));
    }

    use crate::resource::testing;

    #[test]
    fn other_inits_are_refused_by_name() {
        let mut probed = testing::debian();
        probed.facts.init = "runit".into();
        let out = testing::plan(
            "resources:\n  - service: nginx\n    running: true\n",
            &[],
            &mut probed,
        );
        assert_eq!(
            testing::changes(&out[0]),
            [
                "error: this host's init is runit; redgreen manages services with systemd, OpenRC and sysvinit"
            ]
        );
    }

    #[test]
    fn a_unit_that_a_package_brings_is_decided_on_the_host() {
        let recipe = "resources:\n  - package: nginx-light\n  - service: nginx\n    running: true\n    enabled: true\n";
        let mut probed = testing::debian();
        probed.package_cache = crate::resource::package::CacheState::Age(60);
        let out = testing::plan(recipe, &[], &mut probed);
        assert_eq!(
            testing::changes(&out[1]),
            ["start (the unit is not on the host yet)", "enable"]
        );
        // Without an earlier change, a missing unit is an error.
        let out = testing::plan(
            "resources:\n  - service: nginx\n    running: true\n",
            &[],
            &mut testing::debian(),
        );
        assert_eq!(
            testing::changes(&out[0]),
            ["error: there is no unit nginx on this host"]
        );
    }

    #[test]
    fn a_unit_file_written_earlier_makes_the_service_recheck() {
        let mut probed = testing::debian();
        probed.services.insert(
            "app".into(),
            ServiceState {
                load: "loaded".into(),
                active: "active".into(),
                enabled: "enabled".into(),
                needs_daemon_reload: false,
            },
        );
        probed.unit_files_changed = true;
        let out = testing::plan(
            "resources:\n  - service: app\n    running: true\n",
            &[],
            &mut probed,
        );
        assert_eq!(
            testing::changes(&out[0]),
            ["re-check on the host: earlier resources change unit files"]
        );
    }
}
