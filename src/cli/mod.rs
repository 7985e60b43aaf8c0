//! The command line: clap definitions and a thin call into the library for
//! each command.

mod converge;
mod hosts;
mod init;
mod lsp;
mod serve;
mod signals;
mod status;
mod test;
mod verify;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::config::{Overrides, Project};
use crate::diagnostic::Diags;
use crate::driver::{self, image};
use crate::engine;
use crate::exit;
pub(crate) use crate::workflow::Failure;
use crate::workflow::targets::Selection;
use crate::workflow::{Settings, test_hosts};

/// Test-driven infrastructure provisioning: Gherkin features first, YAML
/// recipes, converge over SSH, red then green.
#[derive(Debug, Parser)]
#[command(name = "redgreen", version, about, long_about = None)]
pub struct Cli {
    /// The project directory (holding redgreen.yml).
    #[arg(short = 'C', long = "dir", global = true, default_value = ".")]
    pub dir: PathBuf,
    /// More output: -v shows the command behind a failed step and, in
    /// `test`, each converge's resources; -vv logs every command.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Errors only: no progress and no report for people; what a command
    /// was asked to produce (a --format other than pretty, --out, a schema,
    /// completions, a man page) is still written, and the exit code says how
    /// it went.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A new infrastructure repository with a working example.
    Init(init::InitArgs),
    /// Parse and check everything; touches no host.
    Validate(VarArgs),
    /// Show what converge would change, per host, with diffs; changes nothing.
    /// With --out FILE, save the plan for `converge --plan FILE`.
    #[command(
        mut_arg("formats", |a| a.help("How the plan is shown, repeatable, NAME[:FILE]: pretty (progress, each change with its diff, a recap) or json (one document at the end)")),
        mut_arg("out", |a| a.help("Save the plan (JSON) to this file, for `redgreen converge --plan FILE`; the terminal still shows it")),
        mut_arg("tags", |a| a.help("Plan only the resources with one of these tags")),
        mut_arg("concurrency", |a| a.help("Hosts planned at once (default: `concurrency` in redgreen.yml, else 50)")),
    )]
    Plan(RunArgs),
    /// Apply the recipes.
    #[command(
        mut_arg("formats", |a| a.help("How the converge is reported, repeatable, NAME[:FILE]: pretty (progress, a line per resource, a recap) or json (one document at the end); with --verify or a rollout also junit, cucumber-json and html of its features")),
        mut_arg("out", |a| a.help("Write the report (in --format) to this file instead of stdout")),
        mut_arg("tags", |a| a.help("Converge only the resources with one of these tags")),
        mut_arg("concurrency", |a| a.help("Hosts converged at once (default: `concurrency` in redgreen.yml, else 50)")),
    )]
    Converge(ConvergeArgs),
    /// Per host: the commit last converged, when, the result, and whether its
    /// features last passed (from each host's ledger).
    Status(status::StatusArgs),
    /// The features as live health checks: verify, drift (plan) and the
    /// ledgers of the hosts on an interval, served as /healthz, /metrics,
    /// /api/status and a dashboard. Never converges.
    Serve(serve::ServeArgs),
    /// Run the features (Gherkin) against the hosts.
    Verify(verify::VerifyArgs),
    /// List every step phrase (built-in and features/steps.yml) with an example.
    Steps,
    /// The red-green cycle on fresh test hosts: create, verify (red),
    /// converge, verify (green), converge again (idempotence), destroy.
    Test(test::TestArgs),
    /// Keep test hosts up; on every saved recipe, template, file or feature,
    /// converge and verify again what the change affects.
    Watch(watch::WatchArgs),
    /// Print the JSON Schema of redgreen.yml (project) or of a recipe
    /// (recipe), for editors.
    Schema {
        /// project (redgreen.yml) or recipe (recipes/*.yml).
        #[arg(value_enum)]
        document: crate::schema::Document,
    },
    /// A language server (LSP, on stdin and stdout) for feature files and
    /// recipes: completion, problems as you type, hover, go to definition.
    Lsp,
    /// Close the SSH connections this project keeps open between commands
    /// (`keep_connections` in redgreen.yml, default 60 s idle).
    Disconnect,
    /// Manage test hosts by hand.
    #[command(subcommand)]
    Hosts(HostsCommand),
    /// Manage base images for test hosts.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Print the completion script for a shell, e.g.
    /// `source <(redgreen completions bash)`.
    Completions {
        /// The shell to complete redgreen's commands, flags and values in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page redgreen(1) in roff (`redgreen man | man -l -`),
    /// or write it and one page per command into a directory.
    Man {
        /// Write redgreen.1 and redgreen-COMMAND.1 for every command into
        /// this directory instead of printing redgreen.1.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// `--var`.
#[derive(Debug, Args, Clone, Default)]
pub struct VarArgs {
    /// Set a variable (wins over recipe, group and host vars).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

/// The reporters (`--format`), one definition for every command that
/// reports results; `report::reporters` dispatches the results to them.
#[derive(Debug, Args, Clone, Default)]
pub struct ReportArgs {
    /// A reporter, repeatable: pretty, json, junit, cucumber-json, html;
    /// NAME:FILE writes to FILE (its folder is created). When none writes to
    /// stdout, pretty does. JUnit, Cucumber JSON and HTML need features:
    /// verify, test, converge --verify and rollouts write them.
    #[arg(long = "format", value_name = "NAME[:FILE]")]
    pub formats: Vec<String>,
}

/// Which hosts, and how.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// A host, test host or group name (default: every host), or a server
    /// that is not in redgreen.yml: ssh://[USER@]HOST[:PORT] with --group.
    pub target: Option<String>,
    /// These hosts, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// The hosts of this group (for an ssh:// target: the group whose
    /// recipes and features it takes).
    #[arg(long)]
    pub group: Option<String>,
    /// The created test hosts instead of the hosts under `hosts:`.
    #[arg(long)]
    pub test_hosts: bool,
    /// Hosts worked on at once (default: `concurrency` in redgreen.yml, else 50).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Only resources with one of these tags.
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// The reporters.
    #[command(flatten)]
    pub report: ReportArgs,
    /// Write the output to this file instead of stdout; for `plan`, save the
    /// plan (JSON) to this file for `converge --plan FILE`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// ssh (default) or local: run on this machine instead.
    #[arg(long, value_enum, default_value = "ssh")]
    pub connection: ConnectionKind,
    /// Accept and record the key of a host seen for the first time.
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Only the K-th of N shards of the selected hosts, for N CI jobs: the
    /// host names sorted, then dealt round-robin (1 ≤ K ≤ N).
    #[arg(long, value_name = "K/N")]
    pub partition: Option<crate::workflow::shard::Partition>,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
}

impl RunArgs {
    /// The hosts these flags select.
    fn selection(&self) -> Selection {
        Selection {
            target: self.target.clone(),
            hosts: self.hosts.clone(),
            group: self.group.clone(),
            test_hosts: self.test_hosts,
            local: self.connection == ConnectionKind::Local,
            accept_new_host_keys: self.accept_new_host_keys,
        }
    }
}

pub use converge::ConvergeArgs;

/// How to reach hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConnectionKind {
    /// Over SSH.
    Ssh,
    /// On this machine.
    Local,
}

/// `hosts` subcommands.
#[derive(Debug, Subcommand)]
pub enum HostsCommand {
    /// Create test hosts (all of test_hosts, or the ones named).
    Create {
        /// Test host names (HOST-PLATFORM, or HOST for every platform).
        names: Vec<String>,
        /// Do not install mmdebstrap.
        #[command(flatten)]
        install: InstallArgs,
    },
    /// Destroy test hosts (all, or the ones named).
    Destroy {
        /// Test host names.
        names: Vec<String>,
    },
    /// List test hosts and their state.
    List,
    /// The project's converge snapshots (see docs/cache.md): list them, or
    /// prune them.
    Cache {
        /// `prune` removes snapshots (all, or those the flags select).
        #[command(subcommand)]
        action: Option<CacheCommand>,
    },
    /// Log in to a test host, or run a command on it.
    Ssh {
        /// The test host.
        name: String,
        /// A command to run instead of a login shell.
        #[arg(last = true)]
        command: Vec<String>,
    },
}

/// `hosts cache` subcommands.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Remove the project's converge snapshots: all of them, or those older
    /// than --older-than, or the oldest until the rest fit in --max-size.
    Prune {
        /// Remove snapshots older than this (`7d`, `12h`).
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: Option<std::time::Duration>,
        /// Keep the newest snapshots whose sizes add up to at most this many
        /// megabytes; remove the rest.
        #[arg(long, value_name = "MB")]
        max_size: Option<u64>,
    },
}

/// `image` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build a Debian or Ubuntu base image with sshd and systemd from Debian's
    /// packages (mmdebstrap or debootstrap) and import it under IMAGE; with
    /// `--engine qemu`, build the VM base image of a Debian release into
    /// redgreen's cache instead.
    Bootstrap {
        /// The image name, e.g. debian:bookworm.
        image: String,
        /// The package mirror (default: mmdebstrap's or debootstrap's own).
        #[arg(long, env = "REDGREEN_MIRROR")]
        mirror: Option<String>,
        /// docker, podman, or qemu (a VM disk image in the cache).
        #[arg(long, default_value = "docker")]
        engine: String,
        /// Rebuild even if the image exists.
        #[arg(long)]
        force: bool,
        /// Do not install mmdebstrap.
        #[command(flatten)]
        install: InstallArgs,
    },
}

/// `redgreen disconnect`: stop the project's kept connections.
fn disconnect(cli: &Cli) -> Result<i32, Failure> {
    let project = Project::load(&cli.dir)?;
    // Wherever they are kept, also when keeping is off now.
    let keep = crate::transport::Keep::for_project(&project.root, std::time::Duration::ZERO);
    let closed = crate::transport::ssh::close_kept_in(&keep.dir);
    crate::outln!(
        "closed {closed} kept connection{}",
        if closed == 1 { "" } else { "s" }
    );
    Ok(exit::OK)
}

/// Run the command line; returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    crate::output::setup(cli.quiet);
    init_logging(cli.verbose);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(run(cli));
    drop(runtime);
    // Masters whose host's work was cut short, and the control directory;
    // after a signal, the kept connections this run used too.
    if signals::interrupted() {
        crate::transport::ssh::close_kept();
    }
    crate::transport::ssh::close_all();
    code
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 | 1 => "warn",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("REDGREEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("redgreen={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| MaskedStderr)
        .without_time()
        .try_init();
}

/// stderr for logs, with every secret masked (`-vv` logs the scripts that
/// run, which may hold one).
struct MaskedStderr;

impl std::io::Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(crate::secrets::redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

async fn run(cli: Cli) -> i32 {
    signals::listen();
    let result = match &cli.command {
        Command::Init(args) => init::run(&cli.dir, args),
        Command::Validate(args) => validate(&cli, args).await,
        Command::Plan(args) => converge::plan(&cli, args).await,
        Command::Converge(args) => converge::converge(&cli, args).await,
        Command::Status(args) => status::run(&cli, args).await,
        Command::Serve(args) => serve::run(&cli, args).await,
        Command::Verify(args) => verify::verify(&cli, args).await,
        Command::Steps => Ok(verify::steps(&cli)),
        Command::Test(args) => test::run(&cli, args).await,
        Command::Watch(args) => watch::run(&cli, args).await,
        Command::Schema { document } => {
            let schema = crate::schema::schema(*document);
            crate::output::data(&format!(
                "{}\n",
                serde_json::to_string_pretty(&schema).expect("schemas serialize")
            ));
            Ok(exit::OK)
        }
        Command::Lsp => lsp::run(&cli).await,
        Command::Disconnect => disconnect(&cli),
        Command::Hosts(command) => hosts::run(&cli, command).await,
        Command::Image(command) => image_command(command).await,
        Command::Completions { shell } => Ok(completions(*shell)),
        Command::Man { out_dir } => man(out_dir.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(Failure::BadInput(diags)) => {
            print_diags(&diags);
            exit::BAD_INPUT
        }
        Err(Failure::Other(code, message)) => {
            crate::errln!("error: {message}");
            code
        }
    }
}

/// Print the completion script for `shell`, from the same clap definitions
/// as the command line itself.
fn completions(shell: clap_complete::Shell) -> i32 {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "redgreen", &mut script);
    crate::output::data(&String::from_utf8_lossy(&script));
    exit::OK
}

/// Print the man page, or write every page into `dir`.
fn man(dir: Option<&std::path::Path>) -> Result<i32, Failure> {
    let command = Cli::command();
    let failed =
        |e: std::io::Error| Failure::Other(exit::FAILED, format!("cannot write the man page: {e}"));
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(failed)?;
            clap_mangen::generate_to(command, dir).map_err(failed)?;
            crate::noteln!("wrote the man pages to {}", dir.display());
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(failed)?;
            crate::output::data(&String::from_utf8_lossy(&page));
        }
    }
    Ok(exit::OK)
}

/// Print problems as miette reports, then a summary line.
/// On GitHub Actions, each problem is also an annotation at its file and line.
pub fn print_diags(diags: &Diags) {
    crate::output::eprint(&crate::report::diagnostics(diags));
    if crate::report::github::enabled() {
        crate::output::eprint(&crate::report::github::diagnostics(diags));
    }
}

/// Print `text` (in `format`: a machine format is printed under `--quiet`
/// too, a report for people only when the run `failed`), or write it to
/// `out` when given (masked either way).
pub(crate) fn write_output(
    out: Option<&std::path::Path>,
    format: crate::report::Format,
    text: &str,
    failed: bool,
) -> Result<(), Failure> {
    if out.is_none() && format != crate::report::Format::Pretty {
        crate::output::data(text);
        return Ok(());
    }
    if out.is_none() {
        crate::output::report(text, failed);
        return Ok(());
    }
    crate::report::format::write_to(out, text).map_err(|e| {
        let path = out.map(|p| p.display().to_string()).unwrap_or_default();
        Failure::Other(exit::FAILED, format!("cannot write {path}: {e}"))
    })
}

/// What `test` and `watch` run with.
struct TestHostRun {
    /// The project's driver.
    driver: Box<dyn driver::Driver>,
    /// The test hosts named (all by default).
    specs: Vec<driver::TestHostSpec>,
    /// The settings.
    settings: Settings,
}

fn test_host_run(
    project: &Project,
    names: &[String],
    concurrency: Option<usize>,
    overrides: Overrides,
) -> Result<TestHostRun, Failure> {
    let interrupt = interrupt_on_signals();
    Ok(TestHostRun {
        driver: test_hosts::driver(project)?,
        specs: test_hosts::named(project, names)?,
        settings: Settings::new(project, concurrency, overrides, interrupt, false),
    })
}

/// `--no-install`: what the test hosts' images need is not installed by
/// redgreen (it stops instead and says what to install).
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct InstallArgs {
    /// Do not install a missing bootstrap tool (mmdebstrap) with apt-get;
    /// stop and say what to install instead. Without it, redgreen installs
    /// mmdebstrap itself when it runs as root on Debian or Ubuntu.
    #[arg(long)]
    pub no_install: bool,
}

/// Before making test hosts: what their base images need, installed when
/// allowed, saying so on one line.
async fn prepare(
    driver: &dyn driver::Driver,
    specs: &[driver::TestHostSpec],
    install: InstallArgs,
) -> Result<(), Failure> {
    driver
        .prepare(specs, !install.no_install, &|line| crate::errln!("{line}"))
        .await
        .map_err(|e| Failure::Other(exit::FAILED, e.to_string()))
}

fn load(cli: &Cli) -> Result<Project, Failure> {
    Ok(Project::load(&cli.dir)?)
}

async fn validate(cli: &Cli, args: &VarArgs) -> Result<i32, Failure> {
    let project = load(cli)?;
    let mut overrides = Overrides::from_pairs(&args.vars)?;
    overrides.secrets_optional = true;
    let suite = crate::workflow::check(&project, &overrides, Diags::default())?;
    let (features, scenarios) = (suite.features.len(), suite.scenario_count());
    let hosts = project.inventory.hosts.0.len();
    let test_hosts = project.test_host_names().len();
    crate::outln!(
        "ok: redgreen.yml, {} recipe(s), {} template(s), {features} feature(s) with {scenarios} scenario(s); {hosts} host(s), {test_hosts} test host(s)",
        project.recipes.len(),
        project.templates.names().len(),
    );
    Ok(exit::OK)
}

/// The interrupt flag that the first Ctrl-C, SIGTERM or SIGHUP sets (the
/// run stops starting new work and reports what was done); a second signal
/// exits at once (see [`signals`]).
pub(crate) fn interrupt_on_signals() -> Arc<engine::Interrupt> {
    signals::interrupt()
}

async fn image_command(command: &ImageCommand) -> Result<i32, Failure> {
    match command {
        ImageCommand::Bootstrap {
            image,
            mirror,
            engine,
            force,
            install,
        } => {
            let other = |e: driver::DriverError| Failure::Other(exit::FAILED, e.to_string());
            if engine == "qemu" {
                let bar = crate::report::spinner(image);
                let progress = |step: &str| bar.set_message(step.to_string());
                let base = driver::qemu::base::ensure_bootstrapped(
                    image,
                    mirror.as_deref(),
                    *force,
                    &progress,
                )
                .await
                .map_err(other)?;
                bar.finish_and_clear();
                let folder = base.disk.parent().map(|p| p.display().to_string());
                match base.built_seconds {
                    Some(seconds) => crate::outln!(
                        "built the {image} VM image in {seconds:.0}s: {}",
                        folder.unwrap_or_default()
                    ),
                    None => crate::outln!(
                        "the {image} VM image already exists (use --force to rebuild it): {}",
                        folder.unwrap_or_default()
                    ),
                }
                return Ok(exit::OK);
            }
            if !force
                && image::inspect(engine, image)
                    .await
                    .map_err(other)?
                    .is_some()
                && image::is_current(engine, image).await
            {
                crate::outln!("{image} already exists (use --force to rebuild it)");
                return Ok(exit::OK);
            }
            driver::tools::ensure(!install.no_install, &|line| crate::errln!("{line}"))
                .await
                .map_err(other)?;
            let bar = crate::report::spinner(image);
            let started = std::time::Instant::now();
            let progress = |step: &str| bar.set_message(step.to_string());
            image::bootstrap(engine, image, mirror.as_deref(), &progress)
                .await
                .map_err(other)?;
            bar.finish_and_clear();
            crate::outln!("built {image} in {:.0}s", started.elapsed().as_secs_f64());
            Ok(exit::OK)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// Every flag and argument of every command says what it does there:
    /// a help text, and none of the vague ones that fit any command.
    #[test]
    fn every_flag_says_what_it_does_in_its_command() {
        fn walk(command: &clap::Command, path: &str, problems: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                let vague = ["", "Output format", "Variables", "Which hosts", "The shell"];
                if vague.contains(&help.trim().trim_end_matches('.')) {
                    problems.push(format!("{path} {id}: {help:?}"));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), problems);
            }
        }
        let mut problems = Vec::new();
        walk(&Cli::command(), "redgreen", &mut problems);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
