//! Files that hold secrets or citizens' data are created readable by their owner only,
//! and a private key others can read is refused.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn dlrepo(config: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn demo_import_out_and_push_export_are_private() {
    let tmp = tempfile::tempdir().expect("tmp");
    let work = tmp.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .args(["demo", "--no-serve", "--dir"])
        .arg(&work)
        .output()
        .expect("demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&work), 0o700, "the demo folder");
    for f in [
        "dlrepo.toml",
        "dlrepo.sqlite3",
        "marks.csv",
        "certs/signer.key",
        "certs/ca.key",
    ] {
        assert_eq!(mode(&work.join(f)), 0o600, "{f}");
    }
    let config = work.join("dlrepo.toml");

    // import --out writes URIs next to line numbers of a file of Aadhaar holders.
    let csv = work.join("more.csv");
    std::fs::write(
        &csv,
        "RollNo,Year,holder_name,doc_name,issued_on\n2099001,2024,New Student,Mark Sheet,15/05/2024\n",
    )
    .expect("csv");
    let uris = work.join("uris.csv");
    let (ok, text) = dlrepo(
        &config,
        &[
            "import",
            "--doctype",
            "MARKS",
            csv.to_str().expect("path"),
            "--out",
            uris.to_str().expect("path"),
        ],
    );
    assert!(ok, "{text}");
    assert_eq!(mode(&uris), 0o600, "import --out");

    // push --export: the files hold full Aadhaar numbers.
    let text = std::fs::read_to_string(&config).expect("config")
        + "\n[push]\norg_id = \"in.gov.example.board\"\n";
    std::fs::write(&config, text).expect("write");
    let export = work.join("export");
    let (ok, text) = dlrepo(
        &config,
        &["push", "--export", export.to_str().expect("path")],
    );
    assert!(ok, "{text}");
    assert_eq!(mode(&export), 0o700, "export folder");
    let files: Vec<_> = std::fs::read_dir(&export)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(!files.is_empty(), "{text}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }

    // check-config: a config others can read is a warning; a key they can read, an error.
    let (ok, text) = dlrepo(&config, &["check-config"]);
    assert!(
        ok && !text.contains("can be read by group or others"),
        "{text}"
    );
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (ok, text) = dlrepo(&config, &["check-config"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("config") && text.contains("mode 644"),
        "{text}"
    );
    let key = work.join("certs/signer.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (ok, text) = dlrepo(&config, &["check-config"]);
    assert!(!ok, "a readable private key is refused: {text}");
    assert!(
        text.contains("signer.key") && text.contains("chmod 600"),
        "{text}"
    );
}
