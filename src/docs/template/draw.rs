//! Templates with embedded fonts, drawn with krilla: it subsets each font, writes the
//! ToUnicode map (and ActualText where a glyph stands for several characters, as in a
//! conjunct) so the text copies and searches as the Unicode it came from, and checks
//! PDF/A-2b.

use std::collections::HashMap;
use std::sync::Arc;

use krilla::configure::{Archival, ConfigurationBuilder};
use krilla::geom::{PathBuilder, Rect, Size, Transform};
use krilla::image::Image;
use krilla::metadata::{DateTime, Metadata};
use krilla::page::PageSettings;
use krilla::surface::Surface;
use krilla::{Document, SerializeSettings};

use super::fonts::FontSet;
use super::page::{base, colour, glyph_error, resolve, Page, Resolved, Values};
use super::shape::{self, Span};
use super::spec::{Align, ImageItem, Style, TextItem};
use super::{fill, Template, TemplateError};

/// The image, decoded once when the template is loaded (decoding it per certificate
/// was 15% of rendering).
pub fn load_image(bytes: &[u8], item: &ImageItem) -> Result<Image, String> {
    if item.width.is_none() && item.height.is_none() {
        return Err("give width or height (or both)".into());
    }
    if item.width.is_some_and(|w| w <= 0.0) || item.height.is_some_and(|h| h <= 0.0) {
        return Err("width and height must be positive".into());
    }
    image(bytes)
}

fn image(bytes: &[u8]) -> Result<Image, String> {
    let data: krilla::Data = bytes.to_vec().into();
    if bytes.starts_with(b"\x89PNG") {
        Image::from_png(data, false)
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        Image::from_jpeg(data, false)
    } else {
        Err("is neither PNG nor JPEG".into())
    }
}

/// Paragraphs of spans: a line break in a value starts a new one, and so does each run
/// of a stacked item.
fn paragraphs(spans: &[Span], stack: bool) -> Vec<Vec<Span>> {
    let mut out: Vec<Vec<Span>> = vec![vec![]];
    for span in spans {
        if stack && !out.last().is_some_and(Vec::is_empty) {
            out.push(vec![]);
        }
        for (k, part) in span.text.split('\n').enumerate() {
            if k > 0 {
                out.push(vec![]);
            }
            if !part.is_empty() {
                if let Some(p) = out.last_mut() {
                    p.push(Span {
                        text: part.to_string(),
                        ..span.clone()
                    });
                }
            }
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// The spans of a text item for this row (empty ones left out).
fn spans(fonts: &FontSet, t: &TextItem, values: &Values) -> Result<Vec<Span>, String> {
    let item = resolve(fonts, &t.style, &base(fonts))?;
    let span = |text: String, r: &Resolved| Span {
        text,
        chain: r.chain.clone(),
        size: r.size,
        colour: r.colour,
    };
    let value = |field: &str| {
        values
            .get(&field.to_ascii_lowercase())
            .copied()
            .unwrap_or_default()
            .to_string()
    };
    let mut out = Vec::new();
    if let Some(f) = &t.field {
        out.push(span(format!("{}{}", t.label, value(f)), &item));
    } else if let Some(text) = &t.text {
        out.push(span(fill(text, values).0, &item));
    }
    for r in &t.runs {
        let style = resolve(fonts, &r.style, &item)?;
        let text = match (&r.field, &r.text) {
            (Some(f), _) => value(f),
            (None, Some(text)) => fill(text, values).0,
            (None, None) => String::new(),
        };
        out.push(span(text, &style));
    }
    out.retain(|s| !s.text.is_empty());
    Ok(out)
}

fn text_item(
    page: &mut Page,
    t: &TextItem,
    values: &Values,
    what: &str,
) -> Result<(), TemplateError> {
    let fonts = page.fonts;
    let spans =
        spans(fonts, t, values).map_err(|e| TemplateError::Render(format!("{what}: {e}")))?;
    let mut lines = Vec::new();
    for p in &paragraphs(&spans, t.stack) {
        let shaped = match t.width {
            Some(w) => shape::wrap(fonts, p, w),
            None => shape::line(fonts, p, None).map(|l| vec![l]),
        };
        lines.extend(shaped.map_err(|e| glyph_error(what, p, fonts, e))?);
    }
    let mut baseline = t.y;
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            baseline -= t.line_height.unwrap_or(1.25) * line.size;
        }
        let x = match (t.align, t.width) {
            (Align::Left, _) => t.x,
            (Align::Center, Some(w)) => t.x + (w - line.width) / 2.0,
            (Align::Right, Some(w)) => t.x + w - line.width,
            (Align::Center, None) => t.x - line.width / 2.0,
            (Align::Right, None) => t.x - line.width,
        };
        page.line(line, x, baseline);
    }
    Ok(())
}

/// The document's date for its metadata: its issue date, so the same row always gives
/// the same bytes.
fn document_date(values: &Values) -> DateTime {
    for key in ["issued_on", "valid_from"] {
        let Some(v) = values.get(key) else { continue };
        let parts: Vec<&str> = v.trim().split(['-', '/', '.']).collect();
        let nums: Vec<u16> = parts.iter().filter_map(|p| p.parse().ok()).collect();
        if nums.len() == 3 {
            let (y, m, d) = if nums[0] > 31 {
                (nums[0], nums[1], nums[2])
            } else {
                (nums[2], nums[1], nums[0])
            };
            if (1900..=9999).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d) {
                return DateTime::new(y)
                    .month(m as u8)
                    .day(d as u8)
                    .hour(0)
                    .minute(0)
                    .second(0);
            }
        }
    }
    DateTime::new(2000)
        .month(1)
        .day(1)
        .hour(0)
        .minute(0)
        .second(0)
}

/// krilla's error in words (its Debug output includes whole fonts).
fn krilla_error(e: krilla::error::KrillaError) -> String {
    use krilla::configure::ValidationError as V;
    use krilla::error::KrillaError as K;
    let short = |s: String| s.chars().take(160).collect::<String>();
    match e {
        K::Validation(list) => {
            let words: Vec<String> = list
                .into_iter()
                .map(|(v, _)| match v {
                    V::ContainsNotDefGlyph(_, _, text) => {
                        format!("a font has no glyph for {text:?}")
                    }
                    V::RestrictedLicense(_) => {
                        "a font's licence does not allow embedding it".to_string()
                    }
                    other => short(format!("{other:?}")),
                })
                .collect();
            format!("not valid PDF/A-2b: {}", words.join("; "))
        }
        K::Font(_, msg) => format!("a font cannot be embedded: {msg}"),
        K::Image(_, _, msg) => format!("an image cannot be decoded: {msg}"),
        other => short(format!("{other:?}")),
    }
}

pub fn render(t: &Template, values: &Values, uri: &str) -> Result<Vec<u8>, TemplateError> {
    let spec = &t.spec;
    let pdfa = spec.pdfa.unwrap_or(t.background_pdf.is_none());
    let mut settings = SerializeSettings::default();
    if pdfa {
        settings.configuration = ConfigurationBuilder::new()
            .with_archival_validator(Archival::A2_B)
            .finish()
            .map_err(|e| TemplateError::Render(format!("PDF/A settings: {e:?}")))?;
    }
    let mut doc = Document::new_with(settings);
    let mut meta = Metadata::new()
        .creation_date(document_date(values))
        .producer("dlrepo".into());
    if let Some(title) = spec
        .title
        .as_deref()
        .map(|s| fill(s, values).0)
        .or_else(|| values.get("doc_name").map(|s| s.to_string()))
    {
        meta = meta.title(title);
    }
    if let Some(lang) = &spec.lang {
        meta = meta.language(lang.clone());
    }
    doc.set_metadata(meta);
    let page_settings = PageSettings::from_wh(spec.page.width, spec.page.height)
        .ok_or_else(|| TemplateError::Render("page size".into()))?;
    let mut kpage = doc.start_page_with(page_settings);
    let mut surface = kpage.surface();
    let result = draw_all(t, &mut surface, values, uri);
    surface.finish();
    kpage.finish();
    result?;
    doc.finish()
        .map_err(|e| TemplateError::Render(krilla_error(e)))
}

fn draw_all(
    t: &Template,
    s: &mut Surface,
    values: &Values,
    uri: &str,
) -> Result<(), TemplateError> {
    let spec = &t.spec;
    let mut page = Page {
        s,
        fonts: &t.fonts,
        height: spec.page.height,
    };
    if let Some(bg) = &t.background_pdf {
        let pdf = krilla::pdf::Pdf::new(Arc::new(bg.clone()))
            .map_err(|e| TemplateError::Render(format!("background: {e:?}")))?;
        let pdf = krilla::pdf::PdfDocument::new(Arc::new(pdf));
        let size = Size::from_wh(spec.page.width, spec.page.height)
            .ok_or_else(|| TemplateError::Render("page size".into()))?;
        page.s.draw_pdf_page(&pdf, size, 0);
    }
    for (i, r) in spec.rect.iter().enumerate() {
        let err = |e| TemplateError::Render(format!("rect[{i}]: {e}"));
        let fill = r
            .fill
            .as_ref()
            .map(|_| colour(&r.fill, (0, 0, 0)))
            .transpose()
            .map_err(err)?;
        let stroke = match (&r.stroke, fill) {
            (None, Some(_)) => None,
            _ => Some((colour(&r.stroke, (0, 0, 0)).map_err(err)?, r.stroke_width)),
        };
        page.rect(r.x, r.y, r.width, r.height, fill, stroke);
    }
    for (item, img) in spec.image.iter().zip(&t.images) {
        let img = img.clone();
        let (iw, ih) = img.size();
        let (w, h) = match (item.width, item.height) {
            (Some(w), Some(h)) => (w, h),
            (Some(w), None) => (w, w * ih as f32 / iw.max(1) as f32),
            (None, Some(h)) => (h * iw as f32 / ih.max(1) as f32, h),
            (None, None) => (iw as f32, ih as f32),
        };
        let Some(size) = Size::from_wh(w, h) else {
            continue;
        };
        page.s
            .push_transform(&Transform::from_translate(item.x, page.top(item.y + h)));
        page.s.draw_image(img, size);
        page.s.pop();
    }
    for (i, l) in spec.line.iter().enumerate() {
        let c = colour(&l.colour, (0, 0, 0))
            .map_err(|e| TemplateError::Render(format!("line[{i}]: {e}")))?;
        let mut pb = PathBuilder::new();
        pb.move_to(l.from[0], page.top(l.from[1]));
        pb.line_to(l.to[0], page.top(l.to[1]));
        page.path(pb, None, Some((c, l.width)));
    }
    for (i, tb) in spec.table.iter().enumerate() {
        super::table::draw(&mut page, tb, values, &format!("table[{i}]"))?;
    }
    for (i, item) in spec.text.iter().enumerate() {
        text_item(&mut page, item, values, &format!("text[{i}]"))?;
    }
    if let Some(u) = &spec.uri {
        let item = TextItem {
            field: None,
            label: String::new(),
            text: Some(uri.to_string()),
            runs: vec![],
            x: u.x,
            y: u.y,
            style: Style {
                font: u.font.clone(),
                size: Some(u.size),
                colour: None,
            },
            align: Align::Left,
            width: None,
            line_height: None,
            stack: false,
            script: None,
        };
        text_item(&mut page, &item, &HashMap::new(), "uri")?;
    }
    if let Some(q) = &spec.qr {
        let code = qrcode::QrCode::new(uri.as_bytes())
            .map_err(|e| TemplateError::Render(format!("QR code: {e}")))?;
        let n = code.width();
        let cell = q.size / n as f32;
        let mut pb = PathBuilder::new();
        for (i, c) in code.to_colors().iter().enumerate() {
            if *c == qrcode::Color::Dark {
                let (col, row) = ((i % n) as f32, (i / n) as f32);
                if let Some(r) = Rect::from_xywh(
                    q.x + col * cell,
                    page.top(q.y + q.size - row * cell),
                    cell,
                    cell,
                ) {
                    pb.push_rect(r);
                }
            }
        }
        page.path(pb, Some((0, 0, 0)), None);
    }
    Ok(())
}
