//! Certificate layouts from `templates/*.toml`: page size, an optional background PDF
//! (its first page, drawn as a Form XObject), text fields placed by coordinates with a
//! standard font and size, the document URI printed and as a QR code.
//!
//! Coordinates are PDF points from the bottom-left corner. Text uses the 14 standard
//! PDF fonts (WinAnsi): characters outside Latin-1 print as '?' until embedded fonts are
//! supported.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Dictionary, Document, Object, ObjectId, Stream};
use serde::Deserialize;

use super::render::latin1;

const STANDARD_FONTS: &[&str] = &[
    "Helvetica",
    "Helvetica-Bold",
    "Helvetica-Oblique",
    "Helvetica-BoldOblique",
    "Times-Roman",
    "Times-Bold",
    "Times-Italic",
    "Times-BoldItalic",
    "Courier",
    "Courier-Bold",
    "Courier-Oblique",
    "Courier-BoldOblique",
    "Symbol",
    "ZapfDingbats",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    #[serde(default = "a4")]
    pub page: PageSize,
    /// A PDF whose first page is drawn under everything (relative to the template).
    #[serde(default)]
    pub background: Option<PathBuf>,
    #[serde(default)]
    pub text: Vec<TextField>,
    #[serde(default)]
    pub qr: Option<QrBox>,
    /// Where the URI is printed as text (optional).
    #[serde(default)]
    pub uri: Option<UriText>,
    #[serde(skip)]
    background_pdf: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageSize {
    pub width: f32,
    pub height: f32,
}

fn a4() -> PageSize {
    PageSize {
        width: 595.0,
        height: 842.0,
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextField {
    /// A UDF name, an import column (`holder_name`, `doc_name`, `issued_on`, ...), an
    /// extra CSV column, or `uri` / `doc_id`.
    pub field: String,
    pub x: f32,
    pub y: f32,
    #[serde(default = "helvetica")]
    pub font: String,
    #[serde(default = "eleven")]
    pub size: f32,
    /// Printed before the value, e.g. "Name: ".
    #[serde(default)]
    pub label: String,
}

fn helvetica() -> String {
    "Helvetica".into()
}
fn eleven() -> f32 {
    11.0
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QrBox {
    pub x: f32,
    pub y: f32,
    /// Side of the square, in points.
    pub size: f32,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UriText {
    pub x: f32,
    pub y: f32,
    #[serde(default = "eight")]
    pub size: f32,
}

fn eight() -> f32 {
    8.0
}

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

impl Template {
    /// Reads and checks a template; the background PDF is read once, here.
    pub fn load(path: &Path) -> Result<Template, TemplateError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| TemplateError::Read(path.into(), e))?;
        let mut t: Template =
            toml::from_str(&text).map_err(|e| TemplateError::Parse(path.into(), e.to_string()))?;
        let invalid = |reason: String| TemplateError::Invalid {
            path: path.into(),
            reason,
        };
        if !(t.page.width > 0.0 && t.page.height > 0.0) {
            return Err(invalid("page width and height must be positive".into()));
        }
        for (i, f) in t.text.iter().enumerate() {
            if !STANDARD_FONTS.contains(&f.font.as_str()) {
                return Err(invalid(format!(
                    "text[{i}].font '{}' is not one of the standard fonts: {}",
                    f.font,
                    STANDARD_FONTS.join(", ")
                )));
            }
            if f.size <= 0.0 {
                return Err(invalid(format!("text[{i}].size must be positive")));
            }
        }
        if let Some(bg) = &t.background {
            let p = path.parent().unwrap_or(Path::new(".")).join(bg);
            let bytes = std::fs::read(&p).map_err(|e| TemplateError::Read(p.clone(), e))?;
            let doc = Document::load_mem(&bytes).map_err(|e| {
                invalid(format!(
                    "background {} is not a readable PDF: {e}",
                    p.display()
                ))
            })?;
            if doc.get_pages().is_empty() {
                return Err(invalid(format!("background {} has no pages", p.display())));
            }
            t.background_pdf = Some(bytes);
        }
        Ok(t)
    }

    /// The field names the template prints.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.text.iter().map(|t| t.field.as_str())
    }

    /// Renders one certificate. `values` maps field names (case-insensitive) to text.
    pub fn render(
        &self,
        values: &HashMap<String, String>,
        uri: &str,
    ) -> Result<Vec<u8>, TemplateError> {
        let err = |e: lopdf::Error| TemplateError::Render(e.to_string());
        let mut doc = Document::with_version("1.7");
        let pages_id = doc.new_object_id();
        let mut fonts = Dictionary::new();
        let mut font_names: BTreeMap<&str, String> = BTreeMap::new();
        for t in &self.text {
            if !font_names.contains_key(t.font.as_str()) {
                let name = format!("F{}", font_names.len() + 1);
                let id = doc.add_object(dictionary! {
                    "Type" => "Font", "Subtype" => "Type1",
                    "BaseFont" => Object::Name(t.font.as_bytes().to_vec()),
                    "Encoding" => "WinAnsiEncoding",
                });
                fonts.set(name.as_bytes().to_vec(), Object::Reference(id));
                font_names.insert(t.font.as_str(), name);
            }
        }
        let uri_font = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        });
        fonts.set("FU", Object::Reference(uri_font));
        let mut resources = dictionary! { "Font" => fonts };

        let mut ops = Vec::new();
        if let Some(bg) = &self.background_pdf {
            let form = import_first_page(&mut doc, bg).map_err(err)?;
            resources.set("XObject", dictionary! { "Bg" => Object::Reference(form) });
            ops.push(Operation::new("q", vec![]));
            ops.push(Operation::new("Do", vec![Object::Name(b"Bg".to_vec())]));
            ops.push(Operation::new("Q", vec![]));
        }
        let mut text = |font: &str, size: f32, x: f32, y: f32, s: &str| {
            ops.push(Operation::new("BT", vec![]));
            ops.push(Operation::new(
                "Tf",
                vec![Object::Name(font.as_bytes().to_vec()), size.into()],
            ));
            ops.push(Operation::new("Td", vec![x.into(), y.into()]));
            ops.push(Operation::new(
                "Tj",
                vec![Object::String(latin1(s), lopdf::StringFormat::Literal)],
            ));
            ops.push(Operation::new("ET", vec![]));
        };
        let lookup: HashMap<String, &String> = values
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        for t in &self.text {
            let value = match t.field.to_ascii_lowercase().as_str() {
                "uri" => uri.to_string(),
                k => lookup.get(k).map(|v| v.to_string()).unwrap_or_default(),
            };
            let font = font_names.get(t.font.as_str()).map_or("FU", String::as_str);
            text(font, t.size, t.x, t.y, &format!("{}{value}", t.label));
        }
        if let Some(u) = &self.uri {
            text("FU", u.size, u.x, u.y, uri);
        }
        if let Some(q) = &self.qr {
            let code = qrcode::QrCode::new(uri.as_bytes())
                .map_err(|e| TemplateError::Render(format!("QR code: {e}")))?;
            let n = code.width();
            let cell = q.size / n as f32;
            ops.push(Operation::new("q", vec![]));
            ops.push(Operation::new("rg", vec![0.into(), 0.into(), 0.into()]));
            for (i, c) in code.to_colors().iter().enumerate() {
                if *c == qrcode::Color::Dark {
                    let (col, row) = ((i % n) as f32, (i / n) as f32);
                    ops.push(Operation::new(
                        "re",
                        vec![
                            (q.x + col * cell).into(),
                            (q.y + q.size - (row + 1.0) * cell).into(),
                            cell.into(),
                            cell.into(),
                        ],
                    ));
                }
            }
            ops.push(Operation::new("f", vec![]));
            ops.push(Operation::new("Q", vec![]));
        }
        let content = Content { operations: ops }.encode().map_err(err)?;
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let resources_id = doc.add_object(resources);
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
            "Resources" => resources_id,
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
                "MediaBox" => vec![0.into(), 0.into(), self.page.width.into(), self.page.height.into()],
            }),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        doc.compress();
        let mut out = Vec::new();
        doc.save_to(&mut out)
            .map_err(|e| TemplateError::Render(e.to_string()))?;
        Ok(out)
    }
}

/// Copies an object from `src` into `dst`, following references (each copied once).
fn copy(
    src: &Document,
    dst: &mut Document,
    obj: &Object,
    map: &mut HashMap<ObjectId, ObjectId>,
) -> Object {
    match obj {
        Object::Reference(id) => {
            if let Some(new) = map.get(id) {
                return Object::Reference(*new);
            }
            let new = dst.new_object_id();
            map.insert(*id, new);
            let target = src.get_object(*id).cloned().unwrap_or(Object::Null);
            let copied = copy(src, dst, &target, map);
            dst.objects.insert(new, copied);
            Object::Reference(new)
        }
        Object::Array(a) => Object::Array(a.iter().map(|o| copy(src, dst, o, map)).collect()),
        Object::Dictionary(d) => {
            let mut out = Dictionary::new();
            for (k, v) in d.iter() {
                // Never follow a page's /Parent back into the source's page tree.
                if k == b"Parent" {
                    continue;
                }
                out.set(k.clone(), copy(src, dst, v, map));
            }
            Object::Dictionary(out)
        }
        Object::Stream(s) => {
            let mut dict = Dictionary::new();
            for (k, v) in s.dict.iter() {
                dict.set(k.clone(), copy(src, dst, v, map));
            }
            Object::Stream(Stream::new(dict, s.content.clone()).with_compression(false))
        }
        other => other.clone(),
    }
}

/// The first page of `pdf` as a Form XObject in `doc`.
fn import_first_page(doc: &mut Document, pdf: &[u8]) -> Result<ObjectId, lopdf::Error> {
    let src = Document::load_mem(pdf)?;
    let page_id = *src
        .get_pages()
        .values()
        .next()
        .ok_or(lopdf::Error::PageNumberNotFound(1))?;
    let content = src.get_page_content(page_id)?;
    let page = src.get_dictionary(page_id)?;
    let bbox = page
        .get(b"MediaBox")
        .cloned()
        .unwrap_or_else(|_| Object::Array(vec![0.into(), 0.into(), 595.into(), 842.into()]));
    let resources = match page.get(b"Resources") {
        Ok(r) => r.clone(),
        Err(_) => Object::Dictionary(Dictionary::new()),
    };
    let mut map = HashMap::new();
    let resources = copy(&src, doc, &resources, &mut map);
    let bbox = copy(&src, doc, &bbox, &mut map);
    Ok(doc.add_object(Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Form", "BBox" => bbox, "Resources" => resources,
        },
        content,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_fields_qr_and_background() {
        let dir = tempfile::tempdir().expect("tmp");
        let bg = super::super::render::plain_certificate("Background Board", "Seal", &[], "x")
            .expect("bg");
        std::fs::write(dir.path().join("bg.pdf"), bg).expect("write");
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            r#"
background = "bg.pdf"
page = { width = 595, height = 842 }
[[text]]
field = "holder_name"
label = "Name: "
x = 72
y = 600
font = "Times-Bold"
size = 16
[[text]]
field = "RollNo"
x = 72
y = 570
[qr]
x = 450
y = 60
size = 90
[uri]
x = 72
y = 40
"#,
        )
        .expect("write");
        let t = Template::load(&path).expect("template");
        let values = HashMap::from([
            ("holder_name".to_string(), "Asha Rao".to_string()),
            ("rollno".to_string(), "1234567".to_string()),
        ]);
        let pdf = t.render(&values, "in.gov.x-MARKS-ABCDE").expect("render");
        let doc = Document::load_mem(&pdf).expect("pdf");
        let text = doc.extract_text(&[1]).expect("text");
        assert!(text.contains("Name: Asha Rao"), "{text}");
        assert!(text.contains("1234567"), "{text}");
        assert!(text.contains("in.gov.x-MARKS-ABCDE"), "{text}");
        assert_eq!(
            pdf,
            t.render(&values, "in.gov.x-MARKS-ABCDE").expect("again")
        );

        std::fs::write(
            &path,
            "[[text]]\nfield = \"x\"\nx = 1\ny = 1\nfont = \"Comic\"\n",
        )
        .expect("write");
        assert!(Template::load(&path).is_err());
    }
}
