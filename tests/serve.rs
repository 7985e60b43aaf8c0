//! `redgreen serve`: the features as live health checks against a real test
//! host. A stopped service turns /healthz to 503, flips the metric, sends a
//! webhook event to a listener here; a converge turns it green again. The
//! dashboard is read by headless Chromium; waivers and bad input are checked
//! through the real binary.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

const HOST: &str = "web-d12";
const TOKEN: &str = "s3cret-token";

fn project() -> common::Project {
    common::Project::with(&[
        (
            "redgreen.yml",
            "groups:\n  web: { recipes: [web] }\ntest_hosts:\n  platforms:\n    - { name: d12, image: \"debian:bookworm\" }\n  hosts:\n    web: { groups: [web] }\n",
        ),
        (
            "recipes/web.yml",
            "resources:\n  - file: /etc/greeting\n    content: \"hello\\n\"\n  - file: /etc/systemd/system/greeter.service\n    content: \"[Service]\\nExecStart=/bin/sleep infinity\\n\"\n  - service: greeter\n    running: true\n",
        ),
        (
            "features/web.feature",
            "Feature: web\n  Scenario: it greets\n    Then the file \"/etc/greeting\" should contain \"hello\"\n  Scenario: the greeter runs\n    Then the service \"greeter\" should be running\n",
        ),
    ])
}

/// A free port on loopback.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 request: the status and the body.
fn request(port: u16, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Ask until `check` holds on the answer, or panic with the last one.
#[track_caller]
fn wait_until(
    what: &str,
    mut ask: impl FnMut() -> (u16, String),
    check: impl Fn(u16, &str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, body) = ask();
        if check(status, &body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {status} after 90 s:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A webhook on loopback: every POST's body comes out of the receiver.
fn webhook() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (port, rx)
}

/// The next webhook event whose JSON has `"event": event`.
#[track_caller]
fn event(events: &mpsc::Receiver<String>, event: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let body = events
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {event} event came"));
        let json: serde_json::Value = serde_json::from_str(&body).expect("events are JSON");
        if json["event"] == event {
            return json;
        }
    }
}

/// Where this test's artifacts go (under target/).
fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Headless Chromium: the page's DOM after its scripts ran, and a
/// screenshot of it in `png`.
fn chromium(url: &str, png: &std::path::Path) -> String {
    let run = |args: &[&str]| {
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--virtual-time-budget=2000",
            ])
            .args(args)
            .arg(url)
            .stderr(Stdio::null())
            .output()
            .expect("chromium runs (the Debian package chromium)")
    };
    let shot = run(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=1200,800",
    ]);
    assert!(shot.status.success(), "chromium --screenshot failed");
    assert!(png.is_file(), "no screenshot at {}", png.display());
    let dom = run(&["--dump-dom"]);
    assert!(dom.status.success(), "chromium --dump-dom failed");
    String::from_utf8_lossy(&dom.stdout).into_owned()
}

#[test]
fn a_stopped_service_turns_healthz_red_and_a_converge_green_again() {
    let project = project();
    let _hosts = project.create_hosts();
    project.run(&["converge", "--test-hosts"]).expect(0);

    let port = free_port();
    let (hook, events) = webhook();
    let mut serve = Command::cargo_bin("redgreen")
        .unwrap()
        .arg("-C")
        .arg(project.path())
        .args(["serve", "--test-hosts", "--every", "1s", "--token", TOKEN])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--notify-url", &format!("http://127.0.0.1:{hook}/hook")])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ask = |path: &'static str| move || request(port, "GET", path, None);

    // Green: every host passes.
    let health = wait_until("healthz", ask("/healthz"), |s, _| s == 200);
    assert!(health.contains("\"healthy\": true"), "{health}");
    assert_eq!(
        request(port, "GET", &format!("/healthz/{HOST}"), None).0,
        200
    );
    assert_eq!(request(port, "GET", "/healthz/nope", None).0, 404);
    // Everything but the health answers wants the token.
    assert_eq!(request(port, "GET", "/metrics", None).0, 401);
    assert_eq!(request(port, "GET", "/api/status", Some("wrong")).0, 401);
    let (status, metrics) = request(port, "GET", "/metrics", Some(TOKEN));
    assert_eq!(status, 200);
    let greeter = format!(
        "redgreen_scenario_passed{{host=\"{HOST}\",feature=\"web\",scenario=\"the greeter runs\",id=\"features/web.feature:4\"}}"
    );
    assert!(metrics.contains(&format!("{greeter} 1")), "{metrics}");
    assert!(metrics.contains(&format!("redgreen_host_healthy{{host=\"{HOST}\"}} 1")));
    assert!(metrics.contains(&format!(
        "redgreen_host_drifted_resources{{host=\"{HOST}\"}} 0"
    )));
    let (_, api) = request(port, "GET", "/api/status", Some(TOKEN));
    let api: serde_json::Value = serde_json::from_str(&api).expect("/api/status is JSON");
    assert_eq!(api["hosts"][0]["ledger"]["result"], "ok", "{api}");

    // The dashboard, as a browser shows it.
    let url = format!("http://127.0.0.1:{port}/?token={TOKEN}");
    let dom = chromium(&url, &artifacts().join("dashboard-green.png"));
    assert!(dom.contains("every host passes"), "{dom}");
    assert!(
        dom.contains(&format!(
            "<tr data-host=\"{HOST}\"><th class=\"healthy\">{HOST}</th>"
        )),
        "{dom}"
    );
    assert!(dom.contains("no drift"), "{dom}");
    assert!(dom.contains("id=\"last-rollout\""), "{dom}");

    // Break it: the service stops; the features see it within a round.
    project.ssh(HOST, "systemctl stop greeter");
    let red = wait_until(
        "healthz after stopping the greeter",
        ask("/healthz"),
        |s, _| s == 503,
    );
    assert!(
        red.contains(HOST) && red.contains("the greeter runs"),
        "{red}"
    );
    assert_eq!(
        request(port, "GET", &format!("/healthz/{HOST}"), None).0,
        503
    );
    // The service may stop between a round's plan and its features: the
    // drift shows in that round or the next.
    let drifted = format!("redgreen_host_drifted_resources{{host=\"{HOST}\"}} 1");
    let metrics = wait_until(
        "the drift metric",
        || request(port, "GET", "/metrics", Some(TOKEN)),
        |_, body| body.contains(&drifted),
    );
    assert!(metrics.contains(&format!("{greeter} 0")), "{metrics}");
    assert!(metrics.contains(&format!("redgreen_host_healthy{{host=\"{HOST}\"}} 0")));
    let turned = event(&events, "red");
    assert_eq!(turned["host"], HOST, "{turned}");
    assert!(
        turned["text"].as_str().unwrap().contains("turned RED")
            && turned["text"]
                .as_str()
                .unwrap()
                .contains("the greeter runs"),
        "{turned}"
    );
    let drifted = event(&events, "drifted");
    assert!(
        drifted["text"]
            .as_str()
            .unwrap()
            .contains("service greeter"),
        "{drifted}"
    );
    let dom = chromium(&url, &artifacts().join("dashboard-red.png"));
    assert!(dom.contains("some hosts fail"), "{dom}");
    assert!(dom.contains("1 resource drifted"), "{dom}");
    assert!(dom.contains("class=\"failed\""), "{dom}");

    // serve never converges: still red a round later; a converge makes it green.
    let round = request(port, "POST", "/api/rounds", Some(TOKEN));
    assert_eq!(round.0, 202, "{round:?}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(request(port, "GET", "/healthz", None).0, 503);
    project.run(&["converge", "--test-hosts"]).expect(0);
    wait_until("healthz after the converge", ask("/healthz"), |s, _| {
        s == 200
    });
    let green = event(&events, "green");
    assert!(
        green["text"].as_str().unwrap().contains("GREEN again"),
        "{green}"
    );
    let metrics = request(port, "GET", "/metrics", Some(TOKEN)).1;
    assert!(metrics.contains(&format!("{greeter} 1")), "{metrics}");

    // Ctrl-C stops it cleanly.
    // SAFETY: signalling the child this test started.
    unsafe {
        libc::kill(serve.id() as i32, libc::SIGINT);
    }
    let status = serve.wait().unwrap();
    let mut out = String::new();
    serve
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{out}");
    assert!(out.contains("round 1 ("), "{out}");
    project.run(&["disconnect"]);
}

#[test]
fn waivers_turn_a_known_failure_waived_until_their_date() {
    let project = project();
    let _hosts = project.create_hosts();
    project.run(&["converge", "--test-hosts"]).expect(0);
    project.ssh(HOST, "systemctl stop greeter");

    let failed = project.run(&["serve", "--test-hosts", "--once"]).expect(1);
    let scenario = |run: &common::Run| run.json()["hosts"][0]["scenarios"][1].clone();
    assert_eq!(scenario(&failed)["status"], "failed", "{}", failed.stdout);

    project.write(
        "waivers.yml",
        "- scenario: the greeter runs\n  hosts: [web-d12]\n  reason: the greeter moves to a timer (OPS-7)\n  until: 2099-12-31\n",
    );
    let waived = project.run(&["serve", "--test-hosts", "--once"]).expect(0);
    assert_eq!(scenario(&waived)["status"], "waived", "{}", waived.stdout);
    assert!(
        scenario(&waived)["waiver"]
            .as_str()
            .unwrap()
            .contains("(OPS-7) until 2099-12-31 (waivers.yml:1)"),
        "{}",
        waived.stdout
    );

    // verify shows it waived too: on the terminal and in JUnit (skipped,
    // with the waiver in its output); not red, so exit 0.
    let junit = project.path().join("junit.xml");
    let verify = project
        .run(&[
            "verify",
            "--test-hosts",
            "--format",
            "pretty",
            "--format",
            &format!("junit:{}", junit.display()),
        ])
        .expect(0);
    assert!(
        verify.stdout.contains(
            "waived: the greeter moves to a timer (OPS-7) until 2099-12-31 (waivers.yml:1)"
        ) && verify.stdout.contains("1 waived"),
        "{}",
        verify.stdout
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<skipped") && xml.contains("waived: the greeter moves"),
        "{xml}"
    );

    // On GitHub Actions: a warning annotation, not an error, and the step
    // summary counts it.
    let summary = project.path().join("summary.md");
    std::fs::write(&summary, "").unwrap();
    let github = project
        .run_env(
            &["verify", "--test-hosts"],
            &[
                ("GITHUB_ACTIONS", std::path::Path::new("true")),
                ("GITHUB_STEP_SUMMARY", &summary),
            ],
            false,
        )
        .expect(0);
    assert!(
        github.stderr.contains("::warning file=features/web.feature,line=5,title=the greeter runs failed on web-d12 (waived)::"),
        "{}",
        github.stderr
    );
    assert!(!github.stderr.contains("::error"), "{}", github.stderr);
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.contains("1 waived") && summary.contains("🟨 waived"),
        "{summary}"
    );

    // The same board, once, as the dashboard.
    let page = project.path().join("status.html");
    project
        .run(&[
            "status",
            "--test-hosts",
            "--format",
            "html",
            "--out",
            page.to_str().unwrap(),
        ])
        .expect(0);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("class=\"waived\""), "{html}");
    assert!(
        !html.contains("<script>"),
        "a written dashboard does not poll"
    );

    // Past its date, it is red again.
    project.write(
        "waivers.yml",
        "- tag: \"@flaky\"\n  reason: old\n  until: 2099-01-01\n- scenario: the greeter runs\n  reason: the greeter moves to a timer (OPS-7)\n  until: 2020-01-31\n",
    );
    let expired = project.run(&["serve", "--test-hosts", "--once"]).expect(1);
    assert_eq!(scenario(&expired)["status"], "failed", "{}", expired.stdout);
    project.run(&["verify", "--test-hosts"]).expect(1);
}

#[test]
fn secrets_are_masked_in_the_board_and_the_dashboard() {
    let project = project();
    let _hosts = project.create_hosts();
    project.write(
        "recipes/web.yml",
        "vars:\n  db_password: { secret: true, env: DB_PASSWORD }\nresources:\n  - file: /etc/app.conf\n    content: \"password={{db_password}}\\n\"\n",
    );
    project.write(
        "features/web.feature",
        "Feature: web\n  Scenario: no secret in the answer\n    Then the file \"/etc/app.conf\" should contain \"nothing\"\n",
    );
    let secret = [("DB_PASSWORD", std::path::Path::new("hunter2-very-secret"))];
    project
        .run_env(&["converge", "--test-hosts"], &secret, false)
        .expect(0);
    // The feature fails with the file's content in its message, and the
    // host drifts from a changed file: both hold the secret.
    project.ssh(
        HOST,
        "echo password=hunter2-very-secret-old > /etc/app.conf",
    );
    let once = project
        .run_env(&["serve", "--test-hosts", "--once"], &secret, false)
        .expect(1);
    assert!(once.stdout.contains("********"), "{}", once.stdout);
    let page = project.path().join("board.html");
    project
        .run_env(
            &[
                "status",
                "--test-hosts",
                "--format",
                "html",
                "--out",
                page.to_str().unwrap(),
            ],
            &secret,
            false,
        )
        .expect(1);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("1 resource drifted") && html.contains("********"),
        "{html}"
    );
    for text in [&once.stdout, &once.stderr, &html] {
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn a_public_address_needs_a_token() {
    let project = project();
    let run = project
        .run(&["serve", "--test-hosts", "--listen", "0.0.0.0:9393"])
        .expect(2);
    assert!(
        run.stderr
            .contains("is not a loopback address, and there is no --token"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_slow_or_unreachable_host_does_not_hold_up_the_others() {
    let shared = common::shared();
    let address = shared.project.address(&shared.host);
    let port = shared.project.port(&shared.host);
    // Three entries: `box` answers at once, `slow` (the same server) has a
    // scenario that takes 60 s, `dead` listens nowhere.
    let project = common::project_on_shared(&format!(
        "  slow: {{ address: {address}, port: {port}, groups: [test] }}\n  dead: {{ address: 127.0.0.1, port: 1, groups: [test] }}\ngroups:\n  test: {{}}\n"
    ));
    project.write(
        "features/box.feature",
        "Feature: box\n  Scenario: it answers\n    When I run \"true\"\n    Then the command should succeed\n\n  @host:slow\n  Scenario: it is slow\n    When I run \"sleep 60\"\n    Then the command should succeed\n",
    );
    let started = Instant::now();
    let run = project
        .run(&["serve", "--once", "--host-timeout", "5s"])
        .expect(3);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "the round took {took:?}");
    let board = run.json();
    let host = |name: &str| {
        board["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == name)
            .unwrap_or_else(|| panic!("no {name} in {board}"))
            .clone()
    };
    assert_eq!(host("box")["scenarios"][0]["status"], "passed", "{board}");
    assert!(host("box")["unreachable"].is_null(), "{board}");
    assert!(
        host("slow")["unreachable"]
            .as_str()
            .unwrap()
            .contains("took longer than 5 s (--host-timeout)"),
        "{board}"
    );
    assert!(host("dead")["unreachable"].is_string(), "{board}");
}

#[test]
fn the_dashboard_marks_the_host_off_its_groups_commit() {
    let project = common::Project::with(&[
        (
            "redgreen.yml",
            "groups:\n  web: { recipes: [web] }\ntest_hosts:\n  platforms:\n    - { name: d12, image: \"debian:bookworm\" }\n  hosts:\n    a: { groups: [web] }\n    b: { groups: [web] }\n    c: { groups: [web] }\n",
        ),
        (
            "recipes/web.yml",
            "resources:\n  - file: /etc/greeting\n    content: \"hello\\n\"\n",
        ),
        (
            "features/web.feature",
            "Feature: web\n  Scenario: it greets\n    Then the file \"/etc/greeting\" should contain \"hello\"\n",
        ),
    ]);
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .arg("-C")
            .arg(project.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    std::fs::write(project.path().join(".gitignore"), ".redgreen/\n*.html\n").unwrap();
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "first"]);
    let _hosts = project.create_hosts();
    project.run(&["converge", "--test-hosts"]).expect(0);
    // A second commit, rolled out to one host only.
    project.write(
        "recipes/web.yml",
        "resources:\n  - file: /etc/greeting\n    content: \"hello\\n\"\n    mode: \"0644\"\n",
    );
    git(&["commit", "-qam", "second"]);
    project
        .run(&["converge", "--test-hosts", "c-d12"])
        .expect(0);

    let page = project.path().join("dashboard.html");
    project
        .run(&[
            "status",
            "--test-hosts",
            "--format",
            "html",
            "--out",
            page.to_str().unwrap(),
        ])
        .expect(0);
    let url = format!("file://{}", page.display());
    let dom = chromium(&url, &artifacts().join("dashboard-groups.png"));
    let outliers: Vec<&str> = dom
        .matches("<tr class=\"outlier\"><td>web</td><td>")
        .collect();
    assert_eq!(outliers.len(), 1, "{dom}");
    assert!(
        dom.contains("<tr class=\"outlier\"><td>web</td><td>c-d12</td>"),
        "{dom}"
    );
    assert!(dom.contains("(group majority: "), "{dom}");
    assert!(
        dom.contains("Last rollout: <b>") && dom.contains(" on c-d12</p>"),
        "{dom}"
    );
}

/// Run `openssl` with these arguments in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let status = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// What a TLS server on `port` (with `dir`'s leaf.pem) received while
/// `serve` ran for a few seconds with `--notify-url https://localhost:PORT`
/// and these environment variables.
fn webhook_over_tls(
    project: &common::Project,
    dir: &std::path::Path,
    env: &[(&str, &std::path::Path)],
) -> String {
    let port = free_port();
    let received = dir.join(format!("received-{port}"));
    let mut server = Command::new("openssl")
        .current_dir(dir)
        .args([
            "s_server",
            "-quiet",
            "-accept",
            &port.to_string(),
            "-cert",
            "leaf.pem",
            "-key",
            "leaf.key",
        ])
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&received).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut serve = Command::cargo_bin("redgreen").unwrap();
    serve
        .arg("-C")
        .arg(project.path())
        .args([
            "serve",
            "--every",
            "1s",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .args(["--notify-url", &format!("https://localhost:{port}/hook")])
        .env("REDGREEN_KEEP_CONNECTIONS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in env {
        serve.env(name, value);
    }
    let mut serve = serve.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(5));
    // SAFETY: signalling the child this test started.
    unsafe {
        libc::kill(serve.id() as i32, libc::SIGINT);
    }
    serve.wait().unwrap();
    let _ = server.kill();
    let _ = server.wait();
    std::fs::read_to_string(&received).unwrap_or_default()
}

#[test]
fn webhooks_go_over_https_to_a_trusted_server_only() {
    let project = common::project_on_shared("groups:\n  test: {}\n");
    project.write(
        "features/box.feature",
        "Feature: box\n  Scenario: a file that is not there\n    Then the file \"/etc/not-there-serve\" should exist\n",
    );
    // A certificate authority and a certificate for localhost signed by it.
    let tls = tempfile::tempdir().unwrap();
    openssl(
        tls.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=redgreen test ca",
        ],
    );
    openssl(
        tls.path(),
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        tls.path().join("ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        tls.path(),
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );

    // The machine's authorities do not know this one: nothing is sent.
    let untrusted = webhook_over_tls(&project, tls.path(), &[]);
    assert!(!untrusted.contains("POST"), "{untrusted}");
    // Trusted (SSL_CERT_FILE, as with OpenSSL): the event arrives.
    let ca = tls.path().join("ca.pem");
    let trusted = webhook_over_tls(&project, tls.path(), &[("SSL_CERT_FILE", &ca)]);
    assert!(trusted.starts_with("POST /hook HTTP/1.1"), "{trusted}");
    assert!(
        trusted.contains("\"event\":\"red\"") && trusted.contains("turned RED"),
        "{trusted}"
    );
}
