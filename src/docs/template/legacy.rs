//! Templates that name no fonts: text in the 14 standard PDF fonts (WinAnsi, so
//! characters outside Latin-1 print as '?'), the URI printed and as a QR code, over an
//! optional background PDF (its first page, drawn as a Form XObject).

use std::collections::{BTreeMap, HashMap};

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Dictionary, Document, Object, ObjectId, Stream};

use super::spec::{FontChoice, Spec};
use crate::docs::render::latin1;

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

fn font_of(choice: &Option<FontChoice>) -> Result<&str, String> {
    match choice {
        None => Ok("Helvetica"),
        Some(FontChoice::One(f)) => Ok(f.as_str()),
        Some(FontChoice::Chain(_)) => Err("a list of fonts needs [fonts]".into()),
    }
}

/// What a template without `[fonts]` may say.
pub fn check(spec: &Spec) -> Result<(), String> {
    let needs_fonts = |what: &str| {
        Err(format!(
            "{what} need embedded fonts: name at least one in [fonts]"
        ))
    };
    if !spec.image.is_empty()
        || !spec.table.is_empty()
        || !spec.line.is_empty()
        || !spec.rect.is_empty()
    {
        return needs_fonts("images, tables, lines and boxes");
    }
    for (i, f) in spec.text.iter().enumerate() {
        let font = font_of(&f.style.font).map_err(|e| format!("text[{i}]: {e}"))?;
        if !STANDARD_FONTS.contains(&font) {
            return Err(format!(
                "text[{i}].font '{font}' is not one of the standard fonts ({}); embedded fonts \
                 are named in [fonts]",
                STANDARD_FONTS.join(", ")
            ));
        }
        if f.style
            .size
            .is_some_and(|s| !(s.is_finite() && s > 0.0 && s <= 1000.0))
        {
            return Err(format!("text[{i}].size must be above 0 and at most 1000"));
        }
        if !(f.x.is_finite() && f.y.is_finite()) {
            return Err(format!("text[{i}]: x and y must be numbers"));
        }
        if f.field.is_none()
            || f.text.is_some()
            || !f.runs.is_empty()
            || f.width.is_some()
            || f.stack
            || f.style.colour.is_some()
            || f.align != Default::default()
        {
            return needs_fonts(&format!(
                "text[{i}]: text, runs, width, stack, colour and align"
            ));
        }
    }
    let finite = |vs: &[f32]| vs.iter().all(|v| v.is_finite());
    if spec
        .qr
        .is_some_and(|q| !finite(&[q.x, q.y, q.size]) || q.size <= 0.0)
        || spec
            .uri
            .as_ref()
            .is_some_and(|u| !finite(&[u.x, u.y, u.size]) || u.size <= 0.0)
    {
        return Err("qr and uri need finite x, y and a positive size".into());
    }
    if spec.uri.as_ref().is_some_and(|u| u.font.is_some()) {
        return needs_fonts("uri.font");
    }
    Ok(())
}

/// Renders one certificate; `lookup` has lower-cased field names.
pub fn render(
    spec: &Spec,
    background: Option<&[u8]>,
    lookup: &HashMap<String, &str>,
    uri: &str,
) -> Result<Vec<u8>, super::TemplateError> {
    use super::TemplateError;
    let err = |e: lopdf::Error| TemplateError::Render(e.to_string());
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let mut fonts = Dictionary::new();
    let mut font_names: BTreeMap<&str, String> = BTreeMap::new();
    for t in &spec.text {
        let font = font_of(&t.style.font).map_err(TemplateError::Render)?;
        if !font_names.contains_key(font) {
            let name = format!("F{}", font_names.len() + 1);
            let id = doc.add_object(dictionary! {
                "Type" => "Font", "Subtype" => "Type1",
                "BaseFont" => Object::Name(font.as_bytes().to_vec()),
                "Encoding" => "WinAnsiEncoding",
            });
            fonts.set(name.as_bytes().to_vec(), Object::Reference(id));
            font_names.insert(font, name);
        }
    }
    let uri_font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    fonts.set("FU", Object::Reference(uri_font));
    let mut resources = dictionary! { "Font" => fonts };

    let mut ops = Vec::new();
    if let Some(bg) = background {
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
    for t in &spec.text {
        let key = t.field.as_deref().unwrap_or_default().to_ascii_lowercase();
        let value = lookup.get(&key).copied().unwrap_or_default();
        let font = font_of(&t.style.font)
            .ok()
            .and_then(|f| font_names.get(f))
            .map_or("FU", String::as_str);
        text(
            font,
            t.style.size.unwrap_or(11.0),
            t.x,
            t.y,
            &format!("{}{value}", t.label),
        );
    }
    if let Some(u) = &spec.uri {
        text("FU", u.size, u.x, u.y, uri);
    }
    if let Some(q) = &spec.qr {
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
            "MediaBox" => vec![0.into(), 0.into(), spec.page.width.into(), spec.page.height.into()],
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
    use super::super::Template;
    use lopdf::Document;
    use std::collections::HashMap;

    #[test]
    fn renders_fields_qr_and_background() {
        let dir = tempfile::tempdir().expect("tmp");
        let bg = crate::docs::render::plain_certificate("Background Board", "Seal", &[], "x")
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
