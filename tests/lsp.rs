//! `redgreen lsp` speaks the Language Server Protocol over stdio: the test
//! starts the real binary in a project, plays an editor (initialize, open,
//! change, completion, hover, definition, outline, quick fix, shutdown) and
//! checks each answer as an editor would show it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::{Value, json};

/// An editor talking to `redgreen lsp`.
struct Editor {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    /// Notifications that arrived while waiting for something else.
    pending: Vec<Value>,
    next_id: i64,
}

impl Editor {
    fn start(project: &common::Project) -> Editor {
        let mut child = Command::cargo_bin("redgreen")
            .expect("redgreen binary")
            .arg("-C")
            .arg(project.path())
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redgreen lsp starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (send, messages) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.strip_prefix("Content-Length: ") {
                        length = n.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("a Content-Length header")];
                reader.read_exact(&mut body).expect("a whole message");
                let message = serde_json::from_slice(&body).expect("JSON");
                if send.send(message).is_err() {
                    return;
                }
            }
        });
        Editor {
            child,
            stdin,
            messages,
            pending: Vec::new(),
            next_id: 1,
        }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
        self.stdin.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn next(&mut self, deadline: Instant) -> Value {
        match self
            .messages
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => {
                panic!("no answer in time; so far: {:#?}", self.pending)
            }
            Err(RecvTimeoutError::Disconnected) => panic!("the server went away"),
        }
    }

    /// Send a request and wait for its answer (its `result`).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let message = self.next(deadline);
            if message["id"] == json!(id) && message.get("method").is_none() {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
            self.pending.push(message);
        }
    }

    /// Wait for the problems shown for `uri` (at `version`, when given).
    fn diagnostics(&mut self, uri: &str, version: Option<i64>) -> Vec<Value> {
        let wanted = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && version.is_none_or(|v| m["params"]["version"] == json!(v))
        };
        if let Some(at) = self.pending.iter().position(wanted) {
            let message = self.pending.remove(at);
            return message["params"]["diagnostics"]
                .as_array()
                .cloned()
                .unwrap_or_default();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let message = self.next(deadline);
            if wanted(&message) {
                return message["params"]["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
            self.pending.push(message);
        }
    }
}

fn position(line: u64, character: u64) -> Value {
    json!({"line": line, "character": character})
}

/// The message and start of the one problem shown.
fn only(diagnostics: &[Value]) -> (&str, Value) {
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    let message = diagnostics[0]["message"].as_str().expect("a message");
    (message, diagnostics[0]["range"]["start"].clone())
}

fn at(uri: &str, line: u64, character: u64) -> Value {
    json!({"textDocument": {"uri": uri}, "position": position(line, character)})
}

/// Apply one text edit to `text` (ranges within one line).
fn apply(text: &str, edit: &Value) -> String {
    let line = edit["range"]["start"]["line"].as_u64().unwrap() as usize;
    let start = edit["range"]["start"]["character"].as_u64().unwrap() as usize;
    let end = edit["range"]["end"]["character"].as_u64().unwrap() as usize;
    assert_eq!(edit["range"]["end"]["line"], json!(line));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let old = &lines[line];
    lines[line] = format!(
        "{}{}{}",
        &old[..start],
        edit["newText"].as_str().unwrap(),
        &old[end..]
    );
    lines.join("\n") + "\n"
}

const FEATURE: &str = r#"Feature: Web server
  @host:web9
  Scenario: nginx serves the site
    Then the pakage "nginx-light" should be installed
    And the service "nginx" should be running
    And the file "/etc/motd" should have mode "0999"
    And the site "default" should be enabled
"#;

#[test]
fn an_editor_gets_problems_fixes_completion_hover_definition_and_outline() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "hosts:\n  web1: { address: 127.0.0.1, port: 1, groups: [web] }\ngroups:\n  web: { recipes: [site] }\n",
        ),
        (
            "recipes/site.yml",
            "resources:\n  - package: nginx-light\n  - service: nginx\n    running: true\n  - template: /etc/site.conf\n    source: site.hbs\n",
        ),
        ("templates/site.conf.hbs", "server {}\n"),
        (
            "features/steps.yml",
            "- step: the site {string} should be enabled\n  run: test -L /etc/nginx/sites-enabled/{1}\n",
        ),
    ]);
    let root = project.path().canonicalize().unwrap();
    let root_uri = format!("file://{}", root.display());
    let feature_uri = format!("{root_uri}/features/web.feature");
    let recipe_uri = format!("{root_uri}/recipes/site.yml");
    let mut editor = Editor::start(&project);

    let init = editor.request(
        "initialize",
        json!({"capabilities": {}, "workspaceFolders": [{"uri": root_uri, "name": "project"}]}),
    );
    assert_eq!(init["serverInfo"]["name"], "redgreen");
    for capability in [
        "completionProvider",
        "hoverProvider",
        "definitionProvider",
        "documentSymbolProvider",
        "codeActionProvider",
    ] {
        assert!(
            !init["capabilities"][capability].is_null(),
            "{capability}: {init}"
        );
    }
    editor.notify("initialized", json!({}));

    // The recipe's problem, as `redgreen validate` reports it, at its line
    // and column (recipes/site.yml:6:13).
    let recipe = editor.diagnostics(&recipe_uri, None);
    let (message, start) = only(&recipe);
    assert!(
        message.starts_with("unknown template 'site.hbs', did you mean 'site.conf.hbs'?"),
        "{recipe:#?}"
    );
    assert_eq!(start, position(5, 12));

    // As the recipe is typed: fixed, then a variable that is not defined
    // (recipes/site.yml:3:14), checked before it is saved.
    let fixed_recipe = "resources:\n  - package: nginx-light\n  - service: nginx\n    running: true\n  - template: /etc/site.conf\n    source: site.conf.hbs\n";
    editor.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": recipe_uri, "languageId": "yaml", "version": 1, "text": fixed_recipe}}),
    );
    let recipe = editor.diagnostics(&recipe_uri, None);
    assert!(recipe.is_empty(), "{recipe:#?}");
    editor.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": recipe_uri, "version": 2}, "contentChanges": [{"text":
            "resources:\n  - file: /etc/motd\n    content: \"Welcome to {{site_name}}\\n\"\n"}]}),
    );
    let recipe = editor.diagnostics(&recipe_uri, None);
    let (message, start) = only(&recipe);
    assert!(
        message.contains("variable 'site_name' is not defined"),
        "{recipe:#?}"
    );
    assert_eq!(start, position(2, 13));
    // Closed unsaved: the file on disk counts again.
    editor.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": recipe_uri}}),
    );
    let recipe = editor.diagnostics(&recipe_uri, None);
    assert!(
        recipe[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("unknown template 'site.hbs'"),
        "{recipe:#?}"
    );

    editor.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": feature_uri, "languageId": "gherkin", "version": 1, "text": FEATURE}}),
    );
    let problems = editor.diagnostics(&feature_uri, Some(1));
    let message = |d: &Value| d["message"].as_str().unwrap().to_string();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    let tag = problems
        .iter()
        .find(|d| message(d).starts_with("unknown host 'web9', did you mean 'web1'?"))
        .expect("the unknown host tag");
    assert_eq!(tag["range"]["start"], position(1, 2));
    assert_eq!(tag["range"]["end"], position(1, 12));
    let undefined = problems
        .iter()
        .find(|d| message(d).starts_with("undefined step 'Then the pakage"))
        .expect("the misspelt step");
    assert_eq!(undefined["range"]["start"], position(3, 4));
    assert_eq!(undefined["range"]["end"], position(3, 53));
    assert!(
        problems
            .iter()
            .any(|d| message(d).contains("0999") && d["range"]["start"] == position(5, 4)),
        "the bad mode: {problems:#?}"
    );

    // The quick fix replaces the step's text with the closest phrase.
    let actions = editor.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": feature_uri}, "range": undefined["range"],
               "context": {"diagnostics": [undefined]}}),
    );
    let actions = actions.as_array().expect("actions");
    assert_eq!(actions.len(), 1, "{actions:#?}");
    assert_eq!(actions[0]["kind"], "quickfix");
    let edits = actions[0]["edit"]["changes"][&feature_uri]
        .as_array()
        .expect("edits of the feature");
    assert_eq!(edits.len(), 1);
    assert_eq!(
        edits[0]["newText"],
        r#"the package "nginx-light" should be installed"#
    );
    let fixed = apply(FEATURE, &edits[0])
        .replace("@host:web9", "@host:web1")
        .replace("\"0999\"", "\"0644\"");
    assert!(
        fixed.contains(r#"    Then the package "nginx-light" should be installed"#),
        "{fixed}"
    );
    editor.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": feature_uri, "version": 2}, "contentChanges": [{"text": fixed}]}),
    );
    let problems = editor.diagnostics(&feature_uri, Some(2));
    assert!(problems.is_empty(), "{problems:#?}");

    // Completion: phrases as snippets after a keyword, tags, values the
    // recipes use.
    let typing = format!("{fixed}    Then the pa\n  @\n    And the service \"\n");
    editor.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": feature_uri, "version": 3}, "contentChanges": [{"text": typing}]}),
    );
    let phrases = editor.request("textDocument/completion", at(&feature_uri, 7, 15));
    let package = phrases
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "the package {string} should be installed")
        .expect("the package phrase");
    assert_eq!(package["insertTextFormat"], 2, "a snippet");
    assert_eq!(
        package["textEdit"]["newText"],
        "the package \"${1:nginx-light}\" should be installed"
    );
    assert_eq!(package["textEdit"]["range"]["start"], position(7, 9));
    let user_step = phrases
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["label"] == "the site {string} should be enabled");
    assert!(user_step, "steps.yml's phrase is offered");
    let tags = editor.request("textDocument/completion", at(&feature_uri, 8, 3));
    let labels: Vec<&str> = tags
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["@host:web1", "@group:web"]);
    let services = editor.request("textDocument/completion", at(&feature_uri, 9, 21));
    let labels: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["nginx"]);

    // Hover: what the step checks and how.
    let hover = editor.request("textDocument/hover", at(&feature_uri, 3, 12));
    let shown = hover["contents"]["value"].as_str().expect("markdown");
    assert!(
        shown.contains("the package {string} should be installed"),
        "{shown}"
    );
    assert!(shown.contains("```sh\n"), "{shown}");
    assert!(shown.contains("nginx-light"), "{shown}");
    let hover = editor.request("textDocument/hover", at(&feature_uri, 6, 12));
    let shown = hover["contents"]["value"].as_str().expect("markdown");
    assert!(
        shown.contains("test -L /etc/nginx/sites-enabled/{1}"),
        "{shown}"
    );

    // Definition: a user step goes to its entry in steps.yml.
    let definition = editor.request("textDocument/definition", at(&feature_uri, 6, 12));
    assert_eq!(definition["uri"], format!("{root_uri}/features/steps.yml"));
    assert_eq!(definition["range"]["start"], position(0, 8));
    let builtin = editor.request("textDocument/definition", at(&feature_uri, 3, 12));
    assert!(
        builtin.is_null(),
        "a built-in step has no definition: {builtin}"
    );

    // The outline.
    editor.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": feature_uri, "version": 4}, "contentChanges": [{"text": fixed}]}),
    );
    let symbols = editor.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": feature_uri}}),
    );
    assert_eq!(symbols[0]["name"], "Web server");
    assert_eq!(symbols[0]["children"][0]["name"], "nginx serves the site");
    assert_eq!(symbols[0]["children"][0]["range"]["start"]["line"], 2);

    let shutdown = editor.request("shutdown", Value::Null);
    assert!(shutdown.is_null());
    editor.notify("exit", Value::Null);
    let started = Instant::now();
    loop {
        if let Some(status) = editor.child.try_wait().expect("wait") {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the server does not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
