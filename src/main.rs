//! The `copipe` binary: it only calls into the library (`copipe::cli::main`), where the
//! command line, the pipelines and the stages live.

fn main() {
    std::process::exit(copipe::cli::main());
}
