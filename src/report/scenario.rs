//! One scenario on one host, as the terminal shows it (and JUnit's
//! `system-out`): its steps, and why the failed one failed.

use owo_colors::{OwoColorize, Stream};

use crate::verify::features::host_suffix;
use crate::verify::{ScenarioResult, StepStatus};

/// A colour for a mark or a line.
#[derive(Clone, Copy)]
pub enum Tone {
    /// Passed.
    Green,
    /// Failed.
    Red,
    /// Skipped.
    Dim,
}

/// `text` in `tone`, when `color` (and stdout supports it).
pub fn paint(color: bool, tone: Tone, text: &str) -> String {
    if !color {
        return text.to_string();
    }
    match tone {
        Tone::Green => text
            .if_supports_color(Stream::Stdout, |t| t.green())
            .to_string(),
        Tone::Red => text
            .if_supports_color(Stream::Stdout, |t| t.red())
            .to_string(),
        Tone::Dim => text
            .if_supports_color(Stream::Stdout, |t| t.dimmed())
            .to_string(),
    }
}

/// One scenario on one host: its steps, and why the failed one failed.
pub fn scenario_text(result: &ScenarioResult, verbose: bool, color: bool) -> String {
    let mut out = format!(
        "  {}: {}{}\n",
        result.keyword,
        result.scenario,
        host_suffix(&result.host)
    );
    for step in &result.steps {
        let line = format!("{} {}", step.keyword, step.text);
        match step.status {
            StepStatus::Passed => {
                out.push_str(&format!("   {}  {line}\n", paint(color, Tone::Green, "✔")));
            }
            StepStatus::Skipped => out.push_str(&format!(
                "   {}\n",
                paint(color, Tone::Dim, &format!("-  {line}  (skipped)"))
            )),
            StepStatus::Failed => {
                out.push_str(&format!(
                    "   {}  {}  ({}:{})\n",
                    paint(color, Tone::Red, "✘"),
                    paint(color, Tone::Red, &line),
                    result.file,
                    step.line
                ));
                if let Some(failure) = &result.failure {
                    for text in failure.message.lines() {
                        out.push_str(&format!("      {text}\n"));
                    }
                    if let (true, Some(command)) = (verbose, &failure.command) {
                        out.push_str("      checked with:\n");
                        for text in command.lines() {
                            out.push_str(&format!("        {text}\n"));
                        }
                    }
                }
            }
        }
    }
    if let Some(waiver) = &result.waiver {
        out.push_str(&format!(
            "   {}\n",
            paint(color, Tone::Dim, &format!("waived: {waiver}"))
        ));
    }
    out
}
