//! `dlrepo vault keygen | add-key | rotate-key | status`: the Aadhaar vault's keys.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::config::{Config, VaultKeys};
use crate::store;
use crate::vault::Vault;

#[derive(Debug, clap::Subcommand)]
pub enum VaultCommand {
    /// Write a new key file (a lookup key and a first key), readable by its owner only.
    Keygen {
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Append a new current key to the configured key file; then run rotate-key.
    AddKey,
    /// Seal any Aadhaar number still stored in clear and re-encrypt every number under
    /// the current key, in transactions of --batch rows: run it again after a crash.
    RotateKey {
        #[arg(long, default_value_t = 1000)]
        batch: i64,
    },
    /// How many numbers the vault holds under the current and under older keys.
    Status,
}

pub fn run(cmd: VaultCommand, config_path: &Path) -> Result<()> {
    if let VaultCommand::Keygen { out } = &cmd {
        if out.exists() {
            bail!(
                "{} exists: a vault key file is never overwritten",
                out.display()
            );
        }
        crate::files::write_private(out, Vault::new_key_file()?.as_bytes())
            .with_context(|| format!("cannot write {}", out.display()))?;
        println!(
            "wrote {}; set [vault] key_file to it and keep it apart from the database and its backups",
            out.display()
        );
        return Ok(());
    }
    let config = super::load_config(config_path)?;
    let vault = config
        .vault()?
        .context("no [vault] in the config (key_file) and no DLREPO_VAULT_KEYS")?;
    match cmd {
        VaultCommand::Keygen { .. } => Ok(()),
        VaultCommand::AddKey => add_key(&config, &vault),
        VaultCommand::RotateKey { batch } => {
            store::open_and_migrate(&config.database)?;
            let mut conn = store::establish(&config.database.url)?;
            let (sealed, rotated) =
                vault.rotate(&mut conn, batch.max(1), chrono::Utc::now().naive_utc())?;
            println!(
                "sealed {sealed} number(s) stored in clear; re-encrypted {rotated} under key {}",
                vault.current_id()
            );
            Ok(())
        }
        VaultCommand::Status => {
            store::open_and_migrate(&config.database)?;
            let mut conn = store::establish(&config.database.url)?;
            let (current, older) = vault.status(&mut conn)?;
            println!(
                "current key {}: {current} number(s); under older keys: {older}",
                vault.current_id()
            );
            Ok(())
        }
    }
}

fn add_key(config: &Config, vault: &Vault) -> Result<()> {
    let Some(VaultKeys::File(path)) = &config.vault else {
        bail!("the keys come from DLREPO_VAULT_KEYS: append a 'key ID HEX' line there yourself");
    };
    let line = vault.new_key_line()?;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    f.write_all(line.as_bytes())?;
    f.sync_all()?;
    let id = line.split_whitespace().nth(1).unwrap_or("");
    println!(
        "added key {id} to {}; new numbers are sealed with it. Run `dlrepo vault rotate-key` to move the others.",
        path.display()
    );
    Ok(())
}
