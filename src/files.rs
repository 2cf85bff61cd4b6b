//! Files that hold secrets or citizens' data (config, keys, the SQLite database, CSV
//! exports and push files) are created readable by their owner only: 0600 for files,
//! 0700 for folders, set at creation so there is no moment when others could read them.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Creates (or truncates) a file only its owner can read.
pub fn create_private(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    o.mode(0o600);
    let f = o.open(path)?;
    // An existing file keeps its mode through open(): narrow it too.
    #[cfg(unix)]
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

/// Writes `bytes` to a file only its owner can read.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = create_private(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Creates a folder (and its parents) only its owner can enter; an existing one is
/// left as it is.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    b.mode(0o700);
    b.create(path)
}

/// Opens a file for a lock (never truncated), created only its owner can read.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.append(true).create(true);
    #[cfg(unix)]
    o.mode(0o600);
    o.open(path)
}

/// Makes sure a file exists before another program (SQLite) creates it with the
/// default mode: a new file is created 0600, an existing one is left alone.
pub fn ensure_private(path: &Path) -> io::Result<()> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    o.mode(0o600);
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The file's mode when group or others may read or write it.
pub fn open_to_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_private_and_checked() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("secret");
        write_private(&p, b"x").expect("write");
        assert_eq!(open_to_others(&p), None);
        #[cfg(unix)]
        {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            assert_eq!(open_to_others(&p), Some(0o644));
            create_private(&p).expect("again");
            assert_eq!(open_to_others(&p), None, "narrowed on rewrite");
        }
        let d = dir.path().join("a/b");
        create_private_dir(&d).expect("dir");
        assert_eq!(open_to_others(&d), None);
        let db = dir.path().join("db");
        ensure_private(&db).expect("db");
        assert_eq!(open_to_others(&db), None);
    }
}
