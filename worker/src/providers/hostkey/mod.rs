//! HOSTKEY invapi (seed 002): `api` is the typed client, `steps` the plan's steps.

pub mod api;
mod payment;
mod steps;

pub use steps::Hostkey;
