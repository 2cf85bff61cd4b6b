//! A change of signing key: `serve` says what is left to re-sign, and `dlrepo resign`
//! killed midway and run again signs every document exactly once. Both backends.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use diesel::prelude::*;
use dlrepo::store::schema::{document_versions, documents};

backend_tests!(a_key_change_is_reported_and_resign_killed_midway_signs_each_document_once);

const RENDERED: u64 = 200;
const FILES: u64 = 5;

fn use_key(ws: &mut Workspace, dir: &str) {
    dlrepo::docs::keygen::generate(&ws.path(dir), dlrepo::docs::keygen::Algorithm::Ec, 30, None)
        .expect("keys");
    ws.edit_config(|c| {
        let c = match c.find("[signing]") {
            Some(at) => {
                let end = c[at..].find("\n\n").map_or(c.len(), |e| at + e + 2);
                format!("{}{}", &c[..at], &c[end..])
            }
            None => c,
        };
        c.replacen(
            "[[doctypes]]",
            &format!("[signing]\nkey = \"{dir}/signer.key\"\nchain = \"{dir}/signer-chain.pem\"\n\n[[doctypes]]"),
            1,
        )
    });
}

fn signed_with(ws: &Workspace) -> HashMap<String, Option<String>> {
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    documents::table
        .filter(documents::doctype.eq("MARKS"))
        .select((documents::doc_id, documents::signed_with))
        .load::<(String, Option<String>)>(&mut conn)
        .expect("docs")
        .into_iter()
        .collect()
}

fn resign(ws: &Workspace) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dlrepo"));
    c.arg("--config")
        .arg(&ws.config_path)
        .args(["resign", "--doctype", "MARKS", "--batch", "10"]);
    c
}

fn pdf_of(ws: &Workspace, doc_id: &str) -> Vec<u8> {
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    dlrepo::store::documents::find_by_doc_id(&mut conn, "MARKS", doc_id)
        .expect("lookup")
        .and_then(|r| r.content)
        .expect("content")
}

fn ca(ws: &Workspace, dir: &str) -> openssl::x509::X509 {
    openssl::x509::X509::from_pem(&std::fs::read(ws.path(&format!("{dir}/ca.crt"))).expect("ca"))
        .expect("pem")
}

async fn a_key_change_is_reported_and_resign_killed_midway_signs_each_document_once(b: Backend) {
    let mut ws = Workspace::new(b);
    use_key(&mut ws, "old-key");
    let mut rendered = String::from("RollNo,Year,holder_name,doc_name,issued_on\n");
    for i in 0..RENDERED {
        rendered.push_str(&format!(
            "{},2024,Student {i},Mark Sheet,15/05/2024\n",
            2_000_000 + i
        ));
    }
    let file = ws.write("rendered.csv", &rendered);
    assert_eq!(ws.import("MARKS", &file).imported, RENDERED);
    let pdf = dlrepo::docs::render::plain_certificate("Board", "Own PDF", &[("a", "b")], "u")
        .expect("pdf");
    std::fs::write(ws.path("own.pdf"), pdf).expect("pdf");
    let mut files = String::from("RollNo,Year,doc_name,issued_on,pdf,doc_id\n");
    for i in 0..FILES {
        files.push_str(&format!(
            "{},2024,Own,15/05/2024,own.pdf,OWN{i:03}\n",
            3_000_000 + i
        ));
    }
    let file = ws.write("files.csv", &files);
    assert_eq!(ws.import("MARKS", &file).imported, FILES);
    let old_id = ws
        .config
        .signing_key()
        .expect("key")
        .expect("some")
        .cert_id();
    assert!(signed_with(&ws)
        .values()
        .all(|s| s.as_deref() == Some(old_id.as_str())));

    // The board changes its signing key.
    use_key(&mut ws, "new-key");
    let new_id = ws
        .config
        .signing_key()
        .expect("key")
        .expect("some")
        .cert_id();
    assert_ne!(old_id, new_id);
    let port = free_port();
    let log = ws.path("serve.log");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .arg("--config")
        .arg(&ws.config_path)
        .arg("serve")
        .env("DLREPO_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("serve");
    let started = Instant::now();
    while reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .is_err()
    {
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = serve.kill();
    let _ = serve.wait();
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("signed with another certificate"), "{text}");
    assert!(
        text.contains(&format!("documents={}", RENDERED + FILES)),
        "{text}"
    );

    // Killed once it has begun and before it is done...
    let mut child = resign(&ws)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("resign");
    let started = Instant::now();
    let count_new = |ws: &Workspace| {
        signed_with(ws)
            .values()
            .filter(|s| s.as_deref() == Some(new_id.as_str()))
            .count()
    };
    while count_new(&ws) == 0 {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "finished before the kill"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let done = count_new(&ws) as u64;
    assert!(
        done < RENDERED + FILES,
        "the kill came after the last batch"
    );

    // ... and run again: each document signed once with the new key, none skipped.
    let out = resign(&ws).output().expect("resign");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("{} document(s)", RENDERED + FILES - done)),
        "{text}"
    );
    assert!(signed_with(&ws)
        .values()
        .all(|s| s.as_deref() == Some(new_id.as_str())));
    let mut conn = dlrepo::store::establish(&ws.config.database.url).expect("conn");
    let versions: Vec<String> = document_versions::table
        .select(document_versions::doc_id)
        .load(&mut conn)
        .expect("versions");
    let mut per_doc: HashMap<String, usize> = HashMap::new();
    for v in versions {
        *per_doc.entry(v).or_default() += 1;
    }
    assert_eq!(
        per_doc.len() as u64,
        RENDERED + FILES,
        "every document once"
    );
    assert!(per_doc.values().all(|&n| n == 1), "none signed twice");

    // A rendered certificate is signed by the new key alone; a department's own PDF
    // carries a second signature, by the new key, over the whole file.
    let (old_ca, new_ca) = (ca(&ws, "old-key"), ca(&ws, "new-key"));
    let rendered_id = signed_with(&ws)
        .keys()
        .find(|k| !k.starts_with("OWN"))
        .cloned()
        .expect("a rendered one");
    let reports =
        dlrepo::docs::verify::verify(&pdf_of(&ws, &rendered_id), std::slice::from_ref(&new_ca));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].intact && reports[0].covers_whole_file && reports[0].trusted == Some(true));
    let reports = dlrepo::docs::verify::verify(&pdf_of(&ws, "OWN000"), &[old_ca, new_ca]);
    assert_eq!(reports.len(), 2, "{reports:?}");
    let last = &reports[1];
    assert!(
        last.intact && last.covers_whole_file && last.trusted == Some(true),
        "{last:?}"
    );
    assert!(last.signer.contains("document signer"), "{last:?}");

    // Nothing is left: a second run signs nothing.
    let out = resign(&ws).output().expect("resign");
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 document(s)"));
}
