//! The integration-test crate: the whole pipeline against a real S3-compatible
//! server (started in-process on 127.0.0.1), against local directories, the
//! sample events, and the requirement catalogue.

mod common;
mod deploy;
mod events;
mod faults;
mod freshness;
mod gallery;
mod golden;
mod guards;
mod image;
mod in_process;
mod lambda_rie;
mod lease;
mod local_run;
mod parts;
mod profile;
mod ranged;
mod requirements;
mod s3_run;
mod scale;
mod template;
mod trust;
