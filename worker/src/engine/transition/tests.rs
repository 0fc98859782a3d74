use super::*;
use provisioner_shared::config::{DeadlinesConfig, PaymentTimeout, PollingConfig, RetryConfig};
use provisioner_shared::request::{
    HostkeyOrder, HostkeyWork, Hostname, KlikkOrder, KlikkOs, KlikkWork, Work,
};

struct Fixed(u64);
impl Jitter for Fixed {
    fn up_to(&mut self, max: Duration) -> Duration {
        Duration::from_millis(self.0.min(max.as_millis() as u64))
    }
}

fn settings() -> Settings {
    Settings {
        lease: Duration::from_secs(60),
        step_timeout: Duration::from_secs(30),
        max_chain: 64,
        polling: PollingConfig {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(60),
            payment: None,
        },
        retry: RetryConfig {
            max_attempts: 3,
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        },
        deadlines: DeadlinesConfig {
            delivery: Duration::from_secs(7200),
            install: Duration::from_secs(10800),
            payment: Duration::from_secs(3 * 86400),
            on_payment_timeout: PaymentTimeout::Cancel,
        },
        retention: Duration::ZERO,
        settle: Duration::from_secs(30),
        wait_timeout: Duration::from_secs(1),
        idempotency_ttl: Duration::from_secs(3600),
        open_orders_caps: Default::default(),
        daily_amount_caps: Default::default(),
    }
}

fn request(reinstall: bool) -> JobRequest {
    JobRequest {
        account: "hk".into(),
        reference: None,
        root_password: None,
        ssh_keys: vec![],
        post_install_script: None,
        callback_url: None,
        work: Work::Hostkey(HostkeyWork::Provision {
            hostname: Hostname::parse("web-1.example.com", "hostname").unwrap(),
            order: HostkeyOrder {
                preset: "vm.pico".into(),
                location: "NL".into(),
                os_id: 180,
                traffic_plan: "25".into(),
                deploy_period: "monthly".into(),
                soft_id: None,
                root_size: None,
                jenkins_task: None,
            },
            reinstall_os: reinstall.then_some(183),
        }),
    }
}

fn klikk_request() -> JobRequest {
    JobRequest {
        work: Work::Klikk(KlikkWork::Provision {
            hostname: Hostname::parse("k1.example.com", "hostname").unwrap(),
            order: KlikkOrder {
                product: "VPS".into(),
                ram_gb: 1.0,
                cpu: 1,
                storage_gb: 25,
                os: KlikkOs::Name("Debian".into()),
                ip_allow: "192.168.0.0/24".into(),
                os_version: None,
                antiaffinity: None,
                firewall_id: None,
                firewall_addme: None,
                ipv4: None,
                public_ports_allow: None,
                cloud_init_url: None,
            },
        }),
        ..request(false)
    }
}

fn run_for(req: &JobRequest) -> RunState {
    RunState::new(plan::plan(req), Millis(1_000))
}

fn at(run: &RunState) -> &str {
    &run.steps[run.cursor].name
}

const HK: ProviderKind = ProviderKind::Hostkey;

#[test]
fn next_moves_on_and_the_last_step_succeeds() {
    let s = settings();
    let req = request(false);
    let mut run = run_for(&req);
    for expected in ["order", "pay", "await_delivery"] {
        assert_eq!(at(&run), expected);
        begin(&mut run, HK, Millis(2_000), &s);
        assert_eq!(
            apply(
                &mut run,
                HK,
                Outcome::Next,
                Millis(2_000),
                &s,
                &mut Fixed(0)
            ),
            Next::Continue
        );
    }
    begin(&mut run, HK, Millis(3_000), &s);
    assert_eq!(
        apply(
            &mut run,
            HK,
            Outcome::Next,
            Millis(3_000),
            &s,
            &mut Fixed(0)
        ),
        Next::Finish
    );
    assert_eq!(run.state, JobState::Succeeded);
    assert!(
        run.steps
            .iter()
            .all(|st| st.state == StepState::Done && st.attempts == 1)
    );
}

#[test]
fn waits_grow_and_stop_at_the_deadline() {
    let s = settings();
    let req = request(false);
    let mut run = run_for(&req);
    run.cursor = 2; // await_delivery: span delivery
    begin(&mut run, HK, Millis(0), &s);
    let mut delays = vec![];
    for i in 0..6 {
        match apply(
            &mut run,
            HK,
            Outcome::wait("pending"),
            Millis(i * 1000),
            &s,
            &mut Fixed(0),
        ) {
            Next::After(d) => delays.push(d.as_secs()),
            other => panic!("{other:?}"),
        }
    }
    // 5s, 10s, 20s, 40s, then capped at 60s (minus the 10 % jitter floor)
    assert_eq!(delays, vec![4, 9, 18, 36, 54, 54]);
    assert_eq!(run.state, JobState::Waiting);
    assert_eq!(run.note.as_deref(), Some("pending"));
    // past the delivery deadline (2 h from the first start) the wait fails the step
    let late = Millis(7_200_000);
    let next = apply(
        &mut run,
        HK,
        Outcome::wait("still pending"),
        late,
        &s,
        &mut Fixed(0),
    );
    assert_eq!(next, Next::Finish);
    assert_eq!(run.state, JobState::Failed);
    let e = run.error.as_ref().unwrap();
    assert_eq!(e.step, "await_delivery");
    assert!(
        e.message.contains("delivery (2h) deadline ran out"),
        "{}",
        e.message
    );
}

#[test]
fn a_wait_is_cut_at_the_deadline() {
    let s = settings();
    let req = request(false);
    let mut run = run_for(&req);
    run.cursor = 2;
    begin(&mut run, HK, Millis(0), &s);
    let next = apply(
        &mut run,
        HK,
        Outcome::wait("x"),
        Millis(7_199_000),
        &s,
        &mut Fixed(0),
    );
    assert_eq!(next, Next::After(Duration::from_secs(1)));
}

#[test]
fn retries_back_off_then_fail_with_the_providers_words() {
    let s = settings();
    let req = request(false);
    let mut run = run_for(&req);
    run.cursor = 2;
    begin(&mut run, HK, Millis(0), &s);
    let err = StepError {
        message: "hostkey: HTTP 502".into(),
        provider_message: Some("Bad Gateway".into()),
    };
    let r = || Outcome::Retry {
        after: None,
        error: err.clone(),
    };
    // full jitter: Fixed(u64::MAX) picks the ceiling: 1 s, then 2 s
    assert_eq!(
        apply(&mut run, HK, r(), Millis(0), &s, &mut Fixed(u64::MAX)),
        Next::After(Duration::from_secs(1))
    );
    assert_eq!(
        apply(&mut run, HK, r(), Millis(0), &s, &mut Fixed(u64::MAX)),
        Next::After(Duration::from_secs(2))
    );
    assert_eq!(
        apply(&mut run, HK, r(), Millis(0), &s, &mut Fixed(u64::MAX)),
        Next::Finish
    );
    let e = run.error.as_ref().unwrap();
    assert!(e.message.starts_with("gave up after 3 attempts"));
    assert_eq!(e.provider_message.as_deref(), Some("Bad Gateway"));
}

#[test]
fn retry_after_from_the_provider_is_honoured() {
    let s = settings();
    let req = request(false);
    let mut run = run_for(&req);
    begin(&mut run, HK, Millis(0), &s);
    let o = Outcome::Retry {
        after: Some(Duration::from_secs(7)),
        error: StepError::new("429"),
    };
    assert_eq!(
        apply(&mut run, HK, o, Millis(0), &s, &mut Fixed(0)),
        Next::After(Duration::from_secs(7))
    );
}

#[test]
fn a_failure_after_pxe_is_armed_runs_the_finalizers_then_fails() {
    let s = settings();
    let req = request(true);
    let mut run = run_for(&req);
    run.cursor = run
        .steps
        .iter()
        .position(|st| st.name == "await_install")
        .unwrap();
    run.outputs.pxe_armed = true;
    begin(&mut run, HK, Millis(0), &s);
    let next = apply(
        &mut run,
        HK,
        Outcome::fail("installer crashed"),
        Millis(0),
        &s,
        &mut Fixed(0),
    );
    assert_eq!(next, Next::Continue);
    assert_eq!(at(&run), "boot_disk");
    begin(&mut run, HK, Millis(0), &s);
    assert_eq!(
        apply(&mut run, HK, Outcome::Next, Millis(0), &s, &mut Fixed(0)),
        Next::Continue
    );
    assert_eq!(at(&run), "clear_pxe");
    begin(&mut run, HK, Millis(0), &s);
    assert_eq!(
        apply(&mut run, HK, Outcome::Next, Millis(0), &s, &mut Fixed(0)),
        Next::Finish
    );
    assert_eq!(run.state, JobState::Failed);
    assert_eq!(run.error.as_ref().unwrap().step, "await_install");
    let collect = run.steps.iter().find(|st| st.name == "collect").unwrap();
    assert_eq!(collect.state, StepState::Skipped);
}

#[test]
fn a_failure_before_pxe_skips_the_finalizers() {
    let s = settings();
    let req = request(true);
    let mut run = run_for(&req);
    begin(&mut run, HK, Millis(0), &s);
    assert_eq!(
        apply(
            &mut run,
            HK,
            Outcome::fail("no"),
            Millis(0),
            &s,
            &mut Fixed(0)
        ),
        Next::Finish
    );
    assert!(
        run.steps[1..]
            .iter()
            .all(|st| st.state == StepState::Skipped)
    );
}

#[test]
fn a_finalizer_that_cannot_finish_needs_attention() {
    let s = settings();
    let req = request(true);
    let mut run = run_for(&req);
    run.cursor = run
        .steps
        .iter()
        .position(|st| st.name == "clear_pxe")
        .unwrap();
    run.outputs.pxe_armed = true;
    begin(&mut run, HK, Millis(0), &s);
    assert_eq!(
        apply(
            &mut run,
            HK,
            Outcome::fail("denied"),
            Millis(0),
            &s,
            &mut Fixed(0)
        ),
        Next::Park
    );
    assert_eq!(run.state, JobState::NeedsAttention);
    assert!(run.error.as_ref().unwrap().message.contains("installer"));
}

#[test]
fn an_unsettled_money_intent_turns_a_failure_into_attention() {
    let s = settings();
    let req = request(false);
    let mut run = run_for(&req);
    begin(&mut run, HK, Millis(0), &s);
    run.steps[0].intent = Some(provisioner_shared::job::Intent {
        attempt: 1,
        at: Millis(0),
        reference: "web-1.example.com".into(),
        data: serde_json::Value::Null,
        error: None,
    });
    assert_eq!(
        apply(
            &mut run,
            HK,
            Outcome::fail("boom"),
            Millis(0),
            &s,
            &mut Fixed(0)
        ),
        Next::Park
    );
    assert_eq!(run.state, JobState::NeedsAttention);
}

#[test]
fn cancel_after_order_keeps_finalizers_and_adds_compensation() {
    let s = settings();
    let req = request(true);
    let mut run = run_for(&req);
    run.cursor = run.steps.iter().position(|st| st.name == "reboot").unwrap();
    run.outputs.pxe_armed = true;
    run.outputs.server_id = Some("40514".into());
    begin(&mut run, HK, Millis(0), &s);
    assert_eq!(cancel(&mut run, &req, Millis(0)), Next::Continue);
    let order: Vec<&str> = run.steps[run.cursor..]
        .iter()
        .map(|st| st.name.as_str())
        .collect();
    assert_eq!(
        order,
        ["boot_disk", "clear_pxe", "collect", "compensate_cancel"]
    );
    for _ in 0..2 {
        begin(&mut run, HK, Millis(0), &s);
        assert_eq!(
            apply(&mut run, HK, Outcome::Next, Millis(0), &s, &mut Fixed(0)),
            Next::Continue
        );
    }
    assert_eq!(at(&run), "compensate_cancel");
    begin(&mut run, HK, Millis(0), &s);
    assert_eq!(
        apply(&mut run, HK, Outcome::Next, Millis(0), &s, &mut Fixed(0)),
        Next::Finish
    );
    assert_eq!(run.state, JobState::Cancelled);
}

#[test]
fn cancel_before_anything_was_created_just_ends() {
    let req = request(true);
    let mut run = run_for(&req);
    assert_eq!(cancel(&mut run, &req, Millis(0)), Next::Finish);
    assert_eq!(run.state, JobState::Cancelled);
    assert!(run.steps.iter().all(|st| st.state == StepState::Skipped));
}

/// The delays of `n` payment waits of a Klikk job (`await_payment`, span payment).
fn payment_wait_delays(s: &Settings, n: u64) -> Vec<u64> {
    let req = klikk_request();
    let mut run = RunState::new(vec!["order".into(), "await_payment".into()], Millis(0));
    run.cursor = 1;
    begin(&mut run, req.provider(), Millis(0), s);
    (0..n)
        .map(|i| {
            match apply(
                &mut run,
                req.provider(),
                Outcome::wait("awaiting payment"),
                Millis(i * 1000),
                s,
                &mut Fixed(0),
            ) {
                Next::After(d) => d.as_secs(),
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

#[test]
fn payment_waits_grow_like_every_wait_up_to_polling_max() {
    // no polling.payment: the ceiling is polling.max (60 s), as for any wait
    assert_eq!(
        payment_wait_delays(&settings(), 7),
        vec![4, 9, 18, 36, 54, 54, 54]
    );
    // polling.payment set: it is the ceiling of payment waits instead
    let mut s = settings();
    s.polling.payment = Some(Duration::from_secs(600));
    assert_eq!(
        payment_wait_delays(&s, 9),
        vec![4, 9, 18, 36, 72, 144, 288, 540, 540]
    );
    s.polling.payment = Some(Duration::from_secs(20));
    assert_eq!(payment_wait_delays(&s, 4), vec![4, 9, 18, 18]);
    // ... and only of payment waits
    assert_eq!(
        poll_ceiling(&s, Some(Span::Delivery)),
        Duration::from_secs(60)
    );
    assert_eq!(poll_ceiling(&s, None), Duration::from_secs(60));
}

/// A Klikk provision whose order 7300 is placed and waits for its payment.
fn klikk_awaiting_payment(s: &Settings) -> (JobRequest, RunState) {
    let req = klikk_request();
    let mut run = RunState::new(
        ["order", "await_payment", "await_delivery", "collect"]
            .map(String::from)
            .to_vec(),
        Millis(0),
    );
    run.steps[0].state = StepState::Done;
    run.outputs.order_id = Some("7300".into());
    run.cursor = 1;
    begin(&mut run, req.provider(), Millis(0), s);
    (req, run)
}

#[test]
fn a_payment_timeout_cancels_the_unpaid_order_unless_told_to_keep_it() {
    let s = settings();
    let (req, mut run) = klikk_awaiting_payment(&s);
    let late = Millis(3 * 86_400_000);
    let wait = Outcome::wait("awaiting payment");
    let next = apply(
        &mut run,
        req.provider(),
        wait.clone(),
        late,
        &s,
        &mut Fixed(0),
    );
    // failing, with the cleanup to run first
    assert_eq!(next, Next::Continue);
    assert_eq!(at(&run), "cancel_unpaid");
    assert_eq!(run.ending, Some(Ending::Failed));
    let message = run.error.as_ref().unwrap().message.clone();
    assert!(
        message.contains("payment (3days) deadline ran out")
            && message.contains("cancelling its unpaid order 7300 at klikk"),
        "{message}"
    );
    run.steps[run.cursor].detail = Some("order 7300 cancelled at Klikk".into());
    let next = apply(
        &mut run,
        req.provider(),
        Outcome::Next,
        late,
        &s,
        &mut Fixed(0),
    );
    assert_eq!(next, Next::Finish);
    assert_eq!(run.state, JobState::Failed);
    let e = run.error.as_ref().unwrap();
    assert_eq!(e.step, "await_payment", "the first error stays the job's");
    assert!(
        e.message
            .ends_with("; cancel_unpaid: order 7300 cancelled at Klikk"),
        "{}",
        e.message
    );

    let mut keep = settings();
    keep.deadlines.on_payment_timeout = PaymentTimeout::Keep;
    let (req, mut run) = klikk_awaiting_payment(&keep);
    let next = apply(
        &mut run,
        req.provider(),
        wait.clone(),
        late,
        &keep,
        &mut Fixed(0),
    );
    assert_eq!(next, Next::Finish);
    assert!(!run.steps.iter().any(|st| st.name == "cancel_unpaid"));
    assert!(
        run.error
            .as_ref()
            .unwrap()
            .message
            .contains("order 7300 is kept at klikk"),
        "{:?}",
        run.error
    );

    // no order placed: nothing to cancel, nothing said
    let (req, mut run) = klikk_awaiting_payment(&s);
    run.outputs.order_id = None;
    assert_eq!(
        apply(&mut run, req.provider(), wait, late, &s, &mut Fixed(0)),
        Next::Finish
    );
    assert!(!run.error.as_ref().unwrap().message.contains("unpaid order"));
}

#[test]
fn a_failed_cleanup_is_told_in_the_jobs_error() {
    let s = settings();
    let (req, mut run) = klikk_awaiting_payment(&s);
    let late = Millis(3 * 86_400_000);
    let wait = Outcome::wait("awaiting payment");
    apply(&mut run, req.provider(), wait, late, &s, &mut Fixed(0));
    assert_eq!(at(&run), "cancel_unpaid");
    let refused = Outcome::fail("klikk refused: Order 7300 not found");
    assert_eq!(
        apply(&mut run, req.provider(), refused, late, &s, &mut Fixed(0)),
        Next::Finish
    );
    let e = run.error.as_ref().unwrap();
    assert!(
        e.message
            .ends_with("; cancel_unpaid: failed: klikk refused: Order 7300 not found"),
        "{}",
        e.message
    );
}

#[test]
fn poll_interval_and_backoff_stay_within_their_caps() {
    let s = settings();
    let mut rng = rand::rng();
    for n in 1..40 {
        assert!(poll_interval(&s, s.polling.max, n, &mut rng) <= Duration::from_secs(66));
        assert!(backoff(&s, n, &mut rng) <= Duration::from_secs(300));
    }
}

#[test]
fn a_step_an_operator_failed_is_passed_over_to_the_finalizers() {
    let req = request(true);
    let mut run = run_for(&req);
    run.cursor = run
        .steps
        .iter()
        .position(|s| s.name == "await_install")
        .unwrap();
    run.outputs.pxe_armed = true;
    run.steps[run.cursor].state = StepState::Failed;
    run.ending = Some(Ending::Failed);
    assert_eq!(skip_settled(&mut run, HK), Some(Next::Continue));
    assert_eq!(at(&run), "boot_disk");
    // A step that may run is left alone.
    assert_eq!(skip_settled(&mut run, HK), None);
    // Without PXE armed nothing runs: the job ends as failed.
    let mut run = run_for(&req);
    run.steps[0].state = StepState::Failed;
    run.ending = Some(Ending::Failed);
    assert_eq!(skip_settled(&mut run, HK), Some(Next::Finish));
    assert_eq!(run.state, JobState::Failed);
}

#[test]
fn a_compensation_that_fails_needs_attention_instead_of_ending_cancelled() {
    let s = settings();
    let req = request(false);
    let mut run = run_for(&req);
    run.cursor = run
        .steps
        .iter()
        .position(|st| st.name == "await_delivery")
        .unwrap();
    run.outputs.server_id = Some("40514".into());
    begin(&mut run, HK, Millis(0), &s);
    assert_eq!(cancel(&mut run, &req, Millis(0)), Next::Continue);
    assert_eq!(at(&run), "compensate_cancel");
    begin(&mut run, HK, Millis(0), &s);
    let refused = Outcome::fail("hostkey said: cancellation refused");
    assert_eq!(
        apply(&mut run, HK, refused, Millis(0), &s, &mut Fixed(0)),
        Next::Park
    );
    assert_eq!(run.state, JobState::NeedsAttention);
    assert_eq!(run.error.as_ref().unwrap().step, "compensate_cancel");
    // A second cancel does not add a second compensation.
    run.add_compensation(&req);
    let compensations = run
        .steps
        .iter()
        .filter(|st| st.name == "compensate_cancel")
        .count();
    assert_eq!(compensations, 1);
}
