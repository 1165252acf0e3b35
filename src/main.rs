fn main() {
    std::process::exit(copipe::cli::main());
}
