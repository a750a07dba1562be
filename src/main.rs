//! `author-stats`: the Lambda function when the runtime API is present, the
//! command line otherwise.

use std::process::ExitCode;

use author_stats_batch::{cli, lambda, logging};
use clap::Parser;

fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let in_lambda = env("AWS_LAMBDA_RUNTIME_API").is_some();
    let cli = if in_lambda {
        None
    } else {
        Some(cli::Cli::parse())
    };
    let format = logging::LogFormat::from_lambda(env("AWS_LAMBDA_LOG_FORMAT").as_deref());
    let filter = match &cli {
        Some(cli) => Some(cli.log.clone()),
        None => logging::lambda_filter(
            env("AWS_LAMBDA_LOG_LEVEL").as_deref(),
            env("RUST_LOG").as_deref(),
        ),
    };
    logging::init(format, filter.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli {
        Some(cli) => runtime.block_on(cli::main(cli)),
        None => match runtime.block_on(lambda::serve(env)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
