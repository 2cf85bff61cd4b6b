//! The CSV an import reads: a file as it is, or a pipe (a FIFO, `/dev/stdin`, a shell's
//! `<(zcat …)`). A file that gives DocIds is read twice, once ahead for them
//! (`given.rs`); a pipe can be read only once, so one whose header has a `doc_id` column
//! is first copied whole to an unnamed temporary file (in `TMPDIR`), which then stands in
//! for it. A pipe without that column is read as it comes, holding nothing.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The folder the rows' relative PDF paths start from: the CSV's. A pipe's folder
/// (`/dev` for `/dev/stdin`, `/dev/fd` for a shell's `<(…)`) says nothing of where its
/// rows' PDFs are: theirs is the current folder; `/dev/stdin` redirected from a file
/// (`< rows.csv`) stands for that file, whose folder it is.
pub(super) fn pdf_folder(csv: &Path, rereadable: bool) -> PathBuf {
    let stands_in = csv.starts_with("/dev") || csv.starts_with("/proc");
    let file = match (rereadable, stands_in) {
        (false, _) => None,
        (true, true) => std::fs::canonicalize(csv).ok(),
        (true, false) => Some(csv.to_path_buf()),
    };
    file.and_then(|f| f.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

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

/// A CSV reader over `file`, its header not read yet; one that cannot be read again
/// keeps what it reads until `keep_nothing` or `spool`.
pub(super) fn reader(file: File, rereadable: bool) -> CsvReader {
    let kept = (!rereadable).then(Vec::new);
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
    // "No space left on device" alone would read as the pipe's fault.
    let spool_err = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!(
                "copying it to a temporary file in {} (TMPDIR), to read its doc_id column ahead: {e}",
                std::env::temp_dir().display()
            ),
        )
    };
    let mut spool = tempfile::tempfile().map_err(spool_err)?;
    spool
        .write_all(&kept.unwrap_or_default())
        .map_err(spool_err)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        spool.write_all(&buf[..n]).map_err(spool_err)?;
    }
    spool.flush().map_err(spool_err)?;
    spool.rewind().map_err(spool_err)?;
    Ok(spool)
}
