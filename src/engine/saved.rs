//! Saved plans: `redgreen plan --out FILE` writes what converge would change
//! on each host, and `redgreen converge --plan FILE` applies exactly that.
//!
//! "Exactly" is checked twice, and a failed check touches nothing:
//!
//! * before any host, the project's inputs (redgreen.yml and every file under
//!   recipes/, templates/ and files/) must be those the plan was made from,
//!   file by file (sha256);
//! * on each host, after its probe and before anything is applied, the plan
//!   made now must equal the saved one: the same resources, each with the
//!   same status and the same changes (a file's content compared by its
//!   sha256 before and after). A host that drifted since is refused, with
//!   what differs.
//!
//! The file is the JSON of the plan (the same hosts and resources as
//! `plan --format json`) with what is needed to check it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{HostOutcome, ResourceReport, RunReport, Status};
use crate::diagnostic::Diag;
use crate::resource::Change;

/// The version of the file format; a file with a newer one is refused.
pub const FORMAT: u32 = 1;

/// The largest saved plan redgreen reads.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// A plan saved by `redgreen plan --out FILE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// Marks a saved plan, and its format version.
    pub redgreen_plan: u32,
    /// The redgreen version that made it.
    pub redgreen: String,
    /// The project's directory when the plan was made (for messages).
    pub project: String,
    /// The repository's commit then.
    pub commit: Option<String>,
    /// Whether the working tree was dirty then.
    pub dirty: bool,
    /// Every input file of the project (relative path) → its sha256.
    pub inputs: BTreeMap<String, String>,
    /// `--var` as given to `plan`.
    pub vars: Vec<String>,
    /// `--tags` as given to `plan`.
    pub tags: Vec<String>,
    /// Every host of the plan, in order.
    pub hosts: Vec<SavedHost>,
}

/// One host of a saved plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedHost {
    /// The host's name.
    pub host: String,
    /// Why the host could not be planned (unreachable, a resource failed to
    /// plan); None when it was.
    pub problem: Option<String>,
    /// Every resource, in order, as planned.
    pub resources: Vec<ResourceReport>,
    /// The handlers that would run.
    pub handlers: Vec<ResourceReport>,
    /// What the probe found, per subject: a digest of each answer.
    #[serde(default)]
    pub answers: BTreeMap<String, String>,
}

impl SavedPlan {
    /// The plan of a `plan` run.
    pub fn new(
        report: &RunReport,
        root: &Path,
        revision: &crate::engine::ledger::Revision,
        vars: &[String],
        tags: &[String],
    ) -> SavedPlan {
        SavedPlan {
            redgreen_plan: FORMAT,
            redgreen: env!("CARGO_PKG_VERSION").into(),
            project: root.display().to_string(),
            commit: revision.commit.clone(),
            dirty: revision.dirty,
            inputs: inputs(root),
            vars: vars.to_vec(),
            tags: tags.to_vec(),
            hosts: report
                .hosts
                .iter()
                .map(|h| SavedHost {
                    host: h.host.clone(),
                    problem: match &h.outcome {
                        HostOutcome::Ok => None,
                        HostOutcome::Failed(why)
                        | HostOutcome::Unreachable(why)
                        | HostOutcome::Interrupted(why)
                        | HostOutcome::Refused(why) => Some(why.clone()),
                    },
                    resources: h.resources.clone(),
                    handlers: h.handlers.clone(),
                    answers: h.answers.clone(),
                })
                .collect(),
        }
    }

    /// The plan as JSON, secrets masked.
    pub fn to_json(&self) -> String {
        crate::secrets::to_json(self) + "\n"
    }

    /// Read a saved plan; `shown` is the path as the user gave it.
    pub fn read(path: &Path, shown: &str) -> Result<SavedPlan, Diag> {
        use crate::files::{Unreadable, read_regular};
        let again = format!(
            "make it with `redgreen plan --out {shown}`, review it, then `redgreen converge --plan {shown}`"
        );
        let bytes = read_regular(path, MAX_BYTES).map_err(|problem| match problem {
            Unreadable::Io(e) => Diag::plain(format!("cannot read the plan {shown}: {e}")),
            Unreadable::NotAFile => Diag::plain(format!(
                "{shown} is not a saved plan: it is not a regular file"
            ))
            .help(again.clone()),
            Unreadable::TooLarge(size) => Diag::plain(format!(
                "{shown} is not a saved plan: it is too large ({size} bytes; a plan has at most {} MiB)",
                MAX_BYTES / 1024 / 1024
            ))
            .help(again.clone()),
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Diag::plain(format!("{shown} is not a saved plan: it is not UTF-8 text"))
                .help(again.clone())
        })?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            Diag::plain(format!("{shown} is not a saved plan: it is not JSON ({e})"))
                .help(again.clone())
        })?;
        match value.get("redgreen_plan").and_then(|v| v.as_u64()) {
            None => {
                return Err(Diag::plain(format!(
                    "{shown} is not a saved plan (it has no `redgreen_plan`)"
                ))
                .help(again));
            }
            Some(format) if format > u64::from(FORMAT) => {
                return Err(Diag::plain(format!(
                    "{shown} was saved by a newer redgreen (plan format {format}; this one reads {FORMAT})"
                ))
                .help("converge with the redgreen that made the plan, or make the plan again with this one"));
            }
            Some(_) => {}
        }
        serde_json::from_value(value)
            .map_err(|e| Diag::plain(format!("{shown} is not a saved plan: {e}")).help(again))
    }

    /// Check that the project at `root` is the one the plan was made from.
    pub fn check_project(&self, root: &Path, shown: &str) -> Result<(), Diag> {
        let now = inputs(root);
        if now == self.inputs {
            return Ok(());
        }
        let mut differences: Vec<String> = Vec::new();
        for (path, sha) in &now {
            match self.inputs.get(path) {
                None => differences.push(format!("{path} is new")),
                Some(saved) if saved != sha => differences.push(format!("{path} changed")),
                Some(_) => {}
            }
        }
        for path in self.inputs.keys().filter(|p| !now.contains_key(*p)) {
            differences.push(format!("{path} is gone"));
        }
        let total = differences.len();
        let mut listed: Vec<String> = differences.into_iter().take(5).collect();
        if total > listed.len() {
            listed.push(format!("and {} more", total - listed.len()));
        }
        let here = root.display().to_string();
        let shares_a_file = now.iter().any(|(p, sha)| self.inputs.get(p) == Some(sha));
        let message = if here != self.project && !shares_a_file {
            format!(
                "{shown} was saved for another project ({}): {}",
                self.project,
                listed.join(", ")
            )
        } else {
            format!(
                "the project changed since {shown} was saved: {}",
                listed.join(", ")
            )
        };
        Err(Diag::plain(message).help(format!(
            "a saved plan is applied only to the project it was made from; run `redgreen plan --out {shown}` again, review it, then converge with it"
        )))
    }

    /// What differs between the saved plan of `host` and its plan now, in
    /// words; empty when they are the same.
    pub fn differences(
        &self,
        host: &str,
        answers: &BTreeMap<String, String>,
        now: &[&ResourceReport],
    ) -> Vec<String> {
        let Some(saved) = self.hosts.iter().find(|h| h.host == host) else {
            return vec!["the saved plan has nothing for this host".into()];
        };
        if let Some(problem) = &saved.problem {
            return vec![format!(
                "when the plan was made this host could not be planned ({})",
                problem.lines().next().unwrap_or("")
            )];
        }
        // What the probe finds now, against what it found then (a subject
        // was saved with its secrets masked).
        let answers: BTreeMap<String, &String> = answers
            .iter()
            .map(|(subject, digest)| (crate::secrets::redact(subject).into_owned(), digest))
            .collect();
        let mut out: Vec<String> = saved
            .answers
            .iter()
            .filter(|(subject, digest)| answers.get(*subject).is_some_and(|now| *now != *digest))
            .map(|(subject, _)| format!("{subject} is not as it was when the plan was made"))
            .collect();
        for resource in now {
            // Saved with its secrets masked.
            let title = crate::secrets::redact(&resource.title);
            match saved.resources.iter().find(|r| r.title == title) {
                None => out.push(format!("{} is not in the plan", resource.title)),
                Some(before) if key(before) != key(resource) => out.push(format!(
                    "{}: the plan had {}, now {}",
                    resource.title,
                    describe(before),
                    describe(resource)
                )),
                Some(_) => {}
            }
        }
        for before in &saved.resources {
            if !now
                .iter()
                .any(|r| crate::secrets::redact(&r.title) == before.title)
            {
                out.push(format!(
                    "{} is in the plan but not in the recipes",
                    before.title
                ));
            }
        }
        out
    }
}

/// What is compared: the status and the changes (not the messages, nor the
/// diffs, which a plan shows and a converge does not fetch), secrets masked
/// as in the saved file.
fn key(resource: &ResourceReport) -> (Status, Vec<String>) {
    (
        resource.status,
        resource
            .changes
            .iter()
            .map(|change| crate::secrets::redact(&change_key(change)).into_owned())
            .collect(),
    )
}

fn change_key(change: &Change) -> String {
    match change {
        Change::Content { from, to, .. } => {
            format!("content {} → {}", short(from.as_deref()), short(Some(to)))
        }
        // The cache's age is in its words and grows by itself; that the cache
        // is refreshed is what matters.
        Change::Note { text } if text.starts_with("refresh the package cache first") => {
            "refresh the package cache first".into()
        }
        other => other.to_string(),
    }
}

fn short(sha: Option<&str>) -> String {
    match sha {
        Some(sha) => format!("sha256 {}", &sha[..sha.len().min(12)]),
        None => "nothing".into(),
    }
}

fn describe(resource: &ResourceReport) -> String {
    match resource.status {
        Status::Ok | Status::Changed => "nothing to change".into(),
        Status::WouldChange => resource
            .changes
            .iter()
            .map(change_key)
            .collect::<Vec<_>>()
            .join(", "),
        Status::Skipped => "skipped".into(),
        Status::Failed => "a failure".into(),
    }
}

/// Every input file of the project at `root`: redgreen.yml and everything
/// under recipes/, templates/ and files/ (relative path → sha256).
pub fn inputs(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut add = |path: &Path| {
        if let (Ok(relative), Ok(data)) = (path.strip_prefix(root), std::fs::read(path)) {
            out.insert(
                relative.to_string_lossy().into_owned(),
                crate::resource::file::sha256_hex(&data),
            );
        }
    };
    let project_file = root.join(crate::config::PROJECT_FILE);
    if project_file.is_file() {
        add(&project_file);
    }
    for dir in ["recipes", "templates", "files"] {
        for path in crate::files::walk::files(root, &root.join(dir)) {
            add(&path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(title: &str, status: Status, changes: Vec<Change>) -> ResourceReport {
        ResourceReport {
            kind: "file".into(),
            title: title.into(),
            declared: "recipes/r.yml:1:3".into(),
            status,
            removes: changes.iter().any(Change::is_removal),
            changes,
            message: None,
            reason: None,
            evidence: Vec::new(),
            after: Vec::new(),
        }
    }

    fn plan(resources: Vec<ResourceReport>) -> SavedPlan {
        SavedPlan {
            redgreen_plan: FORMAT,
            redgreen: "0.1.0".into(),
            project: "/p".into(),
            commit: None,
            dirty: false,
            inputs: BTreeMap::new(),
            vars: vec![],
            tags: vec![],
            hosts: vec![SavedHost {
                host: "web1".into(),
                problem: None,
                resources,
                handlers: vec![],
                answers: BTreeMap::new(),
            }],
        }
    }

    fn content(from: &str, to: &str) -> Change {
        Change::Content {
            diff: Some("+x".into()),
            from: Some(from.into()),
            to: to.into(),
        }
    }

    #[test]
    fn the_same_plan_has_no_differences_whatever_the_diffs() {
        let saved = plan(vec![
            resource("file /a", Status::WouldChange, vec![content("aa", "bb")]),
            resource(
                "file /gone",
                Status::WouldChange,
                vec![Change::Remove {
                    what: "file".into(),
                }],
            ),
            resource("file /ok", Status::Ok, vec![]),
        ]);
        let mut a = resource("file /a", Status::WouldChange, vec![content("aa", "bb")]);
        a.changes = vec![Change::Content {
            diff: None,
            from: Some("aa".into()),
            to: "bb".into(),
        }];
        let gone = saved.hosts[0].resources[1].clone();
        let ok = saved.hosts[0].resources[2].clone();
        assert!(
            saved
                .differences("web1", &BTreeMap::new(), &[&a, &gone, &ok])
                .is_empty()
        );
    }

    #[test]
    fn a_host_that_drifted_is_named_with_what_differs() {
        let saved = plan(vec![
            resource("file /a", Status::WouldChange, vec![content("aa", "bb")]),
            resource("file /ok", Status::Ok, vec![]),
        ]);
        let a = resource("file /a", Status::WouldChange, vec![content("cc", "bb")]);
        let ok = resource(
            "file /ok",
            Status::WouldChange,
            vec![Change::Mode {
                from: Some("0600".into()),
                to: "0644".into(),
            }],
        );
        assert_eq!(
            saved.differences("web1", &BTreeMap::new(), &[&a, &ok]),
            [
                "file /a: the plan had content sha256 aa → sha256 bb, now content sha256 cc → sha256 bb",
                "file /ok: the plan had nothing to change, now mode 0600 → 0644",
            ]
        );
        assert_eq!(
            saved
                .differences("web1", &BTreeMap::new(), &[&a])
                .last()
                .unwrap(),
            "file /ok is in the plan but not in the recipes"
        );
    }

    #[test]
    fn what_the_probe_found_is_compared_too() {
        let mut saved = plan(vec![resource(
            "file /gone",
            Status::WouldChange,
            vec![Change::Remove {
                what: "file".into(),
            }],
        )]);
        let answers = |digest: &str| {
            BTreeMap::from([
                ("the path /gone".to_string(), digest.to_string()),
                ("the path /other".to_string(), "0".to_string()),
            ])
        };
        saved.hosts[0].answers = answers("1111");
        let now = saved.hosts[0].resources[0].clone();
        assert!(
            saved
                .differences("web1", &answers("1111"), &[&now])
                .is_empty()
        );
        assert_eq!(
            saved.differences("web1", &answers("2222"), &[&now]),
            ["the path /gone is not as it was when the plan was made"]
        );
    }

    #[test]
    fn the_age_of_the_package_cache_is_not_a_difference() {
        let note = |age: &str| Change::Note {
            text: format!("refresh the package cache first (the package cache is {age} old)"),
        };
        let saved = plan(vec![resource(
            "package nginx",
            Status::WouldChange,
            vec![note("3 h")],
        )]);
        let now = resource("package nginx", Status::WouldChange, vec![note("4 h")]);
        assert!(
            saved
                .differences("web1", &BTreeMap::new(), &[&now])
                .is_empty()
        );
    }

    #[test]
    fn a_plan_reads_back_and_a_stranger_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        let saved = plan(vec![resource("file /ok", Status::Ok, vec![])]);
        std::fs::write(&path, saved.to_json()).unwrap();
        assert_eq!(SavedPlan::read(&path, "plan.json").unwrap(), saved);
        std::fs::write(&path, "{\"hosts\": []}").unwrap();
        let err = SavedPlan::read(&path, "plan.json").unwrap_err();
        assert!(err.message.contains("not a saved plan"), "{}", err.message);
        std::fs::write(&path, "{\"redgreen_plan\": 1, \"hosts\": [").unwrap();
        let err = SavedPlan::read(&path, "plan.json").unwrap_err();
        assert!(err.message.contains("not JSON"), "{}", err.message);
    }
}
