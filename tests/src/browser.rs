//! [`Browser`]: headless Chromium driven over W3C WebDriver, for the dashboard's
//! end-to-end test. `chromedriver --port=<free>` is started per test and spoken to
//! with plain JSON over HTTP (the protocol is small; no client crate needed).
//!
//! Without `chromium` and `chromedriver` on `PATH`, [`Browser::start`] prints a skip
//! line and gives `None`, unless `REQUIRE_BROWSER=1` (CI sets it): then a missing
//! browser is an error, so CI never passes a browser test it did not run.

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One WebDriver session in headless Chromium, and the chromedriver serving it.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    driver: Child,
    _profile: TempDir,
}

/// An element on the page, as WebDriver names it.
#[derive(Debug, Clone)]
pub struct Element(String);

/// What `PATH` resolves `name` to, if anything.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A folder removed on drop (the browser's profile).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session whose time zone is
    /// `tz` (an IANA name). `Ok(None)`: no browser here and none required.
    pub async fn start(tz: &str) -> anyhow::Result<Option<Browser>> {
        let required = std::env::var("REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        let chromium = ["chromium", "chromium-browser", "google-chrome"]
            .into_iter()
            .find_map(on_path);
        let driver = on_path("chromedriver");
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            if required {
                bail!(
                    "REQUIRE_BROWSER=1 but chromium or chromedriver is not on PATH \
                     (Debian: apt-get install chromium chromium-driver)"
                );
            }
            println!(
                "SKIP browser test: chromium and chromedriver are not on PATH \
                 (Debian: apt-get install chromium chromium-driver; REQUIRE_BROWSER=1 makes this a failure)"
            );
            return Ok(None);
        };
        Browser::launch(&chromium, &driver, tz).await.map(Some)
    }

    async fn launch(chromium: &Path, driver: &Path, tz: &str) -> anyhow::Result<Browser> {
        let port = free_port()?;
        let profile =
            std::env::temp_dir().join(format!("provisioner-chromium-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&profile)?;
        let profile = TempDir(profile);
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .env("TZ", tz)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", driver.display()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        crate::wait_until(
            "chromedriver to answer",
            Duration::from_secs(20),
            || async {
                Ok(match http.get(format!("{base}/status")).send().await {
                    Ok(r) if r.status().is_success() => {
                        let v: Value = r.json().await.unwrap_or(Value::Null);
                        v["value"]["ready"].as_bool().unwrap_or(false).then_some(())
                    }
                    _ => None,
                })
            },
        )
        .await?;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1400,1100", "--no-first-run", "--lang=en-US",
                    format!("--user-data-dir={}", profile.0.display()),
                ],
            },
        }}});
        let res: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await?
            .json()
            .await?;
        let Some(id) = res["value"]["sessionId"].as_str() else {
            bail!("chromedriver opened no session: {res}");
        };
        Ok(Browser {
            session: format!("{base}/session/{id}"),
            http,
            driver: child,
            _profile: profile,
        })
    }

    /// One WebDriver command; its `value`, or an error with WebDriver's own words.
    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        } else if method == reqwest::Method::POST {
            req = req.json(&json!({}));
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("webdriver {method} {path}"))?;
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "webdriver {method} {path}: {} ({})",
                v["value"]["error"].as_str().unwrap_or("?"),
                v["value"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            );
        }
        Ok(v["value"].clone())
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.command(reqwest::Method::GET, path, None).await
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.post("/url", json!({"url": url})).await.map(drop)
    }

    pub async fn current_url(&self) -> anyhow::Result<String> {
        Ok(self.get("/url").await?.as_str().unwrap_or("").to_owned())
    }

    /// Every element matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        let v = self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT].as_str().map(|id| Element(id.to_owned())))
            .collect())
    }

    /// The first element matching `css`.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        self.find_all(css)
            .await?
            .into_iter()
            .next()
            .with_context(|| format!("no element matches {css:?}"))
    }

    /// Waits (bounded) until `css` matches an element whose text contains `text`.
    pub async fn wait_for_text(
        &self,
        css: &str,
        text: &str,
        timeout: Duration,
    ) -> anyhow::Result<Element> {
        crate::wait_until(&format!("{css:?} to show {text:?}"), timeout, || async {
            for e in self.find_all(css).await? {
                if self.text(&e).await.unwrap_or_default().contains(text) {
                    return Ok(Some(e));
                }
            }
            Ok(None)
        })
        .await
    }

    pub async fn click(&self, e: &Element) -> anyhow::Result<()> {
        self.post(&format!("/element/{}/click", e.0), json!({}))
            .await
            .map(drop)
    }

    /// The element's rendered text (what a person sees).
    pub async fn text(&self, e: &Element) -> anyhow::Result<String> {
        Ok(self
            .get(&format!("/element/{}/text", e.0))
            .await?
            .as_str()
            .unwrap_or("")
            .to_owned())
    }

    pub async fn attribute(&self, e: &Element, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .get(&format!("/element/{}/attribute/{name}", e.0))
            .await?
            .as_str()
            .map(str::to_owned))
    }

    pub async fn is_enabled(&self, e: &Element) -> anyhow::Result<bool> {
        Ok(self
            .get(&format!("/element/{}/enabled", e.0))
            .await?
            .as_bool()
            .unwrap_or(false))
    }

    pub async fn type_into(&self, e: &Element, text: &str) -> anyhow::Result<()> {
        self.post(&format!("/element/{}/value", e.0), json!({"text": text}))
            .await
            .map(drop)
    }

    /// Runs `script` (a function body; `arguments` as given) in the page.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// The text of the open `confirm()` dialog, accepted (waits for it, bounded).
    pub async fn accept_dialog(&self) -> anyhow::Result<String> {
        let text = crate::wait_until("a dialog to open", Duration::from_secs(10), || async {
            Ok(self
                .get("/alert/text")
                .await
                .ok()
                .map(|v| v.as_str().unwrap_or("").to_owned()))
        })
        .await?;
        self.post("/alert/accept", json!({})).await?;
        Ok(text)
    }

    /// The cookies the browser holds for the current page, as WebDriver lists
    /// them (`name`, `value`, `httpOnly`, `sameSite`, `secure`, `path`).
    pub async fn cookies(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .get("/cookie")
            .await?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// A PNG of the viewport, written to `path` (its folder created).
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let b64 = self.get("/screenshot").await?;
        let png = STANDARD.decode(b64.as_str().unwrap_or(""))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    /// Ends the session (Chromium exits) and stops chromedriver.
    pub async fn quit(mut self) -> anyhow::Result<()> {
        let _ = self
            .http
            .delete(&self.session)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        self.session.clear();
        let _ = self.driver.kill().await;
        Ok(())
    }
}

impl Drop for Browser {
    /// A test that failed before [`Browser::quit`]: the session is ended with a
    /// blocking request (Chromium would outlive a killed chromedriver), then
    /// chromedriver is killed.
    fn drop(&mut self) {
        if let Some(rest) = self.session.strip_prefix("http://")
            && let Some((host, path)) = rest.split_once('/')
        {
            use std::io::{Read, Write};
            if let Ok(mut s) = std::net::TcpStream::connect(host) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = write!(
                    s,
                    "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            }
        }
        let _ = self.driver.start_kill();
    }
}

/// Where CI keeps artefacts: `target/artifacts/` of this workspace.
pub fn artifacts_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("artifacts")
}
