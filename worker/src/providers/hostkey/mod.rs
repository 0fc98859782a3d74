//! HOSTKEY invapi (seed 002): `api` is the typed client, `steps` the plan's steps.

pub mod api;
mod dry_run;
mod payment;
mod steps;

pub use steps::Hostkey;
