//! `redgreen lsp`: a language server for feature files and recipes.
//!
//! The editor sends every change of a `.feature` file; the server answers
//! with its problems (the same checks as `redgreen validate`), completes
//! step phrases, tags and values, says what a step checks (hover), finds a
//! user step's definition in steps.yml, lists the outline, and offers the
//! closest phrase for a misspelt step. Recipes, redgreen.yml and steps.yml
//! are checked as `redgreen validate` checks them, as they are typed: the
//! whole project is loaded again, the editor's buffers in place of those
//! files (the checks span files). The CLI binds the service to stdin and
//! stdout.

pub mod document;
pub mod features;
pub mod project;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, ClientSocket, LanguageServer, LspService};

use project::Knowledge;

/// The service for a project at `root` (the editor's workspace folder wins).
pub fn service(root: PathBuf) -> (LspService<Backend>, ClientSocket) {
    LspService::new(|client| Backend {
        client,
        state: Mutex::new(State {
            root,
            knowledge: Arc::new(Knowledge::default()),
            documents: HashMap::new(),
            published: BTreeSet::new(),
        }),
    })
}

/// The language server.
pub struct Backend {
    client: Client,
    state: Mutex<State>,
}

struct State {
    root: PathBuf,
    knowledge: Arc<Knowledge>,
    /// The open documents' text as the editor has it.
    documents: HashMap<Uri, String>,
    /// The project files that have problems shown.
    published: BTreeSet<Uri>,
}

/// What kind of file a document is.
#[derive(PartialEq, Eq)]
enum Kind {
    /// A feature file: checked on its own, as the editor has it.
    Feature,
    /// redgreen.yml, a recipe, steps.yml, a template: checked with the
    /// whole project.
    Project,
    /// Anything else: not ours.
    Other,
}

fn kind(uri: &Uri) -> Kind {
    let path = uri.path().as_str();
    if path.ends_with(".feature") {
        Kind::Feature
    } else if [".yml", ".yaml", ".hbs"].iter().any(|e| path.ends_with(e)) {
        Kind::Project
    } else {
        Kind::Other
    }
}

impl Backend {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("state lock")
    }

    /// The text and what is known, for a request about `uri`.
    fn document(&self, uri: &Uri) -> Option<(String, Arc<Knowledge>)> {
        let state = self.state();
        let text = state.documents.get(uri)?.clone();
        Some((text, state.knowledge.clone()))
    }

    /// The name of a feature file in messages: its path in the project.
    fn shown(root: &Path, uri: &Uri) -> String {
        match uri.to_file_path() {
            Some(path) => path
                .strip_prefix(root)
                .map_or_else(|_| path.display().to_string(), |p| p.display().to_string()),
            None => uri.to_string(),
        }
    }

    /// Check an open feature file and show its problems.
    async fn check_feature(&self, uri: Uri, version: Option<i32>) {
        let found = {
            let state = self.state();
            let Some(text) = state.documents.get(&uri) else {
                return;
            };
            let name = Self::shown(&state.root, &uri);
            features::problems(&state.knowledge, &name, text)
                .iter()
                .map(document::diagnostic)
                .collect()
        };
        self.client.publish_diagnostics(uri, found, version).await;
    }

    /// Load the project again from disk, show the problems of its files, and
    /// check the open feature files again (steps or names may have changed).
    async fn reload(&self) {
        let (publish, features) = {
            let mut state = self.state();
            let unsaved = state
                .documents
                .iter()
                .filter(|(uri, _)| kind(uri) == Kind::Project)
                .filter_map(|(uri, text)| Some((uri.to_file_path()?.into_owned(), text.clone())))
                .collect();
            let (knowledge, diags) = Knowledge::load(&state.root, unsaved);
            state.knowledge = Arc::new(knowledge);
            let mut publish: Vec<(Uri, Vec<Diagnostic>)> = Vec::new();
            let mut now = BTreeSet::new();
            for (path, found) in project::by_file(&state.root, &diags) {
                let Some(uri) = Uri::from_file_path(&path) else {
                    continue;
                };
                now.insert(uri.clone());
                publish.push((uri, found.into_iter().map(document::diagnostic).collect()));
            }
            for gone in state.published.difference(&now) {
                publish.push((gone.clone(), Vec::new()));
            }
            state.published = now;
            let features: Vec<Uri> = state
                .documents
                .keys()
                .filter(|uri| kind(uri) == Kind::Feature)
                .cloned()
                .collect();
            (publish, features)
        };
        for (uri, found) in publish {
            self.client.publish_diagnostics(uri, found, None).await;
        }
        for uri in features {
            self.check_feature(uri, None).await;
        }
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let folder = params
            .workspace_folders
            .iter()
            .flatten()
            .find_map(|f| f.uri.to_file_path().map(|p| p.into_owned()));
        if let Some(folder) = folder {
            self.state().root = folder;
        }
        let capabilities = ServerCapabilities {
            text_document_sync: Some(TextDocumentSyncCapability::Options(
                TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::FULL),
                    save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                    ..TextDocumentSyncOptions::default()
                },
            )),
            completion_provider: Some(CompletionOptions {
                trigger_characters: Some(vec!["@".to_string(), "\"".to_string()]),
                ..CompletionOptions::default()
            }),
            hover_provider: Some(HoverProviderCapability::Simple(true)),
            definition_provider: Some(OneOf::Left(true)),
            document_symbol_provider: Some(OneOf::Left(true)),
            code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
            ..ServerCapabilities::default()
        };
        Ok(InitializeResult {
            capabilities,
            server_info: Some(ServerInfo {
                name: "redgreen".to_string(),
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
            }),
            ..InitializeResult::default()
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        self.reload().await;
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let document = params.text_document;
        let uri = document.uri;
        self.state()
            .documents
            .insert(uri.clone(), document.text.clone());
        match kind(&uri) {
            Kind::Feature => self.check_feature(uri, Some(document.version)).await,
            Kind::Project => self.reload().await,
            Kind::Other => {}
        }
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        // Full sync: the last change is the whole text.
        let Some(change) = params.content_changes.into_iter().last() else {
            return;
        };
        self.state().documents.insert(uri.clone(), change.text);
        match kind(&uri) {
            Kind::Feature => {
                self.check_feature(uri, Some(params.text_document.version))
                    .await;
            }
            Kind::Project => self.reload().await,
            Kind::Other => {}
        }
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        if kind(&params.text_document.uri) == Kind::Project {
            self.reload().await;
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.state().documents.remove(&uri);
        match kind(&uri) {
            Kind::Feature => self.client.publish_diagnostics(uri, Vec::new(), None).await,
            // What is on disk counts again.
            Kind::Project => self.reload().await,
            Kind::Other => {}
        }
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let at = params.text_document_position;
        let Some((text, knowledge)) = self.document(&at.text_document.uri) else {
            return Ok(None);
        };
        if kind(&at.text_document.uri) != Kind::Feature {
            return Ok(None);
        }
        let items = features::completions(&knowledge, &text, at.position);
        Ok(Some(CompletionResponse::Array(items)))
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let at = params.text_document_position_params;
        let Some((text, knowledge)) = self.document(&at.text_document.uri) else {
            return Ok(None);
        };
        Ok(
            features::hover(&knowledge, &text, at.position).map(|(markdown, range)| Hover {
                contents: HoverContents::Markup(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: markdown,
                }),
                range: Some(range),
            }),
        )
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        let at = params.text_document_position_params;
        let Some((text, knowledge)) = self.document(&at.text_document.uri) else {
            return Ok(None);
        };
        let Some(place) = features::definition(&knowledge, &text, at.position) else {
            return Ok(None);
        };
        let Some(uri) = Uri::from_file_path(knowledge.root.join(&place.source.name)) else {
            return Ok(None);
        };
        let start = place.span.offset();
        let range = document::range(&place.source.text, start, start + place.span.len());
        Ok(Some(GotoDefinitionResponse::Scalar(Location::new(
            uri, range,
        ))))
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        let uri = params.text_document.uri;
        let Some((text, _)) = self.document(&uri) else {
            return Ok(None);
        };
        if kind(&uri) != Kind::Feature {
            return Ok(None);
        }
        Ok(Some(DocumentSymbolResponse::Nested(features::symbols(
            &text,
        ))))
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let Some((text, knowledge)) = self.document(&uri) else {
            return Ok(None);
        };
        if kind(&uri) != Kind::Feature {
            return Ok(None);
        }
        let actions = features::fixes(&knowledge, &text, params.range)
            .into_iter()
            .map(|fix| {
                let edit = TextEdit::new(fix.range, fix.replacement);
                let diagnostics: Vec<Diagnostic> = params
                    .context
                    .diagnostics
                    .iter()
                    .filter(|d| d.range.start.line == fix.range.start.line)
                    .cloned()
                    .collect();
                CodeActionOrCommand::CodeAction(CodeAction {
                    title: fix.title,
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: (!diagnostics.is_empty()).then_some(diagnostics),
                    edit: Some(WorkspaceEdit {
                        changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                        ..WorkspaceEdit::default()
                    }),
                    is_preferred: Some(true),
                    ..CodeAction::default()
                })
            })
            .collect();
        Ok(Some(actions))
    }
}
