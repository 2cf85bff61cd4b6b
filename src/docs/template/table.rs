//! Tables: a header row, then body rows from `{field}` cells or a JSON column, with
//! each cell aligned and wrapped in its column (a row grows to its tallest cell) and an
//! optional grid.

use krilla::geom::PathBuilder;

use super::page::{base, colour, glyph_error, resolve, Page, Resolved, Values};
use super::shape::{self, Span};
use super::spec::{Align, TableItem};
use super::{fill, TemplateError};

/// The table's body rows for this row of data.
fn table_rows(t: &TableItem, values: &Values) -> Result<Vec<Vec<String>>, String> {
    if let Some(field) = &t.rows_from {
        let raw = values
            .get(&field.to_ascii_lowercase())
            .copied()
            .unwrap_or_default();
        if raw.trim().is_empty() {
            return Ok(vec![]);
        }
        let json: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| format!("{field} is not JSON: {e}"))?;
        let cell = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        let rows = json
            .as_array()
            .ok_or_else(|| format!("{field} is not a JSON array of rows"))?;
        return rows
            .iter()
            .map(|r| match r {
                serde_json::Value::Array(cells) => Ok(cells.iter().map(cell).collect()),
                serde_json::Value::Object(m) => Ok(t
                    .columns
                    .iter()
                    .map(|c| {
                        m.get(c.key.as_deref().unwrap_or(&c.header))
                            .map(cell)
                            .unwrap_or_default()
                    })
                    .collect()),
                _ => Err(format!("{field}: a row is neither an array nor an object")),
            })
            .collect();
    }
    Ok(t.rows
        .iter()
        .filter_map(|row| {
            let has_fields = row.iter().any(|c| c.contains('{'));
            let filled: Vec<(String, bool)> = row.iter().map(|c| fill(c, values)).collect();
            let any = filled.iter().any(|(_, a)| *a);
            (!has_fields || any).then(|| filled.into_iter().map(|(s, _)| s).collect())
        })
        .collect())
}

pub fn draw(
    page: &mut Page,
    t: &TableItem,
    values: &Values,
    what: &str,
) -> Result<(), TemplateError> {
    let fonts = page.fonts;
    let render_err = |e: String| TemplateError::Render(format!("{what}: {e}"));
    let body = resolve(fonts, &t.style, &base(fonts)).map_err(render_err)?;
    let head = resolve(fonts, &t.header_style, &body).map_err(render_err)?;
    let mut rows: Vec<(Vec<String>, &Resolved)> = Vec::new();
    if t.columns.iter().any(|c| !c.header.is_empty()) {
        rows.push((t.columns.iter().map(|c| c.header.clone()).collect(), &head));
    }
    for r in table_rows(t, values).map_err(render_err)? {
        rows.push((r, &body));
    }
    let width: f32 = t.columns.iter().map(|c| c.width).sum();
    let grid = (t.border > 0.0)
        .then(|| colour(&t.border_colour, (0, 0, 0)).map(|c| (c, t.border)))
        .transpose()
        .map_err(render_err)?;
    let pad = 4.0;
    let mut top = t.y;
    // Row boundaries below the top edge, for the grid.
    let mut bottoms: Vec<f32> = Vec::new();
    for (i, (cells, style)) in rows.iter().enumerate() {
        // Each cell wraps within its column; the row grows to its tallest cell.
        let step = style.size * 1.2;
        let mut shaped = Vec::new();
        for (col, text) in t.columns.iter().zip(cells) {
            let spans = vec![Span {
                text: text.clone(),
                chain: style.chain.clone(),
                size: style.size,
                colour: style.colour,
            }];
            let lines = shape::wrap(fonts, &spans, (col.width - 2.0 * pad).max(1.0))
                .map_err(|e| glyph_error(what, &spans, fonts, e))?;
            shaped.push(lines);
        }
        let most = shaped.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let height = t.row_height + (most - 1) as f32 * step;
        let is_head = i == 0 && std::ptr::eq(*style, &head);
        if is_head && t.header_fill.is_some() {
            let c = colour(&t.header_fill, (255, 255, 255)).map_err(render_err)?;
            page.rect(t.x, top - height, width, height, Some(c), None);
        }
        let first = top - t.row_height / 2.0 - style.size * 0.35;
        let mut x = t.x;
        for (col, lines) in t.columns.iter().zip(&shaped) {
            for (k, line) in lines.iter().enumerate() {
                let at = match col.align {
                    Align::Left => x + pad,
                    Align::Center => x + (col.width - line.width) / 2.0,
                    Align::Right => x + col.width - pad - line.width,
                };
                page.line(line, at, first - k as f32 * step);
            }
            x += col.width;
        }
        top -= height;
        bottoms.push(top);
    }
    if let Some(stroke) = grid {
        let height = t.y - top;
        page.rect(t.x, top, width, height, None, Some(stroke));
        let mut pb = PathBuilder::new();
        for y in &bottoms[..bottoms.len().saturating_sub(1)] {
            pb.move_to(t.x, page.top(*y));
            pb.line_to(t.x + width, page.top(*y));
        }
        let mut x = t.x;
        for c in &t.columns[..t.columns.len() - 1] {
            x += c.width;
            pb.move_to(x, page.top(t.y));
            pb.line_to(x, page.top(top));
        }
        page.path(pb, None, Some(stroke));
    }
    Ok(())
}
