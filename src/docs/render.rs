//! A plain one-page certificate: title, the fields given, and the document URI.
//!
//! Used for imported rows that bring no PDF. Output is deterministic (no dates or ids
//! inside the file), so re-rendering the same row gives the same bytes.

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream};

#[derive(Debug, thiserror::Error)]
#[error("could not render the certificate PDF: {0}")]
pub struct RenderError(String);

/// Built-in PDF fonts speak WinAnsi; characters outside Latin-1 are shown as '?' until
/// templates with embedded fonts exist.
pub(crate) fn latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| {
            if (c as u32) < 256 && !c.is_control() {
                c as u8
            } else {
                b'?'
            }
        })
        .collect()
}

pub fn plain_certificate(
    issuer: &str,
    title: &str,
    fields: &[(&str, &str)],
    uri: &str,
) -> Result<Vec<u8>, RenderError> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let regular = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let bold = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica-Bold",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => regular, "F2" => bold },
    });

    let mut ops = Vec::new();
    let mut line = |font: &str, size: i64, x: i64, y: i64, text: &str| {
        ops.push(Operation::new("BT", vec![]));
        ops.push(Operation::new("Tf", vec![font.into(), size.into()]));
        ops.push(Operation::new("Td", vec![x.into(), y.into()]));
        ops.push(Operation::new(
            "Tj",
            vec![Object::String(latin1(text), lopdf::StringFormat::Literal)],
        ));
        ops.push(Operation::new("ET", vec![]));
    };
    line("F2", 14, 60, 780, issuer);
    line("F2", 20, 60, 740, title);
    let mut y = 690;
    for (name, value) in fields {
        line("F2", 11, 60, y, name);
        line("F1", 11, 220, y, value);
        y -= 22;
        if y < 120 {
            break;
        }
    }
    line("F1", 9, 60, 80, &format!("Document URI: {uri}"));
    let content = Content { operations: ops }
        .encode()
        .map_err(|e| RenderError(e.to_string()))?;
    let content_id = doc.add_object(Stream::new(dictionary! {}, content));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "Resources" => resources,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    doc.compress();
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| RenderError(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_pdf_deterministically() {
        let a = plain_certificate("Board", "Mark Sheet", &[("RollNo", "123")], "x-MARKS-ABC")
            .expect("render");
        let b = plain_certificate("Board", "Mark Sheet", &[("RollNo", "123")], "x-MARKS-ABC")
            .expect("render");
        assert!(a.starts_with(b"%PDF-1.7"));
        assert_eq!(a, b);
        let parsed = Document::load_mem(&a).expect("lopdf reads it back");
        assert_eq!(parsed.get_pages().len(), 1);
    }
}
