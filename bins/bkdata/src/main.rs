fn main() {
    std::process::exit(bkdata_cli::main());
}
