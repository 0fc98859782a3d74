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
