//! Signing a PDF as PAdES B-B, written as an incremental update: the original bytes stay
//! untouched and are followed by the new and changed objects, a cross-reference section
//! of the same kind as the original's (table or stream), and a trailer pointing back.
//!
//! Added: a signature dictionary (`/Type /Sig`, `/Filter /Adobe.PPKLite`,
//! `/SubFilter /ETSI.CAdES.detached`, `/M`, `/ByteRange [0 a b c]` whose gap is exactly
//! the `/Contents <...>` hex string), and an invisible signature field merged with its
//! widget on page 1's `/Annots`. Changed: the page (or its `/Annots` array), and the
//! catalog's `/AcroForm` (`/SigFlags 3`). Nothing goes into an object stream.

use chrono::{DateTime, Utc};
use lopdf::{Dictionary, Object, ObjectId, StringFormat};

use super::cms;
use super::keys::SigningKey;
use super::pdf_read::{LazyPdf, ReadError};

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("not a PDF file (it does not start with %PDF-)")]
    NotPdf,
    #[error("the PDF cannot be read ({0}); is it truncated or damaged?")]
    Malformed(String),
    #[error("the PDF is encrypted; dlrepo signs unencrypted documents only")]
    Encrypted,
    #[error("the PDF has no pages")]
    NoPages,
    #[error("cannot update this PDF: {0}")]
    Unsupported(String),
    #[error(transparent)]
    Cms(#[from] cms::CmsError),
}

impl From<ReadError> for SignError {
    fn from(e: ReadError) -> SignError {
        match e {
            ReadError::Malformed(why) => SignError::Malformed(why),
            ReadError::NoPages => SignError::NoPages,
        }
    }
}

/// Appends `obj` in PDF syntax. Streams are never rewritten by a signature.
pub fn write_object(out: &mut Vec<u8>, obj: &Object) -> Result<(), SignError> {
    match obj {
        Object::Null => out.extend_from_slice(b"null"),
        Object::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Object::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Object::Real(r) => {
            let s = format!("{r:.6}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            out.extend_from_slice(if s.is_empty() || s == "-" {
                b"0"
            } else {
                s.as_bytes()
            });
        }
        Object::Name(n) => write_name(out, n),
        Object::String(s, StringFormat::Hexadecimal) => {
            out.push(b'<');
            for b in s {
                out.extend_from_slice(format!("{b:02X}").as_bytes());
            }
            out.push(b'>');
        }
        Object::String(s, StringFormat::Literal) => {
            out.push(b'(');
            for &b in s {
                match b {
                    b'(' | b')' | b'\\' => out.extend_from_slice(&[b'\\', b]),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    _ => out.push(b),
                }
            }
            out.push(b')');
        }
        Object::Array(items) => {
            out.push(b'[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_object(out, it)?;
            }
            out.push(b']');
        }
        Object::Dictionary(d) => write_dict(out, d)?,
        Object::Reference((id, gen)) => out.extend_from_slice(format!("{id} {gen} R").as_bytes()),
        Object::Stream(_) => {
            return Err(SignError::Unsupported(
                "a stream would have to be rewritten".into(),
            ))
        }
    }
    Ok(())
}

fn write_name(out: &mut Vec<u8>, n: &[u8]) {
    out.push(b'/');
    for &b in n {
        if (0x21..=0x7e).contains(&b) && !b"()<>[]{}/%#".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("#{b:02X}").as_bytes());
        }
    }
}

fn write_dict(out: &mut Vec<u8>, d: &Dictionary) -> Result<(), SignError> {
    out.extend_from_slice(b"<<");
    for (k, v) in d.iter() {
        write_name(out, k);
        out.push(b' ');
        write_object(out, v)?;
    }
    out.extend_from_slice(b">>");
    Ok(())
}

/// The number after the last `startxref`: where the newest cross-reference section is.
fn last_startxref(pdf: &[u8]) -> Option<usize> {
    let tail_from = pdf.len().saturating_sub(2048);
    let tail = &pdf[tail_from..];
    let pos = tail.windows(9).rposition(|w| w == b"startxref")?;
    let rest = std::str::from_utf8(&tail[pos + 9..]).ok()?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Bytes reserved for the CMS: the certificates plus room for attributes and signature.
fn contents_capacity(key: &SigningKey) -> usize {
    (key.signer_certs.certs.len() + 4096).div_ceil(1024) * 1024
}

/// Signs `input` (never modified) and returns the signed file.
pub fn sign(input: &[u8], key: &SigningKey, now: DateTime<Utc>) -> Result<Vec<u8>, SignError> {
    if !input.starts_with(b"%PDF-") {
        return Err(SignError::NotPdf);
    }
    let tail = String::from_utf8_lossy(&input[input.len().saturating_sub(64)..]).into_owned();
    if !tail.contains("%%EOF") {
        return Err(SignError::Malformed("no %%EOF at the end".into()));
    }
    let prev = last_startxref(input).ok_or_else(|| SignError::Malformed("no startxref".into()))?;
    if prev >= input.len() {
        return Err(SignError::Malformed("startxref points past the end".into()));
    }
    // Only the cross-reference chain and the objects a signature changes are parsed.
    let doc = match LazyPdf::open(input, prev) {
        Ok(d) => d,
        // What cannot be read may be what cannot be decrypted: say why, not "damaged".
        Err(_) if input.windows(8).any(|w| w == b"/Encrypt") => return Err(SignError::Encrypted),
        Err(e) => return Err(e.into()),
    };
    if doc.trailer.get(b"Encrypt").is_ok() {
        return Err(SignError::Encrypted);
    }
    let xref_stream = doc.xref_stream;

    let root_id = doc
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(|_| SignError::Malformed("trailer has no /Root".into()))?;
    let mut catalog = doc
        .get_dictionary(root_id)
        .map_err(|e| SignError::Malformed(format!("catalog: {e}")))?;
    let page_id = doc.first_page(&catalog)?;
    let mut page = doc
        .get_dictionary(page_id)
        .map_err(|e| SignError::Malformed(format!("page 1: {e}")))?;

    let size = doc.size;
    let sig_id: ObjectId = (size, 0);
    let widget_id: ObjectId = (size + 1, 0);
    let mut next_free = size + 2;

    let mut changed: Vec<(ObjectId, Object)> = Vec::new();

    // AcroForm: direct in the catalog, indirect, or absent.
    let (mut acro, acro_ref) = match catalog.get(b"AcroForm") {
        Ok(Object::Reference(id)) => (
            doc.get_dictionary(*id)
                .map_err(|e| SignError::Malformed(format!("AcroForm: {e}")))?,
            Some(*id),
        ),
        Ok(Object::Dictionary(d)) => (d.clone(), None),
        _ => (Dictionary::new(), None),
    };
    let mut fields: Vec<Object> = match acro.get(b"Fields").ok().and_then(|f| doc.resolve(f)) {
        Some(Object::Array(a)) => a,
        _ => Vec::new(),
    };
    let taken: Vec<Vec<u8>> = fields
        .iter()
        .filter_map(|f| match doc.resolve(f)? {
            Object::Dictionary(d) => d.get(b"T").ok()?.as_str().ok().map(<[u8]>::to_vec),
            _ => None,
        })
        .collect();
    let field_name = (1..)
        .map(|n| format!("Signature{n}"))
        .find(|n| !taken.iter().any(|t| t == n.as_bytes()))
        .unwrap_or_else(|| "Signature".into());
    fields.push(Object::Reference(widget_id));
    acro.set("Fields", Object::Array(fields));
    acro.set("SigFlags", Object::Integer(3));
    match acro_ref {
        Some(id) => changed.push((id, Object::Dictionary(acro))),
        None => {
            catalog.set("AcroForm", Object::Dictionary(acro));
            changed.push((root_id, Object::Dictionary(catalog)));
        }
    }

    // The widget on page 1's /Annots: a direct array, an indirect one, or none yet.
    match page.get(b"Annots") {
        Ok(Object::Reference(id)) => {
            let mut annots = match doc.get(*id) {
                Ok(Object::Array(a)) => a,
                _ => Vec::new(),
            };
            annots.push(Object::Reference(widget_id));
            changed.push((*id, Object::Array(annots)));
        }
        other => {
            let mut annots = match other {
                Ok(Object::Array(a)) => a.clone(),
                _ => Vec::new(),
            };
            annots.push(Object::Reference(widget_id));
            page.set("Annots", Object::Array(annots));
            changed.push((page_id, Object::Dictionary(page)));
        }
    }

    let mut widget = Dictionary::new();
    widget.set("Type", Object::Name(b"Annot".to_vec()));
    widget.set("Subtype", Object::Name(b"Widget".to_vec()));
    widget.set("FT", Object::Name(b"Sig".to_vec()));
    widget.set("T", Object::string_literal(field_name));
    widget.set("V", Object::Reference(sig_id));
    widget.set("F", Object::Integer(132));
    widget.set(
        "Rect",
        Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()]),
    );
    widget.set("P", Object::Reference(page_id));
    changed.push((widget_id, Object::Dictionary(widget)));

    let capacity = contents_capacity(key);
    let mut out = Vec::with_capacity(input.len() + 2 * capacity + 4096);
    out.extend_from_slice(input);
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let mut offsets: Vec<(ObjectId, usize)> = Vec::new();

    // The signature dictionary, with placeholders patched once offsets are known.
    offsets.push((sig_id, out.len()));
    out.extend_from_slice(format!("{} 0 obj\n", sig_id.0).as_bytes());
    out.extend_from_slice(b"<</Type/Sig/Filter/Adobe.PPKLite/SubFilter/ETSI.CAdES.detached/M");
    write_object(
        &mut out,
        &Object::string_literal(now.format("D:%Y%m%d%H%M%S+00'00'").to_string()),
    )?;
    out.extend_from_slice(b"/ByteRange ");
    let byte_range_at = out.len();
    const BR_PLACEHOLDER: &[u8] = b"[0 0000000000 0000000000 0000000000]";
    out.extend_from_slice(BR_PLACEHOLDER);
    out.extend_from_slice(b"/Contents ");
    let contents_at = out.len();
    out.push(b'<');
    out.extend(std::iter::repeat_n(b'0', capacity * 2));
    out.push(b'>');
    let contents_end = out.len();
    out.extend_from_slice(b">>\nendobj\n");

    for (id, obj) in &changed {
        offsets.push((*id, out.len()));
        out.extend_from_slice(format!("{} {} obj\n", id.0, id.1).as_bytes());
        write_object(&mut out, obj)?;
        out.extend_from_slice(b"\nendobj\n");
    }

    // Trailer entries carried over from the original.
    let mut trailer = Dictionary::new();
    trailer.set("Root", Object::Reference(root_id));
    for k in [&b"Info"[..], b"ID"] {
        if let Ok(v) = doc.trailer.get(k) {
            trailer.set(k.to_vec(), v.clone());
        }
    }
    trailer.set("Prev", Object::Integer(prev as i64));

    let xref_at;
    if xref_stream {
        let xref_id: ObjectId = (next_free, 0);
        next_free += 1;
        xref_at = out.len();
        offsets.push((xref_id, xref_at));
        offsets.sort_by_key(|(id, _)| id.0);
        let mut data = Vec::new();
        let mut index = Vec::new();
        for ((id, gen), off) in &offsets {
            data.push(1u8);
            data.extend_from_slice(&(*off as u32).to_be_bytes());
            data.extend_from_slice(&gen.to_be_bytes());
            index.push(Object::Integer(*id as i64));
            index.push(Object::Integer(1));
        }
        trailer.set("Type", Object::Name(b"XRef".to_vec()));
        trailer.set("Size", Object::Integer(next_free as i64));
        trailer.set("W", Object::Array(vec![1.into(), 4.into(), 2.into()]));
        trailer.set("Index", Object::Array(index));
        trailer.set("Length", Object::Integer(data.len() as i64));
        out.extend_from_slice(format!("{} 0 obj\n", xref_id.0).as_bytes());
        write_dict(&mut out, &trailer)?;
        out.extend_from_slice(b"\nstream\n");
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\nendstream\nendobj\n");
    } else {
        xref_at = out.len();
        offsets.sort_by_key(|(id, _)| id.0);
        out.extend_from_slice(b"xref\n");
        for ((id, gen), off) in &offsets {
            out.extend_from_slice(format!("{id} 1\n{off:010} {gen:05} n\r\n").as_bytes());
        }
        trailer.set("Size", Object::Integer(next_free as i64));
        out.extend_from_slice(b"trailer\n");
        write_dict(&mut out, &trailer)?;
        out.push(b'\n');
    }
    out.extend_from_slice(format!("startxref\n{xref_at}\n%%EOF\n").as_bytes());

    // ByteRange: everything but the <...> of /Contents.
    let (a, b) = (contents_at, contents_end);
    let c = out.len() - b;
    let mut br = format!("[0 {a} {b} {c}]").into_bytes();
    if br.len() > BR_PLACEHOLDER.len() {
        return Err(SignError::Unsupported(
            "file too large for the ByteRange".into(),
        ));
    }
    br.pop();
    br.resize(BR_PLACEHOLDER.len() - 1, b' ');
    br.push(b']');
    out[byte_range_at..byte_range_at + BR_PLACEHOLDER.len()].copy_from_slice(&br);

    let mut hasher = openssl::sha::Sha256::new();
    hasher.update(&out[..a]);
    hasher.update(&out[b..]);
    let digest = hasher.finish();
    let der = cms::signed_data(&digest, &key.key, &key.signer_certs)?;
    if der.len() > capacity {
        return Err(SignError::Unsupported(format!(
            "signature of {} bytes does not fit the {capacity} reserved",
            der.len()
        )));
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in der.iter().enumerate() {
        out[a + 1 + 2 * i] = HEX[(byte >> 4) as usize];
        out[a + 2 + 2 * i] = HEX[(byte & 15) as usize];
    }
    Ok(out)
}
