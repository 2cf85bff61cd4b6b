//! The CSV an import reads: a file as it is, or a pipe (a FIFO, `/dev/stdin`, a shell's
//! `<(zcat …)`). A file that gives DocIds is read twice, once ahead for them
//! (`given.rs`); a pipe can be read only once, so one whose header has a `doc_id` column
//! is first copied whole to an unnamed temporary file (in `TMPDIR`), which then stands in
//! for it. A pipe without that column is read as it comes, holding nothing.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};

/// The import's reader of the input's bytes. Until the header is known, a pipe's bytes
/// are also kept, so that they can go to the temporary file should it be needed.
pub(super) struct Input {
    file: File,
    kept: Option<Vec<u8>>,
}

impl Input {
    /// The input's size in bytes, for the progress bar; 0 for a pipe.
    pub fn size(&self) -> u64 {
        self.file.metadata().map_or(0, |m| m.len())
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if let Some(kept) = &mut self.kept {
            kept.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

pub(super) type CsvReader = csv::Reader<BufReader<Input>>;

/// Whether `file` can be read a second time: a regular file, not a pipe or a device.
pub(super) fn rereadable(file: &File) -> bool {
    file.metadata().is_ok_and(|m| m.file_type().is_file())
}

/// A CSV reader over `file`, its header not read yet.
pub(super) fn reader(file: File) -> CsvReader {
    let kept = (!rereadable(&file)).then(Vec::new);
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(BufReader::with_capacity(1 << 20, Input { file, kept }))
}

/// The header was all that was wanted kept: the rest is read as it comes.
pub(super) fn keep_nothing(reader: &mut CsvReader) {
    reader.get_mut().get_mut().kept = None;
}

/// Copies the whole input (what the reader has read and the rest) to an unnamed
/// temporary file, and returns it at its start. The reader's buffer is dropped here: its
/// bytes were kept as they were read.
pub(super) fn spool(reader: CsvReader) -> io::Result<File> {
    let Input { mut file, kept } = reader.into_inner().into_inner();
    let copied = (|| {
        let mut spool = tempfile::tempfile()?;
        spool.write_all(&kept.unwrap_or_default())?;
        io::copy(&mut file, &mut spool)?;
        spool.flush()?;
        spool.rewind()?;
        Ok(spool)
    })();
    // "No space left on device" alone would read as the pipe's fault.
    copied.map_err(|e: io::Error| {
        io::Error::new(
            e.kind(),
            format!(
                "copying it to a temporary file in {} (TMPDIR), to read its doc_id column ahead: {e}",
                std::env::temp_dir().display()
            ),
        )
    })
}
