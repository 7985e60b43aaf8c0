//! Listening ports, read from /proc/net (no `ss` or `netstat` needed): TCP
//! sockets in state LISTEN and bound UDP sockets.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::verify::library::Args;
use crate::verify::library::expect;
use crate::verify::world::{Failure, HostWorld, Verdict};

const QUERY: &str =
    "for f in tcp tcp6 udp udp6; do echo \"@file $f\"; cat /proc/net/$f 2>/dev/null; done\n";

/// A listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listener {
    protocol: &'static str,
    address: String,
    port: u16,
}

/// The listening sockets in the /proc/net tables printed by [`QUERY`].
fn parse(text: &str) -> Vec<Listener> {
    let mut out = Vec::new();
    let mut file = "";
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("@file ") {
            file = match name.trim() {
                "tcp" => "tcp",
                "tcp6" => "tcp6",
                "udp" => "udp",
                "udp6" => "udp6",
                _ => "",
            };
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st ...
        let (Some(local), Some(remote), Some(state)) =
            (fields.get(1), fields.get(2), fields.get(3))
        else {
            continue;
        };
        let listening = match file {
            "tcp" | "tcp6" => *state == "0A",
            // A bound UDP socket with no peer.
            "udp" | "udp6" => *state == "07" && remote.ends_with(":0000"),
            _ => false,
        };
        if !listening {
            continue;
        }
        if let Some((address, port)) = parse_address(local) {
            out.push(Listener {
                protocol: if file.starts_with("tcp") {
                    "tcp"
                } else {
                    "udp"
                },
                address,
                port,
            });
        }
    }
    out
}

/// `0100007F:1F90` → ("127.0.0.1", 8080); IPv6 in four little-endian words.
fn parse_address(text: &str) -> Option<(String, u16)> {
    let (hex, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let address = match hex.len() {
        8 => Ipv4Addr::from(u32::from_str_radix(hex, 16).ok()?.swap_bytes()).to_string(),
        32 => {
            let mut bytes = [0u8; 16];
            for word in 0..4 {
                let value = u32::from_str_radix(&hex[word * 8..word * 8 + 8], 16).ok()?;
                bytes[word * 4..word * 4 + 4].copy_from_slice(&value.to_le_bytes());
            }
            let v6 = Ipv6Addr::from(bytes);
            match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => v6.to_string(),
            }
        }
        _ => return None,
    };
    Some((address, port))
}

async fn listeners(world: &mut HostWorld, port: i64) -> Result<(u16, Vec<Listener>), Failure> {
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| Failure::input(format!("{port} is not a port number (1-65535)")))?;
    let output = world.check(QUERY.to_string()).await?;
    let found = parse(&output.stdout_text())
        .into_iter()
        .filter(|l| l.port == port)
        .collect();
    Ok((port, found))
}

fn addresses(found: &[Listener]) -> String {
    let mut shown: Vec<String> = found
        .iter()
        .map(|l| format!("{} ({})", l.address, l.protocol))
        .collect();
    shown.dedup();
    shown.join(", ")
}

/// `port {int} should be listening`
pub async fn listening(world: &mut HostWorld, args: &Args) -> Verdict {
    let (port, found) = listeners(world, args.int(0)?).await?;
    expect(
        args,
        !found.is_empty(),
        format!("expected port {port} listening, found nothing listening on it"),
        format!(
            "expected nothing listening on port {port}, found it listening on {}",
            addresses(&found)
        ),
    )
}

/// `port {int} should be listening on {string}`: the address is one the
/// socket is bound to, exactly (`0.0.0.0` and `::` are addresses too).
pub async fn listening_on(world: &mut HostWorld, args: &Args) -> Verdict {
    let wanted = args.text(1).trim_start_matches('[').trim_end_matches(']');
    let (port, found) = listeners(world, args.int(0)?).await?;
    let holds = found.iter().any(|l| l.address == wanted);
    let seen = if found.is_empty() {
        "nothing listening on it".to_string()
    } else {
        format!("it listening on {}", addresses(&found))
    };
    expect(
        args,
        holds,
        format!("expected port {port} listening on {wanted}, found {seen}"),
        format!("expected port {port} not listening on {wanted}, found {seen}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "@file tcp
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1
   1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2
   2: 0200000A:0016 0100000A:C350 01 00000000:00000000 00:00000000 00000000     0        0 3
@file tcp6
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A
   1: 00000000000000000000000001000000:0019 00000000000000000000000000000000:0000 0A
@file udp
   0: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4
@file udp6
";

    #[test]
    fn proc_net_tables_parse() {
        let found = parse(SAMPLE);
        let shown: Vec<String> = found
            .iter()
            .map(|l| format!("{} {}:{}", l.protocol, l.address, l.port))
            .collect();
        assert_eq!(
            shown,
            vec![
                "tcp 0.0.0.0:22",
                "tcp 127.0.0.1:5432",
                "tcp :::22",
                "tcp ::1:25",
                "udp 127.0.0.53:53",
            ]
        );
    }
}
