//! The acrctl binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    acrctl::main()
}
