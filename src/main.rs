//! The `redgreen` command.

fn main() {
    std::process::exit(redgreen::cli::main());
}
