//! A template's checks at load time (so check-config names them): every font name,
//! colour and size, that each literal text and each declared script is covered by its
//! fonts, and the shape of each table.

use super::draw::{base, colour, resolve};
use super::fonts::{script_sample, FontSet};
use super::spec::{Spec, Style};

/// Every name, colour and literal text of the template, before any row is rendered.
pub fn check(spec: &Spec, fonts: &FontSet) -> Result<(), String> {
    let base = base(fonts);
    let literal = |chain: &[usize], text: &str, what: &str| -> Result<(), String> {
        let lit: String = text
            .split('{')
            .map(|p| p.split_once('}').map_or(p, |x| x.1))
            .collect();
        missing(fonts, chain, &lit, what)
    };
    let script = |chain: &[usize], script: &Option<String>, what: &str| -> Result<(), String> {
        let Some(name) = script else { return Ok(()) };
        let sample = script_sample(name).ok_or_else(|| {
            format!(
                "{what}: unknown script '{name}' (devanagari, bengali, tamil, telugu, \
                 kannada, malayalam, gujarati, gurmukhi, odia, urdu, latin)"
            )
        })?;
        missing(fonts, chain, sample, &format!("{what} (script {name})"))
    };
    if spec.background.is_some() && spec.pdfa == Some(true) {
        return Err(
            "pdfa = true cannot have a background PDF (PDF/A forbids embedding \
                    one): draw it with images, lines and boxes, or set pdfa = false"
                .into(),
        );
    }
    for (i, t) in spec.text.iter().enumerate() {
        let what = format!("text[{i}]");
        let item = resolve(fonts, &t.style, &base).map_err(|e| format!("{what}: {e}"))?;
        let sources = [t.field.is_some(), t.text.is_some(), !t.runs.is_empty()];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(format!("{what}: give exactly one of field, text, runs"));
        }
        if t.width.is_some_and(|w| w <= 0.0) || t.line_height.is_some_and(|h| h <= 0.0) {
            return Err(format!("{what}: width and line_height must be positive"));
        }
        literal(&item.chain, &t.label, &what)?;
        literal(&item.chain, t.text.as_deref().unwrap_or_default(), &what)?;
        script(&item.chain, &t.script, &what)?;
        for (k, r) in t.runs.iter().enumerate() {
            let what = format!("text[{i}].runs[{k}]");
            let run = resolve(fonts, &r.style, &item).map_err(|e| format!("{what}: {e}"))?;
            if r.field.is_some() == r.text.is_some() {
                return Err(format!("{what}: give one of field, text"));
            }
            literal(&run.chain, r.text.as_deref().unwrap_or_default(), &what)?;
            let run_script = if r.script.is_some() {
                &r.script
            } else {
                &t.script
            };
            script(&run.chain, run_script, &what)?;
        }
    }
    for (i, t) in spec.table.iter().enumerate() {
        let what = format!("table[{i}]");
        let body = resolve(fonts, &t.style, &base).map_err(|e| format!("{what}: {e}"))?;
        let head = resolve(fonts, &t.header_style, &body)
            .map_err(|e| format!("{what}.header_style: {e}"))?;
        colour(&t.header_fill, (0, 0, 0)).map_err(|e| format!("{what}: {e}"))?;
        colour(&t.border_colour, (0, 0, 0)).map_err(|e| format!("{what}: {e}"))?;
        if t.columns.is_empty() || t.columns.iter().any(|c| c.width <= 0.0) || t.row_height <= 0.0 {
            return Err(format!(
                "{what}: needs columns of positive width and a positive row_height"
            ));
        }
        if t.rows_from.is_some() && !t.rows.is_empty() {
            return Err(format!("{what}: give rows or rows_from, not both"));
        }
        if let Some(r) = t.rows.iter().find(|r| r.len() != t.columns.len()) {
            return Err(format!(
                "{what}: a row has {} cells for {} columns",
                r.len(),
                t.columns.len()
            ));
        }
        for c in &t.columns {
            literal(&head.chain, &c.header, &what)?;
        }
        for row in &t.rows {
            for cell in row {
                literal(&body.chain, cell, &what)?;
            }
        }
        script(&body.chain, &t.script, &what)?;
    }
    for (i, l) in spec.line.iter().enumerate() {
        colour(&l.colour, (0, 0, 0)).map_err(|e| format!("line[{i}]: {e}"))?;
    }
    for (i, r) in spec.rect.iter().enumerate() {
        colour(&r.fill, (0, 0, 0)).map_err(|e| format!("rect[{i}]: {e}"))?;
        colour(&r.stroke, (0, 0, 0)).map_err(|e| format!("rect[{i}]: {e}"))?;
        if r.width <= 0.0 || r.height <= 0.0 {
            return Err(format!("rect[{i}]: width and height must be positive"));
        }
    }
    if let Some(u) = &spec.uri {
        let style = Style {
            font: u.font.clone(),
            size: Some(u.size),
            colour: None,
        };
        let r = resolve(fonts, &style, &base).map_err(|e| format!("uri: {e}"))?;
        missing(
            fonts,
            &r.chain,
            "in.gov.ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789",
            "uri",
        )?;
    }
    Ok(())
}

fn missing(fonts: &FontSet, chain: &[usize], text: &str, what: &str) -> Result<(), String> {
    let gone = fonts.missing(chain, text);
    if gone.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = chain.iter().map(|i| fonts.get(*i).name.as_str()).collect();
    let chars: Vec<String> = gone
        .iter()
        .take(8)
        .map(|c| format!("'{c}' (U+{:04X})", *c as u32))
        .collect();
    Err(format!(
        "{what}: no font of [{}] has {}",
        names.join(", "),
        chars.join(", ")
    ))
}
