//! `redgreen serve`: the features as live health checks, drift and the
//! deploy dashboard over HTTP (see docs/serve.md).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{Cli, ConnectionKind, Failure, VarArgs, load};
use crate::config::Overrides;
use crate::diagnostic::{Diag, Diags};
use crate::exit;
use crate::workflow::serve::{self, Context, Shared, http, notify};
use crate::workflow::targets::{self, Selection};
use crate::workflow::{Settings, check};

/// `serve` flags.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// A host, test host or group name (default: every host), or a server
    /// that is not in redgreen.yml: ssh://[USER@]HOST[:PORT] with --group.
    pub target: Option<String>,
    /// These hosts, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// The hosts of this group.
    #[arg(long)]
    pub group: Option<String>,
    /// The created test hosts instead of the hosts under `hosts:`.
    #[arg(long)]
    pub test_hosts: bool,
    /// Hosts worked on at once (default: `concurrency` in redgreen.yml, else 50).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Where to listen: ADDRESS:PORT. Anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1:9393", value_name = "ADDRESS:PORT")]
    pub listen: SocketAddr,
    /// A round every so long (`30s`, `5m`, `1h`); `POST /api/rounds` starts
    /// one at once.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub every: Duration,
    /// How long one host's part of a round may take before it counts as
    /// unreachable for that round.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub host_timeout: Duration,
    /// The bearer token every request but /healthz needs
    /// (`Authorization: Bearer TOKEN`); required with a non-loopback --listen.
    #[arg(long, env = "REDGREEN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Post a JSON event (with a Slack-compatible `text`) to this http:// or
    /// https:// URL when a host turns red, green again, or drifts.
    #[arg(long, value_name = "URL")]
    pub notify_url: Option<String>,
    /// Run one round, print its board as JSON and exit (0 healthy, 1 not,
    /// 3 a host unreachable); no server.
    #[arg(long)]
    pub once: bool,
    /// ssh (default) or local: this machine.
    #[arg(long, value_enum, default_value = "ssh")]
    pub connection: ConnectionKind,
    /// Accept and record the key of a host seen for the first time.
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
}

/// What `serve` and `status --format html` need to run rounds, checked
/// before anything is touched.
pub(super) fn context(
    cli: &Cli,
    selection: &Selection,
    vars: &[String],
    concurrency: Option<usize>,
    host_timeout: Duration,
    flags: Diags,
) -> Result<Context, Failure> {
    let project = load(cli)?;
    let overrides = Overrides::from_pairs(vars)?;
    let suite = check(&project, &overrides, flags)?;
    let targets = targets::resolve(&project, selection)?;
    let settings = Settings::new(
        &project,
        concurrency,
        overrides,
        super::signals::interrupt(),
        cli.verbose > 0,
    );
    Ok(Context {
        project,
        suite,
        targets,
        settings,
        host_timeout,
    })
}

pub(super) async fn run(cli: &Cli, args: &ServeArgs) -> Result<i32, Failure> {
    let mut flags = Diags::default();
    if !args.listen.ip().is_loopback() && args.token.is_none() {
        flags.push(
            Diag::plain(format!(
                "--listen {} is not a loopback address, and there is no --token",
                args.listen
            ))
            .help("give --token (or REDGREEN_TOKEN): everything but /healthz then needs `Authorization: Bearer TOKEN`; or listen on 127.0.0.1"),
        );
    }
    if args.every.is_zero() {
        flags.push(Diag::plain("--every must be longer than 0 s").help("e.g. --every 5m"));
    }
    let webhook = match args.notify_url.as_deref().map(notify::Webhook::parse) {
        Some(Ok(webhook)) => Some(webhook),
        Some(Err(e)) => {
            flags.push(Diag::plain(format!("--notify-url {e}")));
            None
        }
        None => None,
    };
    let selection = Selection {
        target: args.target.clone(),
        hosts: args.hosts.clone(),
        group: args.group.clone(),
        test_hosts: args.test_hosts,
        local: args.connection == ConnectionKind::Local,
        accept_new_host_keys: args.accept_new_host_keys,
    };
    let mut context = context(
        cli,
        &selection,
        &args.vars.vars,
        args.concurrency,
        args.host_timeout,
        flags,
    )?;
    serve::keep_warm(&mut context.targets, args.every);

    if args.once {
        let board = serve::round(&context, 1).await;
        crate::output::data(&crate::report::serve::json(&board));
        return Ok(board_code(&board));
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            Failure::Other(
                exit::FAILED,
                format!("cannot listen on {}: {e}", args.listen),
            )
        })?;
    let shared = Arc::new(Shared::default());
    let interrupt = context.settings.interrupt.clone();
    let app = http::router(shared.clone(), args.token.clone());
    let stop = interrupt.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.wait().await })
            .await
    });
    crate::noteln!(
        "serving {} host{} on http://{} (a round every {}); Ctrl-C stops",
        context.targets.len(),
        if context.targets.len() == 1 { "" } else { "s" },
        args.listen,
        humantime::format_duration(args.every)
    );
    let notifier = webhook.map(|webhook| {
        notify::Notifier::start(webhook, |failure| crate::errln!("warning: {failure}"))
    });
    let on_round = |board: &crate::report::serve::Board| {
        crate::output::print(&crate::report::serve::round_line(board));
    };
    serve::run(
        &context,
        &shared,
        args.every,
        notifier.as_ref(),
        &on_round,
        interrupt.wait(),
    )
    .await;
    let _ = server.await;
    crate::noteln!("stopped");
    Ok(exit::OK)
}

/// 0 when every host passes, 3 when one was unreachable, else 1.
pub(super) fn board_code(board: &crate::report::serve::Board) -> i32 {
    if board.hosts.iter().any(|h| h.unreachable.is_some()) {
        exit::UNREACHABLE
    } else if board.health(None).is_some_and(|h| h.healthy) {
        exit::OK
    } else {
        exit::FAILED
    }
}

/// `status --format html`: one round, the dashboard written once.
pub(super) async fn status_html(
    cli: &Cli,
    selection: &Selection,
    concurrency: Option<usize>,
    out: Option<&std::path::Path>,
) -> Result<i32, Failure> {
    let context = context(
        cli,
        selection,
        &[],
        concurrency,
        Duration::from_secs(120),
        Diags::default(),
    )?;
    let board = serve::round(&context, 1).await;
    let page = crate::report::serve::html(&board, None);
    super::write_output(out, crate::report::Format::Html, &page, false)?;
    Ok(board_code(&board))
}
