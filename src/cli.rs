//! The command-line face: `author-stats run`, `author-stats sample-data`,
//! `author-stats demo`, and the steps of a scaled-out run, `plan`, `render` and
//! `finish`. Flags fill the same [`RawConfig`] the Lambda environment
//! does; the run report goes to stdout as JSON, logs to stderr.
#![allow(
    clippy::doc_markdown,
    reason = "the doc comments of the flags are clap's --help text, not rustdoc markup"
)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use tracing::error;

use crate::config::{self, RawConfig};
use crate::error::Failed;
use crate::modes::run::run;
use crate::modes::{finish, plan, render};
use crate::pipeline::{Invocation, Pipeline};
use crate::report::RunReport;
use crate::request::{Job, Mode, RunRequest};
use crate::sample::{SampleSpec, split_into_parts, write_sample};
use crate::store::{Location, Store};

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
    /// Scaled-out run, step 1: read both inputs, run the guards, select, and
    /// write the selection in shards to WORK.
    Plan(Box<PlanArgs>),
    /// Scaled-out run, step 2: draw and publish one shard of the plan in WORK.
    Render(Box<RenderArgs>),
    /// Scaled-out run, step 3: merge the shards' outcomes into the run report,
    /// prune, write reports/latest.json and the review page.
    Finish(Box<FinishArgs>),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Where the export is: a directory or <s3://bucket>[/prefix].
    #[arg(long)]
    pub source: String,
    /// Where charts and reports go: a directory or <s3://bucket>[/prefix].
    #[arg(long)]
    pub dest: String,
    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    pub settings: SettingArgs,
    /// Also write the report JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Where the export is: a directory or <s3://bucket>[/prefix].
    #[arg(long)]
    pub source: String,
    /// Where the plan and its shards go: a directory or <s3://bucket>[/prefix].
    #[arg(long)]
    pub work: String,
    /// The destination the run will publish to: the plan is judged against its
    /// last published run and its chart state, and takes its lease. Required
    /// unless the request is a dry run.
    #[arg(long)]
    pub dest: Option<String>,
    #[command(flatten)]
    pub request: RequestArgs,
    /// Most authors in one shard.
    #[arg(long, default_value_t = crate::request::DEFAULT_SHARD_AUTHORS)]
    pub shard_authors: usize,
    /// Names the run in the plan and the lease (default: cli-PID-TIME).
    #[arg(long)]
    pub run_id: Option<String>,
    #[command(flatten)]
    pub settings: SettingArgs,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The plan's work location: a directory or <s3://bucket>[/prefix].
    #[arg(long)]
    pub work: String,
    /// The shard to draw, as plan.json lists it (e.g. 00000).
    #[arg(long)]
    pub shard: String,
    /// Where charts go: a directory or <s3://bucket>[/prefix].
    #[arg(long)]
    pub dest: String,
    #[command(flatten)]
    pub settings: SettingArgs,
}

#[derive(Debug, Args)]
pub struct FinishArgs {
    /// The plan's work location: a directory or <s3://bucket>[/prefix].
    #[arg(long)]
    pub work: String,
    /// Where charts and reports go: a directory or <s3://bucket>[/prefix].
    #[arg(long)]
    pub dest: String,
    #[command(flatten)]
    pub settings: SettingArgs,
    /// Also write the report JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// What to run: an event file, or the same fields as flags.
#[derive(Debug, Args)]
pub struct RequestArgs {
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
    /// Accept an `as_of` older than the last published run's (a deliberate redraw
    /// of the past); also with --event.
    #[arg(long)]
    pub allow_older_as_of: bool,
    /// Delete the charts of removed authors even past --max-prune; also with --event.
    #[arg(long)]
    pub allow_mass_prune: bool,
    /// Publish this run past the orphan limit (after erasing an author); also with --event.
    #[arg(long)]
    pub allow_orphans: bool,
    /// Publish this run although the counted posts fell past --max-shrink; also with --event.
    #[arg(long)]
    pub allow_shrink: bool,
    /// Publish this run although the counted posts grew past --max-growth; also with --event.
    #[arg(long)]
    pub allow_growth: bool,
    /// Publish this run from an export older than --max-export-age-hours; also with --event.
    #[arg(long)]
    pub allow_stale_export: bool,
    /// Delete the charts of these slugs (comma separated, absent from the master) now,
    /// without the prune grace period; also with --event.
    #[arg(long, value_delimiter = ',')]
    pub erase: Option<Vec<String>>,
}

impl RequestArgs {
    /// The request the flags (or the event file) make.
    fn request(&self) -> Result<RunRequest, String> {
        let mut request = match &self.event {
            Some(path) => read_event(path)?,
            None => RunRequest {
                lookback_days: self.lookback_days,
                as_of: self.as_of.clone(),
                authors: self.authors.clone(),
                dry_run: self.dry_run.then_some(true),
                ..RunRequest::default()
            },
        };
        // The overrides are a person's decision at the prompt: they add to an event file.
        if self.allow_older_as_of {
            request.allow_older_as_of = Some(true);
        }
        if self.allow_mass_prune {
            request.allow_mass_prune = Some(true);
        }
        for (flag, field) in [
            (self.allow_orphans, &mut request.allow_orphans),
            (self.allow_shrink, &mut request.allow_shrink),
            (self.allow_growth, &mut request.allow_growth),
            (self.allow_stale_export, &mut request.allow_stale_export),
        ] {
            if flag {
                *field = Some(true);
            }
        }
        if let Some(slugs) = &self.erase {
            request
                .erase
                .get_or_insert_with(Vec::new)
                .extend(slugs.iter().cloned());
        }
        Ok(request)
    }
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
            let value = if setting == config::CHART_THEME || setting == config::CHART_THEME_DARK {
                std::fs::read_to_string(&value)
                    .map_err(|e| format!("{} {value}: {e}", setting.flag))?
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
        Command::Plan(args) => plan_command(*args).await,
        Command::Render(args) => render_command(*args).await,
        Command::Finish(args) => finish_command(*args).await,
    }
}

fn read_event(path: &Path) -> Result<RunRequest, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--event {}: {e}", path.display()))?;
    RunRequest::from_json(&text).map_err(|e| format!("--event {}: {e}", path.display()))
}

async fn run_command(args: RunArgs) -> ExitCode {
    let request = match args.request.request() {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    let raw = match args.settings.raw(args.source, args.dest) {
        Ok(raw) => raw,
        Err(e) => return usage_error(e),
    };
    execute(raw, request, args.report.as_deref()).await
}

async fn execute(raw: RawConfig, request: RunRequest, report_file: Option<&Path>) -> ExitCode {
    // A step's event (`mode`, `run_id`, `shard`) is not a run: refused, not
    // run whole.
    if request.mode.is_some() {
        return usage_error(
            "field `mode`: a step's event; run it with `author-stats plan`, `render` or `finish`"
                .into(),
        );
    }
    let spec = match request.job(Utc::now()) {
        Ok(Job::Run(spec)) => spec,
        Ok(other) => return usage_error(format!("not a run: {other:?}")),
        Err(e) => return usage_error(e.to_string()),
    };
    let config = match raw.validate() {
        Ok(c) => c,
        Err(e) => return usage_error(e.to_string()),
    };
    let pipeline = Pipeline::connect(config).await;
    let result = run(&pipeline, &spec, &Invocation::cli()).await;
    print_report(result, report_file)
}

/// Prints a run's (or a finish's) report to stdout, its summary to stderr,
/// and gives the exit code.
fn print_report(result: Result<RunReport, Failed>, report_file: Option<&Path>) -> ExitCode {
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

/// Opens the configuration and the work location of a scaled-out step.
async fn scaled_out(
    settings: SettingArgs,
    source: String,
    dest: String,
    work: &str,
) -> Result<(Pipeline, Arc<dyn Store>), String> {
    let work = Location::parse(work).map_err(|e| format!("--work: {e}"))?;
    let config = settings
        .raw(source, dest)?
        .validate()
        .map_err(|e| e.to_string())?;
    let pipeline = Pipeline::connect(config).await;
    let store = pipeline.open(&work).await;
    Ok((pipeline, store))
}

/// Prints a step's JSON answer to stdout, or its error, and gives the exit code.
fn print_step<T: serde::Serialize>(result: Result<T, Failed>) -> ExitCode {
    match result {
        Ok(answer) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&answer).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            if let Some(report) = e.report() {
                eprintln!("{}", report.summary());
            }
            report_error(&e);
            ExitCode::from(1)
        }
    }
}

async fn plan_command(args: PlanArgs) -> ExitCode {
    // The flags make the same plan request the Lambda takes, validated by the
    // same `RunRequest::job`.
    let mut request = match args.request.request() {
        Ok(r) => r,
        Err(e) => return usage_error(e),
    };
    request.mode = Some(Mode::Plan);
    request.run_id = args.run_id.or(request.run_id);
    request.run_id.get_or_insert_with(|| Invocation::cli().id);
    request.shard_authors = Some(args.shard_authors);
    let (spec, run_id, shard_authors) = match request.job(Utc::now()) {
        Ok(Job::Plan {
            spec,
            run_id,
            shard_authors,
        }) => (spec, run_id, shard_authors),
        Ok(other) => return usage_error(format!("not a plan: {other:?}")),
        Err(e) => return usage_error(e.to_string()),
    };
    // Without --dest (a dry run only) the work location stands in for it: no last run to be
    // judged against, no lease (each render checks the destination).
    let has_dest = args.dest.is_some();
    let dest = args.dest.unwrap_or_else(|| args.work.clone());
    let (pipeline, work) = match scaled_out(args.settings, args.source, dest, &args.work).await {
        Ok(opened) => opened,
        Err(e) => return usage_error(e),
    };
    let options = plan::PlanOptions {
        run_id,
        shard_authors,
        has_dest,
    };
    let made = plan::plan(&pipeline, work.as_ref(), &spec, None, &options).await;
    print_step(made.map(|plan| plan.summary(work.as_ref())))
}

async fn render_command(args: RenderArgs) -> ExitCode {
    if let Err(e) = crate::request::check_shard_id(&args.shard) {
        return usage_error(format!("--shard: {e}"));
    }
    // A render reads nothing from the source: the work location stands in.
    let opened = scaled_out(args.settings, args.work.clone(), args.dest, &args.work).await;
    let (pipeline, work) = match opened {
        Ok(opened) => opened,
        Err(e) => return usage_error(e),
    };
    let done = render::render(&pipeline, work.as_ref(), &args.shard, None).await;
    print_step(done)
}

async fn finish_command(args: FinishArgs) -> ExitCode {
    let opened = scaled_out(args.settings, args.work.clone(), args.dest, &args.work).await;
    let (pipeline, work) = match opened {
        Ok(opened) => opened,
        Err(e) => return usage_error(e),
    };
    let result = finish::finish(&pipeline, work.as_ref(), None).await;
    print_report(result, args.report.as_deref())
}

fn report_error(e: &Failed) {
    error!(error_type = e.error_type(), "{e}");
    eprintln!("error [{}]: {e}", e.error_type());
}

fn usage_error(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn sample_command(args: SampleArgs) -> ExitCode {
    let Some(end) = crate::records::parse_timestamp(&args.end) else {
        return usage_error(format!("--end {:?} is not an RFC 3339 timestamp", args.end));
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
