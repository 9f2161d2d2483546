use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tempfile::TempDir;

use crate::{free_port, screenshot_dir};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "chromedriver";
const WAIT: Duration = Duration::from_secs(20);

/// Headless Chromium with a fresh profile, driven through its own chromedriver.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    profile: TempDir,
}

impl Browser {
    pub async fn start() -> Self {
        Self::start_with(json!({})).await
    }

    /// A browser that lays pages out as a phone `width` CSS pixels wide
    /// does (a desktop window cannot be made narrower than 500 px).
    pub async fn start_phone(width: u32, height: u32) -> Self {
        Self::start_with(json!({
            "mobileEmulation": {
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0, "mobile": true }
            }
        }))
        .await
    }

    /// Starts with `options` added to `goog:chromeOptions`.
    async fn start_with(options: serde_json::Value) -> Self {
        let port = free_port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (install chromium-driver; scripts/setup.sh --with-browser does)");
        let profile = tempfile::Builder::new()
            .prefix("shoal-chromium-")
            .tempdir()
            .expect("create a browser profile dir");
        let capabilities = json!({
            // Keeps the page's console for `console_errors`.
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let mut capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        };
        if let (Some(chrome), serde_json::Value::Object(options)) =
            (capabilities["goog:chromeOptions"].as_object_mut(), options)
        {
            chrome.extend(options);
        }
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        // chromedriver needs a moment before it accepts connections.
        for _ in 0..50 {
            // chromedriver speaks plain HTTP on loopback: no TLS stack needed.
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Self {
                        client: Some(client),
                        driver,
                        profile,
                    };
                }
                Err(error) => last_error = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = driver.kill();
        panic!("cannot open a Chromium session through chromedriver: {last_error:?}");
    }

    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open until close()")
    }

    pub async fn goto(&self, url: &str) {
        self.client()
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Logs in through the console's login form and waits for the user menu.
    pub async fn login(&self, base: &str, username: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.wait_hydrated().await;
        self.fill("#login-username", username).await;
        self.fill("#login-password", password).await;
        self.click("#login-submit").await;
        if let Err(seen) = self.wait_for_text("#user-name", username).await {
            panic!("login as {username} did not show the user menu (saw {seen:?})");
        }
    }

    pub async fn fill(&self, selector: &str, text: &str) {
        let element = self.wait_for_css(selector).await;
        element
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clear {selector}: {e}"));
        element
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {selector}: {e}"));
    }

    /// The path of the page the browser shows, after any redirects.
    pub async fn path(&self) -> String {
        self.client()
            .current_url()
            .await
            .expect("current URL")
            .path()
            .to_owned()
    }

    /// Waits until the browser shows a page at `path`.
    pub async fn wait_for_path(&self, path: &str) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            last = self.path().await;
            if last == path {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last)
    }

    /// Waits until the wasm bundle has taken over the page.
    pub async fn wait_hydrated(&self) {
        self.wait_for_css(".app[data-hydrated='true']").await;
    }

    /// Waits for an element, giving the error instead of failing the test.
    pub async fn try_wait_for_css(&self, selector: &str) -> Result<Element, String> {
        self.client()
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(selector))
            .await
            .map_err(|e| e.to_string())
    }

    /// Logs out through the user menu and waits for the login page.
    pub async fn logout(&self) {
        self.click("#logout-button").await;
        self.wait_for_css("#login-username").await;
    }

    pub async fn wait_for_css(&self, selector: &str) -> Element {
        self.client()
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("waiting for {selector}: {e}"))
    }

    /// Waits until the element's text equals `expected`, returning the last
    /// text seen when it never does.
    pub async fn wait_for_text(&self, selector: &str, expected: &str) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            if let Ok(element) = self.client().find(Locator::Css(selector)).await {
                last = element.text().await.unwrap_or_default();
                if last == expected {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last)
    }

    /// Waits until the element's text contains `needle`; returns the text.
    pub async fn wait_for_text_containing(&self, selector: &str, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            if let Ok(element) = self.client().find(Locator::Css(selector)).await {
                last = element.text().await.unwrap_or_default();
                if last.contains(needle) {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{selector} never contained {needle:?} (saw {last:?})");
    }

    /// Waits until exactly `count` elements match.
    pub async fn wait_for_count(&self, selector: &str, count: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut seen = 0;
        while tokio::time::Instant::now() < deadline {
            seen = self
                .client()
                .find_all(Locator::Css(selector))
                .await
                .map_or(0, |found| found.len());
            if seen == count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{selector}: wanted {count}, saw {seen}");
    }

    /// Waits until nothing matches `selector`.
    pub async fn wait_until_gone(&self, selector: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.client().find(Locator::Css(selector)).await.is_ok() {
            assert!(tokio::time::Instant::now() < deadline, "{selector} stayed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A property of an element as it is now (not its initial attribute).
    pub async fn prop_of(&self, selector: &str, name: &str) -> String {
        self.wait_for_css(selector)
            .await
            .prop(name)
            .await
            .unwrap_or_else(|e| panic!("read {selector}.{name}: {e}"))
            .unwrap_or_default()
    }

    /// What an input holds now (its property, not its initial attribute).
    pub async fn value_of(&self, selector: &str) -> String {
        self.prop_of(selector, "value").await
    }

    /// Scrolls the element with id `id` into view, for a screenshot of it.
    pub async fn scroll_to(&self, id: &str) {
        self.eval(&format!("document.getElementById('{id}').scrollIntoView()"))
            .await;
    }

    pub async fn click(&self, selector: &str) {
        self.wait_for_css(selector)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {selector}: {e}"));
    }

    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client()
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("run script {script:?}: {e}"))
    }

    /// Saves a PNG under `target/screenshots/NAME.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let png = self.client().screenshot().await.expect("take a screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("create target/screenshots");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// The errors the page's console received since the last call (the
    /// browser hands each entry out once): panics, failed requests,
    /// hydration mismatches. Warnings and other levels are left out.
    pub async fn console_errors(&self) -> Vec<String> {
        let entries = self
            .client()
            .issue_cmd(BrowserLog)
            .await
            .unwrap_or_else(|e| panic!("read the browser's console log: {e}"));
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Resizes the browser window (the page's viewport follows).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.client()
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|e| panic!("resize the window to {width}x{height}: {e}"));
    }

    /// Runs `script` with a callback as its last argument and returns what
    /// it passes to that callback.
    pub async fn eval_async(&self, script: &str) -> serde_json::Value {
        self.client()
            .execute_async(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("run async script: {e}"))
    }

    /// Ends the session cleanly; dropping without it still kills everything.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        kill_browsers_using(self.profile.path());
    }
}

/// chromedriver's (non-standard) command that hands out the page's console
/// entries; W3C WebDriver has no such command.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

/// A killed chromedriver leaves its Chromium behind; the profile dir is unique
/// to this browser, so it identifies exactly the processes to stop.
fn kill_browsers_using(profile: &Path) {
    let _ = Command::new("pkill")
        .args(["-f", "--"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .status();
}
