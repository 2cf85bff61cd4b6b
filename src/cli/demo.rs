//! `dlrepo demo`: a working folder with the example config, a fresh API key, a SQLite
//! database holding the example documents, and a printed curl line that pulls one.

use std::path::Path;

use anyhow::{Context, Result};
use rand::RngCore;

use super::import::{import_file, ImportFlags};
use super::{load_config, CurlRequest};
use crate::auth::to_hex;
use crate::store::{self, documents};
use crate::uri::DocUri;

const CONFIG: &str = include_str!("../../examples/demo/dlrepo.toml");
const MARKS: &str = include_str!("../../examples/demo/marks.csv");
const DIPLOMAS: &str = include_str!("../../examples/demo/diplomas.csv");
const MARKSHEET: &str = include_str!("../../templates/marksheet.toml");
/// The bilingual mark sheet the demo's MARKS use, with what it embeds.
const TEMPLATE_FILES: &[(&str, &[u8])] = &[
    (
        "marksheet-bilingual.toml",
        include_bytes!("../../templates/marksheet-bilingual.toml"),
    ),
    ("logo.png", include_bytes!("../../templates/logo.png")),
    (
        "fonts/NotoSans-Regular.ttf",
        include_bytes!("../../templates/fonts/NotoSans-Regular.ttf"),
    ),
    (
        "fonts/NotoSans-Bold.ttf",
        include_bytes!("../../templates/fonts/NotoSans-Bold.ttf"),
    ),
    (
        "fonts/NotoSansDevanagari-Regular.ttf",
        include_bytes!("../../templates/fonts/NotoSansDevanagari-Regular.ttf"),
    ),
    (
        "fonts/NotoSansDevanagari-Bold.ttf",
        include_bytes!("../../templates/fonts/NotoSansDevanagari-Bold.ttf"),
    ),
    (
        "fonts/OFL.txt",
        include_bytes!("../../templates/fonts/OFL.txt"),
    ),
];

pub fn run(dir: &Path, serve: bool) -> Result<()> {
    crate::files::create_private_dir(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let config_path = dir.join("dlrepo.toml");
    if !config_path.exists() {
        let mut key = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut key);
        // The config holds the API key; the CSVs hold Aadhaar numbers.
        crate::files::write_private(
            &config_path,
            CONFIG.replace("@API_KEY@", &to_hex(&key)).as_bytes(),
        )?;
        crate::files::write_private(&dir.join("marks.csv"), MARKS.as_bytes())?;
        crate::files::write_private(&dir.join("diplomas.csv"), DIPLOMAS.as_bytes())?;
        std::fs::create_dir_all(dir.join("templates"))?;
        std::fs::write(dir.join("templates/marksheet.toml"), MARKSHEET)?;
        std::fs::create_dir_all(dir.join("templates/fonts"))?;
        for (name, bytes) in TEMPLATE_FILES {
            std::fs::write(dir.join("templates").join(name), bytes)?;
        }
        println!("created {} with a fresh API key", config_path.display());
    }
    let vault_keys = dir.join("vault.key");
    if !vault_keys.exists() {
        crate::files::write_private(&vault_keys, crate::vault::Vault::new_key_file()?.as_bytes())?;
    }
    if !dir.join("certs/signer.key").exists() {
        crate::docs::keygen::generate(
            &dir.join("certs"),
            crate::docs::keygen::Algorithm::Rsa,
            365,
            None,
        )?;
        println!(
            "made a throwaway signing key in {}",
            dir.join("certs").display()
        );
    }
    let config = load_config(&config_path)?;
    store::open_and_migrate(&config.database)?;
    let mut conn = store::establish(&config.database.url)?;
    if documents::count_by_status(&mut conn, "MARKS", documents::status::ISSUED)? == 0 {
        for (doctype, csv) in [("MARKS", "marks.csv"), ("DIPLM", "diplomas.csv")] {
            let flags = ImportFlags {
                batch: Some(1000),
                ..ImportFlags::default()
            };
            import_file(&config, doctype, &dir.join(csv), &flags)?;
        }
    }
    let uri = match documents::find_by_udfs(
        &mut conn,
        "MARKS",
        &documents::udf_key(&["2024100", "2024"]),
    )? {
        documents::Lookup::Found(doc) => DocUri::of(&config.issuer_id, "MARKS", &doc.doc_id),
        _ => DocUri::of(&config.issuer_id, "MARKS", "UNKNOWN"),
    };
    let base = format!("http://{}", config.server.bind);
    let pull_uri = super::curl_line(
        &config,
        &base,
        &CurlRequest::PullUri {
            udfs: vec!["RollNo=2024100".into(), "Year=2024".into()],
            api: Default::default(),
        },
    )?;
    let pull_doc = super::curl_line(
        &config,
        &base,
        &CurlRequest::PullDoc {
            uri: uri.to_string(),
            api: Default::default(),
        },
    )?;
    println!(
        "\nEvery document is signed; check one with `dlrepo verify FILE.pdf --trust {}`.",
        dir.join("certs/ca.crt").display()
    );
    println!(
        "\nPull the mark sheet of RollNo 2024100 (answered once, within {} minutes: a replayed request is refused; `dlrepo -c {} curl pull-uri RollNo=2024100 Year=2024` makes a fresh one):\n\n{pull_uri}\n\nPull the same document by its URI {uri}:\n\n{pull_doc}\n",
        config.digilocker.ts_window_minutes,
        config_path.display()
    );
    if serve {
        super::serve::serve(config, &config_path)?;
    }
    Ok(())
}
