//! The OS install's stages over virtual time (seed 002, "Reinstall the operating
//! system on the server (second option)"). Pure functions, so the progression is
//! tested without a clock.

use std::time::Duration;

use crate::sim::VirtualTime;

/// What `eq_callback/check` shows in `scope` for each stage. Stage 1's text is the
/// seed's (`" (1\/5) OS installation started"`); stages 2–5 are the seed's prose in
/// stage 1's format and stage 0 is the wait before the installer boots (GAPS.md).
pub const STAGE_SCOPES: [&str; 6] = [
    " (0/5) waiting for PXE boot",
    " (1/5) OS installation started",
    " (2/5) base OS installed, proceeding with post-install tasks",
    " (3/5) post-install tasks completed, running final tasks",
    " (4/5) install completed, restarting the server",
    " (5/5) the server is online",
];

/// Where an install is at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// In stage 0..=5.
    Stage(usize),
    /// All stages passed.
    Complete,
}

/// The stage an install is in `elapsed` after the reboot that started it, when
/// stage `i` lasts `durations[i]`.
pub fn progress(elapsed: Duration, durations: &[Duration; 6]) -> Progress {
    let mut end = Duration::ZERO;
    for (stage, length) in durations.iter().enumerate() {
        end += *length;
        if elapsed < end {
            return Progress::Stage(stage);
        }
    }
    Progress::Complete
}

/// How long an install takes from the reboot to completion.
pub fn total(durations: &[Duration; 6]) -> Duration {
    durations.iter().sum()
}

/// How an install was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstallVia {
    /// PXE config + boot from PXE + reboot.
    Pxe,
    /// `eq/order_instance` with `id` (the provider drives the reinstall itself).
    Order,
}

/// An OS install running (or finished) on a server.
#[derive(Clone, Debug)]
pub struct Install {
    /// The reinstall master key the stages are reported on, if any.
    pub key: Option<String>,
    pub via: InstallVia,
    pub started_at: VirtualTime,
    pub done_at: VirtualTime,
    pub completed: bool,
    /// What the finished install leaves on the server.
    pub hostname: Option<String>,
    pub root_pass: String,
    /// `None` for a "clean slate" (`own_os=1`) reinstall.
    pub os: Option<String>,
    pub callback: Option<String>,
}

impl Install {
    /// Where the install is at `now`.
    pub fn progress(&self, now: VirtualTime, durations: &[Duration; 6]) -> Progress {
        if self.completed {
            return Progress::Complete;
        }
        match progress(now.saturating_since(self.started_at), durations) {
            // Completion is applied by `settle`; until then the last stage shows.
            Progress::Complete => Progress::Stage(5),
            stage => stage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    #[test]
    fn stages_follow_their_durations() {
        let durations = [
            minutes(2),
            minutes(5),
            minutes(5),
            minutes(3),
            minutes(2),
            minutes(1),
        ];
        assert_eq!(progress(Duration::ZERO, &durations), Progress::Stage(0));
        assert_eq!(progress(minutes(1), &durations), Progress::Stage(0));
        assert_eq!(progress(minutes(2), &durations), Progress::Stage(1));
        assert_eq!(progress(minutes(7), &durations), Progress::Stage(2));
        assert_eq!(progress(minutes(12), &durations), Progress::Stage(3));
        assert_eq!(progress(minutes(15), &durations), Progress::Stage(4));
        assert_eq!(progress(minutes(17), &durations), Progress::Stage(5));
        assert_eq!(progress(minutes(18), &durations), Progress::Complete);
        assert_eq!(total(&durations), minutes(18));
    }

    #[test]
    fn zero_length_stages_are_skipped() {
        let durations = [
            Duration::ZERO,
            minutes(1),
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
            minutes(1),
        ];
        assert_eq!(progress(Duration::ZERO, &durations), Progress::Stage(1));
        assert_eq!(progress(minutes(1), &durations), Progress::Stage(5));
    }

    #[test]
    fn an_install_shows_stage_five_until_settled() {
        let durations = [minutes(1); 6];
        let install = Install {
            key: None,
            via: InstallVia::Pxe,
            started_at: VirtualTime::ZERO,
            done_at: VirtualTime::ZERO + minutes(6),
            completed: false,
            hostname: None,
            root_pass: String::new(),
            os: None,
            callback: None,
        };
        let late = VirtualTime::ZERO + minutes(60);
        assert_eq!(install.progress(late, &durations), Progress::Stage(5));
        let done = Install {
            completed: true,
            ..install
        };
        assert_eq!(done.progress(late, &durations), Progress::Complete);
    }

    #[test]
    fn stage_scopes_carry_their_number() {
        for (n, scope) in STAGE_SCOPES.iter().enumerate() {
            assert!(scope.starts_with(&format!(" ({n}/5) ")), "{scope}");
        }
    }
}
