//! `provisioner-sandbox`: simulated hosting providers for tests and the demo, and a
//! throwaway Redis server.
//!
//! - [`sim`]: what every simulator is built from: a time-compressed virtual clock,
//!   runtime fault knobs (500s, 429s, slowness, lost answers, hangs, garbled bodies,
//!   connections closed without an answer), a ledger of everything that moved money
//!   or touched a machine, request counters and per-(action, subject) call counters,
//!   and serving a router on a random loopback port with `/_sandbox/*` control routes.
//! - [`hostkey`]: the HOSTKEY invapi simulator, faithful to seed `002_…` and
//!   `GAPS.md` (login tokens, PINs, WHMCS invoices, delivery, the PXE reinstall stages).
//! - [`klikk`]: the Klikk simulator, faithful to seeds `000_…`/`001_…` and `GAPS.md`
//!   (one JSON endpoint, token or Basic auth, orders paid outside, order items, servers).
//! - [`idcloudhost`]: the IDCloudHost simulator, faithful to seed `004_…` and `GAPS.md`
//!   (`apikey` header, location slugs, VMs starting → running, invoices paid from credit).
//! - [`inferno`]: the Inferno simulator, faithful to seed `003_…` and `GAPS.md`
//!   (`api_client.php`, orders paid outside, `install` answered in PHP `print_r` text).
//! - [`demo`]: `provisioner-sandbox demo`, the whole stack in one process.
//! - [`simulators`]: `provisioner-sandbox simulators`, the four simulators alone and
//!   a config pointing at them, to try the api and worker by hand.
//! - [`stack`]: what those two share: fixed ports (free ones when taken), the
//!   four simulators, the config for them.
//! - [`redis_server`]: starts a private `redis-server` child process on a free port
//!   (killed on drop; `stop`/`restart` simulate a crash).
//!
//! The simulators share no code with the provider clients in `provisioner-worker`:
//! each side reads the seed on its own, so a misreading shows up as a failing test.

pub mod demo;
pub mod hostkey;
pub mod idcloudhost;
pub mod inferno;
pub mod klikk;
pub mod redis_server;
pub mod sim;
pub mod simulators;
pub mod stack;
