//! `redgreen lsp`: the language server, on stdin and stdout.

use super::{Cli, Failure};
use crate::exit;

/// Serve the Language Server Protocol on stdin and stdout until the editor
/// says exit.
pub(super) async fn run(cli: &Cli) -> Result<i32, Failure> {
    let root = cli.dir.canonicalize().unwrap_or_else(|_| cli.dir.clone());
    let (service, socket) = crate::workflow::lsp::service(root);
    tower_lsp_server::Server::new(tokio::io::stdin(), tokio::io::stdout(), socket)
        .serve(service)
        .await;
    Ok(exit::OK)
}
