//! author-stats-batch: monthly post-count charts per blog author.
//!
//! The modules below are listed in the order data flows through a run
//! (`rustfmt.toml` keeps that order): a request and a configuration come in,
//! the two export files are streamed out of a [`store`], decoded by [`input`],
//! parsed line by line by [`records`], counted once by [`post_keys`], joined and counted by [`tally`], drawn
//! by [`chart`] on a [`draw_pool`], written back by [`stages::publish`]
//! (putting only what changed) and accounted for in [`report`] (and, for
//! review, a [`gallery`] page). The [`stages`] of a run are one file each; the
//! [`modes`] order them (one whole run, or plan, render and finish); [`cli`]
//! and [`lambda`] are the two faces that call them, and the Lambda face
//! reports each run as [`metrics`]. [`sample`] writes a synthetic export for
//! demos, tests and the benchmark.

// The run request (lookback, as_of, authors, dry run, overrides, the scaled-out steps) and its validation; imports nothing of the crate.
pub mod request;
// Environment or flags -> one validated Config.
pub mod config;
// The storage seam: S3 (ranged reads) and a local directory.
pub mod store;
// Object bytes -> lines: gzip (all members) or plain, decoded on its own thread.
pub(crate) mod input;
// A line -> a Post or an Author, or a counted bad record; long lines streamed.
pub mod records;
// The one-pass member scan of a record line (the fast path of `records`).
mod scan;
// Each post counts once: the keys of the posts read so far.
pub mod post_keys;
// Join posts to authors, count months in the site's zone, pick who is drawn.
pub mod tally;
// Draw one chart: layout, theme, the embedded font, PNG encoding.
pub mod chart;
// The names of an author's published objects: the one place that spells them.
pub mod chart_keys;
// Whether a published chart is current: fingerprints and the chart state.
pub mod freshness;
// The drawing threads, one per core.
pub(crate) mod draw_pool;
// The run report, which reconciles by construction.
pub mod report;
// The review page of a run.
pub(crate) mod gallery;
// The CDN in front of the charts: invalidated for what a run deletes.
pub(crate) mod cdn;
// One run at a time: a lease object taken with a conditional write.
pub(crate) mod lease;
// Why a run stops: the guards, the run error and its report.
pub mod error;
// The checks that stop a run: against the last published run and the limits.
pub(crate) mod guards;
// Configuration and stores opened once, and the invocation.
pub mod pipeline;
// The deadline a run keeps: work bounded by it, durations in milliseconds.
pub(crate) mod deadline;
// The stages of a run, one file each, in run order.
pub(crate) mod stages;
// The files a scaled-out run's steps share: the plan, the shards, the done reports.
pub mod work;
// The modes, each ordering the stages: run, and plan / render / finish.
pub mod modes;
// The command-line face.
pub mod cli;
// The Lambda face.
pub mod lambda;
// One CloudWatch EMF record per invocation.
pub(crate) mod metrics;
// Log format and filter, chosen once at start.
pub mod logging;
// A synthetic export for demos, tests and the benchmark.
pub mod sample;
