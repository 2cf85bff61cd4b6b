//! `dlrepo check-config`: everything start-up checks, each problem named by its field.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{Config, EnvOverrides};
use crate::store;

pub fn run(path: &Path) -> ExitCode {
    let config = match Config::load(path, &EnvOverrides::from_env()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    for w in config
        .warnings()
        .into_iter()
        .chain(crate::config::exposed_files(path, &config))
    {
        println!("warning: {w}");
    }
    match config.signing_key() {
        Ok(Some(k)) => println!("signing key: {}", crate::docs::keys::subject(&k.cert)),
        Ok(None) => println!("warning: no [signing]: documents are served unsigned"),
        Err(e) => {
            eprintln!("signing: {e}");
            return ExitCode::FAILURE;
        }
    }
    if config.doctypes.iter().any(|d| d.source.is_some()) {
        // Start-up checks department tables against the live schema; so do we.
        let checked = store::pool(&config.database)
            .map_err(|e| vec![e.to_string()])
            .and_then(|pool| {
                store::department::prepare_all(&config.doctypes, &config.database, &pool)
            });
        if let Err(problems) = checked {
            for p in problems {
                eprintln!("{p}");
            }
            return ExitCode::FAILURE;
        }
    }
    println!(
        "{}: OK ({} doc type(s): {})",
        path.display(),
        config.doctypes.len(),
        config
            .doctypes
            .iter()
            .map(|d| format!("{} DocId length {}", d.code, d.id_space.length))
            .collect::<Vec<_>>()
            .join(", ")
    );
    ExitCode::SUCCESS
}
