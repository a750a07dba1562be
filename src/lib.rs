//! author-stats-batch: monthly post-count charts per blog author.
//!
//! The modules below are listed in the order data flows through a run: a request
//! and a configuration come in, the two export files are streamed out of a
//! [`store`], decoded by [`input`], parsed line by line by [`records`], joined and
//! counted by [`tally`], drawn by [`chart`] on a [`draw_pool`], written back by [`publish`] and
//! accounted for in [`report`] (and, for review, a [`gallery`] page). [`run`] wires the stages together; [`cli`] and
//! [`lambda`] are the two faces that call it. [`sample`] writes a synthetic export
//! for demos, tests and the benchmark.

pub mod chart;
pub mod cli;
pub mod config;
pub mod draw_pool;
pub mod event;
pub mod gallery;
pub mod input;
pub mod lambda;
pub mod logging;
pub mod publish;
pub mod records;
pub mod report;
pub mod run;
pub mod sample;
pub mod store;
pub mod tally;
