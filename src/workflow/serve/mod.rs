//! `redgreen serve`: the features as live health checks. On an interval (and
//! on demand), every selected host is verified, planned (drift: what a
//! converge would change now, changing nothing) and its ledger read; the
//! last round's [`Board`] answers `/healthz`, `/metrics`, `/api/status` and
//! the dashboard ([`http`]), and changes are posted to a webhook
//! ([`notify`]).
//!
//! Rounds never overlap: one loop runs them one after the other. Each host's
//! part of a round runs on its own, bounded by a per-host timeout, so a slow
//! or unreachable host does not hold up the others' results. Connections
//! stay open between rounds (`keep_connections`, stretched to outlive the
//! interval). Serve never converges.

pub mod http;
pub mod notify;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::Settings;
use crate::config::Project;
use crate::engine::{self, HostOutcome, Status};
use crate::report::serve::{Board, Cell, Drifted, HostBoard, ScenarioCell};
use crate::transport::Target;
use crate::verify::{self, Outcome, Suite};

/// What every round runs with, loaded and checked once.
pub struct Context {
    /// The project.
    pub project: Project,
    /// Its features.
    pub suite: Suite,
    /// The selected hosts.
    pub targets: Vec<Target>,
    /// Concurrency, timeouts, `--var`.
    pub settings: Settings,
    /// How long one host's part of a round may take.
    pub host_timeout: Duration,
}

/// The last round's board, and the way to ask for a round now.
#[derive(Default)]
pub struct Shared {
    board: RwLock<Arc<Board>>,
    /// Wakes the loop for a round now (`POST /api/rounds`).
    pub wake: tokio::sync::Notify,
}

impl Shared {
    /// The last round's board (round 0 before the first one ended).
    pub fn board(&self) -> Arc<Board> {
        self.board.read().expect("board lock").clone()
    }

    fn set(&self, board: Board) {
        *self.board.write().expect("board lock") = Arc::new(board);
    }
}

/// Keep the hosts' connections open at least `every` plus a minute, so that
/// the next round finds them warm.
pub fn keep_warm(targets: &mut [Target], every: Duration) {
    for target in targets {
        if let Some(keep) = target.connection.as_mut().and_then(|c| c.keep.as_mut()) {
            keep.idle = keep.idle.max(every + Duration::from_secs(60));
        }
    }
}

/// Run rounds every `every`, and when woken, until `stop` resolves; after
/// each, the board is shared, `on_round` sees it and the webhook hears what
/// changed.
pub async fn run(
    context: &Context,
    shared: &Shared,
    every: Duration,
    notifier: Option<&notify::Notifier>,
    on_round: &(dyn Fn(&Board) + Sync),
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut number = 0;
    loop {
        number += 1;
        let board = tokio::select! {
            board = round(context, number) => board,
            _ = &mut stop => return,
        };
        on_round(&board);
        if let Some(notifier) = notifier {
            let before = shared.board();
            let before = (before.round > 0).then_some(before.as_ref());
            for (host, turned) in crate::report::serve::transitions(before, &board) {
                notifier.send(crate::report::serve::event_json(&board, &host, turned));
            }
        }
        shared.set(board);
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shared.wake.notified() => {}
            _ = &mut stop => return,
        }
    }
}

/// One round over every host, at most `concurrency` at once.
pub async fn round(context: &Context, number: u64) -> Board {
    panic_hook_back();
    let started = Instant::now();
    let started_at = crate::engine::ledger::now();
    let hosts: Vec<HostBoard> = futures::stream::iter(&context.targets)
        .map(|target| host_round(context, target))
        .buffered(context.settings.concurrency.max(1))
        .collect()
        .await;
    let mut board = Board {
        round: number,
        started_at,
        seconds: started.elapsed().as_secs_f64(),
        repository: crate::engine::ledger::Revision::of(&context.project.root).short(),
        hosts,
    };
    board.mark_off_group();
    panic_hook_back();
    board
}

/// The process's panic hook.
type Hook = Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync>;

/// Put the process's own panic hook back. cucumber silences the hook while
/// a run goes and restores the one it found when it ends: runs at once (one
/// per host) can restore each other's silent one, and a run dropped at its
/// host's timeout restores nothing. Called before the first round (which
/// keeps the original) and after each.
fn panic_hook_back() {
    static ORIGINAL: std::sync::OnceLock<Hook> = std::sync::OnceLock::new();
    let original = ORIGINAL
        .get_or_init(|| Arc::from(std::panic::take_hook()))
        .clone();
    std::panic::set_hook(Box::new(move |info| original(info)));
}

/// One host: plan (drift and ledger, one round trip), then its features.
async fn host_round(context: &Context, target: &Target) -> HostBoard {
    let started = Instant::now();
    let mut host = HostBoard {
        host: target.name.clone(),
        groups: target.groups.clone(),
        unreachable: None,
        plan_failed: None,
        scenarios: Vec::new(),
        drift: Vec::new(),
        plan: String::new(),
        ledger: None,
        off_group: false,
        seconds: 0.0,
    };
    let work = async {
        let project = &context.project;
        let settings = &context.settings;
        let jobs =
            engine::jobs(project, vec![target.clone()], &settings.overrides).unwrap_or_default();
        let options = settings.engine(
            project,
            engine::Mode::Plan,
            true,
            &[],
            engine::Approval::NoRemovals,
        );
        let plan = engine::run(project, jobs, &options, &engine::quiet).await;
        let features = verify::run_features(
            &context.suite,
            std::slice::from_ref(target),
            &settings.features(true),
            None,
        )
        .await;
        (plan, features)
    };
    let Ok((plan, features)) = tokio::time::timeout(context.host_timeout, work).await else {
        host.unreachable = Some(format!(
            "its round took longer than {} s (--host-timeout)",
            context.host_timeout.as_secs()
        ));
        host.seconds = started.elapsed().as_secs_f64();
        return host;
    };
    if let Some(report) = plan.hosts.first() {
        match &report.outcome {
            HostOutcome::Unreachable(reason) => host.unreachable = Some(reason.clone()),
            HostOutcome::Failed(reason) | HostOutcome::Refused(reason) => {
                host.plan_failed = Some(reason.clone())
            }
            HostOutcome::Ok | HostOutcome::Interrupted(_) => {}
        }
        host.drift = report
            .resources
            .iter()
            .chain(&report.handlers)
            .filter(|r| r.status == Status::WouldChange)
            .map(|r| Drifted {
                resource: r.title.clone(),
                declared: r.declared.clone(),
            })
            .collect();
        host.plan =
            console::strip_ansi_codes(&crate::report::converge::plan_text(report)).into_owned();
        host.ledger = report.ledger.clone();
    }
    if host.unreachable.is_none() {
        host.unreachable = features
            .hosts
            .iter()
            .find_map(|h| h.unreachable().map(str::to_string));
    }
    host.scenarios = features
        .scenarios
        .iter()
        .map(|s| ScenarioCell {
            id: s.id(),
            feature: s.feature.clone(),
            scenario: s.scenario.clone(),
            status: match s.status {
                Outcome::Passed => Cell::Passed,
                Outcome::Failed => Cell::Failed,
                Outcome::Waived => Cell::Waived,
                Outcome::Skipped => Cell::Skipped,
                Outcome::Unreachable => Cell::Unreachable,
            },
            message: s
                .failure
                .as_ref()
                .map(|f| format!("{}: {}", f.step, f.message)),
            waiver: s.waiver.clone(),
        })
        .collect();
    host.seconds = started.elapsed().as_secs_f64();
    host
}
