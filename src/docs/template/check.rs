//! A template's checks at load time (so check-config names them): every font name,
//! colour and size, that each literal text and each declared script is covered by its
//! fonts, and the shape of each table.

use std::collections::HashMap;

use super::fill;
use super::fonts::{script_sample, FontSet};
use super::page::{base, colour, resolve, Resolved};
use super::spec::{Spec, Style};

/// A coordinate or length: a finite number within PDF's page limit (14,400 points).
fn coord(what: &str, v: f32) -> Result<(), String> {
    if v.is_finite() && v.abs() <= 14_400.0 {
        Ok(())
    } else {
        Err(format!("{what} must be a number within ±14400 points"))
    }
}

/// A width, height or thickness: finite, above 0, at most `max`.
fn positive(what: &str, v: f32, max: f32) -> Result<(), String> {
    if v.is_finite() && v > 0.0 && v <= max {
        Ok(())
    } else {
        Err(format!("{what} must be above 0 and at most {max}"))
    }
}

/// A resolved style names at least one font.
fn has_font(what: &str, r: &Resolved) -> Result<(), String> {
    if r.chain.is_empty() {
        Err(format!(
            "{what}: name its font (font = \"...\"): [fonts] has several, none is a default"
        ))
    } else {
        Ok(())
    }
}

/// Every number of the template: finite and within its limits.
fn numbers(spec: &Spec) -> Result<(), String> {
    for (i, t) in spec.text.iter().enumerate() {
        coord(&format!("text[{i}].x"), t.x)?;
        coord(&format!("text[{i}].y"), t.y)?;
        if let Some(w) = t.width {
            positive(&format!("text[{i}].width"), w, 14_400.0)?;
        }
        if let Some(h) = t.line_height {
            positive(&format!("text[{i}].line_height"), h, 10.0)?;
        }
    }
    for (i, m) in spec.image.iter().enumerate() {
        coord(&format!("image[{i}].x"), m.x)?;
        coord(&format!("image[{i}].y"), m.y)?;
    }
    for (i, l) in spec.line.iter().enumerate() {
        for (k, v) in l.from.iter().chain(&l.to).enumerate() {
            coord(&format!("line[{i}] point {k}"), *v)?;
        }
        positive(&format!("line[{i}].width"), l.width, 100.0)?;
    }
    for (i, r) in spec.rect.iter().enumerate() {
        coord(&format!("rect[{i}].x"), r.x)?;
        coord(&format!("rect[{i}].y"), r.y)?;
        positive(&format!("rect[{i}].width"), r.width, 14_400.0)?;
        positive(&format!("rect[{i}].height"), r.height, 14_400.0)?;
        positive(&format!("rect[{i}].stroke_width"), r.stroke_width, 100.0)?;
    }
    for (i, t) in spec.table.iter().enumerate() {
        coord(&format!("table[{i}].x"), t.x)?;
        coord(&format!("table[{i}].y"), t.y)?;
        positive(&format!("table[{i}].row_height"), t.row_height, 14_400.0)?;
        for (k, c) in t.columns.iter().enumerate() {
            positive(&format!("table[{i}].columns[{k}].width"), c.width, 14_400.0)?;
        }
        if !(t.border.is_finite() && (0.0..=100.0).contains(&t.border)) {
            return Err(format!("table[{i}].border must be 0 to 100"));
        }
    }
    if let Some(q) = &spec.qr {
        coord("qr.x", q.x)?;
        coord("qr.y", q.y)?;
        positive("qr.size", q.size, 14_400.0)?;
    }
    if let Some(u) = &spec.uri {
        coord("uri.x", u.x)?;
        coord("uri.y", u.y)?;
    }
    Ok(())
}

/// Every name, colour and literal text of the template, before any row is rendered.
pub fn check(spec: &Spec, fonts: &FontSet) -> Result<(), String> {
    numbers(spec)?;
    let base = base(fonts);
    // What a text prints whatever the row: itself with every {field} left empty.
    let no_values = HashMap::new();
    let literal = |chain: &[usize], text: &str, what: &str| -> Result<(), String> {
        missing(fonts, chain, &fill(text, &no_values).0, what)
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
        if t.runs.is_empty() {
            has_font(&what, &item)?;
        }
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
            has_font(&what, &run)?;
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
        has_font(&what, &body)?;
        has_font(&format!("{what}.header_style"), &head)?;
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
        has_font("uri", &r)?;
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
