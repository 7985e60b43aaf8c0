//! `redgreen steps`: every phrase a feature may use, built-in and from
//! features/steps.yml, with an example.

use crate::verify::library::{self, Library};

/// The text of `redgreen steps`: every phrase, built-in and user, with an
/// example.
pub fn steps_text(library: &Library) -> String {
    let mut out = String::from(
        "Every `should` step also has a `should not` form, and any Then step may end\n\
         with `within N seconds` (tried again every second until it passes).\n\
         {string} is a double-quoted value, {int} a whole number, {word} a word.\n",
    );
    let mut family = "";
    for phrase in &library.phrases {
        if phrase.family != family {
            family = phrase.family;
            out.push_str(&format!("\n{family}\n"));
        }
        out.push_str(&format!("  {} {}\n", phrase.keyword, phrase.text));
        let mut example = phrase.example.lines();
        if let Some(first) = example.next() {
            out.push_str(&format!("      e.g. {} {first}\n", phrase.keyword));
        }
        for line in example {
            out.push_str(&format!("             {line}\n"));
        }
        if let (library::Action::User { run }, Some(defined)) = (&phrase.action, &phrase.defined) {
            out.push_str(&format!("      runs {run}   ({})\n", defined.position()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steps_listing_is_stable() {
        insta::assert_snapshot!(steps_text(&Library::builtin()));
    }
}
