//! The IDCloudHost simulator over real HTTP, told as a client's stories.

mod billing;
mod support;
mod vms;
