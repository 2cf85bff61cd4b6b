//! Signed documents, judged by validators we did not write: poppler's pdfsig (with the
//! test CA in an NSS store), pyHanko, qpdf and openssl. Keys are made at test time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

backend_tests!(served_documents_are_signed_and_the_same_on_every_pull);

fn dlrepo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run dlrepo")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The validators (see `require_tools`).
fn tools() -> Option<()> {
    require_tools(
        &[
            "pdfsig",
            "qpdf",
            "certutil",
            "pyhanko",
            "openssl",
            "pdftotext",
        ],
        &[],
    )
}

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().expect("tmp"),
        };
        for (name, algo) in [("rsa", "rsa"), ("ec", "ec")] {
            let out = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
                .args(["keygen", "--algo", algo, "--dir"])
                .arg(lab.p(name))
                .env("DLREPO_SIGNING_PASSWORD", "p12-secret")
                .output()
                .expect("keygen");
            assert!(out.status.success(), "{}", text(&out));
        }
        let nss = lab.p("nss");
        std::fs::create_dir_all(&nss).expect("nss dir");
        let db = format!("sql:{}", nss.display());
        assert!(Command::new("certutil")
            .args(["-N", "-d", &db, "--empty-password"])
            .status()
            .expect("certutil")
            .success());
        for (n, ca) in [("rsa-root", "rsa/ca.crt"), ("ec-root", "ec/ca.crt")] {
            assert!(Command::new("certutil")
                .args(["-A", "-d", &db, "-n", n, "-t", "CT,C,C", "-i"])
                .arg(lab.p(ca))
                .status()
                .expect("certutil")
                .success());
        }
        lab
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.p(name).display().to_string()
    }

    /// A certificate PDF written by lopdf (classic cross-reference table).
    fn plain_pdf(&self, name: &str) -> PathBuf {
        let pdf = dlrepo::docs::render::plain_certificate(
            "Test Board",
            "Class X Mark Sheet",
            &[
                ("RollNo", "1234567"),
                ("Name", "Asha Rao"),
                ("Total", "452"),
            ],
            "in.gov.test.board-MARKS-ABCDE",
        )
        .expect("render");
        let p = self.p(name);
        std::fs::write(&p, pdf).expect("write");
        p
    }

    fn sign(&self, input: &Path, output: &str, algo: &str) -> Output {
        let args: Vec<String> = if algo == "ec" {
            vec!["--pkcs12".into(), self.s("ec/signer.p12")]
        } else {
            vec![
                "--key".into(),
                self.s("rsa/signer.key"),
                "--chain".into(),
                self.s("rsa/signer-chain.pem"),
            ]
        };
        Command::new(env!("CARGO_BIN_EXE_dlrepo"))
            .arg("sign")
            .arg(input)
            .arg(self.p(output))
            .args(args)
            .env("DLREPO_SIGNING_PASSWORD", "p12-secret")
            .env("RUST_LOG", "warn")
            .output()
            .expect("sign")
    }

    fn pdfsig(&self, file: &Path) -> String {
        let o = Command::new("pdfsig")
            .arg("-nssdir")
            .arg(format!("sql:{}", self.p("nss").display()))
            .arg(file)
            .output()
            .expect("pdfsig");
        text(&o)
    }

    fn pyhanko(&self, file: &Path) -> (bool, String) {
        let o = Command::new("pyhanko")
            .args(["sign", "validate", "--no-revocation-check", "--trust"])
            .arg(self.p("rsa/ca.crt"))
            .arg("--trust")
            .arg(self.p("ec/ca.crt"))
            .arg("--trust-replace")
            .arg(file)
            .output()
            .expect("pyhanko");
        (o.status.success(), text(&o))
    }
}

/// The CMS of the last signature, printed by openssl.
/// The length of the DER element at the start of `der`, header included.
fn der_len(der: &[u8]) -> usize {
    let first = usize::from(der[1]);
    if first < 0x80 {
        return 2 + first;
    }
    let n = first & 0x7f;
    let len = der[2..2 + n]
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    2 + n + len
}

fn cms_print(file: &Path, dir: &Path) -> String {
    let bytes = std::fs::read(file).expect("read");
    let reports = dlrepo::docs::verify::verify(&bytes, &[]);
    assert!(!reports.is_empty());
    let at = bytes
        .windows(12)
        .rposition(|w| w == b"/ByteRange [")
        .expect("byterange");
    let close = at + bytes[at..].iter().position(|b| *b == b']').expect("]");
    let nums: Vec<usize> = String::from_utf8_lossy(&bytes[at + 12..close])
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let hex = String::from_utf8_lossy(&bytes[nums[1] + 1..nums[2] - 1]).to_string();
    let padded: Vec<u8> = (0..hex.len() / 2 * 2)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    // The CMS is as long as its outer DER SEQUENCE says; the zeros after it are padding
    // (trimming zeros instead cut a signature whose last byte was 0x00, now and then).
    let der = padded[..der_len(&padded)].to_vec();
    let p = dir.join("sig.der");
    std::fs::write(&p, der).expect("der");
    let o = Command::new("openssl")
        .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
        .arg(&p)
        .output()
        .expect("openssl");
    text(&o)
}

fn assert_accepted(lab: &Lab, file: &Path, signatures: usize) {
    let sig = lab.pdfsig(file);
    assert_eq!(
        sig.matches("Signature is Valid.").count(),
        signatures,
        "{sig}"
    );
    assert_eq!(
        sig.matches("Certificate is Trusted.").count(),
        signatures,
        "{sig}"
    );
    assert!(sig.contains("Total document signed"), "{sig}");
    let (ok, out) = lab.pyhanko(file);
    assert!(ok, "{out}");
    assert!(
        out.lines()
            .any(|l| l.trim_end().ends_with(":INTACT:TRUSTED,UNTOUCHED")),
        "{out}"
    );
    let q = Command::new("qpdf")
        .arg("--check")
        .arg(file)
        .output()
        .expect("qpdf");
    assert!(q.status.success(), "{}", text(&q));
    let cms = cms_print(file, lab.dir.path());
    assert!(cms.contains("signingCertificateV2"), "{cms}");
    assert!(
        !cms.contains("signingTime"),
        "PAdES forbids signingTime: {cms}"
    );
    let v = dlrepo(&["verify", file.to_str().expect("path")]);
    assert!(v.status.success(), "{}", text(&v));
}

/// A certificate with embedded, subset fonts (krilla's output, PDF/A-2b) signs as well.
#[test]
fn validators_accept_signed_bilingual_certificates() {
    let Some(()) = tools() else { return };
    let lab = Lab::new();
    let t = dlrepo::docs::template::Template::load(Path::new("templates/marksheet-bilingual.toml"))
        .expect("template");
    let values = std::collections::HashMap::from([
        ("holder_name".to_string(), "Asha Rao".to_string()),
        ("holder_name_hi".to_string(), "आशा राव".to_string()),
        ("RollNo".to_string(), "1234567".to_string()),
        ("Hindi".to_string(), "88".to_string()),
    ]);
    let pdf = lab.p("bilingual.pdf");
    std::fs::write(
        &pdf,
        t.render(&values, "in.gov.test.board-MARKS-ABCDE")
            .expect("render"),
    )
    .expect("write");
    for algo in ["rsa", "ec"] {
        let out = lab.sign(&pdf, &format!("bilingual-{algo}.pdf"), algo);
        assert!(out.status.success(), "{}", text(&out));
        assert_accepted(&lab, &lab.p(&format!("bilingual-{algo}.pdf")), 1);
    }
}

#[test]
fn validators_accept_what_we_sign() {
    let Some(()) = tools() else { return };
    let lab = Lab::new();
    let plain = lab.plain_pdf("plain.pdf");
    let before = std::fs::read(&plain).expect("read");
    for algo in ["rsa", "ec"] {
        let out = lab.sign(&plain, &format!("plain-{algo}.pdf"), algo);
        assert!(out.status.success(), "{}", text(&out));
        assert_accepted(&lab, &lab.p(&format!("plain-{algo}.pdf")), 1);
    }
    assert_eq!(
        std::fs::read(&plain).expect("read"),
        before,
        "input untouched"
    );
    let signed = std::fs::read(lab.p("plain-rsa.pdf")).expect("signed");
    assert!(
        signed.starts_with(&before),
        "an incremental update keeps the original bytes"
    );
    let tail = String::from_utf8_lossy(&signed[before.len()..]).into_owned();
    for needle in [
        "/Type/Sig",
        "/Filter/Adobe.PPKLite",
        "/SubFilter/ETSI.CAdES.detached",
        "/M(D:",
        "/SigFlags 3",
        "/FT /Sig",
    ] {
        assert!(tail.contains(needle), "{needle} missing");
    }

    // A file with object streams and a cross-reference stream (not written by lopdf).
    let os = lab.p("objstreams.pdf");
    assert!(Command::new("qpdf")
        .args(["--object-streams=generate"])
        .arg(&plain)
        .arg(&os)
        .status()
        .expect("qpdf")
        .success());
    let out = lab.sign(&os, "objstreams-signed.pdf", "rsa");
    assert!(out.status.success(), "{}", text(&out));
    assert_accepted(&lab, &lab.p("objstreams-signed.pdf"), 1);

    // Signing a signed file: the first signature stays valid.
    let out = lab.sign(&lab.p("objstreams-signed.pdf"), "twice.pdf", "ec");
    assert!(out.status.success(), "{}", text(&out));
    let sig = lab.pdfsig(&lab.p("twice.pdf"));
    assert_eq!(sig.matches("Signature is Valid.").count(), 2, "{sig}");
    let (ok, out) = lab.pyhanko(&lab.p("twice.pdf"));
    assert!(ok, "{out}");
    assert!(
        out.contains("Signature1:") && out.contains(":INTACT:TRUSTED,"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("Signature2:") && l.ends_with(":INTACT:TRUSTED,UNTOUCHED")),
        "{out}"
    );

    // The renderer: pdftotext finds every field given.
    let t = Command::new("pdftotext")
        .arg(&plain)
        .arg("-")
        .output()
        .expect("pdftotext");
    let t = String::from_utf8_lossy(&t.stdout);
    for f in [
        "Class X Mark Sheet",
        "RollNo",
        "1234567",
        "Asha Rao",
        "452",
        "in.gov.test.board-MARKS-ABCDE",
    ] {
        assert!(t.contains(f), "{f} not in {t}");
    }
}

/// Appends an incremental update that changes page 1's MediaBox.
fn change_page_later(file: &Path) {
    let bytes = std::fs::read(file).expect("read");
    let doc = lopdf::Document::load_mem(&bytes).expect("load");
    let page_id = *doc.get_pages().values().next().expect("page");
    let mut page = doc.get_dictionary(page_id).expect("page").clone();
    page.set(
        "MediaBox",
        lopdf::Object::Array(vec![0.into(), 0.into(), 300.into(), 300.into()]),
    );
    let root = doc.trailer.get(b"Root").expect("root").clone();
    let size = doc
        .trailer
        .get(b"Size")
        .and_then(lopdf::Object::as_i64)
        .expect("size");
    let s = String::from_utf8_lossy(&bytes);
    let prev: usize = s[s.rfind("startxref").expect("startxref") + 9..]
        .split_whitespace()
        .next()
        .expect("n")
        .parse()
        .expect("n");
    let mut out = bytes.clone();
    let at = out.len();
    out.extend_from_slice(format!("{} {} obj\n", page_id.0, page_id.1).as_bytes());
    dlrepo::docs::pdf_sign::write_object(&mut out, &lopdf::Object::Dictionary(page))
        .expect("write");
    out.extend_from_slice(b"\nendobj\n");
    let xref = out.len();
    out.extend_from_slice(
        format!(
            "xref\n{} 1\n{at:010} {:05} n\r\ntrailer\n<</Size {size}/Root ",
            page_id.0, page_id.1
        )
        .as_bytes(),
    );
    dlrepo::docs::pdf_sign::write_object(&mut out, &root).expect("write");
    out.extend_from_slice(format!("/Prev {prev}>>\nstartxref\n{xref}\n%%EOF\n").as_bytes());
    std::fs::write(file, out).expect("write");
}

#[test]
fn tampering_is_caught_by_every_validator() {
    let Some(()) = tools() else { return };
    let lab = Lab::new();
    let plain = lab.plain_pdf("plain.pdf");
    assert!(lab.sign(&plain, "signed.pdf", "rsa").status.success());
    let signed = std::fs::read(lab.p("signed.pdf")).expect("read");

    // A byte flipped inside the signed range (in the page's text).
    let mut flipped = signed.clone();
    let at = String::from_utf8_lossy(&signed)
        .find("/MediaBox")
        .expect("mediabox")
        + 12;
    flipped[at] = if flipped[at] == b'5' { b'6' } else { b'5' };
    // Junk after %%EOF.
    let mut junk = signed.clone();
    junk.extend_from_slice(b"\n% appended later\n");
    for (name, bytes) in [("flipped.pdf", flipped), ("junk.pdf", junk)] {
        std::fs::write(lab.p(name), bytes).expect("write");
    }
    std::fs::copy(lab.p("signed.pdf"), lab.p("updated.pdf")).expect("copy");
    change_page_later(&lab.p("updated.pdf"));

    for name in ["flipped.pdf", "junk.pdf", "updated.pdf"] {
        let f = lab.p(name);
        let sig = lab.pdfsig(&f);
        let caught = !sig.contains("Signature is Valid.") || !sig.contains("Total document signed");
        assert!(caught, "pdfsig missed {name}: {sig}");
        let (ok, out) = lab.pyhanko(&f);
        assert!(
            !ok || !out.contains("UNTOUCHED"),
            "pyHanko missed {name}: {out}"
        );
        let v = dlrepo(&["verify", f.to_str().expect("path")]);
        assert!(
            !v.status.success(),
            "dlrepo verify missed {name}: {}",
            text(&v)
        );
    }
    let v = text(&dlrepo(&["verify", lab.s("junk.pdf").as_str()]));
    assert!(v.contains("bytes were added after signing"), "{v}");
}

#[test]
fn bad_inputs_and_keys_are_refused_and_nothing_is_modified() {
    let Some(()) = tools() else { return };
    let lab = Lab::new();
    let plain = lab.plain_pdf("plain.pdf");
    let bytes = std::fs::read(&plain).expect("read");
    std::fs::write(lab.p("notpdf.pdf"), b"hello, not a pdf").expect("write");
    std::fs::write(lab.p("truncated.pdf"), &bytes[..bytes.len() / 2]).expect("write");
    assert!(Command::new("qpdf")
        .args(["--encrypt", "u", "o", "256", "--"])
        .arg(&plain)
        .arg(lab.p("encrypted.pdf"))
        .status()
        .expect("qpdf")
        .success());
    for (input, needle) in [
        ("notpdf.pdf", "not a PDF"),
        ("truncated.pdf", "truncated"),
        ("encrypted.pdf", "encrypted"),
        ("missing.pdf", "cannot read"),
    ] {
        let before = std::fs::read(lab.p(input)).ok();
        let out = lab.sign(&lab.p(input), "out.pdf", "rsa");
        assert!(!out.status.success(), "{input}");
        assert!(text(&out).contains(needle), "{input}: {}", text(&out));
        assert_eq!(
            std::fs::read(lab.p(input)).ok(),
            before,
            "{input} untouched"
        );
        assert!(!lab.p("out.pdf").exists(), "{input}: no output");
    }

    let sign_with = |extra: &[&str], env_pw: &str| {
        Command::new(env!("CARGO_BIN_EXE_dlrepo"))
            .arg("sign")
            .arg(&plain)
            .arg(lab.p("out.pdf"))
            .args(extra)
            .env("DLREPO_SIGNING_PASSWORD", env_pw)
            .output()
            .expect("sign")
    };
    let out = sign_with(&["--pkcs12", &lab.s("ec/signer.p12")], "wrong");
    assert!(text(&out).contains("wrong password"), "{}", text(&out));
    let out = sign_with(
        &[
            "--key",
            &lab.s("ec/signer.key"),
            "--chain",
            &lab.s("rsa/signer-chain.pem"),
        ],
        "",
    );
    assert!(text(&out).contains("does not belong"), "{}", text(&out));
    let out = sign_with(
        &[
            "--key",
            &lab.s("nope.key"),
            "--chain",
            &lab.s("rsa/signer-chain.pem"),
        ],
        "",
    );
    assert!(text(&out).contains("cannot read"), "{}", text(&out));

    let k = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .args(["keygen", "--days", "-2", "--dir"])
        .arg(lab.p("old"))
        .env_remove("DLREPO_SIGNING_PASSWORD")
        .output()
        .expect("keygen");
    assert!(k.status.success(), "{}", text(&k));
    let old = [
        "--key",
        &lab.s("old/signer.key"),
        "--chain",
        &lab.s("old/signer-chain.pem"),
    ];
    let out = sign_with(&old, "");
    assert!(text(&out).contains("expired"), "{}", text(&out));
    assert!(!lab.p("out.pdf").exists());
    let mut allowed = old.to_vec();
    allowed.push("--allow-expired");
    assert!(sign_with(&allowed, "").status.success());
    assert_eq!(std::fs::read(&plain).expect("read"), bytes);
}

async fn served_documents_are_signed_and_the_same_on_every_pull(b: Backend) {
    let mut ws = Workspace::new(b);
    let certs = ws.path("certs");
    let k = dlrepo(&[
        "keygen",
        "--algo",
        "ec",
        "--dir",
        certs.to_str().expect("dir"),
    ]);
    assert!(k.status.success(), "{}", text(&k));
    ws.edit_config(|c| {
        c + "\n[signing]\nkey = \"certs/signer.key\"\nchain = \"certs/signer-chain.pem\"\n"
    });
    std::fs::write(
        ws.path("own.pdf"),
        dlrepo::docs::render::plain_certificate("B", "T", &[], "u").expect("pdf"),
    )
    .expect("pdf");
    // Starts like a PDF, so it is read, but cannot be signed: refused by its line.
    std::fs::write(ws.path("broken.pdf"), b"%PDF-1.4\nno objects here\n").expect("pdf");
    let csv = ws.write(
        "m.csv",
        "RollNo,Year,doc_name,issued_on,pdf\n1234567,2020,Mark Sheet,15/05/2020,\n7654321,2021,Mark Sheet,15/05/2021,own.pdf\n\
         5555555,2021,Mark Sheet,15/05/2021,broken.pdf\n7654322,2021,Mark Sheet,15/05/2021,own.pdf\n",
    );
    let report = ws.import("MARKS", &csv);
    assert_eq!(report.imported, 3, "{:?}", report.rejected);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].line, 4);
    assert!(
        report.rejected[0].reason.contains("broken.pdf")
            && report.rejected[0].reason.contains("cannot sign"),
        "{:?}",
        report.rejected
    );
    let ca = openssl::x509::X509::from_pem(&std::fs::read(certs.join("ca.crt")).expect("ca"))
        .expect("pem");
    let app = spawn_on(ws).await;
    for (roll, year) in [("1234567", "2020"), ("7654321", "2021")] {
        let first = app.pull_uri(&[("RollNo", roll), ("Year", year)]).await;
        assert_eq!(first.status(), "1");
        let pdf = first.doc_bytes();
        let reports = dlrepo::docs::verify::verify(&pdf, std::slice::from_ref(&ca));
        assert_eq!(reports.len(), 1, "signed once");
        assert!(
            reports[0].intact && reports[0].covers_whole_file,
            "{reports:?}"
        );
        assert_eq!(reports[0].trusted, Some(true));
        let again = app.pull_uri(&[("RollNo", roll), ("Year", year)]).await;
        assert_eq!(again.doc_bytes(), pdf, "sign once, serve the same bytes");
        let uri = first.detail("URI").expect("uri").to_string();
        assert_eq!(app.pull_doc(&uri).await.doc_bytes(), pdf);
    }
    // Two rows naming one file share its one signed copy.
    let a = app
        .pull_uri(&[("RollNo", "7654321"), ("Year", "2021")])
        .await;
    let b = app
        .pull_uri(&[("RollNo", "7654322"), ("Year", "2021")])
        .await;
    assert_eq!(a.doc_bytes(), b.doc_bytes());
    assert_eq!(
        app.pull_uri(&[("RollNo", "5555555"), ("Year", "2021")])
            .await
            .status(),
        "0"
    );
}
