//! Klikk (seeds 000 and 001): `api` is the typed client, `steps` the plan's steps.

pub mod api;
mod dry_run;
mod steps;

pub use steps::Klikk;
