//! Text to positioned glyphs: each character to the first font of its chain that has it,
//! the line in visual order (Unicode bidi, so Urdu runs right to left), each piece shaped
//! by rustybuzz (conjuncts, matras, reordering), and greedy wrapping into a box.

use krilla::text::{GlyphId, KrillaGlyph};
use unicode_bidi::{BidiInfo, Level};

use super::fonts::{ignorable, FontSet};

/// A run of text in one style, before shaping.
#[derive(Debug, Clone)]
pub struct Span {
    pub text: String,
    pub chain: Vec<usize>,
    pub size: f32,
    pub colour: (u8, u8, u8),
}

/// Glyphs of one font and style, in visual order, with the text they stand for.
pub struct Piece {
    pub font: usize,
    pub size: f32,
    pub colour: (u8, u8, u8),
    pub text: String,
    pub glyphs: Vec<KrillaGlyph>,
    /// Advance in points.
    pub width: f32,
}

pub struct Line {
    pub pieces: Vec<Piece>,
    pub width: f32,
    /// The largest size on the line, for line spacing.
    pub size: f32,
}

/// A character no font of its chain can draw.
#[derive(Debug)]
pub struct MissingGlyph(pub char);

/// Whether a paragraph runs right to left: by its first strong character (bidi P2).
fn is_rtl(spans: &[Span]) -> bool {
    let text: String = spans.iter().map(|s| s.text.as_str()).collect();
    BidiInfo::new(&text, None)
        .paragraphs
        .first()
        .is_some_and(|p| p.level.is_rtl())
}

/// Shapes one line of spans; `rtl` is its paragraph's direction (each line of a wrapped
/// paragraph keeps the paragraph's), or None to take it from the line itself. Tabs and line breaks become spaces (the caller
/// splits paragraphs first) and other control characters are left out.
pub fn line(fonts: &FontSet, spans: &[Span], rtl: Option<bool>) -> Result<Line, MissingGlyph> {
    // One logical string, each byte knowing its span and font.
    let mut text = String::new();
    let mut owner: Vec<(usize, usize)> = Vec::new(); // per char: (span, font)
    let mut starts: Vec<usize> = Vec::new();
    for (si, span) in spans.iter().enumerate() {
        let mut prev: Option<usize> = None;
        for c in span.text.chars() {
            let c = match c {
                c if c.is_control() && c.is_whitespace() => ' ',
                c if c.is_control() => continue,
                c => c,
            };
            let font = pick(fonts, &span.chain, c, prev)?;
            prev = Some(font);
            starts.push(text.len());
            owner.push((si, font));
            text.push(c);
        }
    }
    let mut out = Line {
        pieces: vec![],
        width: 0.0,
        size: spans.iter().map(|s| s.size).fold(0.0, f32::max),
    };
    if text.is_empty() {
        return Ok(out);
    }
    let owner_at = |byte: usize| owner[starts.partition_point(|s| *s <= byte) - 1];
    let level = rtl.map(|r| if r { Level::rtl() } else { Level::ltr() });
    let bidi = BidiInfo::new(&text, level);
    let Some(para) = bidi.paragraphs.first() else {
        return Ok(out);
    };
    let (levels, runs) = bidi.visual_runs(para, para.range.clone());
    for run in runs {
        let rtl = levels[run.start].is_rtl();
        // Split the visual run where the span or font changes (logical order).
        let mut cuts: Vec<(usize, usize, (usize, usize))> = Vec::new();
        let mut i = run.start;
        while i < run.end {
            let o = owner_at(i);
            let mut j = i;
            while j < run.end && owner_at(j) == o {
                j += text[j..].chars().next().map_or(1, char::len_utf8);
            }
            cuts.push((i, j, o));
            i = j;
        }
        if rtl {
            cuts.reverse();
        }
        for (a, b, (si, font)) in cuts {
            let piece = shape(fonts, font, &spans[si], &text[a..b], rtl);
            out.width += piece.width;
            out.pieces.push(piece);
        }
    }
    Ok(out)
}

/// Letters and digits take the first font of the chain that has them; spaces, marks and
/// punctuation stay in the font before them when it has them, so a conjunct or a
/// "/" between two scripts does not break a run.
fn pick(
    fonts: &FontSet,
    chain: &[usize],
    c: char,
    prev: Option<usize>,
) -> Result<usize, MissingGlyph> {
    if !c.is_alphanumeric() {
        if let Some(p) = prev {
            if ignorable(c) || fonts.get(p).has_glyph(c) {
                return Ok(p);
            }
        }
    }
    if let Some(i) = chain.iter().find(|i| fonts.get(**i).has_glyph(c)) {
        return Ok(*i);
    }
    match chain.first() {
        Some(first) if ignorable(c) => Ok(*first),
        _ => Err(MissingGlyph(c)),
    }
}

fn shape(fonts: &FontSet, font: usize, span: &Span, text: &str, rtl: bool) -> Piece {
    let f = fonts.get(font);
    let mut piece = Piece {
        font,
        size: span.size,
        colour: span.colour,
        text: text.to_string(),
        glyphs: vec![],
        width: 0.0,
    };
    let Some(face) = f.face() else {
        return piece;
    };
    let mut buf = rustybuzz::UnicodeBuffer::new();
    buf.push_str(text);
    buf.guess_segment_properties();
    buf.set_direction(if rtl {
        rustybuzz::Direction::RightToLeft
    } else {
        rustybuzz::Direction::LeftToRight
    });
    let shaped = rustybuzz::shape(&face, &[], buf);
    let upem = f.units_per_em;
    // A glyph stands for the text from its cluster to the next cluster up.
    let mut starts: Vec<usize> = shaped
        .glyph_infos()
        .iter()
        .map(|g| g.cluster as usize)
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let end_of = |start: usize| {
        starts
            .iter()
            .find(|c| **c > start)
            .copied()
            .unwrap_or(text.len())
    };
    // Glyphs with their place on the line (font units), grouped by cluster.
    let mut pen = 0i32;
    let mut clusters: Vec<Vec<Placed>> = Vec::new();
    for (info, pos) in shaped.glyph_infos().iter().zip(shaped.glyph_positions()) {
        let g = Placed {
            id: info.glyph_id,
            x: pen + pos.x_offset,
            y: pos.y_offset,
            advance: pos.x_advance,
            range: info.cluster as usize..end_of(info.cluster as usize),
        };
        pen += pos.x_advance;
        match clusters.last_mut() {
            Some(c) if c[0].range == g.range => c.push(g),
            _ => clusters.push(vec![g]),
        }
    }
    let mut at = 0i32;
    for group in extraction_spans(clusters) {
        let start = group.iter().map(|g| g.range.start).min().unwrap_or(0);
        let end = group.iter().map(|g| g.range.end).max().unwrap_or(start);
        let range = start..end;
        for g in group {
            piece.width += g.advance as f32 / upem * span.size;
            piece.glyphs.push(KrillaGlyph::new(
                GlyphId::new(g.id),
                g.advance as f32 / upem,
                (g.x - at) as f32 / upem,
                g.y as f32 / upem,
                0.0,
                range.clone(),
                None,
            ));
            at += g.advance;
        }
    }
    piece
}

/// A glyph and where shaping put it, in font units from the start of the piece.
struct Placed {
    id: u32,
    x: i32,
    y: i32,
    advance: i32,
    range: std::ops::Range<usize>,
}

/// Groups clusters so that each group, which becomes one span of text in the PDF, ends
/// with a glyph that has an advance. Text extractors (poppler) place a span from its
/// first glyph's origin to its last glyph's end; a cluster ending in a mark drawn back
/// over its base ("তু") looked to them like a gap, and became a space in copied text.
fn extraction_spans(clusters: Vec<Vec<Placed>>) -> Vec<Vec<Placed>> {
    let mut out: Vec<Vec<Placed>> = Vec::new();
    let mut open = false; // the last group still ends in a mark
    for cluster in clusters {
        match out.last_mut() {
            Some(last) if open => last.extend(cluster),
            _ => out.push(cluster),
        }
        open = out
            .last()
            .and_then(|g| g.last())
            .is_some_and(|g| g.advance == 0);
    }
    if open {
        // The piece ends in a mark: draw its spacing glyph last (the same places on the
        // page), and start the span at the cluster before it.
        if let Some(mut last) = out.pop() {
            last.sort_by_key(|g| g.advance != 0);
            match out.last_mut() {
                Some(prev) => prev.extend(last),
                None => out.push(last),
            }
        }
    }
    out
}

/// Breaks spans into lines no wider than `width` at spaces (a word wider than the box
/// gets a line of its own).
pub fn wrap(fonts: &FontSet, spans: &[Span], width: f32) -> Result<Vec<Line>, MissingGlyph> {
    let rtl = Some(is_rtl(spans));
    // Words keep the space before them; a line never starts with one.
    let mut words: Vec<(usize, String)> = Vec::new();
    for (si, span) in spans.iter().enumerate() {
        let mut word = String::new();
        for c in span.text.chars() {
            if c == ' ' && !word.trim().is_empty() {
                words.push((si, std::mem::take(&mut word)));
            }
            word.push(c);
        }
        if !word.is_empty() {
            words.push((si, word));
        }
    }
    let build = |ws: &[(usize, String)]| -> Vec<Span> {
        let mut out: Vec<Span> = Vec::new();
        for (k, (si, w)) in ws.iter().enumerate() {
            let w = if k == 0 { w.trim_start() } else { w.as_str() };
            match out.last_mut() {
                Some(last) if k > 0 && ws[k - 1].0 == *si => last.text.push_str(w),
                _ => out.push(Span {
                    text: w.to_string(),
                    ..spans[*si].clone()
                }),
            }
        }
        out
    };
    // Each word is shaped twice (with and without its space), not each candidate line:
    // a line's width is the sum of its words' (shaping does not reach across a space).
    let widths: Vec<(f32, f32)> = (0..words.len())
        .map(|k| {
            let (si, word) = &words[k];
            let alone = line(fonts, &build(&words[k..k + 1]), rtl)?.width;
            let spaced = Span {
                text: word.clone(),
                ..spans[*si].clone()
            };
            Ok((alone, line(fonts, &[spaced], rtl)?.width))
        })
        .collect::<Result<_, MissingGlyph>>()?;
    let mut lines = Vec::new();
    let mut start = 0;
    while start < words.len() {
        let mut end = start + 1;
        let mut used = widths[start].0;
        while end < words.len() && used + widths[end].1 <= width {
            used += widths[end].1;
            end += 1;
        }
        lines.push(line(fonts, &build(&words[start..end]), rtl)?);
        start = end;
    }
    Ok(lines)
}
