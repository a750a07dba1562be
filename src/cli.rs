//! The command-line face: `author-stats run`, `author-stats sample-data` and
//! `author-stats demo`. Flags fill the same [`RawConfig`] the Lambda environment
//! does; the run report goes to stdout as JSON, logs to stderr.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use tracing::error;

use crate::config::{self, RawConfig};
use crate::event::RunRequest;
use crate::run::{Invocation, Pipeline, RunError, run};
use crate::sample::{SampleSpec, split_into_parts, write_sample};

#[derive(Debug, Parser)]
#[command(
    name = "author-stats",
    version,
    // A flag given twice takes the last value, so a wrapper's default can be overridden.
    args_override_self = true,
    about = "Monthly post-count charts per blog author"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log filter, `RUST_LOG` style (e.g. `info`, `debug`, `warn`).
    #[arg(long, global = true, default_value = "info")]
    pub log: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the batch: read the export, draw the active authors, publish.
    Run(Box<RunArgs>),
    /// Write a synthetic export (both files) into DIR/contentful/.
    SampleData(SampleArgs),
    /// The demo: sample data into ./sample (if missing), the 15-year backfill into ./out, the report.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Where the export is: a directory or s3://bucket[/prefix].
    #[arg(long)]
    pub source: String,
    /// Where charts and reports go: a directory or s3://bucket[/prefix].
    #[arg(long)]
    pub dest: String,
    /// A run request as JSON (the same event the scheduler sends).
    #[arg(long, conflicts_with_all = ["lookback_days", "as_of", "authors", "dry_run"])]
    pub event: Option<PathBuf>,
    /// Draw authors with a post in the last N days (default 7).
    #[arg(long)]
    pub lookback_days: Option<i64>,
    /// End of the window, RFC 3339 (default: now).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Draw exactly these slugs (comma separated), whatever their activity.
    #[arg(long, value_delimiter = ',')]
    pub authors: Option<Vec<String>>,
    /// Draw but publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Accept an as_of older than the last published run's (a deliberate redraw
    /// of the past); also with --event.
    #[arg(long)]
    pub allow_older_as_of: bool,
    /// Delete the charts of removed authors even past --max-prune; also with --event.
    #[arg(long)]
    pub allow_mass_prune: bool,
    #[command(flatten)]
    pub settings: SettingArgs,
    /// Also write the report JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// The settings shared with the Lambda environment, one flag per row of
/// [`config::SETTINGS`] (its help included), so a new setting needs no code
/// here. `--source` and `--dest` are [`RunArgs`]' own.
#[derive(Debug, Default)]
pub struct SettingArgs(Vec<(config::Setting, String)>);

fn shared_settings() -> impl Iterator<Item = config::Setting> {
    config::SETTINGS
        .iter()
        .copied()
        .filter(|s| *s != config::SOURCE_BUCKET && *s != config::CHARTS_BUCKET)
}

impl clap::FromArgMatches for SettingArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut args = SettingArgs::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        for setting in shared_settings() {
            if setting.switch {
                if matches.get_flag(setting.env) {
                    self.0.push((setting, "true".into()));
                }
            } else if let Some(value) = matches.get_one::<String>(setting.env) {
                self.0.push((setting, value.clone()));
            }
        }
        Ok(())
    }
}

impl Args for SettingArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.args(shared_settings().map(|setting| {
            let arg = clap::Arg::new(setting.env)
                .long(&setting.flag[2..])
                .help(setting.help);
            if setting.switch {
                arg.action(clap::ArgAction::SetTrue)
            } else {
                arg.value_name(setting.env)
            }
        }))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Output directory; files go to DIR/contentful/.
    pub dir: PathBuf,
    #[arg(long, default_value_t = SampleSpec::default().posts)]
    pub posts: usize,
    #[arg(long, default_value_t = SampleSpec::default().authors)]
    pub authors: usize,
    #[arg(long, default_value_t = SampleSpec::default().seed)]
    pub seed: u64,
    /// The export's "now": the last post is before it (RFC 3339).
    #[arg(long, default_value = "2025-11-25T17:45:00Z")]
    pub end: String,
    /// Also write the posts in N parts under DIR/contentful/all-blog-posts/
    /// (read them with --posts-key contentful/all-blog-posts/).
    #[arg(long)]
    pub parts: Option<usize>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "sample")]
    pub sample: PathBuf,
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// The request to run (default: the 15-year backfill sample event).
    #[arg(long, default_value = "events/backfill-15y.json")]
    pub event: PathBuf,
}

impl SettingArgs {
    /// The settings as given, the theme file read into its JSON text.
    fn raw(self, source: String, dest: String) -> Result<RawConfig, String> {
        let mut raw = RawConfig::default()
            .with(config::SOURCE_BUCKET, source)
            .with(config::CHARTS_BUCKET, dest);
        for (setting, value) in self.0 {
            let value = if setting == config::CHART_THEME {
                std::fs::read_to_string(&value).map_err(|e| format!("--theme {value}: {e}"))?
            } else {
                value
            };
            raw.set(setting, value);
        }
        Ok(raw)
    }
}

/// Runs the CLI; the exit code is 0 on success, 1 when the run failed, 2 when
/// the request or settings are invalid.
pub async fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Run(args) => run_command(*args).await,
        Command::SampleData(args) => sample_command(args),
        Command::Demo(args) => demo_command(args).await,
    }
}

fn read_event(path: &Path) -> Result<RunRequest, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--event {}: {e}", path.display()))?;
    RunRequest::from_json(&text).map_err(|e| format!("--event {}: {e}", path.display()))
}

async fn run_command(args: RunArgs) -> ExitCode {
    let mut request = match &args.event {
        Some(path) => match read_event(path) {
            Ok(r) => r,
            Err(e) => return usage_error(e),
        },
        None => RunRequest {
            lookback_days: args.lookback_days,
            as_of: args.as_of.clone(),
            authors: args.authors.clone(),
            dry_run: args.dry_run.then_some(true),
            ..RunRequest::default()
        },
    };
    // The overrides are a person's decision at the prompt: they add to an event file.
    if args.allow_older_as_of {
        request.allow_older_as_of = Some(true);
    }
    if args.allow_mass_prune {
        request.allow_mass_prune = Some(true);
    }
    let raw = match args.settings.raw(args.source, args.dest) {
        Ok(raw) => raw,
        Err(e) => return usage_error(e),
    };
    execute(raw, request, args.report.as_deref()).await
}

async fn execute(raw: RawConfig, request: RunRequest, report_file: Option<&Path>) -> ExitCode {
    let plan = match request.resolve(Utc::now()) {
        Ok(plan) => plan,
        Err(e) => return usage_error(e.to_string()),
    };
    let config = match raw.validate() {
        Ok(c) => c,
        Err(e) => return usage_error(e.to_string()),
    };
    let pipeline = Pipeline::connect(config).await;
    let result = run(&pipeline, &plan, &Invocation::cli()).await;
    let report = match &result {
        Ok(report) => Some(report),
        Err(e) => e.report(),
    };
    if let Some(report) = report {
        let json = serde_json::to_string_pretty(report).unwrap_or_default();
        println!("{json}");
        if let Some(path) = report_file
            && let Err(e) = std::fs::write(path, &json)
        {
            error!(path = %path.display(), error = %e, "could not write the report file");
        }
        eprintln!("{}", report.summary());
    }
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            report_error(&e);
            ExitCode::from(1)
        }
    }
}

fn report_error(e: &RunError) {
    error!(error_type = e.error_type(), "{e}");
    eprintln!("error [{}]: {e}", e.error_type());
}

fn usage_error(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn sample_command(args: SampleArgs) -> ExitCode {
    let end = match crate::records::parse_timestamp(&args.end) {
        Some(t) => t,
        None => return usage_error(format!("--end {:?} is not an RFC 3339 timestamp", args.end)),
    };
    let spec = SampleSpec {
        posts: args.posts,
        authors: args.authors,
        seed: args.seed,
        end,
    };
    let written = write_sample(&args.dir, &spec).and_then(|summary| match args.parts {
        Some(parts) => Ok(format!(
            "{summary}\n{}",
            split_into_parts(&args.dir, parts)?
        )),
        None => Ok(summary),
    });
    match written {
        Ok(summary) => {
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: writing sample data to {}: {e}", args.dir.display());
            ExitCode::from(1)
        }
    }
}

async fn demo_command(args: DemoArgs) -> ExitCode {
    let posts = args.sample.join(config::DEFAULT_POSTS_KEY);
    if posts.exists() {
        eprintln!("using the sample export in {}", args.sample.display());
    } else {
        eprintln!(
            "writing the sample export to {} (once) ...",
            args.sample.display()
        );
        let code = sample_command(SampleArgs {
            dir: args.sample.clone(),
            posts: SampleSpec::default().posts,
            authors: SampleSpec::default().authors,
            seed: SampleSpec::default().seed,
            // The backfill event runs as of now: a sample that ends now fills
            // the charts to their last month.
            end: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            parts: None,
        });
        if code != ExitCode::SUCCESS {
            return code;
        }
    }
    let request = match read_event(&args.event) {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let raw = RawConfig::default()
        .with(config::SOURCE_BUCKET, args.sample.display().to_string())
        .with(config::CHARTS_BUCKET, args.out.display().to_string())
        // The sample is written once and reused: its age says nothing about
        // an exporter that stopped.
        .with(config::MAX_EXPORT_AGE_HOURS, "0");
    let code = execute(raw, request, None).await;
    eprintln!(
        "charts are in {}",
        args.out.join(config::DEFAULT_CHARTS_PREFIX).display()
    );
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag an error message or the docs name must be one the command
    /// line takes: the settings' flags and the overrides the guards name.
    #[test]
    fn every_named_flag_is_typeable() {
        let mut flags: Vec<&str> = config::SETTINGS.iter().map(|s| s.flag).collect();
        flags.extend(["--allow-older-as-of", "--allow-mass-prune", "--dry-run"]);
        for flag in flags {
            let mut args = vec!["author-stats", "run"];
            if flag != "--source" {
                args.extend(["--source", "src"]);
            }
            if flag != "--dest" {
                args.extend(["--dest", "dest"]);
            }
            args.push(flag);
            let with_value = [&args[..], &["1"]].concat();
            let parsed = Cli::try_parse_from(&args).or_else(|_| Cli::try_parse_from(&with_value));
            if let Err(e) = parsed {
                panic!("{flag} is not accepted: {e}");
            }
        }
    }
}
