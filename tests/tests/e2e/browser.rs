//! The dashboard in a real browser (issue 11 point 6): headless Chromium, driven over
//! WebDriver, against the real api, worker and HOSTKEY simulator. It signs in
//! through `/ui#token=…`, lists, filters, opens a failed job, reads its timeline,
//! retries it and watches it succeed, signs out and in again, and sees what the page
//! says once the api is gone. Screenshots go to `target/artifacts/`.
//!
//! Skipped (with a line saying so) where chromium or chromedriver is missing, unless
//! `REQUIRE_BROWSER=1`, which `.ci/run` sets.

use provisioner_sandbox::sim::FaultKnobs;
use provisioner_shared::ProviderKind;
use provisioner_tests::browser::{Browser, Element, artifacts_dir};
use provisioner_tests::providers::start_hostkey;
use provisioner_tests::{API_TOKEN, TestApp, account, spawn_app};
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);
/// Generous: CI runs this beside the rest of the suite on two cores.
const SHORT: Duration = Duration::from_secs(30);

/// The browser's time zone: UTC+7 all year, so the page's offset is known.
const TZ: &str = "Asia/Jakarta";

fn hostkey_provision() -> Value {
    json!({
        "kind": "provision",
        "account": "hk-nl",
        "reference": "svc-browser-hk",
        "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
        "hostname": "browser.example.com",
        "root_password": "S3cure!pass",
        "reinstall": {"os_id": 183},
    })
}

/// Whether `text` is ISO 8601 local time with the browser's offset:
/// `2026-12-07T21:05:09+07:00`.
fn is_iso_local(text: &str) -> bool {
    let b = text.as_bytes();
    text.len() == 25
        && text.ends_with("+07:00")
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && text[..4].bytes().all(|c| c.is_ascii_digit())
}

#[tokio::test]
async fn the_dashboard_signs_in_lists_filters_shows_a_timeline_and_retries_in_chromium()
-> anyhow::Result<()> {
    let Some(browser) = Browser::start(TZ).await? else {
        return Ok(());
    };
    let outcome = drive(&browser).await;
    if outcome.is_err() {
        let _ = browser
            .screenshot(&artifacts_dir().join("dashboard-failure.png"))
            .await;
    }
    browser.quit().await?;
    outcome
}

async fn drive(browser: &Browser) -> anyhow::Result<()> {
    let app = spawn_app()
        .hostkey("hk-nl", start_hostkey().await?)
        .tune(|c| {
            c.accounts
                .push(account("noop", ProviderKind::Noop, "http://127.0.0.1:9/"));
        })
        .with_worker()
        .start()
        .await?;
    // Every reboot fails: the HOSTKEY job fails after its retries.
    app.hostkey().faults().set_action(
        "eq/reboot",
        FaultKnobs {
            error_rate: 1.0,
            ..Default::default()
        },
    )?;
    let failed = app
        .api
        .post_job(&hostkey_provision())
        .await?
        .id()
        .to_owned();
    let ok = app
        .api
        .post_job(&json!({"kind": "provision", "account": "noop", "reference": "svc-browser-noop", "order": {"steps": 3}}))
        .await?
        .id()
        .to_owned();
    anyhow::ensure!(
        !failed.is_empty() && !ok.is_empty(),
        "both jobs were accepted"
    );
    let failed_job = app.api.wait_for_state(&failed, "failed", LONG).await?;
    app.api.wait_for_state(&ok, "succeeded", LONG).await?;
    let error = failed_job["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    anyhow::ensure!(
        !error.is_empty(),
        "the failed job has an error: {failed_job}"
    );

    // One-click sign-in: the token in the fragment becomes a session cookie, and
    // leaves the address bar.
    browser
        .goto(&format!("{}/ui#token={API_TOKEN}", app.api.base_url))
        .await?;
    browser.wait_for_text("#jobs tr", &failed, SHORT).await?;
    browser.wait_for_text("#jobs tr", &ok, SHORT).await?;
    let url = browser.current_url().await?;
    assert!(
        !url.contains("token"),
        "the token stays in the address bar: {url}"
    );
    assert!(url.ends_with("/ui"), "{url}");
    let who = browser.text(&browser.find("#who").await?).await?;
    assert!(who.starts_with("signed in as"), "{who}");
    let cookies = browser.cookies().await?;
    let session = cookies
        .iter()
        .find(|c| c["name"] == "provisioner_session")
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["sameSite"], "Strict", "{session}");
    let script_sees = browser
        .execute(
            "return document.cookie + JSON.stringify(sessionStorage) + JSON.stringify(localStorage);",
            vec![],
        )
        .await?;
    let script_sees = script_sees.as_str().unwrap_or("");
    assert!(
        !script_sees.contains("provisioner_session") && !script_sees.contains(API_TOKEN),
        "a script can read the session or the token: {script_sees}"
    );

    // Times are ISO 8601 in the browser's zone, with its offset.
    let failed_row = row(browser, &failed).await?;
    let updated = browser
        .text(&browser.find_all(&format!("{failed_row} td")).await?[7])
        .await?;
    assert!(is_iso_local(&updated), "the updated time {updated:?}");

    // Filter by state: only the failed job is left.
    choose(browser, "#f-state option", "failed").await?;
    browser
        .click(&browser.find("#filters button[type=submit]").await?)
        .await?;
    provisioner_tests::wait_until("the filter to apply", SHORT, || async {
        let rows = browser.text(&browser.find("#jobs").await?).await?;
        Ok((rows.contains(&failed) && !rows.contains(&ok)).then_some(()))
    })
    .await?;
    browser
        .screenshot(&artifacts_dir().join("dashboard-list.png"))
        .await?;

    // Open the failed job: its timeline, with stage text and durations.
    browser
        .click(&browser.find(&row(browser, &failed).await?).await?)
        .await?;
    browser.wait_for_text("#d-title", &failed, SHORT).await?;
    browser.wait_for_text("#d-title", "failed", SHORT).await?;
    let reboot = browser
        .wait_for_text("#d-steps li[data-step=reboot]", "failed", SHORT)
        .await?;
    let reboot_text = browser.text(&reboot).await?;
    assert!(reboot_text.contains("attempts"), "{reboot_text}");
    let steps = browser.find_all("#d-steps li").await?;
    assert!(steps.len() >= 5, "{} steps shown", steps.len());
    let durations = texts(browser, &browser.find_all("#d-steps .took").await?).await?;
    assert!(
        durations
            .iter()
            .any(|d| d.ends_with(" ms)") || d.ends_with(" s)") || d.ends_with(" min)")),
        "no step shows how long it took: {durations:?}"
    );
    let details = texts(browser, &browser.find_all("#d-steps .detail").await?).await?;
    assert!(
        details
            .iter()
            .any(|d| !d.is_empty() && !d.contains("the error above")),
        "no step shows its stage text: {details:?}"
    );
    let started = texts(browser, &browser.find_all("#d-steps time").await?).await?;
    assert!(started.iter().all(|t| is_iso_local(t)), "{started:?}");
    // The error is shown once (not again as the note and the step's detail).
    let page = browser
        .execute("return document.body.innerText;", vec![])
        .await?;
    let first_line = error.lines().next().unwrap_or_default();
    let shown = page.as_str().unwrap_or("").matches(first_line).count();
    assert_eq!(shown, 1, "the error {first_line:?} is shown {shown} times");
    browser
        .screenshot(&artifacts_dir().join("dashboard.png"))
        .await?;

    // Retry it (the cause fixed) and watch it move to succeeded, live.
    app.hostkey().faults().clear();
    let retry = browser.find("#a-retry").await?;
    assert!(browser.is_enabled(&retry).await?);
    browser.click(&retry).await?;
    let question = browser.accept_dialog().await?;
    assert!(question.contains(&failed), "{question}");
    browser
        .wait_for_text("#status", "Retry: accepted", SHORT)
        .await?;
    let title = browser.text(&browser.find("#d-title").await?).await?;
    assert!(
        !title.contains("failed"),
        "still failed after the retry: {title}"
    );
    // The step it resumes at shows where the job is (queued), not `pending`.
    let current = browser.find_all("#d-steps li.current .badge").await?;
    assert_eq!(current.len(), 1, "one current step is marked");
    let resumed = browser.text(&current[0]).await?;
    assert!(
        ["queued", "running", "waiting", "done"].contains(&resumed.as_str()),
        "the resumed step's badge: {resumed:?}"
    );
    browser.click(&browser.find("#a-follow").await?).await?;
    browser.wait_for_text("#d-title", "succeeded", LONG).await?;
    browser
        .screenshot(&artifacts_dir().join("dashboard-retried.png"))
        .await?;

    // Back on the list, the failed filter no longer holds it.
    browser
        .click(&browser.find("#detail a[href='#/']").await?)
        .await?;
    browser
        .wait_for_text("#jobs", "No jobs match", SHORT)
        .await?;

    // Sign out: the cookie is gone, a reload asks for a token; the form signs in.
    browser.click(&browser.find("#signout").await?).await?;
    browser.wait_for_text("#login h2", "Sign in", SHORT).await?;
    browser.goto(&format!("{}/ui", app.api.base_url)).await?;
    let form = browser.wait_for_text("#login", "API token", SHORT).await?;
    assert!(
        browser
            .attribute(&form, "class")
            .await?
            .is_some_and(|c| !c.contains("hidden"))
    );
    browser
        .type_into(&browser.find("#token").await?, API_TOKEN)
        .await?;
    browser
        .click(&browser.find("#login-form button").await?)
        .await?;
    browser.wait_for_text("#jobs tr", &ok, SHORT).await?;

    // The api goes away: the list says so, in its own words.
    let TestApp { api, .. } = app;
    api.stop().await?;
    browser.click(&browser.find("#refresh").await?).await?;
    let status = browser
        .wait_for_text("#status", "Could not list jobs", SHORT)
        .await?;
    let status = browser.text(&status).await?;
    assert!(status.contains("the API did not answer"), "{status}");
    assert!(!status.contains("load job"), "{status}");
    Ok(())
}

/// The CSS selector of the list's row for `id`.
async fn row(browser: &Browser, id: &str) -> anyhow::Result<String> {
    let css = format!("#jobs tr[data-id='{id}']");
    browser.find(&css).await?;
    Ok(css)
}

/// Clicks the `<option>` among `css` whose text is `text`.
async fn choose(browser: &Browser, css: &str, text: &str) -> anyhow::Result<()> {
    for o in browser.find_all(css).await? {
        if browser.text(&o).await? == text {
            return browser.click(&o).await;
        }
    }
    anyhow::bail!("no option {text:?} in {css}")
}

async fn texts(browser: &Browser, elements: &[Element]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in elements {
        out.push(browser.text(e).await?);
    }
    Ok(out)
}
