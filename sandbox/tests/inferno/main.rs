//! The Inferno simulator over real HTTP, told as a client's stories.

mod orders;
mod refusals;
mod support;
