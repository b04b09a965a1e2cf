//! The backup directory as the jobs see it: snapshots (`canopy-TIME.backup`), the mark each gets
//! once it proved it restores (`.ok`, the verification's summary) or did not (`.failed`), the
//! archived log (`log/`) and the last scheduled restore test (`restore-test.json`).

use std::path::{Path, PathBuf};

use canopy_core::time::Timestamp;
use canopy_store::backup::{BACKUP_EXTENSION, Header, segments, snapshots};
use serde::{Deserialize, Serialize};

use super::retention::{Kept, to_remove};

/// A backup directory.
#[derive(Clone, Debug)]
pub struct BackupDir {
    dir: PathBuf,
}

/// A snapshot of the directory.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its file.
    pub path: PathBuf,
    /// When it was taken.
    pub time: Timestamp,
    /// Whether it proved it restores.
    pub good: bool,
    /// Its header.
    pub header: Option<Header>,
}

/// The last scheduled restore test.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RestoreTest {
    /// When it ran.
    pub time: Timestamp,
    /// The backup it restored.
    pub file: Option<String>,
    /// Whether it passed.
    pub ok: bool,
    /// What it found.
    pub problems: Vec<String>,
}

const RESTORE_TEST: &str = "restore-test.json";

#[derive(Serialize, Deserialize)]
struct Failed {
    time: Timestamp,
    why: String,
}

impl BackupDir {
    /// The directory at `dir` (created when first written).
    pub fn new(dir: &Path) -> BackupDir {
        BackupDir {
            dir: dir.to_path_buf(),
        }
    }

    /// Where archived segments go.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// The file of a backup taken at `now`.
    pub fn new_backup_path(&self, now: Timestamp) -> PathBuf {
        let stamp: String = now.to_string().chars().filter(|c| *c != ':').collect();
        self.dir.join(format!("canopy-{stamp}.{BACKUP_EXTENSION}"))
    }

    /// The mark of a good backup.
    pub fn mark_path(&self, backup: &Path) -> PathBuf {
        with_suffix(backup, ".ok")
    }

    /// Marks a backup good, with the verification's summary.
    pub fn mark_good(&self, backup: &Path, summary: &serde_json::Value) {
        let text = serde_json::to_string_pretty(summary).unwrap_or_default();
        write_atomically(&self.mark_path(backup), text.as_bytes());
    }

    /// Marks a backup (or an attempt that left no file) failed.
    pub fn mark_failed(&self, backup: &Path, time: Timestamp, why: &str) {
        let text = serde_json::to_string(&Failed {
            time,
            why: why.into(),
        })
        .unwrap_or_default();
        write_atomically(&with_suffix(backup, ".failed"), text.as_bytes());
    }

    /// Every snapshot, oldest first, and attempts that failed before writing one.
    pub fn entries(&self) -> Vec<Entry> {
        let mut found: Vec<Entry> = snapshots(&self.dir)
            .unwrap_or_default()
            .into_iter()
            .map(|(path, header)| Entry {
                good: self.mark_path(&path).exists(),
                time: Timestamp::from_millis(header.created_ms),
                path,
                header: Some(header),
            })
            .collect();
        for (name, path) in listing(&self.dir) {
            if name.ends_with(".failed")
                && let Ok(text) = std::fs::read_to_string(&path)
                && let Ok(failed) = serde_json::from_str::<Failed>(&text)
            {
                found.push(Entry {
                    path,
                    time: failed.time,
                    good: false,
                    header: None,
                });
            }
        }
        found.sort_by_key(|e| e.time);
        found
    }

    /// The newest good backup.
    pub fn newest_good(&self) -> Option<Entry> {
        self.entries().into_iter().rev().find(|e| e.good)
    }

    /// Copies a backup and its mark in (off-site): through a partial file, synced, renamed.
    pub fn copy_in(&self, backup: &Path, mark: &Path) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        for from in [backup, mark] {
            let name = from.file_name().ok_or("no file name")?;
            let to = self.dir.join(name);
            let partial = with_suffix(&to, ".partial");
            std::fs::copy(from, &partial).map_err(|e| format!("{}: {e}", partial.display()))?;
            std::fs::File::open(&partial)
                .and_then(|f| f.sync_all())
                .map_err(|e| format!("{}: {e}", partial.display()))?;
            std::fs::rename(&partial, &to).map_err(|e| format!("{}: {e}", to.display()))?;
        }
        sync_dir(&self.dir);
        Ok(())
    }

    /// Removes what the retention rule says (and its marks), and archived segments no longer
    /// needed for the point-in-time window; returns the files removed.
    pub fn apply_retention(&self, now: Timestamp, keep_days: u32, pitr_days: u32) -> Vec<PathBuf> {
        let entries = self.entries();
        let kept: Vec<Kept> = entries
            .iter()
            .map(|e| Kept {
                time: e.time,
                good: e.good,
            })
            .collect();
        let mut removed = Vec::new();
        for i in to_remove(&kept, now, keep_days) {
            let path = &entries[i].path;
            for file in [
                path.clone(),
                self.mark_path(path),
                with_suffix(path, ".failed"),
            ] {
                if std::fs::remove_file(&file).is_ok() {
                    removed.push(file);
                }
            }
        }
        // The window's oldest point needs the newest good snapshot at or before it, and the
        // segments after it.
        let window_start = now.plus_millis(-i64::from(pitr_days) * 24 * 60 * 60 * 1000);
        let base = self
            .entries()
            .into_iter()
            .filter(|e| e.good && e.time <= window_start)
            .filter_map(|e| e.header)
            .map(|h| h.head_revision)
            .max();
        if let Some(base) = base {
            for (path, _, to) in segments(&self.log_dir()).unwrap_or_default() {
                if to <= base && std::fs::remove_file(&path).is_ok() {
                    removed.push(path);
                }
            }
        }
        removed
    }

    /// Records the last scheduled restore test.
    pub fn record_restore_test(&self, test: &RestoreTest) {
        let text = serde_json::to_string_pretty(test).unwrap_or_default();
        let _ = std::fs::create_dir_all(&self.dir);
        write_atomically(&self.dir.join(RESTORE_TEST), text.as_bytes());
    }

    /// The last scheduled restore test.
    pub fn last_restore_test(&self) -> Option<RestoreTest> {
        let text = std::fs::read_to_string(self.dir.join(RESTORE_TEST)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

fn listing(dir: &Path) -> Vec<(String, PathBuf)> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| (e.file_name().to_string_lossy().to_string(), e.path()))
                .collect()
        })
        .unwrap_or_default()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes a small file whole or not at all.
fn write_atomically(path: &Path, bytes: &[u8]) {
    let partial = with_suffix(path, ".partial");
    let written = std::fs::write(&partial, bytes)
        .and_then(|()| std::fs::File::open(&partial)?.sync_all())
        .and_then(|()| std::fs::rename(&partial, path));
    if let Err(e) = written {
        tracing::error!(file = %path.display(), error = %e, "cannot write");
    } else if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
}

fn sync_dir(dir: &Path) {
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot sync");
    }
}
