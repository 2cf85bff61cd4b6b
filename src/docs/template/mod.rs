//! Certificate layouts from `templates/*.toml` (see `spec.rs` for every key).
//!
//! A template that names fonts in `[fonts]` is laid out by `draw.rs`: embedded, subset
//! fonts with shaping and bidi, images, lines, boxes and tables, PDF/A-2b. One that
//! names none keeps the 14 standard PDF fonts (`legacy.rs`, Latin-1 only).

mod check;
mod draw;
pub mod fonts;
mod legacy;
mod page;
mod shape;
pub mod spec;
mod table;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use fonts::FontSet;
use spec::Spec;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read template {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("template {0} is not valid: {1}")]
    Parse(PathBuf, String),
    #[error("template {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cannot render: {0}")]
    Render(String),
}

#[derive(Debug, Clone)]
pub struct Template {
    spec: Spec,
    background_pdf: Option<Vec<u8>>,
    fonts: FontSet,
    /// Decoded images, in `spec.image` order.
    images: Vec<krilla::image::Image>,
    /// The field names it prints, found once.
    fields: Vec<String>,
}

impl Template {
    /// Reads and checks a template: fonts, images and the background are read once, here.
    pub fn load(path: &Path) -> Result<Template, TemplateError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| TemplateError::Read(path.into(), e))?;
        let spec: Spec =
            toml::from_str(&text).map_err(|e| TemplateError::Parse(path.into(), e.to_string()))?;
        let invalid = |reason: String| TemplateError::Invalid {
            path: path.into(),
            reason,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let page_ok = |v: f32| v.is_finite() && v > 0.0 && v <= 14_400.0;
        if !(page_ok(spec.page.width) && page_ok(spec.page.height)) {
            return Err(invalid(
                "page width and height must be above 0 and at most 14400 points".into(),
            ));
        }
        let fonts = FontSet::load(&spec.fonts, dir).map_err(invalid)?;
        let background_pdf = match &spec.background {
            Some(bg) => {
                let p = dir.join(bg);
                let bytes = std::fs::read(&p).map_err(|e| TemplateError::Read(p.clone(), e))?;
                let doc = lopdf::Document::load_mem(&bytes).map_err(|e| {
                    invalid(format!(
                        "background {} is not a readable PDF: {e}",
                        p.display()
                    ))
                })?;
                if doc.get_pages().is_empty() {
                    return Err(invalid(format!("background {} has no pages", p.display())));
                }
                Some(bytes)
            }
            None => None,
        };
        let mut images = Vec::new();
        for (i, img) in spec.image.iter().enumerate() {
            let p = dir.join(&img.file);
            let bytes = std::fs::read(&p).map_err(|e| TemplateError::Read(p.clone(), e))?;
            let image = draw::load_image(&bytes, img)
                .map_err(|e| invalid(format!("image[{i}] {}: {e}", p.display())))?;
            images.push(image);
        }
        let fields = fields_of(&spec);
        let t = Template {
            spec,
            background_pdf,
            fonts,
            images,
            fields,
        };
        if t.fonts.is_empty() {
            legacy::check(&t.spec).map_err(invalid)?;
        } else {
            check::check(&t.spec, &t.fonts).map_err(invalid)?;
            // A trial page with every field empty: what only shows when a PDF is written
            // (an image that does not decode, a font whose licence forbids embedding)
            // is found now, not on the first certificate.
            draw::render(&t, &HashMap::new(), "in.gov.check-TEMPLATE-0").map_err(|e| match e {
                TemplateError::Render(m) => invalid(format!("cannot be rendered: {m}")),
                other => other,
            })?;
        }
        Ok(t)
    }

    /// The field names the template prints.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(String::as_str)
    }

    /// Renders one certificate. `values` maps field names (case-insensitive) to text.
    pub fn render(
        &self,
        values: &HashMap<String, String>,
        uri: &str,
    ) -> Result<Vec<u8>, TemplateError> {
        let lookup: HashMap<String, &str> = values
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
            .chain([("uri".to_string(), uri)])
            .collect();
        if self.fonts.is_empty() {
            legacy::render(&self.spec, self.background_pdf.as_deref(), &lookup, uri)
        } else {
            draw::render(self, &lookup, uri)
        }
    }
}

fn fields_of(spec: &Spec) -> Vec<String> {
    let mut out: Vec<String> = spec.title.iter().flat_map(|s| placeholders(s)).collect();
    for t in &spec.text {
        out.extend(t.field.clone());
        out.extend(t.text.iter().flat_map(|s| placeholders(s)));
        for r in &t.runs {
            out.extend(r.field.clone());
            out.extend(r.text.iter().flat_map(|s| placeholders(s)));
        }
    }
    for table in &spec.table {
        out.extend(table.rows_from.clone());
        for row in &table.rows {
            out.extend(row.iter().flat_map(|c| placeholders(c)));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|f| seen.insert(f.to_ascii_lowercase()));
    out
}

/// Field names inside `{...}` of a text.
pub fn placeholders(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push(rest[open + 1..open + close].trim().to_string());
        rest = &rest[open + close + 1..];
    }
    out
}

/// `s` with each `{field}` replaced by its value (missing: empty); also whether any
/// placeholder had a value.
pub fn fill(s: &str, values: &HashMap<String, &str>) -> (String, bool) {
    let mut out = String::new();
    let mut any = false;
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        let key = rest[open + 1..open + close].trim().to_ascii_lowercase();
        if let Some(v) = values.get(&key).filter(|v| !v.trim().is_empty()) {
            out.push_str(v);
            any = true;
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    (out, any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_and_name_fields() {
        let values = HashMap::from([("name".to_string(), "Asha"), ("x".to_string(), " ")]);
        assert_eq!(
            fill("नाम / Name: {Name}{x}", &values),
            ("नाम / Name: Asha".to_string(), true)
        );
        assert_eq!(fill("{x}{y}", &values), (String::new(), false));
        assert_eq!(placeholders("a {B} c {d}"), vec!["B", "d"]);
        assert_eq!(fill("a {b", &values), ("a {b".to_string(), false));
    }
}
