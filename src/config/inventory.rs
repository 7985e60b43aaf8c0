//! The model of `redgreen.yml`: defaults, hosts, groups and test hosts.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

pub use crate::driver::DriverKind;
use crate::recipe::{Spanned, Text};
pub use crate::transport::Become;

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `redgreen.yml` as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Settings every host starts from.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schemars(with = "Option<Defaults>")]
    pub defaults: Defaults,
    /// Existing servers.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schemars(with = "Option<NamedMap<HostEntry>>")]
    pub hosts: NamedMap<HostEntry>,
    /// Groups: the recipes and vars their hosts get.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schemars(with = "Option<NamedMap<GroupEntry>>")]
    pub groups: NamedMap<GroupEntry>,
    /// Throw-away hosts that `redgreen test` and `redgreen hosts create` make.
    pub test_hosts: Option<TestHosts>,
}

/// `defaults:`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// SSH user (default: the ssh_config's `User`, else your own user name,
    /// as with plain ssh); a user other than root reaches root with sudo.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub user: Option<Text>,
    /// SSH private key, relative to the project (default: the ssh_config's
    /// `IdentityFile`, else ssh's own keys and agent).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub identity: Option<Text>,
    /// An ssh_config file to use instead of ~/.ssh/config (relative to the project).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub ssh_config: Option<Text>,
    /// SSH port (default: the ssh_config's `Port`, else 22).
    #[schemars(with = "Option<u16>")]
    pub port: Option<Spanned<u16>>,
    /// How many hosts are worked on at once (default 50).
    #[schemars(with = "Option<usize>")]
    pub concurrency: Option<Spanned<usize>>,
    /// How root is reached on a non-root login (default: sudo).
    #[serde(rename = "become")]
    #[schemars(with = "Option<Become>")]
    pub become_: Option<Spanned<Become>>,
    /// Seconds a single remote command may take (default 600).
    #[schemars(with = "Option<u64>")]
    pub command_timeout: Option<Spanned<u64>>,
    /// Seconds to wait for an SSH connection (default 10).
    #[schemars(with = "Option<u64>")]
    pub connect_timeout: Option<Spanned<u64>>,
    /// Seconds an idle SSH connection stays open after redgreen ends, for
    /// the next command to use without a new handshake (default 60; 0: close
    /// every connection at the end). `REDGREEN_KEEP_CONNECTIONS` overrides it.
    #[schemars(with = "Option<u64>")]
    pub keep_connections: Option<Spanned<u64>>,
}

impl Defaults {
    /// Hosts worked on at once: `wanted` (a command-line flag), else
    /// `concurrency`, else 50.
    pub fn concurrency(&self, wanted: Option<usize>) -> usize {
        wanted
            .or(self.concurrency.as_ref().map(|c| c.value))
            .unwrap_or(50)
            .max(1)
    }

    /// How long one remote script may take (default 600 s).
    pub fn command_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.command_timeout.as_ref().map_or(600, |t| t.value))
    }

    /// How long an idle connection is kept after redgreen ends: the
    /// `REDGREEN_KEEP_CONNECTIONS` environment variable, else
    /// `keep_connections`, else 60 s; None when that is 0.
    pub fn keep_connections(&self) -> Option<std::time::Duration> {
        let seconds = std::env::var("REDGREEN_KEEP_CONNECTIONS")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .or(self.keep_connections.as_ref().map(|k| k.value))
            .unwrap_or(60);
        (seconds > 0).then(|| std::time::Duration::from_secs(seconds))
    }

    /// How long an SSH connection may take (default 10 s).
    pub fn connect_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.connect_timeout.as_ref().map_or(10, |t| t.value))
    }
}

/// One entry under `hosts:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    /// Address or name to connect to.
    #[schemars(with = "crate::recipe::schema::Scalar")]
    pub address: Text,
    /// SSH port (default: `defaults`, else the ssh_config's `Port`, else 22).
    #[schemars(with = "Option<u16>")]
    pub port: Option<Spanned<u16>>,
    /// SSH user (default: `defaults`, else the ssh_config's `User`, else
    /// your own user name); a user other than root reaches root with sudo.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub user: Option<Text>,
    /// SSH private key, relative to the project (default: `defaults`, else
    /// the ssh_config's `IdentityFile`).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub identity: Option<Text>,
    /// An ssh_config file to use instead of ~/.ssh/config (relative to the project).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub ssh_config: Option<Text>,
    /// How root is reached.
    #[serde(rename = "become")]
    #[schemars(with = "Option<Become>")]
    pub become_: Option<Spanned<Become>>,
    /// Groups, in order (later groups' vars win).
    #[serde(default, deserialize_with = "null_as_default")]
    #[schemars(with = "Option<Vec<crate::recipe::schema::Scalar>>")]
    pub groups: Vec<Text>,
    /// Host vars (win over group and recipe vars).
    #[serde(default, deserialize_with = "null_as_default")]
    #[schemars(with = "Option<Map<String, Value>>")]
    pub vars: crate::recipe::Vars,
}

/// One entry under `groups:`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupEntry {
    /// Recipes, in order.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schemars(with = "Option<Vec<crate::recipe::schema::Scalar>>")]
    pub recipes: Vec<Text>,
    /// Group vars.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schemars(with = "Option<Map<String, Value>>")]
    pub vars: crate::recipe::Vars,
}

/// `test_hosts:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestHosts {
    /// docker (default), podman or qemu.
    #[serde(default)]
    #[schemars(with = "Option<DriverKind>")]
    pub driver: Option<Spanned<DriverKind>>,
    /// The platforms every test host is made on.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schemars(with = "Option<Vec<Platform>>")]
    pub platforms: Vec<Spanned<Platform>>,
    /// The test hosts: one per (host, platform), named `HOST-PLATFORM`.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schemars(with = "Option<NamedMap<TestHostEntry>>")]
    pub hosts: NamedMap<TestHostEntry>,
}

/// One platform of the test matrix.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// Short name, part of every test host's name.
    #[schemars(with = "crate::recipe::schema::Scalar")]
    pub name: Text,
    /// The image to start from: a container image (`debian:bookworm`) for
    /// docker and podman; a qcow2 or raw disk image file (relative to the
    /// project) for qemu.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub image: Option<Text>,
    /// qemu: build the base disk image from Debian's packages instead
    /// (`debian:bookworm`); cached once per machine.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub bootstrap: Option<Text>,
    /// qemu: the VM's memory in MiB (default 1024).
    #[schemars(with = "Option<u32>")]
    pub memory: Option<Spanned<u32>>,
    /// qemu: the VM's virtual CPUs (default 2).
    #[schemars(with = "Option<u32>")]
    pub cpus: Option<Spanned<u32>>,
}

/// One entry under `test_hosts.hosts`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestHostEntry {
    /// Groups, in order.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schemars(with = "Option<Vec<crate::recipe::schema::Scalar>>")]
    pub groups: Vec<Text>,
    /// Host vars.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schemars(with = "Option<Map<String, Value>>")]
    pub vars: crate::recipe::Vars,
}

/// A YAML mapping from names to entries that keeps the order and the place of
/// every name.
#[derive(Debug, Clone)]
pub struct NamedMap<V>(pub Vec<(Text, V)>);

impl<V> Default for NamedMap<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> NamedMap<V> {
    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k.value == name).map(|(_, v)| v)
    }

    /// The entry named `name`, with its key.
    pub fn entry(&self, name: &str) -> Option<(&Text, &V)> {
        self.0
            .iter()
            .find(|(k, _)| k.value == name)
            .map(|(k, v)| (k, v))
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.value.as_str())
    }

    /// Entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Text, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<V: schemars::JsonSchema> schemars::JsonSchema for NamedMap<V> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Map_of_{}", V::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "additionalProperties": generator.subschema_for::<V>(),
        })
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for NamedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = NamedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of names to entries")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<NamedMap<V>, M::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Text>()? {
                    let value = map.next_value::<V>()?;
                    entries.push((key, value));
                }
                Ok(NamedMap(entries))
            }
            fn visit_unit<E: de::Error>(self) -> Result<NamedMap<V>, E> {
                Ok(NamedMap(Vec::new()))
            }
        }
        deserializer.deserialize_map(V2(PhantomData))
    }
}
