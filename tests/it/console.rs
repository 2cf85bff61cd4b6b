//! The read-only console in a real browser: headless Chromium driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`). Sign in, search a document by its
//! search fields, open the pull log, take a screenshot (kept under target/); a wrong
//! password and a missing session are refused.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use fantoccini::{ClientBuilder, Locator};

const PASSWORD: &str = "console-password-for-tests";

fn chromedriver() -> Option<&'static str> {
    for p in ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"] {
        if std::path::Path::new(p).exists() {
            return Some(p);
        }
    }
    if std::env::var("DLREPO_TEST_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("DLREPO_TEST_REQUIRE_TOOLS=1 but chromedriver is not installed (chromium-driver)");
    }
    eprintln!("skipped: no chromedriver (apt-get install chromium chromium-driver)");
    None
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn console_app() -> TestApp {
    let mut ws = Workspace::new(Backend::Sqlite);
    let csv = ws.write("marks.csv", MARKS_CSV);
    ws.import("MARKS", &csv);
    let hash = argon2::Argon2::default()
        .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string();
    ws.edit_config(|c| {
        c + &format!("\n[console]\nenabled = true\nuser = \"admin\"\npassword_hash = \"{hash}\"\n")
    });
    spawn_on(ws).await
}

#[tokio::test]
async fn sessions_and_passwords_are_checked() {
    let app = console_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for page in [
        "/console",
        "/console/log",
        "/console/search",
        "/console/push",
    ] {
        let r = client
            .get(format!("{}{page}", app.addr))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 303, "{page} without a session");
        assert_eq!(
            r.headers().get("location").and_then(|v| v.to_str().ok()),
            Some("/console/login")
        );
    }
    let wrong = client
        .post(format!("{}/console/login", app.addr))
        .form(&[("user", "admin"), ("password", "not-the-password")])
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let forged = client
        .get(format!("{}/console", app.addr))
        .header("cookie", "dlrepo_console=99999999999.00ff")
        .send()
        .await
        .expect("get");
    assert_eq!(
        forged.status().as_u16(),
        303,
        "a forged cookie is no session"
    );
    let right = client
        .post(format!("{}/console/login", app.addr))
        .form(&[("user", "admin"), ("password", PASSWORD)])
        .send()
        .await
        .expect("post");
    assert_eq!(right.status().as_u16(), 303);
    let cookie = right
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_string();
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    let session = cookie.split(';').next().expect("pair").to_string();
    let r = client
        .get(format!("{}/console", app.addr))
        .header("cookie", &session)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    // The console is off unless configured: a plain server has none.
    let plain = spawn_app(Backend::Sqlite).await;
    let r = client
        .get(format!("{}/console", plain.addr))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn an_operator_signs_in_searches_and_reads_the_pull_log_in_a_browser() {
    let Some(driver_bin) = chromedriver() else {
        return;
    };
    let app = console_app().await;
    let found = app
        .pull_uri(&[("RollNo", "1234567"), ("Year", "2020")])
        .await;
    let uri = found.detail("URI").expect("uri").to_string();
    assert_eq!(
        app.pull_uri(&[("RollNo", "9999999"), ("Year", "2020")])
            .await
            .status(),
        "0"
    );
    // Chromium treats localhost as a secure origin, so the Secure cookie is kept.
    let base = app.addr.replace("127.0.0.1", "localhost");

    let port = free_port();
    let _driver = Driver(
        Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,900"]
        }),
    );
    let started = Instant::now();
    let c = loop {
        match ClientBuilder::native()
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "no WebDriver: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };

    c.goto(&format!("{base}/console")).await.expect("goto");
    assert!(c
        .current_url()
        .await
        .expect("url")
        .path()
        .ends_with("/console/login"));
    c.find(Locator::Css("input[name=user]"))
        .await
        .expect("user")
        .send_keys("admin")
        .await
        .expect("type");
    c.find(Locator::Css("input[name=password]"))
        .await
        .expect("password")
        .send_keys(PASSWORD)
        .await
        .expect("type");
    c.find(Locator::Css("button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    // The dashboard's own heading: the login page has an h1 too, and is still there
    // until the sign-in's redirect has been followed.
    let h1 = c
        .wait()
        .for_element(Locator::XPath("//h1[text()='Dashboard']"))
        .await
        .expect("the dashboard after signing in");
    assert_eq!(h1.text().await.expect("text"), "Dashboard");
    let dashboard = c.source().await.expect("source");
    assert!(
        dashboard.contains("MARKS") && dashboard.contains("not_found")
            || dashboard.contains("MARKS"),
        "{dashboard}"
    );

    // Search by the search fields, through the form.
    c.find(Locator::Css("a[href='/console/search']"))
        .await
        .expect("link")
        .click()
        .await
        .expect("click");
    let values = c
        .wait()
        .for_element(Locator::Css("input[name=values]"))
        .await
        .expect("values");
    values
        .send_keys("RollNo=1234567 Year=2020\u{E007}")
        .await
        .expect("type");
    c.wait()
        .for_element(Locator::XPath("//h2[text()='Its pulls']"))
        .await
        .expect("result");
    let result = c.source().await.expect("source");
    assert!(result.contains(&uri), "the document's URI: {result}");
    assert!(result.contains("Asha Rao"), "{result}");

    c.goto(&format!("{base}/console/log")).await.expect("goto");
    let log = c.source().await.expect("source");
    assert!(
        log.contains("pulluri") && log.contains("not_found"),
        "{log}"
    );
    let png = c.screenshot().await.expect("screenshot");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-pull-log.png");
    std::fs::write(&out, &png).expect("write screenshot");
    assert!(png.starts_with(b"\x89PNG"));

    // Signed out: the pages are closed again.
    c.goto(&format!("{base}/console")).await.expect("goto");
    c.find(Locator::Css("form[action='/console/logout'] button"))
        .await
        .expect("sign out")
        .click()
        .await
        .expect("click");
    // Signing out redirects to the login page; going elsewhere before it is there would
    // abandon the sign-out request.
    c.wait()
        .for_element(Locator::Css("input[name=password]"))
        .await
        .expect("the login page after signing out");
    c.goto(&format!("{base}/console/log")).await.expect("goto");
    assert!(c
        .current_url()
        .await
        .expect("url")
        .path()
        .ends_with("/console/login"));
    c.close().await.expect("close");
}
