//! Inferno (seed 003): `api` is the typed client (with its `print_r` reader), `steps`
//! the plan's steps, `money` those the engine reconciles (`order`, `install`).

pub mod api;
mod dry_run;
mod money;
mod steps;

pub use steps::Inferno;
