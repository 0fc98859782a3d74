//! `provisioner-sandbox`: simulated hosting providers for tests and the demo, and a
//! throwaway Redis server.
//!
//! - [`sim`]: what every simulator is built from: a time-compressed virtual clock,
//!   runtime fault knobs (500s, 429s, slowness, lost answers, hangs), a ledger of
//!   everything that moved money or touched a machine, request counters, and serving
//!   a router on a random loopback port with `/_sandbox/*` control routes.
//! - [`hostkey`]: the HOSTKEY invapi simulator, faithful to seed `002_…` and
//!   `GAPS.md` (login tokens, PINs, WHMCS invoices, delivery, the PXE reinstall stages).
//! - [`demo`]: `provisioner-sandbox demo`, the whole stack in one process.
//! - [`redis_server`]: starts a private `redis-server` child process on a free port
//!   (killed on drop; `stop`/`restart` simulate a crash).
//!
//! The simulators share no code with the provider clients in `provisioner-worker`:
//! each side reads the seed on its own, so a misreading shows up as a failing test.

pub mod demo;
pub mod hostkey;
pub mod redis_server;
pub mod sim;
