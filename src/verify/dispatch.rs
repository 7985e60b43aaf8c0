//! Running a step: its phrase found in the library, run on the scenario's
//! world, tried again `within N seconds`; and the checks of a scenario's
//! first steps answered ahead, in one round trip. The step library runs its
//! steps through the world's [`Steps`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::LocalBoxFuture;

use super::library::{Action, Args, Block, Library, Phrase};
use super::steps::file;
use super::world::{Answers, Ask, Failure, FailureKind, HostWorld, Ran, Steps, Verdict};
use crate::shell::quote;
use crate::transport::{Output, Script};

/// How often a `within N seconds` step is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

impl Steps for Library {
    fn run<'a>(
        &'a self,
        world: &'a mut HostWorld,
        step: &'a gherkin::Step,
    ) -> LocalBoxFuture<'a, Verdict> {
        Box::pin(run(self, world, step))
    }

    fn prefetch<'a>(
        &'a self,
        world: &'a mut HostWorld,
        scenarios: &'a [Vec<gherkin::Step>],
    ) -> LocalBoxFuture<'a, Answers> {
        Box::pin(prefetch(self, world, scenarios))
    }
}

/// Answer the checks of the first steps of every scenario on a host in
/// one round trip, before any of them runs.
///
/// Each built-in step runs once without a host: its check scripts are
/// recorded, not run. Then one script runs them all on the host, each in
/// a subshell of its own with nothing on stdin, its stdout, stderr and
/// exit status kept apart by a boundary no output can guess; the steps
/// then find their answers here instead of asking the host each. Only
/// the steps before the first one that may change the host (`When I
/// run`, a command's output, a user step) are asked ahead: what comes
/// after it must see what it did (in that scenario; scenarios run at
/// once and do not see each other's commands in any order). A step whose
/// answer is not here (a second check that depends on the first, a retry,
/// a step after a command) asks the host as before; a batch that fails
/// leaves every step to do so.
///
/// Questions many checks ask of different paths (what is at a path, a
/// file's content) are asked in one process for all their paths, not one
/// each (see [`super::steps::file`]); an answer that does not read back as
/// expected is left out, and its step asks the host itself.
async fn prefetch(
    library: &Library,
    world: &mut HostWorld,
    scenarios: &[Vec<gherkin::Step>],
) -> Answers {
    if world.run.is_none() {
        return Answers::default();
    }
    world.recording = Some(Vec::new());
    for steps in scenarios {
        for step in steps {
            let Ok((phrase, args)) = resolve(library, step) else {
                break;
            };
            let Action::Builtin(check) = &phrase.action else {
                break;
            };
            if phrase.family == super::steps::COMMANDS {
                break;
            }
            let _ = check(world, &args).await;
        }
    }
    let recorded = world.recording.take().unwrap_or_default();
    world.checked_with = None;
    let mut scripts = Vec::new();
    // Each shared question's (path, script) pairs.
    let mut shared: BTreeMap<Ask, Vec<(String, String)>> = BTreeMap::new();
    for check in recorded {
        match check.shared {
            None => scripts.push(check.script),
            Some((ask, path)) => shared.entry(ask).or_default().push((path, check.script)),
        }
    }
    scripts.sort();
    scripts.dedup();
    for asked in shared.values_mut() {
        asked.sort();
        asked.dedup();
    }
    if scripts.is_empty() && shared.is_empty() {
        return Answers::default();
    }
    let boundary = boundary();
    let mut batch = scripts.clone();
    for (ask, asked) in &shared {
        let paths: Vec<String> = asked.iter().map(|(path, _)| path.clone()).collect();
        batch.push(file::batch(*ask, &paths, &boundary));
    }
    let Ok(output) = world
        .run_script(Script::root(batch_script(&boundary, &batch)))
        .await
    else {
        return Answers::default();
    };
    let Some(outputs) = split_batch(&boundary, batch.len(), &output) else {
        return Answers::default();
    };
    let (alone, together) = outputs.split_at(scripts.len());
    let mut answers: HashMap<String, Output> =
        scripts.into_iter().zip(alone.iter().cloned()).collect();
    for ((ask, asked), output) in shared.into_iter().zip(together) {
        if let Some(each) = file::read_batch(ask, asked.len(), &boundary, output) {
            answers.extend(asked.into_iter().map(|(_, script)| script).zip(each));
        }
    }
    Arc::new(answers)
}

/// Run one step: find its phrase, run it, retry it `within N seconds`.
async fn run(library: &Library, world: &mut HostWorld, step: &gherkin::Step) -> Verdict {
    let wait_within = world.run.as_ref().is_none_or(|r| r.wait_within);
    let (phrase, args) = resolve(library, step)?;
    let deadline = args
        .within
        .filter(|_| wait_within)
        .map(|within| (within, Instant::now() + within));
    let mut tries = 0u32;
    loop {
        tries += 1;
        world.fresh = tries > 1;
        world.checked_with = None;
        let result = match &phrase.action {
            Action::Builtin(check) => check(world, &args).await,
            Action::User { run } => super::steps::custom::run(world, run, &args).await,
        };
        let Err(mut failure) = result else {
            return Ok(());
        };
        failure.command = failure.command.or_else(|| world.checked_with.take());
        if let Some(within) = args.within.filter(|_| !wait_within)
            && failure.kind == FailureKind::Check
        {
            failure.message = format!(
                "{} (checked once, without waiting {} s: red is expected before converge)",
                failure.message,
                within.as_secs()
            );
        }
        match deadline {
            Some((within, deadline)) if failure.kind == FailureKind::Check => {
                let now = Instant::now();
                if now >= deadline {
                    failure.message = format!(
                        "{} (still so after {} s, {tries} tries)",
                        failure.message,
                        within.as_secs()
                    );
                    return Err(failure);
                }
                tokio::time::sleep(RETRY_EVERY.min(deadline - now)).await;
                // Checks of a command's output run the command again.
                if phrase.family == super::steps::COMMANDS
                    && let Some(ran) = world.last_run.clone()
                {
                    let output = world.run_command(&ran.command, ran.user.as_deref()).await?;
                    world.last_run = Some(Ran { output, ..ran });
                }
            }
            _ => return Err(failure),
        }
    }
}

/// A step's phrase and arguments, with its DocString or DataTable.
fn resolve<'r>(library: &'r Library, step: &gherkin::Step) -> Result<(&'r Phrase, Args), Failure> {
    let found = library.find(&step.value);
    let Some((phrase, mut args)) = found.into_iter().next() else {
        return Err(Failure::input(format!("undefined step: {}", step.value)));
    };
    match phrase.block {
        Block::DocString => {
            // gherkin keeps the newlines after the opening and before the
            // closing """.
            args.docstring = step.docstring.as_ref().map(|d| {
                let d = d.strip_prefix('\n').unwrap_or(d);
                d.strip_suffix('\n').unwrap_or(d).to_string()
            });
        }
        Block::Table => args.table = step.table.as_ref().map(|t| t.rows.clone()),
        Block::None => {}
    }
    Ok((phrase, args))
}

/// A boundary line for a batch: random, so that no output can forge it.
fn boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    let word = || {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        hasher.finish()
    };
    format!("@rg-batch-{:016x}{:016x}", word(), word())
}

/// One script that runs every check in its own subshell, each output
/// framed by `\nBOUNDARY I\n` on stdout and stderr and its exit status by
/// `\nBOUNDARY I status N\n` on stdout.
fn batch_script(boundary: &str, scripts: &[String]) -> String {
    let mut batch = format!("export LC_ALL=C\nrg_b={}\n", quote(boundary));
    for (i, script) in scripts.iter().enumerate() {
        batch.push_str(&format!(
            "printf '\\n%s {i}\\n' \"$rg_b\"; printf '\\n%s {i}\\n' \"$rg_b\" >&2\n(\n:\n{script}\n) </dev/null\nprintf '\\n%s {i} status %s\\n' \"$rg_b\" $?\n"
        ));
    }
    batch
}

/// The outputs of the `count` checks of a batch, or None when the output is
/// not what the batch prints (it was cut short).
fn split_batch(boundary: &str, count: usize, output: &Output) -> Option<Vec<Output>> {
    fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
        haystack
            .get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    }
    let mut answers = Vec::with_capacity(count);
    let (mut out_at, mut err_at) = (0, 0);
    for i in 0..count {
        let open = format!("\n{boundary} {i}\n");
        let close = format!("\n{boundary} {i} status ");
        let start = find(&output.stdout, open.as_bytes(), out_at)? + open.len();
        let end = find(&output.stdout, close.as_bytes(), start)?;
        let status_end = find(&output.stdout, b"\n", end + close.len())?;
        let status = std::str::from_utf8(&output.stdout[end + close.len()..status_end])
            .ok()?
            .parse()
            .ok()?;
        out_at = status_end;
        let err_start = find(&output.stderr, open.as_bytes(), err_at)? + open.len();
        let err_end = find(
            &output.stderr,
            format!("\n{boundary} {}\n", i + 1).as_bytes(),
            err_start,
        )
        .unwrap_or(output.stderr.len());
        err_at = err_end;
        answers.push(Output {
            status,
            stdout: output.stdout[start..end].to_vec(),
            stderr: output.stderr[err_start..err_end].to_vec(),
        });
    }
    Some(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run a script with `sh`, as the transport does on a host.
    fn sh(script: &str) -> Output {
        Output::of_sh(script)
    }

    #[test]
    fn a_batch_gives_each_check_what_it_alone_would_have_given() {
        let boundary = boundary();
        let scripts: Vec<String> = [
            "echo found; echo oops >&2",
            "printf 'no newline at the end'",
            "exit 3",
            "printf '\\n@rg-batch-0000 0\\n'; printf '\\n@rg-batch-0000 1 status 0\\n'",
            "printf '\\000\\377binary\\n'",
            "cat; echo read nothing",
            "",
            "case x in x) echo case ;; esac\nexit 0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let batch = sh(&batch_script(&boundary, &scripts));
        let answers = split_batch(&boundary, scripts.len(), &batch).expect("the whole batch");
        for (script, answer) in scripts.iter().zip(&answers) {
            let alone = sh(&format!("export LC_ALL=C\n{script}"));
            assert_eq!(answer.status, alone.status, "{script}");
            assert_eq!(answer.stdout, alone.stdout, "{script}");
            assert_eq!(answer.stderr, alone.stderr, "{script}");
        }
        assert_eq!(answers[2].status, 3);
        assert_eq!(answers[0].stderr, b"oops\n");
    }

    #[test]
    fn a_batch_cut_short_answers_nothing() {
        let boundary = boundary();
        let scripts = vec!["echo a".to_string(), "echo b".to_string()];
        let mut batch = sh(&batch_script(&boundary, &scripts));
        batch.stdout.truncate(batch.stdout.len() - 5);
        assert!(split_batch(&boundary, 2, &batch).is_none());
        assert_ne!(boundary, super::boundary());
    }
}
