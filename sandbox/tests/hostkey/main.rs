//! The HOSTKEY simulator over real HTTP, told as a client's stories.

mod faults;
mod provisioning;
mod refusals;
mod support;
