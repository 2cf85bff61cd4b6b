//! What drawing a page takes: styles resolved against their parents, colours, and the
//! page surface with its primitives (a shaped line, a box, a path). Positions are the
//! template's (bottom-left origin); krilla's page has its origin top-left, hence
//! `top(y)`.

use std::collections::HashMap;

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;

use super::fonts::FontSet;
use super::shape::{Line, MissingGlyph, Span};
use super::spec::Style;
use super::TemplateError;

pub(super) type Rgb = (u8, u8, u8);
pub(super) type Values<'a> = HashMap<String, &'a str>;

pub fn colour(s: &Option<String>, default: Rgb) -> Result<Rgb, String> {
    let Some(s) = s else {
        return Ok(default);
    };
    let hex = s.strip_prefix('#').unwrap_or(s);
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("x"), 16);
    match (hex.len(), byte(0), byte(2), byte(4)) {
        (6, Ok(r), Ok(g), Ok(b)) => Ok((r, g, b)),
        _ => Err(format!("colour '{s}' is not #rrggbb")),
    }
}

/// A style resolved against the one it inherits.
pub(super) struct Resolved {
    pub chain: Vec<usize>,
    pub size: f32,
    pub colour: Rgb,
}

pub(super) fn resolve(
    fonts: &FontSet,
    style: &Style,
    parent: &Resolved,
) -> Result<Resolved, String> {
    Ok(Resolved {
        chain: match &style.font {
            Some(f) if f.names().is_empty() => return Err("the font list is empty".into()),
            Some(f) => fonts.chain(&f.names())?,
            None => parent.chain.clone(),
        },
        size: match style.size {
            Some(s) if s.is_finite() && s > 0.0 && s <= 1000.0 => s,
            Some(_) => return Err("size must be above 0 and at most 1000 points".into()),
            None => parent.size,
        },
        colour: colour(&style.colour, parent.colour)?,
    })
}

/// What an item that names no font gets: the template's font if it has only one (with
/// several, an item must say which: TOML tables keep no order to take "the first").
pub(super) fn base(fonts: &FontSet) -> Resolved {
    Resolved {
        chain: fonts.only(),
        size: 11.0,
        colour: (0, 0, 0),
    }
}

pub(super) struct Page<'s, 'a> {
    pub s: &'s mut Surface<'a>,
    pub fonts: &'s FontSet,
    pub height: f32,
}

impl Page<'_, '_> {
    pub fn top(&self, y: f32) -> f32 {
        self.height - y
    }

    pub fn line(&mut self, line: &Line, x: f32, baseline: f32) {
        let mut x = x;
        let y = self.top(baseline);
        for p in &line.pieces {
            let (r, g, b) = p.colour;
            self.s.set_fill(Some(Fill {
                paint: rgb::Color::new(r, g, b).into(),
                ..Default::default()
            }));
            let font = self.fonts.get(p.font).krilla.clone();
            self.s.draw_glyphs(
                Point::from_xy(x, y),
                &p.glyphs,
                font,
                &p.text,
                p.size,
                false,
            );
            x += p.width;
        }
    }

    pub fn rect(
        &mut self,
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Option<Rgb>,
        stroke: Option<(Rgb, f32)>,
    ) {
        let Some(rect) = Rect::from_xywh(x, self.top(y + h), w, h) else {
            return;
        };
        let mut pb = PathBuilder::new();
        pb.push_rect(rect);
        self.path(pb, fill, stroke);
    }

    pub fn path(&mut self, pb: PathBuilder, fill: Option<Rgb>, stroke: Option<(Rgb, f32)>) {
        let Some(path) = pb.finish() else { return };
        self.s.set_fill(fill.map(|(r, g, b)| Fill {
            paint: rgb::Color::new(r, g, b).into(),
            ..Default::default()
        }));
        self.s.set_stroke(stroke.map(|((r, g, b), width)| Stroke {
            paint: rgb::Color::new(r, g, b).into(),
            width,
            ..Default::default()
        }));
        self.s.draw_path(&path);
        self.s.set_stroke(None);
    }
}

pub(super) fn glyph_error(
    what: &str,
    spans: &[Span],
    fonts: &FontSet,
    e: MissingGlyph,
) -> TemplateError {
    let chain = spans
        .iter()
        .find(|s| s.text.contains(e.0))
        .map(|s| s.chain.clone())
        .unwrap_or_default();
    let names: Vec<&str> = chain.iter().map(|i| fonts.get(*i).name.as_str()).collect();
    TemplateError::Render(format!(
        "{what}: no font of [{}] has '{}' (U+{:04X})",
        names.join(", "),
        e.0,
        e.0 as u32
    ))
}
