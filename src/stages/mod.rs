//! The stages of a run, one file each, in run order. Each takes the run's
//! [`RunContext`](crate::pipeline::RunContext) (or just its pipeline) and plain values and returns plain
//! values; the [modes](crate::modes) only order them. The checks that stop a
//! run ([`crate::guards`]) are called by several of them.
//!
//! 1. [`inputs`]: the author master, then the posts streamed through the tally.
//! 2. [`select`]: who is drawn.
//! 3. [`publish`]: draw on every core, put what changed.
//! 4. [`prune`]: delete the charts of authors who are gone.
//! 5. [`end`]: the report, `latest.json` and the review page.
//!
//! Beside them, [`state`] reads the chart state with the last published run
//! and writes it ahead of publishing and after it.

pub(crate) mod inputs;

pub(crate) mod select;

pub(crate) mod publish;

pub(crate) mod prune;

pub(crate) mod end;

pub(crate) mod state;
