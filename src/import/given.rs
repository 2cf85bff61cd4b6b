//! The DocIds a file gives in its `doc_id` column that minting could also draw, read
//! before the import starts: a row's minted DocId must not take the one a later row of
//! the same file gives, or that row would be refused, its DocId held by another
//! document. Only DocIds of the doc type's minted form (its length, the minting
//! alphabet) are kept, each packed into a u64: a department's own numbering costs no
//! memory, and 10M given DocIds of the minted form about 150 MiB.

use std::collections::HashSet;
use std::io::Read;

use crate::uri::{DocIdSpace, DOC_ID_ALPHABET};

#[derive(Debug, Default)]
pub(super) struct GivenIds {
    packed: HashSet<u64>,
    length: usize,
}

impl GivenIds {
    /// Reads the `doc_id` column (index `column`) of a CSV. A record that does not
    /// parse is passed over here: the import proper reports it.
    pub fn read(csv: impl Read, column: usize, space: &DocIdSpace) -> std::io::Result<GivenIds> {
        let mut given = GivenIds {
            packed: HashSet::new(),
            length: space.length,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(std::io::BufReader::with_capacity(1 << 20, csv));
        let mut record = csv::ByteRecord::new();
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) if e.is_io_error() => return Err(std::io::Error::other(e)),
                Err(_) => continue,
            }
            // Trimmed as the import trims (`Columns::get`), Unicode spaces too.
            let field = record.get(column).and_then(|f| std::str::from_utf8(f).ok());
            if let Some(id) = field.and_then(|f| given.pack(f.trim().as_bytes())) {
                given.packed.insert(id);
            }
        }
        Ok(given)
    }

    /// Whether a row of the file gives this DocId.
    pub fn contains(&self, id: &str) -> bool {
        self.pack(id.as_bytes())
            .is_some_and(|p| self.packed.contains(&p))
    }

    /// Five bits a character (the alphabet has 31), for DocIds minting could draw.
    fn pack(&self, id: &[u8]) -> Option<u64> {
        if id.len() != self.length {
            return None;
        }
        id.iter().try_fold(0u64, |acc, c| {
            let i = DOC_ID_ALPHABET.iter().position(|a| a == c)?;
            Some((acc << 5) | i as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_doc_ids_of_the_minted_form_are_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let csv = dir.path().join("rows.csv");
        std::fs::write(
            &csv,
            "RollNo,doc_id\n1,AB2CD\n2, ZZ9Y8 \n3,ab2cd\n4,AB2C\n5,AB2CDE\n6,AB0CD\n7,\n8,XY3Z4\u{a0}\n9\n\"10,broken\n",
        )
        .expect("write");
        let file = std::fs::File::open(&csv).expect("open");
        let given = GivenIds::read(file, 1, &DocIdSpace { length: 5 }).expect("read");
        assert!(given.contains("AB2CD"));
        assert!(given.contains("ZZ9Y8"), "trimmed as the import trims");
        assert!(given.contains("XY3Z4"), "a no-break space trimmed too");
        // Other case, length or alphabet (0 is not in it): never minted, not kept; a
        // short record or one that does not parse is passed over.
        assert_eq!(given.packed.len(), 3);
        assert!(!given.contains("AB2CE"));
        assert!(!GivenIds::default().contains("AB2CD"));
    }
}
