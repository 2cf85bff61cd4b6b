//! What a template file says (`templates/*.toml`), as serde reads it.
//!
//! Coordinates are PDF points from the bottom-left corner of the page: `y` is a text's
//! baseline, the bottom edge of an image or box, and the top edge of a table.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default = "a4")]
    pub page: PageSize,
    /// A PDF whose first page is drawn under everything (relative to the template).
    #[serde(default)]
    pub background: Option<PathBuf>,
    /// Embedded fonts by the name text items use. A template that names any is laid
    /// out with shaping; one that names none uses the 14 standard fonts (Latin-1 only).
    #[serde(default)]
    pub fonts: BTreeMap<String, FontSource>,
    /// The document's title and language (BCP 47, e.g. "hi-IN") in its metadata.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub lang: Option<String>,
    /// Write PDF/A-2b (default: yes, unless there is a background PDF, which PDF/A
    /// forbids embedding).
    #[serde(default)]
    pub pdfa: Option<bool>,
    #[serde(default)]
    pub text: Vec<TextItem>,
    #[serde(default)]
    pub image: Vec<ImageItem>,
    #[serde(default)]
    pub line: Vec<LineItem>,
    #[serde(default)]
    pub rect: Vec<RectItem>,
    #[serde(default)]
    pub table: Vec<TableItem>,
    #[serde(default)]
    pub qr: Option<QrBox>,
    /// Where the URI is printed as text (optional).
    #[serde(default)]
    pub uri: Option<UriText>,
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

/// A font: an installed family (`"Noto Sans"`), or `{ file = ... }` / `{ family = ...,
/// bold = true }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FontSource {
    Family(String),
    Detailed(FontDetail),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FontDetail {
    /// A TrueType/OpenType file, relative to the template (then `fonts/` beside it).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Face index in a collection (.ttc).
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub bold: bool,
    #[serde(default)]
    pub italic: bool,
}

/// One font name, or a list tried in order for each character (e.g. `["latin", "deva"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FontChoice {
    One(String),
    Chain(Vec<String>),
}

impl FontChoice {
    pub fn names(&self) -> Vec<&str> {
        match self {
            FontChoice::One(n) => vec![n.as_str()],
            FontChoice::Chain(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

/// Style a text item gives its runs (each run may override it).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Style {
    #[serde(default)]
    pub font: Option<FontChoice>,
    #[serde(default)]
    pub size: Option<f32>,
    /// "#rrggbb".
    #[serde(default)]
    pub colour: Option<String>,
}

/// Text on one line or wrapped in a box: `field` (with `label` before it), `text` with
/// `{field}` placeholders, or `runs` of either in their own fonts (bilingual lines).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextItem {
    /// A UDF name, an import column (`holder_name`, `doc_name`, `issued_on`, ...), an
    /// extra CSV column, or `uri` / `doc_id`.
    #[serde(default)]
    pub field: Option<String>,
    /// Printed before the value, e.g. "Name: ".
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub runs: Vec<Run>,
    pub x: f32,
    pub y: f32,
    #[serde(flatten)]
    pub style: Style,
    #[serde(default)]
    pub align: Align,
    /// Wrap into a box this wide (x is then its left edge whatever the alignment).
    #[serde(default)]
    pub width: Option<f32>,
    /// Distance between baselines, as a multiple of the size.
    #[serde(default)]
    pub line_height: Option<f32>,
    /// Each run on a line of its own (stacked bilingual text) instead of one line.
    #[serde(default)]
    pub stack: bool,
    /// The script the field's values are in ("devanagari", "tamil", ...): check-config
    /// checks that the fonts cover it.
    #[serde(default)]
    pub script: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(flatten)]
    pub style: Style,
    #[serde(default)]
    pub script: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageItem {
    /// PNG or JPEG, relative to the template.
    pub file: PathBuf,
    pub x: f32,
    pub y: f32,
    /// Give one of width/height to keep the image's proportions, or both.
    #[serde(default)]
    pub width: Option<f32>,
    #[serde(default)]
    pub height: Option<f32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItem {
    pub from: [f32; 2],
    pub to: [f32; 2],
    #[serde(default = "one")]
    pub width: f32,
    #[serde(default)]
    pub colour: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RectItem {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    #[serde(default)]
    pub fill: Option<String>,
    /// Outline colour; no fill and no stroke draws a black outline.
    #[serde(default)]
    pub stroke: Option<String>,
    #[serde(default = "one")]
    pub stroke_width: f32,
}

/// A table: a header row, then rows from `rows` (cells with `{field}` placeholders; a
/// row whose placeholders are all empty is left out) or from `rows_from`, a column
/// holding a JSON array of rows (arrays of cells, or objects keyed by `columns.key`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableItem {
    pub x: f32,
    /// The top edge.
    pub y: f32,
    pub columns: Vec<Column>,
    #[serde(default)]
    pub rows: Vec<Vec<String>>,
    #[serde(default)]
    pub rows_from: Option<String>,
    #[serde(default = "twenty")]
    pub row_height: f32,
    #[serde(flatten)]
    pub style: Style,
    #[serde(default)]
    pub header_style: Style,
    #[serde(default)]
    pub header_fill: Option<String>,
    /// Width of the grid lines; 0 draws none.
    #[serde(default = "half")]
    pub border: f32,
    #[serde(default)]
    pub border_colour: Option<String>,
    #[serde(default)]
    pub script: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    #[serde(default)]
    pub header: String,
    pub width: f32,
    #[serde(default)]
    pub align: Align,
    /// The key of this column in `rows_from` objects.
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QrBox {
    pub x: f32,
    pub y: f32,
    /// Side of the square, in points.
    pub size: f32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UriText {
    pub x: f32,
    pub y: f32,
    #[serde(default = "eight")]
    pub size: f32,
    #[serde(default)]
    pub font: Option<FontChoice>,
}

fn one() -> f32 {
    1.0
}
fn half() -> f32 {
    0.5
}
fn eight() -> f32 {
    8.0
}
fn twenty() -> f32 {
    20.0
}
