//! `redgreen test [SUITE…]`: the red-green cycle on fresh test hosts.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use owo_colors::{OwoColorize, Stream};

use super::{Cli, Failure, VarArgs, hosts, interrupt_on_signals, load};
use crate::config::Overrides;
use crate::diagnostic::Diag;
use crate::engine::{Observer, Quiet};
use crate::exit;
use crate::report::Pretty;
use crate::verify::{Outcome, Suite};
use crate::workflow::cycle::{self, CycleReport, Phase};

/// `test` flags.
#[derive(Debug, Args, Clone)]
pub struct TestArgs {
    /// Test hosts to run on (`HOST-PLATFORM`, or `HOST` for all its
    /// platforms); default: every test host of `test_hosts:`.
    pub suites: Vec<String>,
    /// Keep the test hosts afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Keep the test hosts that failed.
    #[arg(long)]
    pub keep_failed: bool,
    /// Test hosts worked on at once (default: `concurrency` in redgreen.yml, else 50).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Output format of the result: pretty (default), json, or html (a
    /// self-contained page with a host × scenario grid).
    #[arg(long, value_enum, default_value = "pretty")]
    pub format: TestFormat,
    /// Write the result to this file (the terminal still shows progress).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
}

/// Formats of a test result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    /// A summary for people.
    Pretty,
    /// One JSON document.
    Json,
    /// A self-contained HTML page.
    Html,
}

/// Progress on the terminal: a line per phase; converge output with -v.
struct Lines {
    verbose: bool,
}

impl cycle::Progress for Lines {
    fn phase(&self, phase: Phase, hosts: usize) {
        crate::errln!(
            "{} {} ({hosts} test host{})",
            "▶".if_supports_color(Stream::Stderr, |s| s.cyan()),
            phase.title(),
            if hosts == 1 { "" } else { "s" }
        );
    }

    fn done(&self, phase: Phase, seconds: f64, summary: &str) {
        crate::errln!("  {} in {seconds:.1}s: {summary}", phase.title());
    }

    fn observer(&self) -> Arc<dyn Observer> {
        if self.verbose {
            Arc::new(Pretty::new(false))
        } else {
            Arc::new(Quiet)
        }
    }

    fn creating(&self, host: &str, step: &str) {
        if self.verbose {
            crate::errln!("  {host}: {step}");
        }
    }
}

pub(super) async fn run(cli: &Cli, args: &TestArgs) -> Result<i32, Failure> {
    let project = load(cli)?;
    let overrides = Overrides::from_pairs(&args.vars.vars)?;
    let mut diags = project.validate(&overrides);
    let suite = match Suite::load(&project, &[]) {
        Ok(suite) => Some(suite),
        Err(found) => {
            diags.0.extend(found.0);
            None
        }
    };
    diags.into_result()?;
    let suite = suite.expect("problems were reported above");
    if suite.features.is_empty() {
        return Err(Diag::plain("no features to test: there is no .feature file under features/")
            .help("the red-green cycle needs features that say how the hosts must look (see docs/features.md)")
            .into());
    }
    let driver = hosts::driver(&project)?;
    let specs = hosts::specs(&project, &args.suites)?;
    if specs.is_empty() {
        return Err(Failure::Other(
            exit::BAD_INPUT,
            "no test hosts: add test_hosts (platforms and hosts) to redgreen.yml".into(),
        ));
    }
    let defaults = &project.inventory.defaults;
    let options = cycle::Options {
        keep: args.keep,
        keep_failed: args.keep_failed,
        concurrency: defaults.concurrency(args.concurrency),
        command_timeout: defaults.command_timeout(),
        connect_timeout: defaults.connect_timeout(),
        overrides,
        interrupt: interrupt_on_signals(),
    };
    let progress = Lines {
        verbose: cli.verbose > 0,
    };
    let report = cycle::run(
        &project,
        driver.as_ref(),
        &specs,
        &suite,
        &options,
        &progress,
    )
    .await?;
    let text = match args.format {
        TestFormat::Pretty => summary(&report),
        TestFormat::Json => crate::secrets::to_json(&report) + "\n",
        TestFormat::Html => crate::report::html::cycle(&report, &project.root),
    };
    let text = crate::secrets::redact(&text).into_owned();
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| {
                Failure::Other(
                    exit::FAILED,
                    format!("cannot write {}: {e}", path.display()),
                )
            })?;
            if args.format != TestFormat::Pretty {
                crate::output::eprint(&summary(&report));
            }
            crate::errln!("wrote {}", path.display());
        }
        None => crate::output::print(&text),
    }
    if report.interrupted {
        return Ok(options.interrupt.exit_code());
    }
    Ok(report.exit_code())
}

/// The summary for people: a line per host, then what needs attention.
pub fn summary(report: &CycleReport) -> String {
    let mut out = String::from("\nSummary\n");
    let width = report
        .hosts
        .iter()
        .map(|h| h.host.len())
        .max()
        .unwrap_or(4)
        .max(9);
    out.push_str(&format!(
        "  {:<width$}  {:>13}  {:>13}  {:>10}  {}\n",
        "TEST HOST",
        "RED (before)",
        "GREEN (after)",
        "IDEMPOTENT",
        Phase::ALL.map(|p| p.title()).join(" / ")
    ));
    for host in &report.hosts {
        let times = Phase::ALL
            .map(|p| {
                host.phases
                    .get(&p)
                    .map_or("-".to_string(), |s| format!("{s:.1}s"))
            })
            .join(" / ");
        let red = format!(
            "{}/{} failed",
            host.red.total - host.red.passed,
            host.red.total
        );
        let green = format!("{}/{} passed", host.green.passed, host.green.total);
        let idempotent = if !host.idempotence_checked {
            "-"
        } else if host.not_idempotent.is_empty() {
            "yes"
        } else {
            "NO"
        };
        let line = format!(
            "  {:<width$}  {red:>13}  {green:>13}  {idempotent:>10}  {times}",
            host.host
        );
        if host.passed() {
            out.push_str(
                &line
                    .if_supports_color(Stream::Stdout, |l| l.green())
                    .to_string(),
            );
        } else {
            out.push_str(
                &line
                    .if_supports_color(Stream::Stdout, |l| l.red())
                    .to_string(),
            );
        }
        out.push('\n');
    }

    let already = report.already_green();
    if !already.is_empty() {
        out.push_str(
            "\nAlready green before converge (these scenarios do not test what the recipes do):\n",
        );
        for scenario in already {
            out.push_str(&format!(
                "  {}  {}: {}  on {}\n",
                scenario.id, scenario.feature, scenario.scenario, scenario.host
            ));
        }
    }
    let failed: Vec<_> = report
        .scenarios
        .iter()
        .filter(|s| matches!(s.green, Some(Outcome::Failed) | Some(Outcome::Unreachable)))
        .collect();
    if !failed.is_empty() {
        out.push_str("\nStill red after converge:\n");
        for scenario in failed {
            out.push_str(&format!(
                "  {}  {}: {}  on {}\n",
                scenario.id, scenario.feature, scenario.scenario, scenario.host
            ));
            if let Some(failure) = &scenario.failure {
                out.push_str(&format!("      {} (line {})\n", failure.step, failure.line));
                // Every line of the message keeps its place under the step.
                for line in failure.message.lines() {
                    out.push_str(&format!("      {line}\n"));
                }
            }
        }
    }
    for host in &report.hosts {
        if let Some(converge) = &host.converge {
            for resource in converge
                .resources
                .iter()
                .filter(|r| r.status == crate::engine::Status::Failed)
            {
                out.push_str(&format!(
                    "\n{}: {} failed ({}): {}\n",
                    host.host,
                    resource.title,
                    resource.declared,
                    resource.message.clone().unwrap_or_default()
                ));
            }
        }
        if !host.not_idempotent.is_empty() {
            out.push_str(&format!(
                "\n{}: not idempotent, the second converge changed:\n",
                host.host
            ));
            for resource in &host.not_idempotent {
                let changes: Vec<String> =
                    resource.changes.iter().map(ToString::to_string).collect();
                out.push_str(&format!(
                    "  {}  ({})  {}\n",
                    resource.title,
                    resource.declared,
                    changes.join(", ")
                ));
                for change in &resource.changes {
                    if let crate::resource::Change::Content {
                        diff: Some(diff), ..
                    } = change
                    {
                        for line in diff.lines() {
                            out.push_str(&format!("      {line}\n"));
                        }
                    }
                }
            }
        }
        for problem in host
            .problems
            .iter()
            .filter(|p| p.starts_with("could not") || p.starts_with("unreachable"))
        {
            out.push_str(&format!("\n{}: {problem}\n", host.host));
        }
    }
    let verdict = if report.interrupted {
        "INTERRUPTED".to_string()
    } else if report.hosts.iter().all(|h| h.passed()) {
        "PASSED: red before converge, green after, and idempotent".to_string()
    } else {
        let failing: Vec<&str> = report
            .hosts
            .iter()
            .filter(|h| !h.passed())
            .map(|h| h.host.as_str())
            .collect();
        format!("FAILED on {}", failing.join(", "))
    };
    out.push_str(&format!("\n{verdict}\n"));
    out
}
