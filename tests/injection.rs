//! No injection: arbitrary names, lines and contents reach a real host byte
//! for byte and are never executed (property tests against the shared test
//! host; each case is a real converge).

mod common;

use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// Characters that mean something to a shell, plus ordinary and non-ASCII ones.
const NASTY: &str =
    "[a-zA-Z0-9 $`'\"\\\\;|&*?<>(){}\\[\\]#~!%^=+,.:@\t\n\r\u{e9}\u{4e2d}\u{1F600}-]";

fn name() -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("{NASTY}{{1,24}}"))
        .unwrap()
        .prop_filter("not . or ..", |n| n != "." && n != "..")
        .prop_filter("no template syntax", |n| !n.contains("{{"))
}

fn line() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        "[a-zA-Z0-9 $`'\"\\\\;|&*?<>(){}\\[\\]#~!%^=+,.:@\t\u{e9}-]{1,40}",
    )
    .unwrap()
    .prop_filter("no template syntax", |n| !n.contains("{{"))
}

/// A YAML double-quoted scalar for any text: everything outside YAML's
/// printable set is escaped.
fn yaml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        let code = c as u32;
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ if code >= 0xA0 && code != 0xFEFF && !(0xFFFE..=0xFFFF).contains(&code) => {
                out.push(c)
            }
            _ if code <= 0xFFFF => out.push_str(&format!("\\u{code:04X}")),
            _ => out.push_str(&format!("\\U{code:08X}")),
        }
    }
    out.push('"');
    out
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// A payload that leaves a mark if anything ever runs it.
fn payloads(mark: &str) -> Vec<String> {
    vec![
        format!("$(touch {mark})"),
        format!("`touch {mark}`"),
        format!("'; touch {mark}; '"),
        format!("\"; touch {mark}; \""),
        format!("\n touch {mark}\n"),
        format!("RG_DATA\ntouch {mark}\nRG_DATA"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, max_shrink_iters: 20, ..ProptestConfig::default() })]

    #[test]
    fn names_lines_and_contents_arrive_byte_for_byte(
        names in proptest::collection::btree_set(name(), 1..5),
        contents in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 5),
        text in "[^\u{0}]{0,200}",
        lines in proptest::collection::vec(line(), 1..4),
    ) {
        prop_assume!(!text.contains("{{"));
        let shared = common::shared();
        let dir = "/srv/injection";
        let mark = "/tmp/injection-ran";
        shared.project.ssh(&shared.host, &format!("rm -rf {dir} {mark}"));

        let project = common::project_on_shared("groups:\n  test: { recipes: [nasty] }\n");
        let mut recipe = format!("resources:\n  - directory: {dir}\n");
        let mut expected: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut names: Vec<String> = names.into_iter().collect();
        names.extend(payloads(mark).into_iter().map(|p| p.replace('/', "_")));
        for (n, file_name) in names.iter().enumerate() {
            let path = format!("{dir}/{file_name}");
            let content = contents[n % contents.len()].clone();
            let source = format!("f{n}");
            std::fs::create_dir_all(project.path().join("files")).unwrap();
            std::fs::write(project.path().join("files").join(&source), &content).unwrap();
            recipe.push_str(&format!(
                "  - file: {}\n    source: {source}\n",
                yaml_string(&path)
            ));
            expected.push((file_name.as_bytes().to_vec(), content));
        }
        // Inline content goes through YAML and templates; payloads in it stay text.
        let inline = format!("{text}{}", payloads(mark).join(""));
        recipe.push_str(&format!(
            "  - file: {dir}/inline\n    content: {}\n",
            yaml_string(&inline)
        ));
        expected.push((b"inline".to_vec(), inline.as_bytes().to_vec()));
        let mut lines_file = Vec::new();
        for line in lines.iter().chain(payloads(mark).iter().map(|p| p.lines().next().unwrap_or("x").to_string()).collect::<Vec<_>>().iter()) {
            if line.is_empty() || lines_file.contains(line) {
                continue;
            }
            recipe.push_str(&format!(
                "  - line: {}\n    path: {dir}/lines\n",
                yaml_string(line)
            ));
            lines_file.push(line.clone());
        }
        let lines_content: String = lines_file.iter().map(|l| format!("{l}\n")).collect();
        expected.push((b"lines".to_vec(), lines_content.into_bytes()));
        project.write("recipes/nasty.yml", &recipe);

        project.run(&["converge"]).expect(0);

        // Every file, its exact name and content, read back as hex.
        let listing = shared.project.ssh(
            &shared.host,
            &format!(
                "cd {dir} && find . -mindepth 1 -maxdepth 1 -type f -exec sh -c 'for f; do sha256sum < \"$f\" | cut -c1-64 | tr -d \"\\n\"; printf \"\\0%s\\0\" \"$f\"; done' _ {{}} + | od -An -v -tx1 | tr -d ' \\n'"
            ),
        );
        let raw = unhex(listing.trim());
        let fields: Vec<&[u8]> = raw.split(|b| *b == 0).filter(|f| !f.is_empty()).collect();
        let mut found: Vec<(Vec<u8>, String)> = fields
            .chunks(2)
            .map(|pair| (pair[1].strip_prefix(b"./").unwrap_or(pair[1]).to_vec(), String::from_utf8_lossy(pair[0]).into_owned()))
            .collect();
        found.sort();
        let mut wanted: Vec<(Vec<u8>, String)> = expected
            .iter()
            .map(|(name, content)| (name.clone(), hex(&Sha256::digest(content))))
            .collect();
        wanted.sort();
        prop_assert_eq!(found, wanted);

        // Nothing was executed.
        let ran = shared.project.ssh(&shared.host, &format!("test -e {mark} && echo RAN || echo clean"));
        prop_assert_eq!(ran, "clean\n");

        // And it is idempotent: a second converge changes nothing.
        let second = project.run(&["converge", "--format", "json"]).expect(0).json();
        prop_assert_eq!(&second["hosts"][0]["round_trips"], 1);
    }
}
