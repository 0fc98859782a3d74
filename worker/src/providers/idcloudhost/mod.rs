//! IDCloudHost (seed 004): `api` is the typed client, `steps` the plan's steps.

pub mod api;
mod dry_run;
mod names;
mod steps;

pub use steps::Idcloudhost;
