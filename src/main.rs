//! The `paylink` binary: parse the command line, set up logging, hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = paylink::cli::Cli::parse();
    paylink::cli::init_tracing(
        cli.verbose,
        matches!(cli.command, paylink::cli::Command::Demo { .. }),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("paylink: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(paylink::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One clear line; the cause chain is in the message.
            eprintln!("paylink: {e:#}");
            ExitCode::from(paylink::cli::exit_code(&e))
        }
    }
}
