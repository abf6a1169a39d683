//! What an audience file looked like when its run opened it: size, modification time and (on
//! Unix) inode. A run reads its audience for hours while operators may edit it in place (issue 16
//! §3): a row inserted at the top shifts every row after the reader's position, a deleted row
//! makes the reader skip one, a truncated file ends the run early. Comparing the stamp before
//! trusting rows read from the file tells that the file under the run changed; the fingerprint
//! in the saved position ([`super::audience::AudiencePosition`]) tells the same after a restart.
use std::path::Path;
use std::time::SystemTime;

/// The file's identity and shape at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudienceStamp {
    /// Size in bytes.
    pub len: u64,
    pub modified: Option<SystemTime>,
    /// Inode number: a file replaced by a rename (how editors save) is another file.
    pub inode: Option<u64>,
}

impl AudienceStamp {
    /// Reads the stamp of the file at `path` (follows symlinks, as opening it does).
    pub fn of(path: &Path) -> std::io::Result<Self> {
        Ok(Self::from_metadata(&std::fs::metadata(path)?))
    }

    /// The stamp from metadata already read (e.g. with `tokio::fs::metadata`).
    pub fn from_metadata(meta: &std::fs::Metadata) -> Self {
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode: inode(meta),
        }
    }

    /// What differs from `before`, in words for the operator; `None` when nothing does.
    pub fn change_since(&self, before: &Self) -> Option<String> {
        if self.inode != before.inode {
            Some("it was replaced by another file".into())
        } else if self.len < before.len {
            Some(format!(
                "it shrank from {} to {} bytes",
                before.len, self.len
            ))
        } else if self.len != before.len {
            Some(format!("it grew from {} to {} bytes", before.len, self.len))
        } else if self.modified != before.modified {
            Some("it was modified".into())
        } else {
            None
        }
    }
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    Some(meta.ino())
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_in_place_and_a_replacement_are_both_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "phone\n1\n").unwrap();
        let before = AudienceStamp::of(&path).unwrap();
        assert_eq!(
            AudienceStamp::of(&path).unwrap().change_since(&before),
            None
        );
        std::fs::write(&path, "phone\n").unwrap();
        let shrunk = AudienceStamp::of(&path).unwrap();
        assert!(shrunk.change_since(&before).unwrap().contains("shrank"));
        let other = dir.path().join("b.csv");
        std::fs::write(&other, "phone\n").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let replaced = AudienceStamp::of(&path).unwrap();
        assert_eq!(
            replaced.change_since(&shrunk).as_deref(),
            Some("it was replaced by another file")
        );
    }
}
