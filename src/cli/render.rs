//! `dlrepo render`: a doc type's template filled from one row of JSON, unsigned, for
//! the designer to look at (and as PNG when poppler's `pdftoppm` is installed).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::uri::DocUri;

pub fn run(
    config: &Config,
    doctype: &str,
    row: &Path,
    out: &Path,
    png: Option<&Path>,
) -> Result<()> {
    let dt = config
        .doctype(doctype)
        .with_context(|| format!("no doc type {doctype} in the config"))?;
    let Some(template) = &dt.template else {
        bail!("doc type {doctype} has no template (its rows are drawn on the plain page)");
    };
    let text =
        std::fs::read_to_string(row).with_context(|| format!("cannot read {}", row.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", row.display()))?;
    let Some(object) = json.as_object() else {
        bail!(
            "{} must hold one JSON object: field name -> value",
            row.display()
        );
    };
    // Text as it is; numbers and nested arrays (a table's rows_from) as JSON text.
    let values: HashMap<String, String> = object
        .iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect();
    let doc_id = values
        .get("doc_id")
        .cloned()
        .unwrap_or_else(|| "PREVIEW".into());
    let uri = DocUri::of(&config.issuer_id, &dt.code, &doc_id).to_string();
    let pdf = template.render(&values, &uri)?;
    std::fs::write(out, &pdf).with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote {} ({} bytes, unsigned)", out.display(), pdf.len());
    if let Some(png) = png {
        let stem = png.with_extension("");
        let status = Command::new("pdftoppm")
            .args(["-png", "-r", "100", "-singlefile"])
            .arg(out)
            .arg(&stem)
            .status()
            .context("--png needs pdftoppm (Debian: poppler-utils)")?;
        if !status.success() {
            bail!("pdftoppm failed on {}", out.display());
        }
        if stem.with_extension("png") != png {
            std::fs::rename(stem.with_extension("png"), png)?;
        }
        println!("wrote {}", png.display());
    }
    Ok(())
}
