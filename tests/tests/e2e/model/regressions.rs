//! The minimal cases the model has found, kept as plain tests: each failed before
//! the fix its comment names.

use super::cloud::Fault;
use super::{Transition, run_case, runtime};
use anyhow::Context;
use provisioner_tests::TestRedis;

/// Runs fixed cases (minimal cases the model once found, kept as tests), each in a
/// namespace of its own on one server.
fn replay(plans: &[Vec<Transition>]) -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let rt = runtime()?;
    let redis = rt.block_on(TestRedis::start())?;
    for plan in plans {
        rt.block_on(run_case(&redis, plan))
            .with_context(|| format!("case {plan:?}"))?;
    }
    Ok(())
}

/// Found by the model (MODEL_SEED=2). The VM is created; the payment's call hangs
/// and its worker crashes; a cancel comes; the lookup of the payment cannot tell,
/// so the job needs attention; the operator finds nothing paid and resolves with
/// `fail` ("nothing to cancel" for that call). The job must still cancel the VM its
/// first step created: it ended `cancelled` with the VM running (and billed).
#[test]
fn a_cancel_settled_as_nothing_paid_still_cancels_the_vm() -> anyhow::Result<()> {
    replay(&[vec![
        Transition::Drive {
            faults: vec![Fault::Ok, Fault::Hang { applied: false }],
            cut_after: None,
        },
        Transition::Cancel { job: 0 },
        Transition::Expire,
        Transition::Drive {
            faults: vec![Fault::Refuse],
            cut_after: None,
        },
    ]])
}

/// Found by the model (MODEL_SEED=2). A worker freezes after Redis has applied its
/// intent commit but before it reads the answer, for longer than its lease (a
/// paused process); a second worker takes the job over, finds nothing at the
/// provider once the settle window has passed, and orders; the first one wakes,
/// takes its renewal for a fresh lease and orders too: two VMs. The freeze lands in
/// the intent commit at one of the drive's first polls.
#[test]
fn a_worker_frozen_in_its_intent_commit_does_not_order_after_a_takeover() -> anyhow::Result<()> {
    let plans: Vec<Vec<Transition>> = (1..=6)
        .map(|cut| {
            vec![
                Transition::Stall {
                    faults: vec![],
                    cut_after: Some(cut),
                },
                Transition::Expire,
                Transition::Drive {
                    faults: vec![],
                    cut_after: None,
                },
            ]
        })
        .collect();
    replay(&plans)
}

/// Found by the model (MODEL_SEED=7). The first create_vm call meets a gateway
/// timeout (nothing applied; the intent is kept), the next drive is told to wait
/// for the settle window, and the last attempt, after a lookup that finds nothing,
/// is cut by the step timeout. The job parked in `needs_attention` ("the outcome of
/// the last create_vm call is unknown") without a single lookup, though the
/// provider's state proves the outcome; a lost answer on the last attempt is looked
/// up once the settle window has passed, and a timeout must be treated the same.
#[test]
fn a_last_attempt_cut_by_the_step_timeout_is_looked_up_not_parked() -> anyhow::Result<()> {
    let plan = |applied| {
        vec![
            Transition::Drive {
                faults: vec![Fault::NotReady],
                cut_after: None,
            },
            Transition::Drive {
                faults: vec![],
                cut_after: None,
            },
            Transition::Drive {
                faults: vec![Fault::Ok, Fault::Stuck { applied }],
                cut_after: None,
            },
        ]
    };
    replay(&[plan(false), plan(true)])
}
