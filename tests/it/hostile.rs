//! A server on the open internet: hostile bodies, slow and silent clients under a low
//! open-file limit, HTTPS, a caller allow-list and a health port apart. Each refusal
//! is clean (a 4xx or Status 0, never a hang or a 500) and the next good request is
//! answered.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

backend_tests!(hostile_bodies_are_refused_cleanly_and_the_next_pull_is_answered);

const GOOD: [(&str, &str); 2] = [("RollNo", "1234567"), ("Year", "2020")];

async fn hostile_bodies_are_refused_cleanly_and_the_next_pull_is_answered(b: Backend) {
    let app = spawn_app(b).await;
    let good = pull_uri_body(&GOOD);
    let deep = format!(
        "<PullURIRequest ts=\"t\" txn=\"\" orgId=\"\" keyhash=\"k\">{}{}</PullURIRequest>",
        "<a>".repeat(20_000),
        "</a>".repeat(20_000)
    );
    let many_attrs = format!(
        "<PullURIRequest {} ts=\"t\" txn=\"\" orgId=\"\" keyhash=\"k\"><DocDetails/></PullURIRequest>",
        (0..7_000).map(|i| format!("a{i}=\"\"")).collect::<Vec<_>>().join(" ")
    );
    let utf16: Vec<u8> = std::iter::once(0xFEFFu16)
        .chain(good.encode_utf16())
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let mut latin1 = good.clone().into_bytes();
    let at = latin1.len() / 2;
    latin1.insert(at, 0xE9);
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("100,000-deep nesting", deep.into_bytes(), &[400, 413]),
        ("7,000 attributes", many_attrs.into_bytes(), &[400]),
        ("UTF-16", utf16, &[400]),
        ("not UTF-8", latin1, &[400]),
        (
            "NUL byte",
            good.replacen("<DocDetails>", "<DocDetails>\0", 1)
                .into_bytes(),
            &[400],
        ),
        (
            "processing instruction",
            good.replacen("<DocDetails>", "<DocDetails><?php system('id') ?>", 1)
                .into_bytes(),
            &[400, 200],
        ),
        (
            "10 MB body",
            format!("{good}{}", " ".repeat(10 * 1024 * 1024)).into_bytes(),
            &[413],
        ),
    ];
    for (what, body, codes) in cases {
        let r = app
            .client
            .post(format!("{}/pulluri", app.addr))
            .body(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match r {
            Ok(r) => {
                let code = r.status().as_u16();
                assert!(codes.contains(&code), "{what}: HTTP {code}");
                let text = r.text().await.expect("body");
                assert!(text.contains("Status=\"0\""), "{what}: {text}");
            }
            // A server may close on a body over its limit before reading it all.
            Err(e) => assert!(codes.contains(&413), "{what}: {e}"),
        }
    }
    // Search values that mean something to SQL or LIKE are only values.
    for (roll, year) in [
        ("1234%", "2020"),
        ("123456_", "2020"),
        ("1234567' OR '1'='1", "2020"),
    ] {
        let r = app.pull_uri(&[("RollNo", roll), ("Year", year)]).await;
        assert_eq!((r.http, r.status()), (200, "0"), "{roll}");
        assert!(r.detail("URI").is_none());
    }
    // Path tricks in a URI name no document.
    for uri in [
        "in.gov.test.board-MARKS-../../etc/passwd",
        "in.gov.test.board-MARKS-%2e%2e%2f",
        "in.gov.test.board-../MARKS-ABC",
        "in.gov.test.board-MARKS-\u{202e}ABC",
    ] {
        let r = app.pull_doc(uri).await;
        assert_eq!(r.status(), "0", "{uri}");
        assert!(r.http == 200 || r.http == 400, "{uri}: {}", r.http);
    }
    let r = app.pull_uri(&GOOD).await;
    assert_eq!((r.http, r.status()), (200, "1"));
}

/// `dlrepo serve` under the given open-file limits, its log in a file.
struct Serve {
    child: Child,
    addr: String,
    log: std::path::PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_limited(ws: &Workspace, soft: u64, hard: u64) -> Serve {
    let port = free_port();
    let log = ws.path(&format!("serve-{soft}-{hard}.log"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dlrepo"));
    cmd.arg("--config")
        .arg(&ws.config_path)
        .arg("serve")
        .env("DLREPO_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"));
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Serve {
        child: cmd.spawn().expect("serve"),
        addr: format!("127.0.0.1:{port}"),
        log,
    }
}

async fn wait_healthy(client: &reqwest::Client, addr: &str) {
    let started = Instant::now();
    loop {
        let ok = client
            .get(format!("http://{addr}/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `n` clients that connect and then stall: half in the middle of the head, half in
/// the middle of the body.
fn stalled_clients(addr: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|i| {
            let mut s = TcpStream::connect(addr).ok()?;
            let part = if i % 2 == 0 {
                "POST /pulluri HTTP/1.1\r\nHost: x\r\n".to_string()
            } else {
                "POST /pulluri HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n<PullURIRequest"
                    .to_string()
            };
            s.write_all(part.as_bytes()).ok()?;
            Some(s)
        })
        .collect()
}

/// A pull on a connection of its own, as a new caller's (an idle pooled connection
/// could have been closed by the server's keep-alive timeout meanwhile).
async fn good_pull(_: &reqwest::Client, addr: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| e.to_string())?;
    let r = client
        .post(format!("http://{addr}/pulluri"))
        .body(pull_uri_body(&GOOD))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let text = r.text().await.map_err(|e| e.to_string())?;
    Ok(text)
}

#[tokio::test]
async fn slow_and_silent_clients_do_not_stop_a_normal_pull() {
    let mut ws = Workspace::new(Backend::Sqlite);
    let csv = ws.write("marks.csv", MARKS_CSV);
    ws.import("MARKS", &csv);
    ws.edit_config(|c| c.replace("[server]\n", "[server]\nrequest_timeout_secs = 30\n"));
    let client = reqwest::Client::new();

    // A soft limit of 256 that may be raised: serve raises it, and 1,000 stalled
    // clients (each holding a descriptor for 30 s) leave room for a normal pull.
    {
        let s = serve_limited(&ws, 256, 4096);
        wait_healthy(&client, &s.addr).await;
        let stalled = stalled_clients(&s.addr, 1000);
        assert_eq!(stalled.len(), 1000);
        let started = Instant::now();
        let text = good_pull(&client, &s.addr).await.expect("answered");
        assert!(text.contains("Status=\"1\""), "{text}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "answered only once the stalled clients timed out"
        );
        let log = std::fs::read_to_string(&s.log).expect("log");
        assert!(log.contains("open_files_soft=4096"), "{log}");
        assert!(!log.contains("Too many open files"), "{log}");
        drop(stalled);
    }

    // A hard limit of 256: connections are capped below it, so the server never runs
    // out of descriptors; stalled clients time out and the pull behind them is served.
    ws.edit_config(|c| c.replace("request_timeout_secs = 30\n", "request_timeout_secs = 2\n"));
    let s = serve_limited(&ws, 256, 256);
    wait_healthy(&client, &s.addr).await;
    let stalled = stalled_clients(&s.addr, 300);
    let text = good_pull(&client, &s.addr)
        .await
        .expect("answered after the timeouts");
    assert!(text.contains("Status=\"1\""), "{text}");
    let log = std::fs::read_to_string(&s.log).expect("log");
    assert!(log.contains("open_files_hard=256"), "{log}");
    assert!(!log.contains("Too many open files"), "{log}");
    // A body that stalls is answered 408 with Status 0 once its time is up.
    let mut slow = TcpStream::connect(&s.addr).expect("connect");
    slow.write_all(
        b"POST /pulluri HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n<PullURIRequest",
    )
    .expect("write");
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 408") || answer.is_empty(),
        "{answer}"
    );
    drop(stalled);
    wait_healthy(&client, &s.addr).await;
}

#[tokio::test]
async fn https_in_serve_allow_list_and_a_health_port_apart() {
    let mut ws = Workspace::new(Backend::Sqlite);
    let csv = ws.write("marks.csv", MARKS_CSV);
    ws.import("MARKS", &csv);
    let (cert, key) = self_signed_localhost();
    std::fs::write(ws.path("tls.crt"), &cert).expect("cert");
    dlrepo::files::write_private(&ws.path("tls.key"), &key).expect("key");
    ws.edit_config(|c| {
        c.replace(
            "[server]\n",
            "[server]\ntls_cert = \"tls.crt\"\ntls_key = \"tls.key\"\nallow_callers = [\"127.0.0.0/8\", \"::1\"]\n",
        )
    });
    let config = std::sync::Arc::new(ws.reload());
    let pool = dlrepo::store::pool(&config.database).expect("pool");
    let state = dlrepo::server::AppState::prepare(config.clone(), pool).expect("state");
    let main = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let health = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let (main_addr, health_addr) = (
        main.local_addr().expect("addr"),
        health.local_addr().expect("addr"),
    );
    tokio::spawn(dlrepo::server::run_with(state, main, Some(health)).expect("server"));

    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).expect("cert"))
        .min_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .expect("client");
    let r = https
        .post(format!("https://{main_addr}/pulluri"))
        .body(pull_uri_body(&GOOD))
        .send()
        .await
        .expect("https pull");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.expect("body").contains("Status=\"1\""));
    // Plain HTTP on the TLS port gets no answer document.
    let plain = reqwest::Client::new()
        .post(format!("http://{main_addr}/pulluri"))
        .body(pull_uri_body(&GOOD))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.map_or(true, |r| !r.status().is_success()));
    // TLS 1.1 and older are refused in the handshake.
    let old = {
        use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
        let mut c = SslConnector::builder(SslMethod::tls_client()).expect("connector");
        c.set_verify(SslVerifyMode::NONE);
        c.set_cipher_list("DEFAULT@SECLEVEL=0").expect("ciphers");
        c.set_min_proto_version(Some(SslVersion::TLS1))
            .expect("min");
        c.set_max_proto_version(Some(SslVersion::TLS1_1))
            .expect("max");
        let tcp = TcpStream::connect(main_addr).expect("connect");
        c.build().connect("127.0.0.1", tcp).map(|_| ())
    };
    assert!(old.is_err(), "a TLS 1.1 handshake went through");
    // /healthz only on its own port, the DigiLocker endpoints never there.
    let plain = reqwest::Client::new();
    let on_health = plain
        .get(format!("http://{health_addr}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(on_health.status().as_u16(), 200);
    let on_main = https
        .get(format!("https://{main_addr}/healthz"))
        .send()
        .await
        .expect("healthz on main");
    assert_eq!(on_main.status().as_u16(), 404);
    let pull_on_health = plain
        .post(format!("http://{health_addr}/pulluri"))
        .body(pull_uri_body(&GOOD))
        .send()
        .await
        .expect("post");
    assert_eq!(pull_on_health.status().as_u16(), 404);

    // A caller outside server.allow_callers gets Status 0 with 403.
    ws.edit_config(|c| c.replace("\"127.0.0.0/8\", \"::1\"", "\"10.0.0.0/8\""));
    let config = std::sync::Arc::new(ws.reload());
    let pool = dlrepo::store::pool(&config.database).expect("pool");
    let state = dlrepo::server::AppState::prepare(config, pool).expect("state");
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(dlrepo::server::run(state, l).expect("server"));
    let r = https
        .post(format!("https://{addr}/pulluri"))
        .body(pull_uri_body(&GOOD))
        .send()
        .await
        .expect("pull");
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.expect("body").contains("Status=\"0\""));

    // A TLS key others can read is refused at start-up.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(ws.path("tls.key"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let config = std::sync::Arc::new(ws.reload());
    let pool = dlrepo::store::pool(&config.database).expect("pool");
    let state = dlrepo::server::AppState::prepare(config, pool).expect("state");
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let err = dlrepo::server::run(state, l).err().expect("refused");
    assert!(err.to_string().contains("read by others"), "{err}");
}
