//! author-stats-batch: monthly post-count charts per blog author.
//!
//! The modules below are listed in the order data flows through a run, one per
//! paragraph so rustfmt keeps that order: a request and a configuration come
//! in, the two export files are streamed out of a [`store`], decoded by
//! [`input`], parsed line by line by [`records`], joined and counted by
//! [`tally`], drawn by [`chart`] on a [`draw_pool`], written back by [`publish`]
//! and accounted for in [`report`] (and, for review, a [`gallery`] page). [`run`]
//! wires the stages together; [`cli`] and [`lambda`] are the two faces that call
//! it, and the Lambda face reports each run as [`metrics`]. [`sample`] writes a
//! synthetic export for demos, tests and the benchmark.

// The run request (lookback, as_of, authors, dry run, overrides) and its validation.
pub mod event;

// Environment or flags -> one validated Config.
pub mod config;

// The storage seam: S3 (ranged reads) and a local directory.
pub mod store;

// Object bytes -> lines: gzip (all members) or plain, decoded on its own thread.
pub mod input;

// A line -> a Post or an Author, or a counted bad record; long lines streamed.
pub mod records;

// Join posts to authors, count months in the site's zone, pick who is drawn.
pub mod tally;

// Draw one chart: layout, theme, the embedded font, PNG encoding.
pub mod chart;

// The drawing threads, one per core.
pub(crate) mod draw_pool;

// Put only what changed.
pub mod publish;

// The run report, which reconciles by construction.
pub mod report;

// The review page of a run.
pub mod gallery;

// One run at a time: a lease object taken with a conditional write.
pub mod lease;

// The pipeline: stages in order, the guards, concurrency and the deadline.
pub mod run;

// Past one Lambda: the run as plan, render (per shard) and finish.
pub mod scale;

// The command-line face.
pub mod cli;

// The Lambda face.
pub mod lambda;

// One CloudWatch EMF record per invocation.
pub mod metrics;

// Log format and filter, chosen once at start.
pub mod logging;

// A synthetic export for demos, tests and the benchmark.
pub mod sample;
