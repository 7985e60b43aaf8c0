//! Services: systemd where it runs, else OpenRC or SysV init scripts.

use crate::shell::quote;
use crate::verify::library::Args;
use crate::verify::library::expect;
use crate::verify::world::{Failure, HostWorld, Verdict};

/// Prints `key=value` lines about the service `$n`.
const QUERY: &str = r#"if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  echo init=systemd
  systemctl show -p LoadState -p ActiveState -p SubState -- "$n" 2>/dev/null
  e=$(systemctl is-enabled -- "$n" 2>/dev/null); echo "enabled_exit=$?"; echo "enabled=$e"
elif command -v rc-service >/dev/null 2>&1; then
  echo init=openrc
  if rc-service -e "$n"; then echo LoadState=loaded; else echo LoadState=not-found; fi
  rc-service -- "$n" status >/dev/null 2>&1; echo "running_exit=$?"
  rc-update show default 2>/dev/null | grep -q "^ *$n |"; echo "enabled_exit=$?"
elif [ -x "/etc/init.d/$n" ]; then
  echo init=sysv; echo LoadState=loaded
  "/etc/init.d/$n" status >/dev/null 2>&1; echo "running_exit=$?"
  ls /etc/rc[2345].d/S*"$n" >/dev/null 2>&1; echo "enabled_exit=$?"
else
  echo init=sysv; echo LoadState=not-found
fi
"#;

/// What the host says about a service.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Service {
    init: String,
    loaded: bool,
    active: String,
    sub: String,
    running: bool,
    enabled: bool,
    enabled_word: String,
}

fn parse(text: &str) -> Service {
    let mut service = Service::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "init" => service.init = value.to_string(),
            "LoadState" => service.loaded = value != "not-found",
            "ActiveState" => {
                service.active = value.to_string();
                service.running = value == "active";
            }
            "SubState" => service.sub = value.to_string(),
            "running_exit" => {
                service.running = value == "0";
                service.active = if service.running {
                    "running"
                } else {
                    "stopped"
                }
                .into();
            }
            "enabled_exit" => service.enabled = value == "0",
            "enabled" => service.enabled_word = value.to_string(),
            _ => {}
        }
    }
    if service.enabled_word.is_empty() {
        service.enabled_word = if service.enabled {
            "enabled"
        } else {
            "disabled"
        }
        .into();
    }
    service
}

async fn query(world: &mut HostWorld, name: &str) -> Result<Service, Failure> {
    let output = world.check(format!("n={}\n{QUERY}", quote(name))).await?;
    let service = parse(&output.stdout_text());
    if !service.loaded {
        let detail = if service.init == "systemd" {
            format!(" (systemd has no unit {name})")
        } else {
            String::new()
        };
        return Err(Failure::check(format!(
            "the service {name} does not exist{detail}"
        )));
    }
    Ok(service)
}

/// `the service {string} should be running`
pub async fn running(world: &mut HostWorld, args: &Args) -> Verdict {
    let name = args.text(0);
    let service = query(world, name).await?;
    let state = if service.sub.is_empty() {
        service.active.clone()
    } else {
        format!("{} ({})", service.active, service.sub)
    };
    let found = format!("the service {name} is {state}");
    expect(args, service.running, found.clone(), found)
}

/// `the service {string} should be enabled`
pub async fn enabled(world: &mut HostWorld, args: &Args) -> Verdict {
    let name = args.text(0);
    let service = query(world, name).await?;
    let found = format!("the service {name} is {}", service.enabled_word);
    expect(args, service.enabled, found.clone(), found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_answers_parse() {
        let service = parse(
            "init=systemd\nLoadState=loaded\nActiveState=inactive\nSubState=dead\nenabled_exit=1\nenabled=disabled\n",
        );
        assert!(service.loaded);
        assert!(!service.running);
        assert_eq!(
            (service.active.as_str(), service.sub.as_str()),
            ("inactive", "dead")
        );
        assert!(!service.enabled);
        assert_eq!(service.enabled_word, "disabled");
        assert!(!parse("init=systemd\nLoadState=not-found\n").loaded);
    }

    #[test]
    fn init_script_answers_parse() {
        let service = parse("init=sysv\nLoadState=loaded\nrunning_exit=0\nenabled_exit=1\n");
        assert!(service.running);
        assert_eq!(service.enabled_word, "disabled");
    }
}
