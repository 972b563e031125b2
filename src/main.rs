fn main() {
    std::process::exit(msgraph_keystore::cli::main());
}
