//! Log set-up: JSON lines when Lambda's log format is JSON, readable text
//! otherwise, always on stderr so the CLI's stdout carries only the report.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// `AWS_LAMBDA_LOG_FORMAT=JSON` selects JSON.
    pub fn from_lambda(value: Option<&str>) -> Self {
        match value {
            Some(v) if v.eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

/// The log filter of the function: Lambda's log level (`AWS_LAMBDA_LOG_LEVEL`,
/// set by the function's advanced logging controls) over `RUST_LOG`, the
/// precedence the Rust runtime documents.
pub fn lambda_filter(aws_lambda_log_level: Option<&str>, rust_log: Option<&str>) -> Option<String> {
    aws_lambda_log_level
        .map(str::to_lowercase)
        .or_else(|| rust_log.map(str::to_string))
}

/// Installs the global subscriber. `filter` is a `RUST_LOG`-style directive;
/// `None` means `info`.
pub fn init(format: LogFormat, filter: Option<&str>) {
    let filter =
        EnvFilter::try_new(filter.unwrap_or("info")).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: a file, a pipe or CloudWatch
    // gets plain text. Master fields are logged with `?` (escaped), so a
    // display name cannot write terminal escape sequences either.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    // REQ-LA-007: Lambda's log level wins over RUST_LOG.
    #[test]
    fn lambdas_log_level_wins_over_rust_log() {
        let cases = [
            ("both", Some("WARN"), Some("debug"), Some("warn")),
            ("lambda only", Some("DEBUG"), None, Some("debug")),
            (
                "rust_log only",
                None,
                Some("info,aws=warn"),
                Some("info,aws=warn"),
            ),
            ("neither", None, None, None),
        ];
        for (name, lambda, rust, want) in cases {
            assert_eq!(lambda_filter(lambda, rust).as_deref(), want, "case {name}");
        }
    }
}
