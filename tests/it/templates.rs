//! Certificates in Indian languages, judged by poppler (pdftotext, pdffonts, pdftoppm):
//! the text extracted is the text given, fonts are embedded as subsets with a Unicode
//! map, and a rendered page still looks like its reviewed reference image. The
//! script fonts come from Debian's fonts-noto-core (installed by .ci/run); the demo's
//! own fonts ship in templates/fonts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;
use dlrepo::docs::template::Template;

backend_tests!(a_bilingual_mark_sheet_is_served_signed_and_reads_back_in_both_scripts);

/// Sample text of each script, with the installed Noto family that draws it.
const SCRIPTS: &[(&str, &str, &str)] = &[
    (
        "devanagari",
        "Noto Sans Devanagari",
        "कक्षा दसवीं परीक्षा परिणाम: श्रीमती प्रियंका त्रिपाठी",
    ),
    (
        "tamil",
        "Noto Sans Tamil",
        "தமிழ்நாடு பள்ளிக் கல்வி: செல்வி கீர்த்தனா",
    ),
    (
        "bengali",
        "Noto Sans Bengali",
        "পশ্চিমবঙ্গ মধ্যশিক্ষা পর্ষদ: শ্রীমতী ঋতুপর্ণা",
    ),
    ("urdu", "Noto Naskh Arabic", "اردو زبان میں نتیجہ"),
];

fn tools() -> Option<()> {
    require_tools(
        &["pdftotext", "pdffonts", "pdftoppm", "pdfimages", "qpdf"],
        &["/usr/share/fonts/truetype/noto/NotoSansTamil-Regular.ttf"],
    )
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(cmd: &str, args: &[&Path]) -> String {
    let o = Command::new(cmd).args(args).output().expect(cmd);
    assert!(o.status.success(), "{cmd}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every one of `want` is a whole line of `lines`.
fn assert_has_lines(lines: &[String], want: &[&str]) {
    for w in want {
        assert!(lines.iter().any(|l| l == w), "{w:?} not among {lines:?}");
    }
}

/// pdftotext's lines, without the direction marks it puts around right-to-left runs.
fn extracted_lines(pdf: &Path) -> Vec<String> {
    let out = run("pdftotext", &[pdf, Path::new("-")]);
    out.lines()
        .map(|l| {
            l.chars()
                .filter(|c| !matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}'))
                .collect::<String>()
                .trim()
                .to_string()
        })
        .filter(|l| !l.is_empty() && l != "\u{c}")
        .collect()
}

fn scripts_template(dir: &Path) -> PathBuf {
    let mut t = String::from(
        "page = { width = 595, height = 420 }\nlang = \"hi-IN\"\n[fonts]\nlatin = \"Noto Sans\"\n",
    );
    for (name, family, _) in SCRIPTS {
        t.push_str(&format!("{name} = \"{family}\"\n"));
    }
    for (i, (name, _, _)) in SCRIPTS.iter().enumerate() {
        let (x, align) = if *name == "urdu" {
            (545, "right")
        } else {
            (50, "left")
        };
        t.push_str(&format!(
            "[[text]]\nfield = \"{name}\"\nfont = [\"{name}\", \"latin\"]\nsize = 22\nx = {x}\ny = {}\nalign = \"{align}\"\nscript = \"{name}\"\n",
            360 - i * 80
        ));
    }
    let p = dir.join("scripts.toml");
    std::fs::write(&p, t).expect("write");
    p
}

fn scripts_values() -> HashMap<String, String> {
    SCRIPTS
        .iter()
        .map(|(name, _, sample)| (name.to_string(), sample.to_string()))
        .collect()
}

#[test]
fn each_script_reads_back_exactly_from_embedded_subset_fonts() {
    let Some(()) = tools() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let t = Template::load(&scripts_template(dir.path())).expect("template");
    let pdf = t
        .render(&scripts_values(), "in.gov.x-MARKS-ABC")
        .expect("render");
    assert_eq!(
        pdf,
        t.render(&scripts_values(), "in.gov.x-MARKS-ABC")
            .expect("again"),
        "the same row gives the same bytes"
    );
    let file = dir.path().join("scripts.pdf");
    std::fs::write(&file, &pdf).expect("write");
    let lines = extracted_lines(&file);
    for (name, _, sample) in SCRIPTS {
        assert!(
            lines.iter().any(|l| l == sample),
            "{name}: {sample:?} not among {lines:?}"
        );
    }
    let fonts = run("pdffonts", &[&file]);
    for family in [
        "NotoSansDevanagari",
        "NotoSansTamil",
        "NotoSansBengali",
        "NotoNaskhArabic",
    ] {
        let line = fonts
            .lines()
            .find(|l| l.contains(family))
            .unwrap_or_else(|| panic!("{family} not embedded: {fonts}"));
        // A subset is named ABCDEF+Name; embedded, subset and Unicode-mapped: yes yes yes.
        assert!(
            line.split('+').next().is_some_and(|tag| tag.len() == 6),
            "{line}"
        );
        assert!(line.contains("yes yes yes"), "{line}");
    }
    // PDF/A-2b, as far as tools we have can tell (veraPDF is not packaged for Debian,
    // PyPI or npm): declared in the XMP metadata, an sRGB output intent, every font
    // embedded, and a structurally sound file.
    let raw = String::from_utf8_lossy(&pdf);
    assert!(
        raw.contains("pdfaid:part>2<") || raw.contains("pdfaid:part=\"2\""),
        "no PDF/A id"
    );
    assert!(
        raw.contains("pdfaid:conformance>B<") || raw.contains("pdfaid:conformance=\"B\""),
        "no PDF/A conformance level"
    );
    assert!(raw.contains("/GTS_PDFA1"), "no PDF/A output intent");
    assert!(
        fonts.lines().skip(2).all(|l| l.contains(" yes ")),
        "a font is not embedded: {fonts}"
    );
    run("qpdf", &[Path::new("--check"), &file]);

    // Alignment: the Urdu line ends at its right edge (x = 545).
    let right = words(&file)
        .into_iter()
        .filter(|w| w.is_urdu())
        .map(|w| w.x_max)
        .fold(0.0, f64::max);
    assert!((right - 545.0).abs() < 2.0, "Urdu line ends at {right}");
}

struct Word {
    text: String,
    x_min: f64,
    x_max: f64,
    /// From the top of the page down.
    y_min: f64,
}

impl Word {
    fn is_urdu(&self) -> bool {
        self.text
            .chars()
            .any(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
    }
}

fn texts(words: &[Word]) -> Vec<&str> {
    words.iter().map(|w| w.text.as_str()).collect()
}

/// Words and their horizontal extent, from `pdftotext -bbox`.
fn words(pdf: &Path) -> Vec<Word> {
    let html = run("pdftotext", &[Path::new("-bbox"), pdf, Path::new("-")]);
    html.lines()
        .filter_map(|l| {
            let l = l.trim();
            let attr = |name: &str| -> Option<f64> {
                let at = l.find(&format!("{name}=\""))? + name.len() + 2;
                l[at..].split('"').next()?.parse().ok()
            };
            let text = l
                .strip_prefix("<word ")?
                .split('>')
                .nth(1)?
                .split('<')
                .next()?;
            Some(Word {
                text: text.to_string(),
                x_min: attr("xMin")?,
                x_max: attr("xMax")?,
                y_min: attr("yMin")?,
            })
        })
        .collect()
}

#[test]
fn a_mixed_urdu_and_english_line_reads_in_logical_order() {
    let Some(()) = tools() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let t = dir.path().join("t.toml");
    std::fs::write(
        &t,
        "[fonts]\nlatin = \"Noto Sans\"\nurdu = \"Noto Naskh Arabic\"\n\
         [[text]]\ntext = \"نام / Name: {name}\"\nfont = [\"latin\", \"urdu\"]\nx = 50\ny = 700\nsize = 16\n",
    )
    .expect("write");
    let t = Template::load(&t).expect("template");
    let pdf = dir.path().join("m.pdf");
    let values = HashMap::from([("name".to_string(), "Ayesha Khan".to_string())]);
    std::fs::write(&pdf, t.render(&values, "in.gov.x-M-A").expect("render")).expect("write");
    let words = words(&pdf);
    // The line starts with Urdu, so it runs right to left (Unicode bidi): the Urdu word
    // at the right end, the English run to its left, in its own order.
    let at = |w: &str| words.iter().find(|x| x.text == w).map(|x| x.x_min);
    let urdu = words
        .iter()
        .filter(|w| w.is_urdu())
        .map(|w| w.x_min)
        .fold(0.0, f64::max);
    let name = at("Name:").unwrap_or_else(|| panic!("no Latin word among {:?}", texts(&words)));
    let ayesha = at("Ayesha").unwrap_or_else(|| panic!("no value among {:?}", texts(&words)));
    assert!(name < ayesha && ayesha < urdu, "{name} {ayesha} {urdu}");
    let lines = extracted_lines(&pdf);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("نام") && l.contains("Name: Ayesha Khan")),
        "{lines:?}"
    );
}

/// Grey pixels of the page at `dpi`, via pdftoppm.
fn raster(pdf: &Path, dpi: u32) -> (u32, u32, Vec<u8>) {
    let stem = pdf.with_extension("");
    let o = Command::new("pdftoppm")
        .args(["-png", "-gray", "-singlefile", "-r", &dpi.to_string()])
        .arg(pdf)
        .arg(&stem)
        .output()
        .expect("pdftoppm");
    assert!(o.status.success(), "{}", text(&o));
    decode(&stem.with_extension("png"))
}

fn decode(png_file: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_file).expect("png"),
    ));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let grey: Vec<u8> = match info.color_type {
        png::ColorType::Grayscale => buf[..info.buffer_size()].to_vec(),
        png::ColorType::Rgb => buf[..info.buffer_size()].chunks(3).map(|p| p[1]).collect(),
        other => panic!("unexpected colour type {other:?}"),
    };
    (info.width, info.height, grey)
}

/// The page against `tests/reference/NAME.png`: the same size, and at most 4 pixels
/// more than 32 grey levels apart. The same poppler renders the same PDF to the same
/// pixels, so the slack only absorbs a stray anti-aliased edge; one matra changed in a
/// name (ा to ी, 12 pt at 100 dpi) moves 20 pixels even at 64 levels. Where poppler
/// or the fonts are upgraded, look at the new page and renew the reference:
/// DLREPO_UPDATE_REFERENCE=1 writes it instead of comparing.
fn assert_looks_like_reference(pdf: &Path, name: &str, dpi: u32) {
    let reference = Path::new("tests/reference").join(format!("{name}.png"));
    let (w, h, got) = raster(pdf, dpi);
    if std::env::var("DLREPO_UPDATE_REFERENCE").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all("tests/reference").expect("dir");
        std::fs::copy(pdf.with_extension("png"), &reference).expect("copy");
        return;
    }
    let (rw, rh, want) = decode(&reference);
    assert_eq!((w, h), (rw, rh), "{name}: page size changed");
    let off = got
        .iter()
        .zip(&want)
        .filter(|(a, b)| a.abs_diff(**b) > 32)
        .count();
    assert!(
        off <= 4,
        "{name}: {off} pixels differ from {}; the page is at {}",
        reference.display(),
        pdf.with_extension("png").display()
    );
}

fn demo_row() -> HashMap<String, String> {
    [
        ("RollNo", "2024100"),
        ("Year", "2024"),
        ("holder_name", "Aarav Sharma"),
        ("holder_name_hi", "आरव शर्मा"),
        ("doc_name", "Class X Mark Sheet 2024"),
        ("issued_on", "15/05/2024"),
        ("Hindi", "75"),
        ("English", "64"),
        ("Maths", "80"),
        ("Science", "96"),
        ("Social", "58"),
        ("TotalMarks", "373"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn rendered_pages_look_like_their_reviewed_references() {
    let Some(()) = tools() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let keep = std::env::var("DLREPO_KEEP_RENDERS").ok().map(PathBuf::from);
    let out = keep.as_deref().unwrap_or(dir.path());
    let scripts = Template::load(&scripts_template(dir.path())).expect("template");
    let pdf = out.join("scripts.pdf");
    std::fs::write(
        &pdf,
        scripts
            .render(&scripts_values(), "in.gov.x-MARKS-ABC")
            .expect("render"),
    )
    .expect("write");
    assert_looks_like_reference(&pdf, "scripts", 72);

    let demo = Template::load(Path::new("templates/marksheet-bilingual.toml")).expect("demo");
    let pdf = out.join("marksheet-bilingual.pdf");
    std::fs::write(
        &pdf,
        demo.render(&demo_row(), "in.gov.example.board-MARKS-768XU")
            .expect("render"),
    )
    .expect("write");
    assert_looks_like_reference(&pdf, "marksheet-bilingual", 100);
}

#[test]
fn layout_text_wraps_aligns_and_tables_follow_the_row() {
    let Some(()) = tools() else { return };
    let demo = Template::load(Path::new("templates/marksheet-bilingual.toml")).expect("demo");
    let dir = tempfile::tempdir().expect("tmp");
    let mut row = demo_row();
    // A subject with no marks leaves its row out.
    row.remove("Social");
    let pdf = dir.path().join("m.pdf");
    std::fs::write(
        &pdf,
        demo.render(&row, "in.gov.example.board-MARKS-768XU")
            .expect("render"),
    )
    .expect("write");
    let lines = extracted_lines(&pdf);
    assert_has_lines(
        &lines,
        &[
            "नाम / Name: आरव शर्मा / Aarav Sharma",
            "अनुक्रमांक / Roll number: 2024100",
            "हिन्दी / Hindi",
            "प्राप्तांक / Obtained",
            "जारी करने की तिथि / Issued on: 15/05/2024",
            "in.gov.example.board-MARKS-768XU",
        ],
    );
    assert!(
        !lines.iter().any(|l| l.contains("Social Science")),
        "{lines:?}"
    );
    // Centred on x = 335: the English board name.
    let ws = words(&pdf);
    let board: Vec<&Word> = ws
        .iter()
        .filter(|w| ["Example", "Education"].contains(&w.text.as_str()))
        .collect();
    let centre = (board[0].x_min + board[board.len() - 1].x_max) / 2.0;
    assert!((centre - 335.0).abs() < 1.5, "centre {centre}");
    // The box is 330 pt wide: the note is wrapped over more than one line.
    let note = lines
        .iter()
        .filter(|l| l.contains("DigiLocker") || l.contains("डिजिटल"))
        .count();
    assert!(
        note >= 1
            && !lines
                .iter()
                .any(|l| l.contains("यह अंकपत्र") && l.contains("DigiLocker")),
        "{lines:?}"
    );

    // rows_from: a JSON column of rows.
    let t = dir.path().join("t.toml");
    std::fs::write(
        &t,
        "[fonts]\nlatin = \"Noto Sans\"\ntamil = \"Noto Sans Tamil\"\n\
         [[table]]\nx = 50\ny = 700\nfont = [\"latin\", \"tamil\"]\nrows_from = \"marks\"\n\
         columns = [ { header = \"பாடம் / Subject\", width = 200, key = \"subject\" }, { header = \"மதிப்பெண் / Marks\", width = 120, align = \"right\", key = \"marks\" } ]\n",
    )
    .expect("write");
    let t = Template::load(&t).expect("template");
    let values = HashMap::from([(
        "marks".to_string(),
        r#"[{"subject": "தமிழ் / Tamil", "marks": 91}, ["கணிதம் / Maths", "88"]]"#.to_string(),
    )]);
    std::fs::write(&pdf, t.render(&values, "in.gov.x-M-A").expect("render")).expect("write");
    let lines = extracted_lines(&pdf);
    assert_has_lines(
        &lines,
        &["பாடம் / Subject", "தமிழ் / Tamil", "91", "கணிதம் / Maths", "88"],
    );
    let bad = HashMap::from([("marks".to_string(), "[oops".to_string())]);
    let e = t.render(&bad, "in.gov.x-M-A").expect_err("not JSON");
    assert!(e.to_string().contains("marks is not JSON"), "{e}");
}

fn dlrepo(ws: &Workspace, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .arg("-c")
        .arg(&ws.config_path)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run dlrepo")
}

/// The demo's template and what it embeds, copied into a workspace and used by MARKS.
fn use_demo_template(ws: &mut Workspace) {
    std::fs::create_dir_all(ws.path("templates/fonts")).expect("dir");
    for f in [
        "marksheet-bilingual.toml",
        "logo.png",
        "fonts/NotoSans-Regular.ttf",
        "fonts/NotoSans-Bold.ttf",
        "fonts/NotoSansDevanagari-Regular.ttf",
        "fonts/NotoSansDevanagari-Bold.ttf",
    ] {
        std::fs::copy(
            Path::new("templates").join(f),
            ws.path(&format!("templates/{f}")),
        )
        .expect("copy");
    }
    ws.edit_config(|c| {
        c.replacen(
            "name = \"Class X Mark Sheet\"\n",
            "name = \"Class X Mark Sheet\"\ntemplate = \"templates/marksheet-bilingual.toml\"\n",
            1,
        )
    });
}

#[test]
fn render_previews_a_row_and_check_config_names_missing_fonts_and_glyphs() {
    let Some(()) = tools() else { return };
    let mut ws = Workspace::new(Backend::Sqlite);
    use_demo_template(&mut ws);
    let row: serde_json::Map<String, serde_json::Value> = demo_row()
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    std::fs::write(
        ws.path("row.json"),
        serde_json::to_string(&row).expect("json"),
    )
    .expect("write");
    let out = ws.path("preview.pdf");
    let png = ws.path("preview.png");
    let o = dlrepo(
        &ws,
        &[
            "render",
            "--doctype",
            "MARKS",
            "--row",
            &ws.path("row.json").display().to_string(),
            "--out",
            &out.display().to_string(),
            "--png",
            &png.display().to_string(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(extracted_lines(&out)
        .iter()
        .any(|l| l == "नाम / Name: आरव शर्मा / Aarav Sharma"));
    assert!(std::fs::read(&png).expect("png").starts_with(b"\x89PNG"));
    let o = dlrepo(
        &ws,
        &[
            "render",
            "--doctype",
            "MARKS",
            "--row",
            "/nonexistent.json",
            "--out",
            "x.pdf",
        ],
    );
    assert!(
        !o.status.success() && text(&o).contains("cannot read /nonexistent.json"),
        "{}",
        text(&o)
    );

    let t = ws.path("templates/marksheet-bilingual.toml");
    let good = std::fs::read_to_string(&t).expect("read");
    let cases = [
        (
            good.replace(
                "latin = { file = \"fonts/NotoSans-Regular.ttf\" }",
                "latin = \"No Such Sans\"",
            ),
            "font 'latin': no installed font of family 'No Such Sans'",
        ),
        (
            good.replace("fonts/NotoSans-Bold.ttf", "fonts/missing.ttf"),
            "font 'latin-bold': cannot read",
        ),
        (
            good.replace("script = \"devanagari\"", "script = \"tamil\""),
            "text[3] (script tamil): no font of [latin-bold, deva-bold] has 'அ'",
        ),
        (
            good.replace("font = [\"deva-bold\"]", "font = [\"latin-bold\"]"),
            "text[0]: no font of [latin-bold] has 'उ'",
        ),
        (
            good.replace("font = [\"deva-bold\"]", "font = [\"nope\"]"),
            "font 'nope' is not in [fonts]",
        ),
    ];
    for (text_of, want) in cases {
        std::fs::write(&t, text_of).expect("write");
        let o = dlrepo(&ws, &["check-config"]);
        assert!(!o.status.success(), "{want}");
        assert!(text(&o).contains(want), "{want}: {}", text(&o));
    }
}

async fn a_bilingual_mark_sheet_is_served_signed_and_reads_back_in_both_scripts(b: Backend) {
    let Some(()) = tools() else { return };
    let mut ws = Workspace::new(b);
    use_demo_template(&mut ws);
    let k = dlrepo(
        &ws,
        &[
            "keygen",
            "--algo",
            "ec",
            "--dir",
            &ws.path("certs").display().to_string(),
        ],
    );
    assert!(k.status.success(), "{}", text(&k));
    ws.edit_config(|c| {
        c + "\n[signing]\nkey = \"certs/signer.key\"\nchain = \"certs/signer-chain.pem\"\n"
    });
    let csv = ws.write(
        "m.csv",
        "RollNo,Year,holder_name,holder_name_hi,doc_name,issued_on,Hindi,English,Maths,Science,Social,TotalMarks\n\
         2024100,2024,Aarav Sharma,आरव शर्मा,Class X Mark Sheet 2024,15/05/2024,75,64,80,96,58,373\n",
    );
    let report = ws.import("MARKS", &csv);
    assert_eq!(report.imported, 1, "{:?}", report.rejected);
    let dir = ws.dir.path().to_path_buf();
    let app = spawn_on(ws).await;
    let r = app
        .pull_uri(&[("RollNo", "2024100"), ("Year", "2024")])
        .await;
    assert_eq!(r.status(), "1");
    let pdf = dir.join("pulled.pdf");
    std::fs::write(&pdf, r.doc_bytes()).expect("write");
    let lines = extracted_lines(&pdf);
    assert_has_lines(
        &lines,
        &[
            "नाम / Name: आरव शर्मा / Aarav Sharma",
            "उदाहरण माध्यमिक शिक्षा बोर्ड",
            "373",
        ],
    );
    let reports = dlrepo::docs::verify::verify(&r.doc_bytes(), &[]);
    assert_eq!(reports.len(), 1, "signed once");
    assert!(
        reports[0].intact && reports[0].covers_whole_file,
        "{:?}",
        reports[0].problem
    );
}

/// examples/tamil-board renders as its comments say, with the installed Tamil fonts.
#[test]
fn the_tamil_example_renders_from_its_row() {
    let Some(()) = tools() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("sslc.pdf");
    let o = Command::new(env!("CARGO_BIN_EXE_dlrepo"))
        .args([
            "-c",
            "examples/tamil-board/dlrepo.toml",
            "render",
            "--doctype",
            "SSLC",
        ])
        .args(["--row", "examples/tamil-board/row.json", "--out"])
        .arg(&out)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run dlrepo");
    assert!(o.status.success(), "{}", text(&o));
    let lines = extracted_lines(&out);
    assert_has_lines(
        &lines,
        &[
            "பெயர் / Name: காவ்யா சுப்பிரமணியன் / Kavya Subramanian",
            "சமூக அறிவியல் / Social Science",
            "மொத்தம் / Total: 459",
        ],
    );
}

/// A logo (PNG with transparency) and a signature scan (JPEG) are placed, at their size.
#[test]
fn png_and_jpeg_images_are_embedded() {
    let Some(()) = tools() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    // A JPEG made by poppler from a page of ours stands in for a scanned signature.
    let scripts = Template::load(&scripts_template(dir.path())).expect("template");
    let page = dir.path().join("page.pdf");
    std::fs::write(
        &page,
        scripts
            .render(&scripts_values(), "in.gov.x-M-A")
            .expect("render"),
    )
    .expect("write");
    let o = Command::new("pdftoppm")
        .args(["-jpeg", "-r", "20", "-singlefile"])
        .arg(&page)
        .arg(dir.path().join("signature"))
        .output()
        .expect("pdftoppm");
    assert!(o.status.success(), "{}", text(&o));
    std::fs::copy("templates/logo.png", dir.path().join("logo.png")).expect("copy");
    let t = dir.path().join("t.toml");
    std::fs::write(
        &t,
        "[fonts]\nlatin = \"Noto Sans\"\n\
         [[image]]\nfile = \"logo.png\"\nx = 50\ny = 700\nwidth = 80\n\
         [[image]]\nfile = \"signature.jpg\"\nx = 400\ny = 100\nheight = 40\n",
    )
    .expect("write");
    let t = Template::load(&t).expect("template");
    let pdf = dir.path().join("i.pdf");
    std::fs::write(
        &pdf,
        t.render(&HashMap::new(), "in.gov.x-M-A").expect("render"),
    )
    .expect("write");
    let list = run("pdfimages", &[Path::new("-list"), &pdf]);
    let rows: Vec<&str> = list.lines().skip(2).collect();
    // pdfimages: page num type width height color comp bpc enc interp object ID x-ppi y-ppi
    let cols = |r: &&str| r.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let jpeg = rows
        .iter()
        .find(|r| r.contains(" jpeg "))
        .map(cols)
        .expect(&list);
    let logo = rows
        .iter()
        .find(|r| r.contains("160   160"))
        .map(cols)
        .expect(&list);
    // The logo's 160 pixels over 80 pt: 144 pixels per inch, both ways (height followed).
    assert_eq!(
        (logo[12].as_str(), logo[13].as_str()),
        ("144", "144"),
        "{list}"
    );
    // The JPEG's height is 40 pt and its width follows: the same ppi both ways.
    let ppi: f64 = jpeg[13].parse().expect("ppi");
    let expected = jpeg[4].parse::<f64>().expect("height") / (40.0 / 72.0);
    assert!(
        (ppi - expected).abs() < 2.0 && jpeg[12] == jpeg[13],
        "{list}"
    );
    // A PNG cut short is refused when the template is loaded.
    let png = std::fs::read("templates/logo.png").expect("logo");
    std::fs::write(dir.path().join("logo.png"), &png[..200]).expect("write");
    let e = Template::load(&dir.path().join("t.toml")).expect_err("truncated image");
    assert!(
        e.to_string()
            .contains("cannot be rendered: an image cannot be decoded"),
        "{e}"
    );
    // Not an image: refused when the template is loaded, naming the file.
    std::fs::write(dir.path().join("logo.png"), b"not a picture").expect("write");
    let e = Template::load(&dir.path().join("t.toml")).expect_err("not an image");
    assert!(e.to_string().contains("logo.png"), "{e}");
}

/// A line break in a value starts a new line; wrapped Urdu stays right to left on
/// every line; numbers and font names that cannot be drawn are refused at load.
#[test]
fn line_breaks_wrapped_urdu_and_impossible_templates() {
    let Some(()) = tools() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let t = dir.path().join("t.toml");
    let head = "[fonts]\nlatin = \"Noto Sans\"\nurdu = \"noto naskh arabic\"\n";
    std::fs::write(
        &t,
        format!(
            "{head}[[text]]\nfield = \"v\"\nfont = [\"latin\", \"urdu\"]\nx = 50\ny = 700\n\
             [[text]]\nfield = \"u\"\nfont = [\"latin\", \"urdu\"]\nx = 50\ny = 500\nwidth = 110\nsize = 14\nalign = \"right\"\n"
        ),
    )
    .expect("write");
    let template = Template::load(&t).expect("template (family names in any case)");
    let values = HashMap::from([
        ("v".to_string(), "Line one\nLine two\tend".to_string()),
        (
            "u".to_string(),
            "اردو زبان Ayesha Khan میں نتیجہ".to_string(),
        ),
    ]);
    let pdf = dir.path().join("b.pdf");
    std::fs::write(
        &pdf,
        template.render(&values, "in.gov.x-M-A").expect("render"),
    )
    .expect("write");
    let lines = extracted_lines(&pdf);
    assert_has_lines(&lines, &["Line one", "Line two end"]);
    // Wrapped into 110 pt and right-aligned, every line ends at x = 160, and on each
    // line the Urdu words stand to the right of the English ones (right to left).
    let ws = words(&pdf);
    let ends: Vec<f64> = ws.iter().map(|w| w.x_max).collect();
    assert!(ends.iter().all(|x| *x <= 161.0), "{ends:?}");
    let khan = ws.iter().find(|w| w.text == "Khan").expect("Khan");
    let urdu_max = ws
        .iter()
        .filter(|w| w.is_urdu())
        .map(|w| w.x_max)
        .fold(0.0, f64::max);
    assert!(urdu_max > 158.0, "{ends:?}");
    assert!(khan.x_max < urdu_max, "{ends:?}");

    let cases = [
        (
            "[[text]]\nfield = \"v\"\nfont = \"latin\"\nx = nan\ny = 1\n",
            "text[0].x must be a number",
        ),
        (
            "[[text]]\nfield = \"v\"\nfont = \"latin\"\nsize = 1e30\nx = 1\ny = 1\n",
            "size must be above 0 and at most 1000",
        ),
        (
            "[[line]]\nfrom = [0, 0]\nto = [10, 10]\nwidth = -3\n",
            "line[0].width must be above 0",
        ),
        (
            "[[rect]]\nx = 1\ny = 1\nwidth = 5\nheight = 5\nstroke_width = nan\n",
            "rect[0].stroke_width must be above 0",
        ),
        (
            "[[text]]\nfield = \"v\"\nfont = []\nx = 1\ny = 1\n",
            "the font list is empty",
        ),
        (
            "[[text]]\nfield = \"v\"\nx = 1\ny = 1\n",
            "text[0]: name its font",
        ),
        (
            "page = { width = inf, height = 842 }\n",
            "page width and height must be above 0",
        ),
    ];
    for (body, want) in cases {
        // `page` must come before [fonts] in TOML.
        let text = if body.starts_with("page") {
            format!("{body}{head}")
        } else {
            format!("{head}{body}")
        };
        std::fs::write(&t, text).expect("write");
        let e = Template::load(&t).expect_err(want);
        assert!(e.to_string().contains(want), "{want}: {e}");
    }
}

/// A cell too long for its column wraps inside it, and its row grows to hold it.
#[test]
fn a_long_table_cell_wraps_and_its_row_grows() {
    let Some(()) = tools() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let t = dir.path().join("t.toml");
    std::fs::write(
        &t,
        "[fonts]\nlatin = \"Noto Sans\"\n\
         [[table]]\nx = 50\ny = 700\nfont = \"latin\"\nrow_height = 20\n\
         columns = [ { header = \"Subject\", width = 120 }, { header = \"Marks\", width = 60, align = \"right\" } ]\n\
         rows = [ [\"{long}\", \"91\"], [\"Mathematics\", \"88\"] ]\n",
    )
    .expect("write");
    let t = Template::load(&t).expect("template");
    let values = HashMap::from([(
        "long".to_string(),
        "Social Science and Civics with Geography".to_string(),
    )]);
    let pdf = dir.path().join("t.pdf");
    std::fs::write(&pdf, t.render(&values, "in.gov.x-M-A").expect("render")).expect("write");
    let ws = words(&pdf);
    let at = |w: &str| {
        ws.iter()
            .find(|x| x.text == w)
            .unwrap_or_else(|| panic!("{w} missing: {:?}", texts(&ws)))
    };
    let (social, geography, maths) = (at("Social"), at("Geography"), at("Mathematics"));
    assert!(
        geography.y_min > social.y_min + 5.0,
        "the cell wraps onto a second line"
    );
    assert!(
        maths.y_min > geography.y_min + 5.0,
        "the next row starts below the wrapped cell"
    );
    assert!(
        ws.iter().all(|w| w.x_max <= 50.0 + 180.0 + 1.0),
        "nothing runs past the table"
    );
}
