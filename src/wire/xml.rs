//! A small, strict XML reader for DigiLocker's request documents.
//!
//! Requests are a root element with attributes and at most a few levels of children, so
//! we read them into a tiny tree keyed by *local* names: every namespace variant seen in
//! the wild (`xmlns`, `xmlns:ns2`, the v1 schema URL) reads the same. Anything a request
//! never needs is refused: DOCTYPE and entity declarations, processing instructions,
//! undefined entities, deep nesting, huge element counts, several roots.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

const MAX_DEPTH: usize = 8;
const MAX_ELEMENTS: usize = 512;
/// A request's root carries 7 attributes; the duplicate check is quadratic in this.
const MAX_ATTRIBUTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("body is not well-formed XML: {0}")]
    Malformed(String),
    #[error("body is not UTF-8")]
    NotUtf8,
    /// XML 1.0 allows no C0 control character but tab, LF and CR, even escaped.
    #[error("body holds a control character (byte {0:#04x})")]
    ControlCharacter(u8),
    #[error("DOCTYPE and entity declarations are not accepted")]
    Doctype,
    #[error("processing instructions are not accepted")]
    ProcessingInstruction,
    #[error("body has no root element")]
    Empty,
    #[error("body has content after the root element")]
    TrailingContent,
    #[error("elements nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("more than {MAX_ELEMENTS} elements")]
    TooMany,
    #[error("an element with more than {MAX_ATTRIBUTES} attributes")]
    TooManyAttributes,
}

/// One element: local name, attributes (local names, namespace declarations dropped),
/// children in order, and its own text (trimmed, text and CDATA joined).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The attribute's value, taken out of the element (no copy of it made).
    pub fn take_attr(&mut self, name: &str) -> Option<String> {
        let i = self
            .attrs
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(name))?;
        Some(self.attrs.swap_remove(i).1)
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

pub fn parse(body: &[u8]) -> Result<Element, XmlError> {
    std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
    if let Some(&b) = body
        .iter()
        .find(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
    {
        return Err(XmlError::ControlCharacter(b));
    }
    let mut reader = Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let malformed = |e: quick_xml::Error| XmlError::Malformed(e.to_string());

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;

    loop {
        let event = reader.read_event().map_err(malformed)?;
        match event {
            Event::Decl(_) | Event::Comment(_) => {}
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::PI(_) => return Err(XmlError::ProcessingInstruction),
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(XmlError::TrailingContent);
            }
            Event::Start(e) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooMany);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                stack.push(element(&e)?);
            }
            Event::Empty(e) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooMany);
                }
                let el = element(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let mut el = stack
                    .pop()
                    .ok_or_else(|| XmlError::Malformed("unexpected end tag".into()))?;
                trim_in_place(&mut el.text);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t
                    .unescape()
                    .map_err(|e| XmlError::Malformed(e.to_string()))?;
                allowed_chars(&s)?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => {
                        return Err(XmlError::Malformed("text outside the root element".into()))
                    }
                }
            }
            Event::CData(c) => {
                let s = c.decode().map_err(|e| XmlError::Malformed(e.to_string()))?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None => {
                        return Err(XmlError::Malformed("CDATA outside the root element".into()))
                    }
                }
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed(
            "document ends inside an element".into(),
        ));
    }
    root.ok_or(XmlError::Empty)
}

/// `s` without its leading and trailing whitespace, in its own buffer.
fn trim_in_place(s: &mut String) {
    let end = s.trim_end().len();
    s.truncate(end);
    let start = s.len() - s.trim_start().len();
    if start > 0 {
        s.drain(..start);
    }
}

/// The same rule for what a character reference made (`&#1;`): the raw body was checked
/// before parsing, but a reference is only a character once unescaped.
fn allowed_chars(s: &str) -> Result<(), XmlError> {
    match s
        .bytes()
        .find(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
    {
        Some(b) => Err(XmlError::ControlCharacter(b)),
        None => Ok(()),
    }
}

fn element(e: &BytesStart<'_>) -> Result<Element, XmlError> {
    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for (n, a) in e.attributes().enumerate() {
        // Refused before the (quadratic) duplicate check gets expensive.
        if n >= MAX_ATTRIBUTES {
            return Err(XmlError::TooManyAttributes);
        }
        let a = a.map_err(|e| XmlError::Malformed(e.to_string()))?;
        if a.key.as_namespace_binding().is_some() {
            continue;
        }
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let value = a
            .unescape_value()
            .map_err(|e| XmlError::Malformed(e.to_string()))?
            .into_owned();
        allowed_chars(&value)?;
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

/// Escape text or an attribute value for output. A C0 control character (but tab, LF
/// and CR) cannot appear in XML 1.0 even as a reference: echoing one a caller sent
/// would make the whole answer unreadable, so it goes out as U+FFFD.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    let forbidden = |c: char| c < ' ' && !matches!(c, '\t' | '\n' | '\r');
    if s.contains(forbidden) {
        let cleaned: String = s
            .chars()
            .map(|c| if forbidden(c) { '\u{fffd}' } else { c })
            .collect();
        return std::borrow::Cow::Owned(quick_xml::escape::escape(&cleaned).into_owned());
    }
    quick_xml::escape::escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_output() {
        assert_eq!(escape("a\u{1}b<"), "a\u{fffd}b&lt;");
        assert_eq!(escape("tab\tok"), "tab\tok");
        assert!(parse(
            format!("<r a=\"{}\">{}</r>", escape("\u{1b}[31m"), escape("\0")).as_bytes()
        )
        .is_ok());
    }

    #[test]
    fn many_attributes_are_refused_cheaply() {
        let attrs: String = (0..7_500).map(|i| format!(" a{i}=\"\"")).collect();
        let body = format!("<PullURIRequest{attrs}/>");
        assert_eq!(parse(body.as_bytes()), Err(XmlError::TooManyAttributes));
    }

    #[test]
    fn reads_local_names_in_any_namespace() {
        for root in [
            r#"<PullURIRequest xmlns:ns2="http://tempuri.org/" ts="1">"#,
            r#"<PullURIRequest xmlns="http://tempuri.org/" ts="1">"#,
            r#"<ns2:PullURIRequest xmlns:ns2="http://tempuri.org/" ts="1">"#,
        ] {
            let close = if root.starts_with("<ns2:") {
                "</ns2:PullURIRequest>"
            } else {
                "</PullURIRequest>"
            };
            let doc = format!(
                "<?xml version=\"1.0\"?>{root}<DocDetails><RollNo> 12&amp;3 </RollNo></DocDetails>{close}"
            );
            let el = parse(doc.as_bytes()).expect("parse");
            assert_eq!(el.name, "PullURIRequest");
            assert_eq!(el.attr("ts"), Some("1"));
            assert_eq!(el.attrs.len(), 1);
            let d = el.child("DocDetails").expect("details");
            assert_eq!(d.children[0].text, "12&3");
        }
    }

    #[test]
    fn refuses_doctype_entities_and_junk() {
        let cases: &[(&str, XmlError)] = &[
            (
                "<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>",
                XmlError::Doctype,
            ),
            ("<?php x ?><x/>", XmlError::ProcessingInstruction),
            ("", XmlError::Empty),
            ("<x/><y/>", XmlError::TrailingContent),
        ];
        for (doc, want) in cases {
            assert_eq!(&parse(doc.as_bytes()).expect_err(doc), want);
        }
        for doc in ["<x>&undefined;</x>", "<x><y></x>", "<x a='1' a='2'/>", "<x"] {
            assert!(
                matches!(parse(doc.as_bytes()), Err(XmlError::Malformed(_))),
                "{doc}"
            );
        }
        assert_eq!(parse(b"\xff<x/>"), Err(XmlError::NotUtf8));
        let deep = "<a>".repeat(20) + &"</a>".repeat(20);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooDeep));
    }

    #[test]
    fn escaped_control_characters_are_refused() {
        for body in [
            "<r a=\"x&#0;y\">t</r>",
            "<r a=\"x\">t&#x0;</r>",
            "<r a=\"x&#1;\">t</r>",
            "<r>t&#x1b;</r>",
        ] {
            assert!(
                matches!(
                    parse(body.as_bytes()),
                    Err(XmlError::ControlCharacter(_) | XmlError::Malformed(_))
                ),
                "{body}: {:?}",
                parse(body.as_bytes())
            );
        }
        assert!(
            parse(b"<r a=\"x&#9;\">t&#10;</r>").is_ok(),
            "tab and LF stay allowed"
        );
    }
}
