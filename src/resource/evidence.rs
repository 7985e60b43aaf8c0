//! Evidence of use: what a host shows about whether the thing a removal
//! removes is still used. Asked in the probe's round trip, only for
//! resources that remove something ([`super::removal`]).

/// What a removal removes, as the evidence of its use is asked about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// A file, directory or link.
    Path(String),
    /// A user account.
    User(String),
    /// A group.
    Group(String),
    /// An OS package.
    Package(String),
    /// A cron entry: whose crontab, and its command.
    Cron {
        /// Whose crontab.
        user: String,
        /// The command it runs.
        run: String,
    },
}
