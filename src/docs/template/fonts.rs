//! The fonts a template embeds: read from a file or found among the installed fonts,
//! and which of a chain has a glyph for a character.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::spec::{FontDetail, FontSource};

/// One loaded face: its bytes, for shaping (rustybuzz) and embedding (krilla).
#[derive(Clone)]
pub struct LoadedFont {
    pub name: String,
    /// Where it came from, for messages.
    pub origin: PathBuf,
    pub data: Arc<Vec<u8>>,
    pub index: u32,
    pub krilla: krilla::text::Font,
    pub units_per_em: f32,
    /// The characters its cmap maps, read once (asked for every character drawn).
    coverage: Arc<HashSet<u32>>,
}

impl std::fmt::Debug for LoadedFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "font {} ({})", self.name, self.origin.display())
    }
}

impl LoadedFont {
    pub fn face(&self) -> Option<rustybuzz::Face<'_>> {
        rustybuzz::Face::from_slice(&self.data, self.index)
    }

    pub fn has_glyph(&self, c: char) -> bool {
        self.coverage.contains(&(c as u32))
    }
}

/// The template's fonts by name.
#[derive(Debug, Clone, Default)]
pub struct FontSet {
    fonts: Vec<LoadedFont>,
    by_name: BTreeMap<String, usize>,
}

impl FontSet {
    pub fn load(
        sources: &BTreeMap<String, FontSource>,
        template_dir: &Path,
    ) -> Result<FontSet, String> {
        let mut set = FontSet::default();
        for (name, source) in sources {
            let detail = match source {
                FontSource::Family(family) => FontDetail {
                    file: None,
                    index: 0,
                    family: Some(family.clone()),
                    bold: false,
                    italic: false,
                },
                FontSource::Detailed(d) => d.clone(),
            };
            let (origin, data, index) = match (&detail.file, &detail.family) {
                (Some(file), _) => {
                    let path = [
                        template_dir.join(file),
                        template_dir.join("fonts").join(file),
                    ]
                    .into_iter()
                    .find(|p| p.is_file())
                    .unwrap_or_else(|| template_dir.join(file));
                    let data = std::fs::read(&path).map_err(|e| {
                        format!("font '{name}': cannot read {}: {e}", path.display())
                    })?;
                    (path, data, detail.index)
                }
                (None, Some(family)) => {
                    installed(family, detail.bold, detail.italic).ok_or_else(|| {
                        format!(
                            "font '{name}': no installed font of family '{family}'{} (install it, \
                             e.g. Debian's fonts-noto-core, or give file = \"...\")",
                            if detail.bold { " (bold)" } else { "" }
                        )
                    })?
                }
                (None, None) => {
                    return Err(format!("font '{name}': give a family or a file"));
                }
            };
            let data = Arc::new(data);
            let face = rustybuzz::Face::from_slice(&data, index).ok_or_else(|| {
                format!(
                    "font '{name}': {} is not a TrueType/OpenType font",
                    origin.display()
                )
            })?;
            let units_per_em = face.units_per_em() as f32;
            let mut coverage = HashSet::new();
            if let Some(cmap) = face.tables().cmap {
                for sub in cmap.subtables.into_iter().filter(|s| s.is_unicode()) {
                    sub.codepoints(|cp| {
                        if sub.glyph_index(cp).is_some_and(|g| g.0 != 0) {
                            coverage.insert(cp);
                        }
                    });
                }
            }
            let krilla = krilla::text::Font::new(data.clone().into(), index)
                .ok_or_else(|| format!("font '{name}': {} cannot be embedded", origin.display()))?;
            set.by_name.insert(name.clone(), set.fonts.len());
            set.fonts.push(LoadedFont {
                name: name.clone(),
                origin,
                data,
                index,
                krilla,
                units_per_em,
                coverage: Arc::new(coverage),
            });
        }
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.fonts.is_empty()
    }

    pub fn get(&self, i: usize) -> &LoadedFont {
        &self.fonts[i]
    }

    /// Indices of the named fonts, in order.
    pub fn chain(&self, names: &[&str]) -> Result<Vec<usize>, String> {
        names
            .iter()
            .map(|n| {
                self.by_name.get(*n).copied().ok_or_else(|| {
                    format!(
                        "font '{n}' is not in [fonts] (there: {})",
                        self.by_name.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                })
            })
            .collect()
    }

    /// The set's font when it has exactly one, else none.
    pub fn only(&self) -> Vec<usize> {
        if self.fonts.len() == 1 {
            vec![0]
        } else {
            vec![]
        }
    }

    /// Characters of `text` that no font of `chain` has, each once (spaces and joiners aside).
    pub fn missing(&self, chain: &[usize], text: &str) -> Vec<char> {
        let mut seen = HashSet::new();
        let out: Vec<char> = text
            .chars()
            .filter(|c| !ignorable(*c) && seen.insert(*c))
            .filter(|c| !chain.iter().any(|i| self.fonts[*i].has_glyph(*c)))
            .collect();
        out
    }
}

/// Characters that need no glyph of their own.
pub fn ignorable(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}')
}

/// A sample of each script's letters and signs, for check-config: a font chain that has
/// all of them can print a field of that script.
pub fn script_sample(script: &str) -> Option<&'static str> {
    Some(match script.to_ascii_lowercase().as_str() {
        "latin" => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "devanagari" | "hindi" | "marathi" => {
            "अआइईउऊएऐओऔकखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसहािीुूृेैोौं्ः।०१२३४५६७८९"
        }
        "bengali" | "bangla" => "অআইঈউঊএঐওঔকখগঘঙচছজঝঞটঠডঢণতথদধনপফবভমযরলশষসহািীুূৃেৈোৌং্ৎ০১২৩৪৫৬৭৮৯",
        "tamil" => "அஆஇஈஉஊஎஏஐஒஓஔகஙசஞடணதநபமயரலவழளறனஜஷஸஹாிீுூெேைொோௌ்௦௧௨௩௪௫௬௭௮௯",
        "telugu" => "అఆఇఈఉఊఎఏఐఒఓఔకఖగఘఙచఛజఝఞటఠడఢణతథదధనపఫబభమయరలవశషసహాిీుూెేైొోౌం్",
        "kannada" => "ಅಆಇಈಉಊಎಏಐಒಓಔಕಖಗಘಙಚಛಜಝಞಟಠಡಢಣತಥದಧನಪಫಬಭಮಯರಲವಶಷಸಹಾಿೀುೂೆೇೈೊೋೌಂ್",
        "malayalam" => "അആഇഈഉഊഎഏഐഒഓഔകഖഗഘങചഛജഝഞടഠഡഢണതഥദധനപഫബഭമയരലവശഷസഹാിീുൂെേൈൊോൌം്",
        "gujarati" => "અઆઇઈઉઊએઐઓઔકખગઘઙચછજઝઞટઠડઢણતથદધનપફબભમયરલવશષસહાિીુૂેૈોૌં્",
        "gurmukhi" | "punjabi" => "ਅਆਇਈਉਊਏਐਓਔਕਖਗਘਙਚਛਜਝਞਟਠਡਢਣਤਥਦਧਨਪਫਬਭਮਯਰਲਵਸਹਾਿੀੁੂੇੈੋੌਂ੍",
        "odia" | "oriya" => "ଅଆଇଈଉଊଏଐଓଔକଖଗଘଙଚଛଜଝଞଟଠଡଢଣତଥଦଧନପଫବଭମଯରଲଵଶଷସହାିୀୁୂେୈୋୌଂ୍",
        "urdu" | "arabic" => "ابپتٹثجچحخدڈذرڑزژسشصضطظعغفقکگلمنںوہھءیے",
        _ => return None,
    })
}

/// The installed font of `family` (any case), the fonts being listed once per process.
fn installed(family: &str, bold: bool, italic: bool) -> Option<(PathBuf, Vec<u8>, u32)> {
    static DB: OnceLock<fontdb::Database> = OnceLock::new();
    let db = DB.get_or_init(|| {
        let mut db = fontdb::Database::new();
        db.load_system_fonts();
        db
    });
    // fontdb matches family names exactly; people write them in any case.
    let family = db
        .faces()
        .flat_map(|f| f.families.iter().map(|(name, _)| name.as_str()))
        .find(|name| name.eq_ignore_ascii_case(family))?;
    let query = fontdb::Query {
        families: &[fontdb::Family::Name(family)],
        weight: if bold {
            fontdb::Weight::BOLD
        } else {
            fontdb::Weight::NORMAL
        },
        style: if italic {
            fontdb::Style::Italic
        } else {
            fontdb::Style::Normal
        },
        stretch: fontdb::Stretch::Normal,
    };
    let id = db.query(&query)?;
    let face = db.face(id)?;
    // fontdb falls back to the nearest weight: a bold asked for must be bold.
    if (bold && face.weight.0 < 600) || (italic && face.style == fontdb::Style::Normal) {
        return None;
    }
    match &face.source {
        fontdb::Source::File(path) => {
            let data = std::fs::read(path).ok()?;
            Some((path.clone(), data, face.index))
        }
        _ => None,
    }
}
