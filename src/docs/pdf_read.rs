//! What signing reads of a PDF: its cross-reference sections and the few objects a
//! signature changes (catalog, AcroForm and its fields, the page tree down to page 1,
//! its /Annots), each parsed when asked for. A certificate is mostly content streams,
//! fonts and images that a signature never touches; parsing all of them with
//! `Document::load_mem` was most of the time an ECDSA signature took.
//!
//! lopdf still parses every object we read (`Reader::get_object`); we only find where
//! they are. Its cross-reference parser is private, so the sections are read here: a
//! table (`xref` ... `trailer <<...>>`) or a stream (`/Type /XRef`, `/W`, `/Index`),
//! newest first along `/Prev` (and a hybrid file's `/XRefStm`), the newest entry of
//! each object winning.

use std::collections::HashSet;

use lopdf::xref::{Xref, XrefEntry, XrefType};
use lopdf::{Dictionary, Document, Object, ObjectId, ObjectStream, Reader};

/// What cannot be read; signing says it in its own words (`pdf_sign::SignError`).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Malformed(String),
    #[error("the PDF has no pages")]
    NoPages,
}

/// A PDF whose objects are read on demand.
pub struct LazyPdf<'a> {
    reader: Reader<'a>,
    /// The newest trailer (for a stream section, its dictionary).
    pub trailer: Dictionary,
    /// Whether the newest section is a cross-reference stream.
    pub xref_stream: bool,
    /// One past the highest object number any section or trailer names.
    pub size: u32,
}

fn malformed(what: impl std::fmt::Display) -> ReadError {
    ReadError::Malformed(what.to_string())
}

/// At most this many sections along `/Prev`: a loop or a hostile chain stops here.
const MAX_SECTIONS: usize = 4096;

impl<'a> LazyPdf<'a> {
    /// Reads the cross-reference chain that starts at `startxref`.
    pub fn open(buf: &'a [u8], startxref: usize) -> Result<LazyPdf<'a>, ReadError> {
        let mut xref = Xref::new(0, XrefType::CrossReferenceTable);
        let mut newest: Option<(Dictionary, bool)> = None;
        let mut seen = HashSet::new();
        let mut next = vec![startxref];
        while let Some(at) = next.pop() {
            if !seen.insert(at) || seen.len() > MAX_SECTIONS {
                continue;
            }
            if at >= buf.len() {
                return Err(malformed(format!(
                    "a cross-reference section at {at} is past the end"
                )));
            }
            let start = skip_space(buf, at);
            let (entries, trailer, is_stream) = if buf[start..].starts_with(b"xref") {
                let (entries, trailer) = table_section(buf, start)?;
                (entries, trailer, false)
            } else {
                let (entries, trailer) = stream_section(buf, at)?;
                (entries, trailer, true)
            };
            for (id, entry) in entries {
                xref.entries.entry(id).or_insert(entry);
            }
            // Read after this one: its hybrid stream first, then the previous section.
            if let Some(prev) = offset_entry(&trailer, b"Prev")? {
                next.push(prev);
            }
            if !is_stream {
                if let Some(stm) = offset_entry(&trailer, b"XRefStm")? {
                    next.push(stm);
                }
            }
            if newest.is_none() {
                newest = Some((trailer, is_stream));
            }
        }
        let (trailer, xref_stream) = newest.ok_or_else(|| malformed("no cross-reference"))?;
        let declared = trailer
            .get(b"Size")
            .and_then(Object::as_i64)
            .map_err(|_| malformed("the trailer has no /Size"))?;
        let size = u32::try_from(declared)
            .unwrap_or(0)
            .max(xref.max_id().saturating_add(1));
        xref.size = size;
        let mut document = Document::new();
        document.reference_table = xref;
        Ok(LazyPdf {
            reader: Reader {
                buffer: buf,
                document,
            },
            trailer,
            xref_stream,
            size,
        })
    }

    /// Object `id`, parsed now: from its offset, or out of its object stream.
    pub fn get(&self, id: ObjectId) -> Result<Object, ReadError> {
        let missing = || malformed(format!("object {} {} is not in the file", id.0, id.1));
        match self.reader.document.reference_table.get(id.0) {
            Some(XrefEntry::Normal { .. }) => self
                .reader
                .get_object(id, &mut HashSet::new())
                .map_err(|e| malformed(format!("object {} {}: {e}", id.0, id.1))),
            Some(XrefEntry::Compressed { container, .. }) => {
                let container = (*container, 0);
                let mut stream = match self.reader.get_object(container, &mut HashSet::new()) {
                    Ok(Object::Stream(s)) => s,
                    _ => return Err(missing()),
                };
                let mut objects = ObjectStream::new(&mut stream)
                    .map_err(|e| malformed(format!("object stream {}: {e}", container.0)))?
                    .objects;
                objects.remove(&id).ok_or_else(missing)
            }
            _ => Err(missing()),
        }
    }

    pub fn get_dictionary(&self, id: ObjectId) -> Result<Dictionary, ReadError> {
        match self.get(id)? {
            Object::Dictionary(d) => Ok(d),
            _ => Err(malformed(format!(
                "object {} {} is not a dictionary",
                id.0, id.1
            ))),
        }
    }

    /// `obj` itself, or what it refers to.
    pub fn resolve(&self, obj: &Object) -> Option<Object> {
        match obj {
            Object::Reference(id) => self.get(*id).ok(),
            o => Some(o.clone()),
        }
    }

    /// Page 1: the first leaf of the page tree under `/Root /Pages`.
    pub fn first_page(&self, catalog: &Dictionary) -> Result<ObjectId, ReadError> {
        let mut stack = vec![catalog
            .get(b"Pages")
            .and_then(Object::as_reference)
            .map_err(|_| ReadError::NoPages)?];
        let mut seen = HashSet::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) || seen.len() > 100_000 {
                continue;
            }
            let node = self.get_dictionary(id)?;
            if node.get(b"Type").and_then(Object::as_name).ok() == Some(b"Page") {
                return Ok(id);
            }
            let kids = match node.get(b"Kids").map(|k| self.resolve(k)) {
                Ok(Some(Object::Array(a))) => a,
                _ => Vec::new(),
            };
            // Depth first, leftmost kid on top.
            stack.extend(kids.iter().rev().filter_map(|k| k.as_reference().ok()));
        }
        Err(ReadError::NoPages)
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

fn skip_space(buf: &[u8], mut at: usize) -> usize {
    while at < buf.len() && is_space(buf[at]) {
        at += 1;
    }
    at
}

/// The next whitespace-separated token from `at`, and where it ends.
fn token(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let start = skip_space(buf, at);
    let mut end = start;
    while end < buf.len() && !is_space(buf[end]) {
        end += 1;
    }
    (end > start).then(|| (&buf[start..end], end))
}

fn number<T: std::str::FromStr>(tok: &[u8]) -> Option<T> {
    std::str::from_utf8(tok).ok()?.parse().ok()
}

fn offset_entry(trailer: &Dictionary, key: &[u8]) -> Result<Option<usize>, ReadError> {
    match trailer.get(key) {
        Err(_) => Ok(None),
        Ok(v) => v
            .as_i64()
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                malformed(format!(
                    "/{} is not an offset",
                    String::from_utf8_lossy(key)
                ))
            }),
    }
}

type Entries = Vec<(u32, XrefEntry)>;

/// `xref`, subsections of `first count` and `offset generation n|f` lines, `trailer`.
fn table_section(buf: &[u8], at: usize) -> Result<(Entries, Dictionary), ReadError> {
    let bad = || malformed(format!("the cross-reference table at {at} cannot be read"));
    let (_, mut pos) = token(buf, at).ok_or_else(bad)?;
    let mut entries = Vec::new();
    loop {
        let start = skip_space(buf, pos);
        if buf[start..].starts_with(b"trailer") {
            let dict_at = skip_space(buf, start + "trailer".len());
            return Ok((entries, dictionary_at(buf, dict_at)?));
        }
        let (tok, end) = token(buf, start).ok_or_else(bad)?;
        let first: u32 = number(tok).ok_or_else(bad)?;
        let (tok, end) = token(buf, end).ok_or_else(bad)?;
        let count: usize = number(tok).ok_or_else(bad)?;
        // Each entry takes 20 bytes: a count the file cannot hold is a lie.
        if count > (buf.len() - end) / 18 + 1 {
            return Err(bad());
        }
        pos = end;
        for i in 0..count {
            let (off, e1) = token(buf, pos).ok_or_else(bad)?;
            let (gen, e2) = token(buf, e1).ok_or_else(bad)?;
            let (kind, e3) = token(buf, e2).ok_or_else(bad)?;
            pos = e3;
            let id = first.checked_add(i as u32).ok_or_else(bad)?;
            if kind == b"n" {
                let offset: u32 = number(off).ok_or_else(bad)?;
                let generation: u16 = number(gen).ok_or_else(bad)?;
                entries.push((id, XrefEntry::Normal { offset, generation }));
            } else {
                entries.push((id, XrefEntry::Free));
            }
        }
    }
}

/// A dictionary that is not an indirect object (a table's trailer). lopdf parses
/// only indirect objects through its public API, so the dictionary is read as one.
fn dictionary_at(buf: &[u8], at: usize) -> Result<Dictionary, ReadError> {
    let end = dictionary_end(buf, at).ok_or_else(|| malformed("the trailer cannot be read"))?;
    let mut wrapped = b"1 0 obj\n".to_vec();
    wrapped.extend_from_slice(&buf[at..end]);
    wrapped.extend_from_slice(b"\nendobj\n");
    match object_at(&wrapped, 0, (1, 0)) {
        Ok(Object::Dictionary(d)) => Ok(d),
        _ => Err(malformed("the trailer is not a dictionary")),
    }
}

/// The indirect object `id` that starts at `offset`, before any cross-reference says
/// where objects are (a trailer, a cross-reference stream).
fn object_at(buf: &[u8], offset: u32, id: ObjectId) -> lopdf::Result<Object> {
    let mut reader = Reader {
        buffer: buf,
        document: Document::new(),
    };
    reader.document.reference_table.insert(
        id.0,
        XrefEntry::Normal {
            offset,
            generation: id.1,
        },
    );
    reader.get_object(id, &mut HashSet::new())
}

/// Where the `<< ... >>` starting at `at` ends (strings may hold unbalanced brackets).
fn dictionary_end(buf: &[u8], at: usize) -> Option<usize> {
    if !buf[at..].starts_with(b"<<") {
        return None;
    }
    let mut depth = 0usize;
    let mut i = at;
    while i < buf.len() {
        match buf[i] {
            b'<' if buf.get(i + 1) == Some(&b'<') => {
                depth += 1;
                i += 2;
            }
            b'>' if buf.get(i + 1) == Some(&b'>') => {
                depth = depth.saturating_sub(1);
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            // A hex string.
            b'<' => i += buf[i..].iter().position(|&b| b == b'>')? + 1,
            // A literal string: nested parentheses, backslash escapes.
            b'(' => {
                let mut nest = 0usize;
                while i < buf.len() {
                    match buf[i] {
                        b'\\' => i += 1,
                        b'(' => nest += 1,
                        b')' => {
                            nest -= 1;
                            if nest == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
            }
            b'%' => {
                while i < buf.len() && buf[i] != b'\n' && buf[i] != b'\r' {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// A cross-reference stream (`N G obj <</Type/XRef/W [..] /Index [..]>> stream`).
fn stream_section(buf: &[u8], at: usize) -> Result<(Entries, Dictionary), ReadError> {
    let bad = |why: &str| malformed(format!("the cross-reference stream at {at}: {why}"));
    let (num, e1) = token(buf, at).ok_or_else(|| bad("no object"))?;
    let (gen, _) = token(buf, e1).ok_or_else(|| bad("no object"))?;
    let id: ObjectId = (
        number(num).ok_or_else(|| bad("not an object"))?,
        number(gen).ok_or_else(|| bad("not an object"))?,
    );
    let offset = u32::try_from(at).map_err(|_| bad("too far into the file"))?;
    let stream = match object_at(buf, offset, id) {
        Ok(Object::Stream(s)) => s,
        Ok(_) => return Err(bad("not a stream")),
        Err(e) => return Err(bad(&e.to_string())),
    };
    let data = if stream.dict.get(b"Filter").is_ok() {
        stream
            .decompressed_content()
            .map_err(|e| bad(&e.to_string()))?
    } else {
        stream.content.clone()
    };
    let ints = |key: &[u8]| -> Option<Vec<usize>> {
        match stream.dict.get(key).ok()? {
            Object::Array(a) => a
                .iter()
                .map(|o| o.as_i64().ok().and_then(|n| usize::try_from(n).ok()))
                .collect(),
            _ => None,
        }
    };
    let w = ints(b"W").filter(|w| w.len() == 3 && w.iter().all(|&n| n <= 8));
    let w = w.ok_or_else(|| bad("no valid /W"))?;
    let declared = stream
        .dict
        .get(b"Size")
        .ok()
        .and_then(|s| s.as_i64().ok())
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| bad("no /Size"))?;
    let index = ints(b"Index").unwrap_or_else(|| vec![0, declared]);
    let row = w[0] + w[1] + w[2];
    let field = |bytes: &[u8]| bytes.iter().fold(0u64, |n, &b| n << 8 | u64::from(b));
    let mut entries = Vec::new();
    let mut rows = data.chunks_exact(row.max(1));
    for pair in index.chunks_exact(2) {
        for i in 0..pair[1] {
            let Some(r) = rows.next() else {
                return Err(bad("shorter than its /Index"));
            };
            let kind = if w[0] == 0 { 1 } else { field(&r[..w[0]]) };
            let f2 = field(&r[w[0]..w[0] + w[1]]);
            let f3 = field(&r[w[0] + w[1]..]);
            let id = u32::try_from(pair[0] + i).map_err(|_| bad("object number too large"))?;
            let narrow = || bad("an entry does not fit");
            let entry = match kind {
                1 => XrefEntry::Normal {
                    offset: u32::try_from(f2).map_err(|_| narrow())?,
                    generation: u16::try_from(f3).map_err(|_| narrow())?,
                },
                2 => XrefEntry::Compressed {
                    container: u32::try_from(f2).map_err(|_| narrow())?,
                    index: u16::try_from(f3).map_err(|_| narrow())?,
                },
                _ => XrefEntry::Free,
            };
            entries.push((id, entry));
        }
    }
    Ok((entries, stream.dict))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dictionary_ends_after_its_own_brackets() {
        let t = b"<< /ID [<ab>] /Info 3 0 R /T (a >> b \\) c) /D << /X 1 >> >> rest";
        let end = dictionary_end(t, 0).expect("end");
        assert_eq!(&t[end..], b" rest");
        assert_eq!(dictionary_end(b"<< /A (open", 0), None);
    }

    #[test]
    fn a_table_with_an_impossible_count_is_refused() {
        let t = b"xref\n0 99999999\n0000000000 65535 f \ntrailer\n<< /Size 1 >>\n";
        assert!(table_section(t, 0).is_err());
        let ok = b"xref\n0 2\n0000000000 65535 f \n0000000017 00000 n \ntrailer\n<< /Size 2 /Root 1 0 R >>\n";
        let (entries, trailer) = table_section(ok, 0).expect("table");
        assert_eq!(entries.len(), 2);
        assert!(matches!(entries[1].1, XrefEntry::Normal { offset: 17, .. }));
        assert_eq!(trailer.get(b"Size").and_then(Object::as_i64).ok(), Some(2));
    }
}
