//! Environment variables or command-line flags -> one validated [`Config`].
//!
//! Both faces fill the same [`RawConfig`] and share one validation, so a setting
//! means the same thing in Lambda and on a laptop. Nothing deeper than this
//! module reads the environment; errors name the variable (and the flag).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono_tz::Tz;

use crate::chart::{ThemeError, Themes};
use crate::store::s3::{
    DEFAULT_ATTEMPT_TIMEOUT_SECONDS, DEFAULT_OPERATION_TIMEOUT_SECONDS, DEFAULT_READ_PART_MIB, MIB,
    S3Options,
};
use crate::store::{Location, normalize_prefix};

pub(crate) const DEFAULT_POSTS_KEY: &str = "contentful/all-blog-posts.jsonl.gz";
pub(crate) const DEFAULT_AUTHORS_KEY: &str = "contentful/authorProfile.jsonl.gz";
pub(crate) const DEFAULT_CHARTS_PREFIX: &str = "author-monthly-stats/";
pub(crate) const DEFAULT_REPORTS_PREFIX: &str = "reports/";
pub(crate) const DEFAULT_TIME_ZONE: &str = "Asia/Tokyo";
pub(crate) const DEFAULT_CACHE_CONTROL: &str = "public, max-age=3600";
pub(crate) const DEFAULT_MAX_BAD_SHARE: f64 = 0.01;
pub(crate) const DEFAULT_UPLOAD_CONCURRENCY: usize = 16;
pub(crate) const DEFAULT_DEADLINE_MARGIN_SECONDS: u64 = 30;
/// The exporter runs daily: two missed exports in a row are a stale input.
pub(crate) const DEFAULT_MAX_EXPORT_AGE_HOURS: u64 = 48;
/// A blog loses few posts between nights; a tenth fewer is a cut-short export.
pub(crate) const DEFAULT_MAX_SHRINK: f64 = 0.10;
/// Growth of the counted posts accepted against the last published run: a
/// doubled export (+100%) trips it, while a year of this blog's growth (about
/// 4,000 posts on 60,000, +7%) between two runs never would.
pub(crate) const DEFAULT_MAX_GROWTH: f64 = 0.50;
/// How long an author must have been absent from every master read before
/// their chart is deleted, measured between the runs' `as_of`: one night's
/// glitch in the master never deletes a chart.
pub(crate) const DEFAULT_PRUNE_GRACE_HOURS: u64 = 24;
/// How long a run's lease lasts after each renewal: a crashed run frees it
/// within this (plus a quarter for clock skew), long before Lambda's first
/// retry of an asynchronous invocation gives up.
pub(crate) const DEFAULT_LEASE_TTL_SECONDS: u64 = 60;
/// Charts pruned without `allow_mass_prune`: the larger of this and
/// [`DEFAULT_MAX_PRUNE_SHARE`] of the charts present.
pub(crate) const DEFAULT_MAX_PRUNE_FLOOR: usize = 10;
pub(crate) const DEFAULT_MAX_PRUNE_SHARE: f64 = 0.05;

/// One setting: its environment variable (Lambda), its flag (CLI) and what it
/// means. The table below is the one place a setting is named: the Lambda
/// environment, the command line's flags and their help are read from it, and
/// tests hold the template and `docs/configuration.md` to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub env: &'static str,
    pub flag: &'static str,
    /// The flag's help.
    pub help: &'static str,
    /// A flag without a value (`--s3-force-path-style` means `true`).
    pub switch: bool,
}

macro_rules! settings {
    ($($name:ident = $env:literal, $flag:literal, $switch:literal, $help:literal;)*) => {
        $(pub const $name: Setting = Setting { env: $env, flag: $flag, help: $help, switch: $switch };)*
        /// Every environment variable the function reads (besides the SDK's own
        /// `AWS_*` and the logging ones in [`crate::logging`]).
        pub const ENV_VARS: &[&str] = &[$($env),*];
        /// Every setting, in the order of the table.
        pub const SETTINGS: &[Setting] = &[$($name),*];
    };
}

settings! {
    SOURCE_BUCKET = "SOURCE_BUCKET", "--source", false,
        "Where the export is: a directory or s3://bucket[/prefix]";
    POSTS_KEY = "POSTS_KEY", "--posts-key", false,
        "Key of the posts export; ending in / a prefix whose objects are its parts";
    AUTHORS_KEY = "AUTHORS_KEY", "--authors-key", false, "Key of the author master";
    CHARTS_BUCKET = "CHARTS_BUCKET", "--dest", false,
        "Where charts and reports go: a directory or s3://bucket[/prefix]";
    CHARTS_PREFIX = "CHARTS_PREFIX", "--charts-prefix", false,
        "Where <slug>.png and <slug>.json go (served)";
    REPORTS_PREFIX = "REPORTS_PREFIX", "--reports-prefix", false,
        "Where run reports and the lease go (private)";
    MONTH_TIMEZONE = "MONTH_TIMEZONE", "--time-zone", false,
        "IANA zone the months are counted in (default Asia/Tokyo)";
    CACHE_CONTROL = "CACHE_CONTROL", "--cache-control", false, "Cache-Control of charts and data";
    S3_FORCE_PATH_STYLE = "S3_FORCE_PATH_STYLE", "--s3-force-path-style", true,
        "Use path-style S3 addressing (S3-compatible servers)";
    S3_READ_PART_MIB = "S3_READ_PART_MIB", "--s3-read-part-mib", false,
        "Size in MiB of the ranged GETs the source files are read in (default 8)";
    MAX_BAD_RECORD_SHARE = "MAX_BAD_RECORD_SHARE", "--max-bad-share", false,
        "Largest share of bad lines, and of orphan posts, accepted (default 0.01)";
    UPLOAD_CONCURRENCY = "UPLOAD_CONCURRENCY", "--upload-concurrency", false,
        "Uploads in flight (default 16)";
    CHART_THEME = "CHART_THEME", "--theme", false,
        "The light chart theme as JSON (the flag takes a file)";
    CHART_THEME_DARK = "CHART_THEME_DARK", "--theme-dark", false,
        "The dark chart theme as JSON, over the light one with dark colours (the flag takes a file)";
    DEADLINE_MARGIN_SECONDS = "DEADLINE_MARGIN_SECONDS", "--deadline-margin-seconds", false,
        "Seconds kept free before the deadline for the report (Lambda only; default 30)";
    LEASE_TTL_SECONDS = "LEASE_TTL_SECONDS", "--lease-ttl-seconds", false,
        "Seconds a run's lease lasts after each renewal; renewed every quarter of it (default 60)";
    WRITE_GALLERY = "WRITE_GALLERY", "--gallery", false,
        "Write the review page index.html: true or false (default: true locally, false on S3)";
    MAX_EXPORT_AGE_HOURS = "MAX_EXPORT_AGE_HOURS", "--max-export-age-hours", false,
        "Fail as ExportStale when the posts export is older than as_of minus this many hours (default 48; 0 disables)";
    MAX_SHRINK = "MAX_SHRINK", "--max-shrink", false,
        "Fail as InputShrunk when the posts counted drop by more than this share (default 0.10)";
    MAX_GROWTH = "MAX_GROWTH", "--max-growth", false,
        "Fail as InputGrown when the posts counted grow by more than this share (default 0.50; a doubled export)";
    PRUNE_GRACE_HOURS = "PRUNE_GRACE_HOURS", "--prune-grace-hours", false,
        "Hours an author must be absent from the master (between the runs' as_of) before their chart is deleted (default 24; 0 at once)";
    MAX_PRUNE = "MAX_PRUNE", "--max-prune", false,
        "Most charts of removed authors deleted in one run (default: the larger of 10 and 5% of the charts)";
    S3_ATTEMPT_TIMEOUT_SECONDS = "S3_ATTEMPT_TIMEOUT_SECONDS", "--s3-attempt-timeout-seconds", false,
        "Seconds one S3 request may wait for its response (default 20)";
    S3_OPERATION_TIMEOUT_SECONDS = "S3_OPERATION_TIMEOUT_SECONDS", "--s3-operation-timeout-seconds", false,
        "Seconds one S3 call may take, retries included (default 90)";
    SOURCE_BUCKET_REGION = "SOURCE_BUCKET_REGION", "--source-region", false,
        "The source bucket's region, when it is not the default (AWS_REGION)";
    CLOUDFRONT_DISTRIBUTION_ID = "CLOUDFRONT_DISTRIBUTION_ID", "--cloudfront-distribution-id", false,
        "The CloudFront distribution serving the charts: invalidated for what an erase or a prune deleted";
}

/// A setting that is missing or invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{} (flag {}) is required", .0.env, .0.flag)]
    Missing(Setting),
    #[error("{} (flag {}) = {value:?}: {problem}", .setting.env, .setting.flag)]
    Invalid {
        setting: Setting,
        value: String,
        problem: String,
    },
}

impl ConfigError {
    fn invalid(setting: Setting, value: &str, problem: String) -> Self {
        ConfigError::Invalid {
            setting,
            value: value.to_string(),
            problem,
        }
    }
}

/// Settings as given, before validation: a text per setting; absent means the
/// default. The buckets are `s3://` locations or directories; the theme is its
/// JSON text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawConfig(BTreeMap<&'static str, String>);

/// The validated configuration of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub source: Location,
    pub dest: Location,
    pub posts_key: String,
    pub authors_key: String,
    /// Ends with `/`.
    pub charts_prefix: String,
    /// Ends with `/`; never inside the charts prefix, so reports stay private.
    pub reports_prefix: String,
    pub time_zone: Tz,
    pub cache_control: String,
    pub s3: S3Options,
    pub max_bad_share: f64,
    pub upload_concurrency: usize,
    pub theme: Themes,
    /// Time kept free before a Lambda deadline to finish uploads and the report.
    pub deadline_margin: Duration,
    /// How long a run's lease lasts after each renewal.
    pub lease_ttl: Duration,
    /// Write the review page (`index.html`).
    pub gallery: bool,
    /// The posts export may be at most this old at `as_of`; `None` disables the check.
    pub max_export_age: Option<chrono::Duration>,
    /// Largest accepted drop of counted posts against the last published run.
    pub max_shrink: f64,
    /// Largest accepted growth of counted posts against the last published run.
    pub max_growth: f64,
    /// How long an author is absent from the master before their chart goes.
    pub prune_grace: chrono::Duration,
    /// Most charts a run deletes without `allow_mass_prune`; `None`: the larger
    /// of 10 and 5% of the charts present.
    pub max_prune: Option<usize>,
    /// The source bucket's region, when not the default chain's.
    pub source_region: Option<String>,
    /// The `CloudFront` distribution serving the charts, invalidated for the
    /// charts a run deletes; `None`: nothing to invalidate (a local run).
    pub cloudfront_distribution_id: Option<String>,
}

impl Config {
    /// The charts prefix as the bucket (or the directory) names its keys:
    /// under the destination's own prefix when `CHARTS_BUCKET` has one. The
    /// keys `<slug>.json` lists, and the paths the CDN is asked to forget.
    pub(crate) fn charts_key_prefix(&self) -> String {
        match &self.dest {
            Location::S3 { prefix, .. } => format!("{prefix}{}", self.charts_prefix),
            Location::Local(_) => self.charts_prefix.clone(),
        }
    }

    /// The prune limit for a destination holding `charts_present` charts.
    pub(crate) fn prune_limit(&self, charts_present: usize) -> usize {
        self.max_prune.unwrap_or_else(|| {
            let share = (charts_present as f64 * DEFAULT_MAX_PRUNE_SHARE).floor() as usize;
            share.max(DEFAULT_MAX_PRUNE_FLOOR)
        })
    }
}

impl RawConfig {
    /// Reads the Lambda environment through `get` (so tests need not touch the
    /// process environment). The buckets become `s3://` locations.
    pub(crate) fn from_env(get: impl Fn(&str) -> Option<String>) -> Self {
        let mut raw = RawConfig::default();
        for setting in SETTINGS {
            let Some(value) = get(setting.env).filter(|v| !v.is_empty()) else {
                continue;
            };
            let value = if *setting == SOURCE_BUCKET || *setting == CHARTS_BUCKET {
                format!("s3://{value}")
            } else {
                value
            };
            raw.set(*setting, value);
        }
        raw
    }

    /// Gives `setting` a value.
    pub fn set(&mut self, setting: Setting, value: impl Into<String>) -> &mut Self {
        self.0.insert(setting.env, value.into());
        self
    }

    /// The same with `setting` given.
    #[must_use]
    pub fn with(mut self, setting: Setting, value: impl Into<String>) -> Self {
        self.set(setting, value);
        self
    }

    fn get(&self, setting: Setting) -> Option<String> {
        self.0.get(setting.env).cloned()
    }

    /// Validates every setting, one group at a time.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let s3 = self.s3_options()?;
        let guards = self.guard_limits()?;
        let source = self.location(SOURCE_BUCKET)?;
        let dest = self.location(CHARTS_BUCKET)?;
        let keys = self.keys()?;
        let output = self.output(&dest)?;
        let run = self.run_limits()?;
        Ok(Config {
            source,
            dest,
            posts_key: keys.posts_key,
            authors_key: keys.authors_key,
            charts_prefix: keys.charts_prefix,
            reports_prefix: keys.reports_prefix,
            time_zone: output.time_zone,
            cache_control: output.cache_control,
            theme: output.theme,
            gallery: output.gallery,
            s3,
            max_bad_share: run.max_bad_share,
            upload_concurrency: run.upload_concurrency,
            deadline_margin: run.deadline_margin,
            lease_ttl: run.lease_ttl,
            source_region: run.source_region,
            cloudfront_distribution_id: run.cloudfront_distribution_id,
            max_export_age: guards.max_export_age,
            max_shrink: guards.max_shrink,
            max_growth: guards.max_growth,
            prune_grace: guards.prune_grace,
            max_prune: guards.max_prune,
        })
    }

    /// A required bucket: `s3://bucket[/prefix]` or a directory.
    fn location(&self, setting: Setting) -> Result<Location, ConfigError> {
        let value = self.get(setting).ok_or(ConfigError::Missing(setting))?;
        Location::parse(&value).map_err(|p| ConfigError::invalid(setting, &value, p))
    }

    /// A key relative to its bucket (`default` when absent).
    fn key(&self, setting: Setting, default: &str) -> Result<String, ConfigError> {
        let value = self.get(setting).unwrap_or_else(|| default.to_string());
        check_key(&value).map_err(|p| ConfigError::invalid(setting, &value, p))?;
        Ok(value)
    }

    /// A folder under the bucket's root, normalised to end with `/`.
    fn prefix(&self, setting: Setting, default: &str) -> Result<String, ConfigError> {
        let value = self.get(setting).unwrap_or_else(|| default.to_string());
        let normal = normalize_prefix(&value);
        if normal.is_empty() {
            return Err(ConfigError::invalid(
                setting,
                &value,
                "must name a folder, not the bucket root".into(),
            ));
        }
        check_key(normal.trim_end_matches('/'))
            .map_err(|p| ConfigError::invalid(setting, &value, p))?;
        Ok(normal)
    }

    /// The input keys and the output prefixes; reports never inside the charts.
    fn keys(&self) -> Result<Keys, ConfigError> {
        // A posts key ending in `/` names a prefix: every object under it is a
        // part of the export.
        let posts_key = match self.get(POSTS_KEY) {
            Some(p) if p.ends_with('/') => {
                check_key(p.trim_end_matches('/'))
                    .map_err(|e| ConfigError::invalid(POSTS_KEY, &p, e))?;
                p
            }
            _ => self.key(POSTS_KEY, DEFAULT_POSTS_KEY)?,
        };
        let charts_prefix = self.prefix(CHARTS_PREFIX, DEFAULT_CHARTS_PREFIX)?;
        let reports_prefix = self.prefix(REPORTS_PREFIX, DEFAULT_REPORTS_PREFIX)?;
        if reports_prefix.starts_with(&charts_prefix) || charts_prefix.starts_with(&reports_prefix)
        {
            return Err(ConfigError::invalid(
                REPORTS_PREFIX,
                &reports_prefix,
                format!(
                    "must not overlap the charts prefix {charts_prefix:?}: reports are private, charts are served"
                ),
            ));
        }
        Ok(Keys {
            posts_key,
            authors_key: self.key(AUTHORS_KEY, DEFAULT_AUTHORS_KEY)?,
            charts_prefix,
            reports_prefix,
        })
    }

    /// What the charts look like and how they are served.
    fn output(&self, dest: &Location) -> Result<Output, ConfigError> {
        let invalid = ConfigError::invalid;
        let zone_text = self
            .get(MONTH_TIMEZONE)
            .unwrap_or_else(|| DEFAULT_TIME_ZONE.to_string());
        let time_zone: Tz = zone_text.parse().map_err(|_| {
            invalid(
                MONTH_TIMEZONE,
                &zone_text,
                "not an IANA time zone name such as Asia/Tokyo".into(),
            )
        })?;
        let cache_control = self
            .get(CACHE_CONTROL)
            .unwrap_or_else(|| DEFAULT_CACHE_CONTROL.to_string());
        if cache_control.is_empty()
            || !cache_control
                .chars()
                .all(|c| c == ' ' || c.is_ascii_graphic())
        {
            return Err(invalid(
                CACHE_CONTROL,
                &cache_control,
                "must be a non-empty ASCII header value".into(),
            ));
        }
        let (light, dark) = (self.get(CHART_THEME), self.get(CHART_THEME_DARK));
        let theme = Themes::from_json(light.as_deref(), dark.as_deref()).map_err(|e| match e {
            ThemeError::Light(p) => invalid(CHART_THEME, light.as_deref().unwrap_or_default(), p),
            ThemeError::Dark(p) => {
                invalid(CHART_THEME_DARK, dark.as_deref().unwrap_or_default(), p)
            }
        })?;
        let gallery = match self.get(WRITE_GALLERY).as_deref() {
            None => matches!(dest, Location::Local(_)),
            Some(v) => parse_bool(v)
                .ok_or_else(|| invalid(WRITE_GALLERY, v, "expected true or false".into()))?,
        };
        Ok(Output {
            time_zone,
            cache_control,
            theme,
            gallery,
        })
    }

    /// How a run reads, uploads and keeps to its deadline.
    fn run_limits(&self) -> Result<RunLimits, ConfigError> {
        let source_region = self.get(SOURCE_BUCKET_REGION);
        if let Some(region) = &source_region
            && (region.is_empty()
                || !region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return Err(ConfigError::invalid(
                SOURCE_BUCKET_REGION,
                region,
                "expected an AWS region name such as ap-northeast-1".into(),
            ));
        }
        let cloudfront_distribution_id = self.get(CLOUDFRONT_DISTRIBUTION_ID);
        if let Some(id) = &cloudfront_distribution_id
            && (id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(ConfigError::invalid(
                CLOUDFRONT_DISTRIBUTION_ID,
                id,
                "expected a distribution id such as E2QWRUHAPOMQZL".into(),
            ));
        }
        Ok(RunLimits {
            max_bad_share: self.ranged(
                MAX_BAD_RECORD_SHARE,
                DEFAULT_MAX_BAD_SHARE,
                0.0..=1.0,
                "a share between 0 and 1, such as 0.01",
            )?,
            upload_concurrency: self.ranged(
                UPLOAD_CONCURRENCY,
                DEFAULT_UPLOAD_CONCURRENCY,
                1..=256,
                "a whole number from 1 to 256",
            )?,
            deadline_margin: Duration::from_secs(self.ranged(
                DEADLINE_MARGIN_SECONDS,
                DEFAULT_DEADLINE_MARGIN_SECONDS,
                0..=600,
                "whole seconds from 0 to 600",
            )?),
            lease_ttl: Duration::from_secs(self.ranged(
                LEASE_TTL_SECONDS,
                DEFAULT_LEASE_TTL_SECONDS,
                4..=900,
                "whole seconds from 4 to 900",
            )?),
            source_region,
            cloudfront_distribution_id,
        })
    }

    /// Parses a number setting that must lie in `range`; absent gives `default`.
    fn ranged<T>(
        &self,
        setting: Setting,
        default: T,
        range: std::ops::RangeInclusive<T>,
        expected: &str,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd,
    {
        let Some(text) = self.get(setting) else {
            return Ok(default);
        };
        text.trim()
            .parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| ConfigError::invalid(setting, &text, format!("expected {expected}")))
    }

    /// The S3 client's settings (the source's region is set where it is opened).
    fn s3_options(&self) -> Result<S3Options, ConfigError> {
        let invalid = ConfigError::invalid;
        let force_path_style = match self.get(S3_FORCE_PATH_STYLE).as_deref() {
            None => false,
            Some(v) => parse_bool(v)
                .ok_or_else(|| invalid(S3_FORCE_PATH_STYLE, v, "expected true or false".into()))?,
        };
        let read_part_mib = self.ranged(
            S3_READ_PART_MIB,
            DEFAULT_READ_PART_MIB,
            1..=64,
            "whole MiB from 1 to 64",
        )?;
        let attempt_timeout = self.ranged(
            S3_ATTEMPT_TIMEOUT_SECONDS,
            DEFAULT_ATTEMPT_TIMEOUT_SECONDS,
            1..=600,
            "whole seconds from 1 to 600",
        )?;
        let operation_timeout = self.ranged(
            S3_OPERATION_TIMEOUT_SECONDS,
            DEFAULT_OPERATION_TIMEOUT_SECONDS,
            1..=900,
            "whole seconds from 1 to 900",
        )?;
        if operation_timeout < attempt_timeout {
            return Err(invalid(
                S3_OPERATION_TIMEOUT_SECONDS,
                &operation_timeout.to_string(),
                format!("must not be shorter than the attempt timeout ({attempt_timeout} s)"),
            ));
        }
        Ok(S3Options {
            force_path_style,
            read_part_bytes: read_part_mib * MIB,
            attempt_timeout: Duration::from_secs(attempt_timeout),
            operation_timeout: Duration::from_secs(operation_timeout),
            region: None,
        })
    }

    /// The limits of the guards against wrong or stale charts.
    fn guard_limits(&self) -> Result<GuardLimits, ConfigError> {
        let max_export_age_hours = self.ranged(
            MAX_EXPORT_AGE_HOURS,
            DEFAULT_MAX_EXPORT_AGE_HOURS,
            0..=24 * 365,
            "whole hours from 0 (no check) to 8760",
        )?;
        let max_shrink = self.ranged(
            MAX_SHRINK,
            DEFAULT_MAX_SHRINK,
            0.0..=1.0,
            "a share between 0 and 1, such as 0.10",
        )?;
        let max_growth = self.ranged(
            MAX_GROWTH,
            DEFAULT_MAX_GROWTH,
            0.0..=1_000.0,
            "a share of growth such as 0.50 (1.0 is a doubling)",
        )?;
        let prune_grace_hours = self.ranged(
            PRUNE_GRACE_HOURS,
            DEFAULT_PRUNE_GRACE_HOURS,
            0..=24 * 365,
            "whole hours from 0 (delete at once) to 8760",
        )?;
        let max_prune = match self.get(MAX_PRUNE) {
            None => None,
            Some(_) => {
                Some(self.ranged(MAX_PRUNE, 0, 0..=10_000_000, "a whole number of charts")?)
            }
        };
        Ok(GuardLimits {
            max_export_age: (max_export_age_hours > 0)
                .then(|| chrono::Duration::hours(max_export_age_hours as i64)),
            max_shrink,
            max_growth,
            prune_grace: chrono::Duration::hours(prune_grace_hours as i64),
            max_prune,
        })
    }
}

/// The input keys and the output prefixes, validated together.
struct Keys {
    posts_key: String,
    authors_key: String,
    charts_prefix: String,
    reports_prefix: String,
}

/// The charts' zone, headers, theme and review page.
struct Output {
    time_zone: Tz,
    cache_control: String,
    theme: Themes,
    gallery: bool,
}

/// A run's reading, upload and deadline limits.
struct RunLimits {
    max_bad_share: f64,
    upload_concurrency: usize,
    deadline_margin: Duration,
    lease_ttl: Duration,
    source_region: Option<String>,
    cloudfront_distribution_id: Option<String>,
}

/// The guards' limits, validated together.
#[allow(
    clippy::struct_field_names,
    reason = "each is a max_* limit, named as its setting"
)]
struct GuardLimits {
    max_export_age: Option<chrono::Duration>,
    max_shrink: f64,
    max_growth: f64,
    prune_grace: chrono::Duration,
    max_prune: Option<usize>,
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Some(true),
        "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// An object key: relative, no empty, `.` or `..` segments, no control characters.
fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("must not be empty".into());
    }
    if key.starts_with('/') {
        return Err("must be relative (no leading /)".into());
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err("must not have empty, . or .. segments".into());
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return Err("must not contain control characters or backslashes".into());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // the tables of cases read best inline
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> RawConfig {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RawConfig::from_env(|k| map.get(k).cloned())
    }

    // REQ-CF-001: defaults and the variable named in every error.
    #[test]
    #[allow(clippy::too_many_lines, reason = "one table of every setting's cases")]
    fn env_defaults_and_errors_name_the_variable() {
        let base = [
            ("SOURCE_BUCKET", "src-bucket"),
            ("CHARTS_BUCKET", "charts-bucket"),
        ];
        let config = env(&base).validate().unwrap();
        assert_eq!(
            config.source,
            Location::S3 {
                bucket: "src-bucket".into(),
                prefix: String::new()
            }
        );
        assert_eq!(config.posts_key, DEFAULT_POSTS_KEY);
        assert_eq!(config.authors_key, DEFAULT_AUTHORS_KEY);
        assert_eq!(config.charts_prefix, "author-monthly-stats/");
        assert_eq!(config.reports_prefix, "reports/");
        assert_eq!(config.time_zone, chrono_tz::Asia::Tokyo);
        assert_eq!(config.cache_control, "public, max-age=3600");
        assert!(!config.s3.force_path_style);
        assert_eq!(config.s3.read_part_bytes, 8 * 1024 * 1024);
        let config = env(&[base[0], base[1], ("S3_READ_PART_MIB", "1")])
            .validate()
            .unwrap();
        assert_eq!(config.s3.read_part_bytes, 1024 * 1024);

        let cases: &[(&str, &[(&str, &str)], &str)] = &[
            (
                "no source",
                &[("CHARTS_BUCKET", "charts-bucket")],
                "SOURCE_BUCKET",
            ),
            (
                "no charts",
                &[("SOURCE_BUCKET", "src-bucket")],
                "CHARTS_BUCKET",
            ),
            (
                "bad bucket",
                &[
                    ("SOURCE_BUCKET", "Bad_Bucket"),
                    ("CHARTS_BUCKET", "charts-bucket"),
                ],
                "SOURCE_BUCKET",
            ),
            (
                "bad zone",
                &[("MONTH_TIMEZONE", "Mars/Olympus")],
                "MONTH_TIMEZONE",
            ),
            (
                "bad share",
                &[("MAX_BAD_RECORD_SHARE", "5")],
                "MAX_BAD_RECORD_SHARE",
            ),
            (
                "bad bool",
                &[("S3_FORCE_PATH_STYLE", "maybe")],
                "S3_FORCE_PATH_STYLE",
            ),
            (
                "zero part",
                &[("S3_READ_PART_MIB", "0")],
                "S3_READ_PART_MIB",
            ),
            (
                "huge part",
                &[("S3_READ_PART_MIB", "65")],
                "S3_READ_PART_MIB",
            ),
            (
                "bad concurrency",
                &[("UPLOAD_CONCURRENCY", "0")],
                "UPLOAD_CONCURRENCY",
            ),
            ("traversal key", &[("POSTS_KEY", "../x.gz")], "POSTS_KEY"),
            ("root parts prefix", &[("POSTS_KEY", "/")], "POSTS_KEY"),
            (
                "traversal prefix",
                &[("POSTS_KEY", "../parts/")],
                "POSTS_KEY",
            ),
            ("absolute key", &[("AUTHORS_KEY", "/x.gz")], "AUTHORS_KEY"),
            ("root prefix", &[("CHARTS_PREFIX", "/")], "CHARTS_PREFIX"),
            (
                "overlap",
                &[("REPORTS_PREFIX", "author-monthly-stats/reports")],
                "REPORTS_PREFIX",
            ),
            (
                "bad theme",
                &[("CHART_THEME", r#"{"bar":"blue"}"#)],
                "CHART_THEME",
            ),
            (
                "bad header",
                &[("CACHE_CONTROL", "max-age=1\n")],
                "CACHE_CONTROL",
            ),
            (
                "bad margin",
                &[("DEADLINE_MARGIN_SECONDS", "-1")],
                "DEADLINE_MARGIN_SECONDS",
            ),
            (
                "bad export age",
                &[("MAX_EXPORT_AGE_HOURS", "two days")],
                "MAX_EXPORT_AGE_HOURS",
            ),
            ("bad shrink", &[("MAX_SHRINK", "1.5")], "MAX_SHRINK"),
            ("bad prune", &[("MAX_PRUNE", "-3")], "MAX_PRUNE"),
            (
                "bad region",
                &[("SOURCE_BUCKET_REGION", "Tokyo")],
                "SOURCE_BUCKET_REGION",
            ),
            (
                "zero attempt timeout",
                &[("S3_ATTEMPT_TIMEOUT_SECONDS", "0")],
                "S3_ATTEMPT_TIMEOUT_SECONDS",
            ),
            (
                "operation shorter than attempt",
                &[
                    ("S3_ATTEMPT_TIMEOUT_SECONDS", "60"),
                    ("S3_OPERATION_TIMEOUT_SECONDS", "30"),
                ],
                "S3_OPERATION_TIMEOUT_SECONDS",
            ),
        ];
        for (name, pairs, needle) in cases {
            // The "no ..." cases give the whole environment; the others add to the base.
            let mut all: Vec<(&str, &str)> = if name.starts_with("no ") {
                Vec::new()
            } else {
                base.to_vec()
            };
            all.retain(|(k, _)| !pairs.iter().any(|(p, _)| p == k));
            all.extend_from_slice(pairs);
            let err = env(&all).validate().expect_err(name);
            assert!(err.to_string().contains(needle), "case {name}: {err}");
        }
    }

    // REQ-RL-004, REQ-RL-005, REQ-RL-009: the guard settings and their defaults.
    #[test]
    fn guard_settings_default_and_override() {
        let base = [
            ("SOURCE_BUCKET", "src-bucket"),
            ("CHARTS_BUCKET", "charts-bucket"),
        ];
        let config = env(&base).validate().unwrap();
        assert_eq!(config.max_export_age, Some(chrono::Duration::hours(48)));
        assert!((config.max_shrink - 0.10).abs() < 1e-12);
        assert_eq!(config.prune_limit(0), 10);
        assert_eq!(config.prune_limit(1_000), 50);
        assert_eq!(config.s3.attempt_timeout, Duration::from_secs(20));
        assert_eq!(config.s3.operation_timeout, Duration::from_secs(90));
        let config = env(&[
            base[0],
            base[1],
            ("MAX_EXPORT_AGE_HOURS", "0"),
            ("MAX_SHRINK", "0.5"),
            ("MAX_PRUNE", "3"),
        ])
        .validate()
        .unwrap();
        assert_eq!(config.max_export_age, None);
        assert!((config.max_shrink - 0.5).abs() < 1e-12);
        assert_eq!(config.prune_limit(1_000), 3);
    }

    #[test]
    fn prefixes_are_normalised() {
        let config = env(&[
            ("SOURCE_BUCKET", "src-bucket"),
            ("CHARTS_BUCKET", "charts-bucket"),
            ("CHARTS_PREFIX", "/charts"),
            ("REPORTS_PREFIX", "private/reports//"),
            ("S3_FORCE_PATH_STYLE", "true"),
        ])
        .validate()
        .unwrap();
        assert_eq!(config.charts_prefix, "charts/");
        assert_eq!(config.reports_prefix, "private/reports/");
        assert!(config.s3.force_path_style);
    }
}
