//! The fields of each resource type, as the user writes them.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Spanned, Text};

/// The resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// OS packages.
    Package,
    /// A regular file with inline content or a source from files/.
    File,
    /// A file rendered from a handlebars template in templates/.
    Template,
    /// A directory.
    Directory,
    /// A symbolic link.
    Link,
    /// One line in a file.
    Line,
    /// A user account.
    User,
    /// A group.
    Group,
    /// A service.
    Service,
    /// An arbitrary command.
    Command,
    /// A cron entry.
    Cron,
    /// A kernel parameter.
    Sysctl,
    /// An apt source and its key.
    AptRepository,
    /// A file fetched from a URL on the host.
    Download,
}

impl Kind {
    /// Every type, in the order the documentation lists them.
    pub const ALL: [Kind; 14] = [
        Kind::Package,
        Kind::File,
        Kind::Template,
        Kind::Directory,
        Kind::Link,
        Kind::Line,
        Kind::User,
        Kind::Group,
        Kind::Service,
        Kind::Command,
        Kind::Cron,
        Kind::Sysctl,
        Kind::AptRepository,
        Kind::Download,
    ];

    /// The type key as users write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Package => "package",
            Kind::File => "file",
            Kind::Template => "template",
            Kind::Directory => "directory",
            Kind::Link => "link",
            Kind::Line => "line",
            Kind::User => "user",
            Kind::Group => "group",
            Kind::Service => "service",
            Kind::Command => "command",
            Kind::Cron => "cron",
            Kind::Sysctl => "sysctl",
            Kind::AptRepository => "apt_repository",
            Kind::Download => "download",
        }
    }

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

/// The type-specific fields of a resource.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub enum Spec {
    /// The type key was not a known type; the problem is reported by validation.
    Unknown,
    Package(PackageSpec),
    File(FileSpec),
    Template(TemplateSpec),
    Directory(DirectorySpec),
    Link(LinkSpec),
    Line(LineSpec),
    User(UserSpec),
    Group(GroupSpec),
    Service(ServiceSpec),
    Command(CommandSpec),
    Cron(CronSpec),
    Sysctl(SysctlSpec),
    AptRepository(AptRepositorySpec),
    Download(DownloadSpec),
}

impl Spec {
    /// The type of this spec; `None` for [`Spec::Unknown`].
    pub fn kind(&self) -> Option<Kind> {
        Some(match self {
            Spec::Unknown => return None,
            Spec::Package(_) => Kind::Package,
            Spec::File(_) => Kind::File,
            Spec::Template(_) => Kind::Template,
            Spec::Directory(_) => Kind::Directory,
            Spec::Link(_) => Kind::Link,
            Spec::Line(_) => Kind::Line,
            Spec::User(_) => Kind::User,
            Spec::Group(_) => Kind::Group,
            Spec::Service(_) => Kind::Service,
            Spec::Command(_) => Kind::Command,
            Spec::Cron(_) => Kind::Cron,
            Spec::Sysctl(_) => Kind::Sysctl,
            Spec::AptRepository(_) => Kind::AptRepository,
            Spec::Download(_) => Kind::Download,
        })
    }
}

/// `state` of most resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// It must exist (the default).
    #[default]
    Present,
    /// It must not exist.
    Absent,
}

/// `state` of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PackageState {
    /// Installed, any version (or the pinned `version`).
    #[default]
    Present,
    /// Not installed.
    Absent,
    /// Installed at the newest version available.
    Latest,
}

/// A file mode, written as octal digits: `"0644"`, `0755`, `"640"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl Mode {
    /// Parse octal digits (`0644`, `644`, `0o644`, `2755`).
    pub fn parse(text: &str) -> Result<Mode, String> {
        let digits = text.trim();
        let digits = digits.strip_prefix("0o").unwrap_or(digits);
        let valid = (3..=4).contains(&digits.len()) && digits.chars().all(|c| c.is_digit(8));
        if !valid {
            return Err(format!(
                "invalid mode '{text}': expected 3 or 4 octal digits, like \"0644\" or \"0755\""
            ));
        }
        u32::from_str_radix(digits, 8)
            .map(Mode)
            .map_err(|e| format!("invalid mode '{text}': {e}"))
    }

    /// Four octal digits, as `stat -c %a` would print them zero-padded.
    pub fn octal(self) -> String {
        format!("{:04o}", self.0)
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.octal())
    }
}

/// `package: nginx` or `package: [curl, git]`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageSpec {
    /// present (default), absent or latest.
    #[schemars(with = "Option<PackageState>")]
    pub state: Option<Spanned<PackageState>>,
    /// A version to pin (one package only).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub version: Option<Text>,
}

/// `file: /etc/motd`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Inline content, rendered with handlebars.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub content: Option<Text>,
    /// A file under files/, copied as is.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub source: Option<Text>,
    /// Owner (name or uid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub owner: Option<Text>,
    /// Group (name or gid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub group: Option<Text>,
    /// Permissions.
    #[schemars(with = "Option<Mode>")]
    pub mode: Option<Spanned<Mode>>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// `template: /etc/nginx/sites-enabled/default`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    /// A template under templates/.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub source: Option<Text>,
    /// Extra variables for this template only.
    #[serde(default, deserialize_with = "super::de::null_as_default")]
    #[schemars(with = "Option<Map<String, Value>>")]
    pub vars: super::Vars,
    /// Owner (name or uid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub owner: Option<Text>,
    /// Group (name or gid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub group: Option<Text>,
    /// Permissions.
    #[schemars(with = "Option<Mode>")]
    pub mode: Option<Spanned<Mode>>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// `directory: /srv/www`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectorySpec {
    /// Owner (name or uid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub owner: Option<Text>,
    /// Group (name or gid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub group: Option<Text>,
    /// Permissions.
    #[schemars(with = "Option<Mode>")]
    pub mode: Option<Spanned<Mode>>,
    /// Apply owner and group to everything inside, mode to every directory
    /// inside; with `state: absent`, remove the directory and its contents.
    #[schemars(with = "Option<bool>")]
    pub recursive: Option<Spanned<bool>>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// `link: /srv/app/current`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// What the link points to.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub to: Option<Text>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// `line: "PermitRootLogin no"`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineSpec {
    /// The file the line is in.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub path: Option<Text>,
    /// A regular expression of the line to replace.
    #[serde(rename = "match")]
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub match_: Option<Text>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
    /// Create the file if it is missing (default true).
    #[schemars(with = "Option<bool>")]
    pub create: Option<Spanned<bool>>,
}

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
    #[serde(default, deserialize_with = "super::de::null_as_default")]
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
    #[serde(default, deserialize_with = "super::de::null_as_default")]
    #[schemars(with = "Option<Vec<crate::recipe::schema::Scalar>>")]
    pub authorized_keys: Vec<Text>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// `group: app`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Group id.
    #[schemars(with = "Option<u32>")]
    pub gid: Option<Spanned<u32>>,
    /// A system group.
    #[schemars(with = "Option<bool>")]
    pub system: Option<Spanned<bool>>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

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
    #[serde(default, deserialize_with = "super::de::null_as_default")]
    #[schemars(with = "Option<Vec<crate::recipe::schema::Scalar>>")]
    pub restart_on: Vec<Text>,
}

/// `command: migrate`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// The shell command (default: the resource's name).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub run: Option<Text>,
    /// Skip when this path exists.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub creates: Option<Text>,
    /// Skip when this command succeeds.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub unless: Option<Text>,
    /// Run only when this command succeeds.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub only_if: Option<Text>,
    /// Working directory.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub cwd: Option<Text>,
    /// Run as this user.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub user: Option<Text>,
    /// Environment variables.
    #[serde(default, deserialize_with = "super::de::null_as_default")]
    #[schemars(with = "Option<Map<String, Value>>")]
    pub env: Map<String, Value>,
}

/// `cron: nightly-backup`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CronSpec {
    /// Whose crontab (default root).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub user: Option<Text>,
    /// Five cron fields: `"*/5 * * * *"`.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub schedule: Option<Text>,
    /// The command.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub run: Option<Text>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

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

/// `apt_repository: nodesource`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AptRepositorySpec {
    /// The repository's URI.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub uri: Option<Text>,
    /// The suite (default: the host's codename).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub suite: Option<Text>,
    /// Components.
    #[serde(default, deserialize_with = "super::de::null_as_default")]
    #[schemars(with = "Option<Vec<crate::recipe::schema::Scalar>>")]
    pub components: Vec<Text>,
    /// The signing key (ASCII-armoured text, or a file under files/).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub key: Option<Text>,
    /// present (default) or absent.
    #[schemars(with = "Option<Presence>")]
    pub state: Option<Spanned<Presence>>,
}

/// `download: /usr/local/bin/tool`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadSpec {
    /// Where to fetch it from.
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub url: Option<Text>,
    /// The expected sha256 (required).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub sha256: Option<Text>,
    /// Owner (name or uid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub owner: Option<Text>,
    /// Group (name or gid).
    #[schemars(with = "Option<crate::recipe::schema::Scalar>")]
    pub group: Option<Text>,
    /// Permissions.
    #[schemars(with = "Option<Mode>")]
    pub mode: Option<Spanned<Mode>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_digits() {
        assert_eq!(Mode::parse("0644"), Ok(Mode(0o644)));
        assert_eq!(Mode::parse("755"), Ok(Mode(0o755)));
        assert_eq!(Mode::parse("0o600"), Ok(Mode(0o600)));
        assert_eq!(Mode::parse("2755"), Ok(Mode(0o2755)));
        assert!(Mode::parse("0999").is_err());
        assert!(Mode::parse("rw-r--r--").is_err());
        assert!(Mode::parse("64").is_err());
        assert_eq!(Mode(0o644).octal(), "0644");
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.as_str()), Some(kind));
        }
    }
}
