//! Checks that span files: references between redgreen.yml and recipes,
//! include cycles, required fields, and per host, duplicate resources and
//! templates that do not render. Every problem is collected; none stops the
//! others from being found.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::inventory::{DriverKind, Platform};
use super::{LoadedRecipe, Overrides, Project, expand_host, test_host_name};
use crate::diagnostic::{Diag, Diags, Place, suggestion};
use crate::files::walk::{self, Unusable};
use crate::recipe::{Location, Name, Spanned, Text};
use crate::resource::{self, Kind, Resource};
use crate::template::{self, Templates};

pub(super) fn validate(project: &Project, overrides: &Overrides) -> Diags {
    let mut diags = Diags::default();
    check_inventory(project, &mut diags);
    let handler_names = handler_names(project);
    for recipe in project.recipes.values() {
        check_recipe(project, recipe, &handler_names, &mut diags);
    }
    check_include_cycles(project, &mut diags);
    if diags.is_empty() {
        check_hosts(project, overrides, &mut diags);
    }
    diags
}

fn inv(project: &Project, loc: Location) -> Place {
    project.inventory_place(loc)
}

fn check_inventory(project: &Project, diags: &mut Diags) {
    let inventory = &project.inventory;
    let group_names: Vec<&str> = inventory.groups.names().collect();
    let recipe_names: Vec<&str> = project.recipes.keys().map(String::as_str).collect();

    let check_groups = |groups: &[Text], diags: &mut Diags| {
        for group in groups {
            if inventory.groups.get(&group.value).is_none() {
                diags.push(Diag::unknown(
                    inv(project, group.referenced),
                    "group",
                    &group.value,
                    &group_names,
                    "declare it under `groups:`",
                ));
            }
        }
    };

    let mut seen_hosts: BTreeMap<String, Location> = BTreeMap::new();
    let mut check_host_name = |name: &str, loc: Location, diags: &mut Diags| {
        if let Some(first) = seen_hosts.get(name) {
            diags.push(
                Diag::at(
                    inv(project, loc),
                    format!("host name '{name}' is used twice"),
                )
                .label("used again here")
                .help("every host and test host needs its own name")
                .related(
                    Diag::at(inv(project, *first), "first used here").label("first used here"),
                ),
            );
        } else {
            seen_hosts.insert(name.to_string(), loc);
        }
    };

    for (name, host) in inventory.hosts.iter() {
        check_host_name(&name.value, name.referenced, diags);
        check_groups(&host.groups, diags);
        diags
            .0
            .extend(host.vars.name_problems(&|loc| inv(project, loc)));
        if let Some(problem) = crate::transport::address_problem(&host.address.value) {
            diags.push(
                Diag::at(inv(project, host.address.referenced), problem)
                    .label("not an address")
                    .help("give the host's DNS name or IP address (or a Host of your ssh_config)"),
            );
        }
    }
    for (_, group) in inventory.groups.iter() {
        diags
            .0
            .extend(group.vars.name_problems(&|loc| inv(project, loc)));
        for recipe in &group.recipes {
            if !project.recipes.contains_key(&recipe.value) {
                diags.push(Diag::unknown(
                    inv(project, recipe.referenced),
                    "recipe",
                    &recipe.value,
                    &recipe_names,
                    &format!("create recipes/{}.yml", recipe.value),
                ));
            }
        }
    }
    if let Some(concurrency) = &inventory.defaults.concurrency
        && concurrency.value == 0
    {
        diags.push(
            Diag::at(
                inv(project, concurrency.referenced),
                "concurrency must be at least 1",
            )
            .label("zero"),
        );
    }
    if let Some(test_hosts) = &inventory.test_hosts {
        let driver = test_hosts
            .driver
            .as_ref()
            .map_or(DriverKind::Docker, |d| d.value);
        if !test_hosts.hosts.is_empty() && test_hosts.platforms.is_empty() {
            diags.push(Diag::plain("test_hosts has hosts but no platforms").help(
                "add `platforms: [{ name: debian-12, image: debian:bookworm }]` under test_hosts",
            ));
        }
        let mut platform_names = BTreeSet::new();
        for platform in &test_hosts.platforms {
            let name = &platform.value.name;
            if !platform_names.insert(name.value.clone()) {
                diags.push(
                    Diag::at(
                        inv(project, name.referenced),
                        format!("platform '{}' is listed twice", name.value),
                    )
                    .label("listed again here"),
                );
            }
            if !valid_host_name(&name.value) {
                diags.push(invalid_name(
                    project,
                    name,
                    "platform name",
                    "use letters, digits and dashes: it becomes part of every test host's name",
                ));
            }
            check_platform(project, driver, platform, diags);
        }
        for (name, host) in test_hosts.hosts.iter() {
            check_groups(&host.groups, diags);
            diags
                .0
                .extend(host.vars.name_problems(&|loc| inv(project, loc)));
            if !valid_host_name(&name.value) {
                diags.push(invalid_name(
                    project,
                    name,
                    "test host name",
                    "use letters, digits and dashes",
                ));
            }
            for platform in &test_hosts.platforms {
                let full = test_host_name(&name.value, &platform.value.name.value);
                check_host_name(&full, name.referenced, diags);
            }
        }
    }
}

/// What a platform needs depends on the driver: containers start from an
/// image name; VMs from a disk image file or a Debian bootstrap (exactly one).
fn check_platform(
    project: &Project,
    driver: DriverKind,
    platform: &Spanned<Platform>,
    diags: &mut Diags,
) {
    let Platform {
        name,
        image,
        bootstrap,
        memory,
        cpus,
    } = &platform.value;
    if driver != DriverKind::Qemu {
        if image.is_none() {
            diags.push(
                Diag::at(
                    inv(project, platform.referenced),
                    format!("platform '{}' has no image", name.value),
                )
                .label("add `image:` here")
                .help("for example image: debian:bookworm"),
            );
        }
        let vm_only = [
            ("bootstrap", bootstrap.as_ref().map(|b| b.referenced)),
            ("memory", memory.as_ref().map(|m| m.referenced)),
            ("cpus", cpus.as_ref().map(|c| c.referenced)),
        ];
        for (field, place) in vm_only {
            if let Some(place) = place {
                let help = if field == "bootstrap" {
                    "containers start from `image:`; redgreen builds a Debian or Ubuntu image by itself when it cannot be pulled (`image: debian:bookworm`)"
                } else {
                    "set `driver: qemu` under test_hosts for virtual machines, or remove it"
                };
                diags.push(
                    Diag::at(
                        inv(project, place),
                        format!(
                            "`{field}` is for qemu test hosts; this project's driver is {}",
                            driver.as_str()
                        ),
                    )
                    .label("only for `driver: qemu`")
                    .help(help),
                );
            }
        }
        return;
    }
    match (image, bootstrap) {
        (None, None) => diags.push(
            Diag::at(
                inv(project, platform.referenced),
                format!("platform '{}' has neither image nor bootstrap", name.value),
            )
            .label("add `bootstrap:` or `image:` here")
            .help("a qemu platform boots a disk image: `bootstrap: debian:bookworm` builds one from Debian's packages, `image: images/disk.qcow2` uses a qcow2 or raw image (a cloud image)"),
        ),
        (Some(_), Some(bootstrap)) => diags.push(
            Diag::at(
                inv(project, bootstrap.referenced),
                format!("platform '{}' has both image and bootstrap", name.value),
            )
            .label("remove this or `image:`")
            .help("a qemu platform boots either a disk image file (`image:`) or one built from Debian's packages (`bootstrap:`)"),
        ),
        (Some(image), None) => {
            let path = project.root.join(&image.value);
            if !path.is_file() {
                diags.push(
                    Diag::at(
                        inv(project, image.referenced),
                        format!("disk image '{}' not found", image.value),
                    )
                    .label("no such file")
                    .help("for qemu, `image:` is a qcow2 or raw disk image file, relative to the project; or use `bootstrap: debian:bookworm`"),
                );
            }
        }
        (None, Some(bootstrap)) => {
            if crate::driver::qemu::base::suite(&bootstrap.value).is_none() {
                diags.push(
                    Diag::at(
                        inv(project, bootstrap.referenced),
                        format!("redgreen cannot bootstrap '{}'", bootstrap.value),
                    )
                    .label("not a Debian release")
                    .help(format!(
                        "VM images are built from Debian's packages: {}",
                        crate::driver::qemu::base::BOOTSTRAPPABLE.join(", ")
                    )),
                );
            }
        }
    }
    if let Some(memory) = memory
        && memory.value < 256
    {
        diags.push(
            Diag::at(
                inv(project, memory.referenced),
                format!("{} MiB is too little memory for a VM", memory.value),
            )
            .label("in MiB")
            .help("give at least 256 (the default is 1024)"),
        );
    }
    if let Some(cpus) = cpus
        && !(1..=64).contains(&cpus.value)
    {
        diags.push(
            Diag::at(inv(project, cpus.referenced), "cpus must be from 1 to 64")
                .label("out of range"),
        );
    }
}

/// `invalid WHAT 'NAME'` at the name in redgreen.yml.
fn invalid_name(project: &Project, name: &Text, what: &str, help: &str) -> Diag {
    Diag::at(
        inv(project, name.referenced),
        format!("invalid {what} '{}'", name.value),
    )
    .label("invalid")
    .help(help)
}

fn valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with(['-', '.'])
}

fn handler_names(project: &Project) -> BTreeSet<String> {
    project
        .recipes
        .values()
        .flat_map(|r| r.recipe.handlers.iter())
        .filter_map(|h| match &h.value.name.value {
            Name::One(name) => Some(name.clone()),
            Name::List(_) => None,
        })
        .collect()
}

fn check_recipe(
    project: &Project,
    recipe: &LoadedRecipe,
    handlers: &BTreeSet<String>,
    diags: &mut Diags,
) {
    let at = |loc: Location| recipe.source.place(loc);
    let recipe_names: Vec<&str> = project.recipes.keys().map(String::as_str).collect();
    for include in &recipe.recipe.include {
        if !project.recipes.contains_key(&include.value) {
            diags.push(Diag::unknown(
                at(include.referenced),
                "recipe",
                &include.value,
                &recipe_names,
                &format!("create recipes/{}.yml", include.value),
            ));
        }
    }
    diags.0.extend(recipe.recipe.vars.name_problems(&at));
    for resource in &recipe.recipe.resources {
        check_resource(project, recipe, resource, handlers, diags);
    }
    for handler in &recipe.recipe.handlers {
        let res = &handler.value;
        if res.kind().is_some_and(|k| k != Kind::Command) {
            diags.push(
                Diag::at(at(res.kind.referenced), format!("a handler must be a command, not a {}", res.kind.value))
                    .label("not a command")
                    .help("handlers are `command` resources that run when notified; to restart a service, notify `service NAME restart`"),
            );
            continue;
        }
        check_resource(project, recipe, handler, handlers, diags);
    }
}

fn check_resource(
    project: &Project,
    recipe: &LoadedRecipe,
    resource: &Spanned<Resource>,
    handlers: &BTreeSet<String>,
    diags: &mut Diags,
) {
    let at = |loc: Location| recipe.source.place(loc);
    let res = &resource.value;
    let Some(kind) = res.kind() else {
        let (best, list) = suggestion(&res.kind.value, &Kind::names());
        let message = match best {
            Some(best) => format!(
                "unknown resource type '{}', did you mean '{best}'?",
                res.kind.value
            ),
            None => format!("unknown resource type '{}'", res.kind.value),
        };
        diags.push(
            Diag::at(at(res.kind.referenced), message)
                .label("unknown resource type")
                .help(format!("a resource's first key is its type; {list}")),
        );
        return;
    };

    if let Name::List(_) = res.name.value
        && !kind.takes_a_list()
    {
        diags.push(
            Diag::at(
                at(res.name.referenced),
                format!("a {kind} takes one name, not a list"),
            )
            .label("a list")
            .help("only `package` has a list form; write one resource per item"),
        );
    }
    for name in res.name.value.items() {
        if let Err(diag) = Templates::check_inline(name, &at(res.name.referenced)) {
            diags.push(diag);
        }
    }

    // Every notify must name a handler, or be `service NAME restart|reload`.
    for notify in &res.common.notify {
        if let Some((service, _)) = parse_service_notify(&notify.value)
            && !resource::service::valid_name(service)
        {
            diags.push(
                Diag::at(
                    at(notify.referenced),
                    format!("invalid service name '{service}'"),
                )
                .label("not a unit name"),
            );
        }
    }
    for notify in &res.common.notify {
        if !handlers.contains(&notify.value) && parse_service_notify(&notify.value).is_none() {
            let known: Vec<&str> = handlers.iter().map(String::as_str).collect();
            diags.push(Diag::unknown(
                at(notify.referenced),
                "handler",
                &notify.value,
                &known,
                "notify a command under `handlers:` by its name, or write `service NAME restart` (or reload)",
            ));
        }
    }
    if let Some(when) = &res.common.when
        && let crate::recipe::When::Expr(expr) = &when.value
        && let Err(diag) = Templates::check_inline(expr, &at(when.referenced))
    {
        diags.push(diag);
    }

    check_removal(res, &at, diags);

    // What reaches a script: no NUL, one line where it must be, owners
    // that are names or ids, names by their type's rule (templated values
    // are checked once rendered).
    diags.0.extend(resource::fields::check_literal(res, &at));
    let mut check = resource::Check {
        resource: res,
        source: &recipe.source,
        templates: &project.templates,
        diags: &mut diags.0,
    };
    resource::check(&mut check);
    for source in resource::sources(res) {
        check_file_source(project, recipe, source, diags);
    }
}

/// A removal says why (`reason:`); `reason`, `unused_for` and `after` are
/// only for removals; `unused_for` is a span of time.
fn check_removal(res: &Resource, at: &dyn Fn(Location) -> Place, diags: &mut Diags) {
    let common = &res.common;
    match resource::removal(res) {
        Some(absent) => {
            if common
                .reason
                .as_ref()
                .is_none_or(|r| r.value.trim().is_empty())
            {
                let (place, label) = match &common.reason {
                    Some(reason) => (at(reason.referenced), "an empty reason"),
                    None => (at(absent), "removes it"),
                };
                diags.push(
                    Diag::at(place, format!("this {} removal has no reason", res.kind.value))
                        .label(label)
                        .help("say why it goes, for whoever reviews the plan and for the host's record: add `reason: replaced by /srv/www-new (ticket 42)`"),
                );
            }
        }
        None => {
            let fields = [
                ("reason", common.reason.as_ref()),
                ("unused_for", common.unused_for.as_ref()),
                ("after", common.after.first()),
            ];
            for (field, text) in fields {
                if let Some(text) = text {
                    diags.push(
                        Diag::at(at(text.referenced), format!("`{field}` is only for a removal"))
                            .label("not a removal")
                            .help(format!("a removal is a resource with `state: absent`; remove `{field}:` from this {}", res.kind.value)),
                    );
                }
            }
        }
    }
    if let (Some(after), Some(_)) = (common.after.first(), common.notify.first()) {
        diags.push(
            Diag::at(at(after.referenced), "a removal that waits for features (`after:`) cannot `notify` a handler")
                .label("waits for features")
                .help("the handler would be planned with the rest of the converge, before the removal runs: notify it from a resource applied with the rest, or remove `notify:` here"),
        );
    }
    if let Some(window) = &common.unused_for
        && crate::recipe::parse_duration(&window.value).is_none()
    {
        diags.push(
            Diag::at(
                at(window.referenced),
                format!(
                    "'{}' is not a span of time",
                    crate::output::shown(&window.value)
                ),
            )
            .label("not a span of time")
            .help("write a number and s, m, h, d or w: `unused_for: 7d`"),
        );
    }
}

fn check_file_source(project: &Project, recipe: &LoadedRecipe, source: &Text, diags: &mut Diags) {
    let path = project.files_dir().join(&source.value);
    let escapes = std::path::Path::new(&source.value).components().any(|c| {
        matches!(
            c,
            std::path::Component::ParentDir | std::path::Component::RootDir
        )
    });
    if escapes {
        diags.push(
            Diag::at(
                recipe.source.place(source.referenced),
                "`source` must be a path inside files/",
            )
            .label("outside files/")
            .help("put the file under files/ and name it relative to files/"),
        );
    } else {
        let place = recipe.source.place(source.referenced);
        match walk::resolve(&project.root, &path) {
            Ok(_) => {}
            Err(Unusable::Missing) => {
                let files_dir = project.files_dir();
                let known: Vec<String> = walk::files(&project.root, &files_dir)
                    .iter()
                    .filter_map(|p| p.strip_prefix(&files_dir).ok())
                    .map(|rel| rel.to_string_lossy().into_owned())
                    .collect();
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                diags.push(Diag::unknown(
                    place,
                    "file",
                    &source.value,
                    &known,
                    &format!("create files/{}", source.value),
                ));
            }
            Err(Unusable::Outside(target)) => diags.push(
                Diag::at(
                    place,
                    format!(
                        "files/{} is a link to {}, outside the project",
                        source.value,
                        target.display()
                    ),
                )
                .label("leads outside the project")
                .help("a source must be a file inside the project (else any file of this machine could reach a host); copy it into files/"),
            ),
            Err(Unusable::NotAFile) => diags.push(
                Diag::at(place, format!("files/{} is not a regular file", source.value))
                    .label("not a file")
                    .help("a source is a regular file under files/ (not a folder, FIFO or device)"),
            ),
        }
    }
}

/// `service NAME restart` or `service NAME reload` → (NAME, action).
pub fn parse_service_notify(text: &str) -> Option<(&str, &str)> {
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("service"), Some(name), Some(action @ ("restart" | "reload")), None) => {
            Some((name, action))
        }
        _ => None,
    }
}

fn check_include_cycles(project: &Project, diags: &mut Diags) {
    let mut reported = BTreeSet::new();
    for start in project.recipes.keys() {
        let mut stack: Vec<(String, Option<&Text>)> = vec![(start.clone(), None)];
        find_cycle(project, &mut stack, &mut reported, diags);
    }
}

fn find_cycle<'p>(
    project: &'p Project,
    stack: &mut Vec<(String, Option<&'p Text>)>,
    reported: &mut BTreeSet<Vec<String>>,
    diags: &mut Diags,
) {
    let (current, _) = stack.last().expect("non-empty stack").clone();
    let Some(recipe) = project.recipes.get(&current) else {
        return;
    };
    for include in &recipe.recipe.include {
        if let Some(pos) = stack.iter().position(|(name, _)| *name == include.value) {
            let mut chain: Vec<String> = stack[pos..].iter().map(|(n, _)| n.clone()).collect();
            let mut key = chain.clone();
            key.sort();
            if reported.insert(key) {
                chain.push(include.value.clone());
                diags.push(
                    Diag::at(
                        recipe.source.place(include.referenced),
                        format!("include cycle: {}", chain.join(" → ")),
                    )
                    .label("this include closes the cycle")
                    .help("a recipe cannot include itself, directly or through others; remove one of these includes"),
                );
            }
            continue;
        }
        if stack.len() > 64 {
            return;
        }
        stack.push((include.value.clone(), Some(include)));
        find_cycle(project, stack, reported, diags);
        stack.pop();
    }
}

/// Placeholder facts for rendering templates before any host is reached.
fn placeholder_facts(host: &str) -> Value {
    json!({
        "os_family": "debian", "os_id": "debian", "os_version": "12", "arch": "x86_64",
        "hostname": host, "init": "systemd", "package_manager": "apt", "account_tools": "shadow",
        "cpus": 1, "memory_mb": 1024,
    })
}

/// (name, address, groups, vars) of a host whose resources are checked.
type HostToCheck = (String, String, Vec<String>, serde_json::Map<String, Value>);

fn check_hosts(project: &Project, overrides: &Overrides, diags: &mut Diags) {
    let inventory = &project.inventory;
    let mut hosts: Vec<HostToCheck> = inventory
        .hosts
        .iter()
        .map(|(name, h)| {
            (
                name.value.clone(),
                h.address.value.clone(),
                h.groups.iter().map(|g| g.value.clone()).collect(),
                h.vars.values.clone(),
            )
        })
        .collect();
    for test_host in project.test_hosts() {
        hosts.push((
            test_host.name,
            String::new(),
            test_host
                .entry
                .groups
                .iter()
                .map(|g| g.value.clone())
                .collect(),
            test_host.entry.vars.values.clone(),
        ));
    }
    // The same problem shows once, however many hosts share the recipe.
    let mut seen = BTreeSet::new();
    for (name, address, groups, vars) in hosts {
        let host_value = template::host_value(&name, &address, &groups);
        let expanded = match expand_host(project, &groups, &vars, &host_value, overrides) {
            Ok(expanded) => expanded,
            Err(found) => {
                for diag in found.0 {
                    if seen.insert(diag.one_line()) {
                        diags.push(diag.also(format!("found while expanding host '{name}'")));
                    }
                }
                continue;
            }
        };
        let facts = placeholder_facts(&name);
        let context = template::context(&expanded.vars, &host_value, Some(&facts));
        for planned in &expanded.resources {
            let res = &planned.resource.value;
            if res.common.when.is_some() {
                continue; // may not apply to this host; rendered at converge
            }
            let rendered = resource::render_early(planned, &project.templates, &context);
            if let Err(diag) = rendered
                && seen.insert(diag.one_line())
            {
                diags.push(diag.also(format!("found while rendering for host '{name}'")));
            }
        }
    }
}
