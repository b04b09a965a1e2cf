//! The backup file (docs/backups.md): a magic line, then one zstd frame of JSON lines — the
//! header, the sections (each rows between a start and an end line, with a checkpoint every
//! [`CHUNK`] rows), and the trailer with the SHA-256 of everything before it. Writing streams
//! into `FILE.partial` (mode 0600), synced and renamed when complete; reading checks every
//! checkpoint, section and the trailer, and says at which line (or compressed byte) it breaks.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::BackupError;

/// The first line of every backup file (uncompressed): what it is and its container version.
pub const MAGIC: &[u8] = b"CANOPY-BACKUP 1\n";

/// Rows between two checkpoints: a damaged row is located within this many lines.
pub const CHUNK: u64 = 1000;

/// The zstd level: fast (hundreds of MB/s) and about 5 to 10 times smaller than the JSON.
const LEVEL: i32 = 3;

/// An audit chain's anchor as the source stored it, recorded in the header.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct HeaderAnchor {
    /// `instance` or an organisation ID.
    pub chain: String,
    /// The anchored event's position.
    pub seq: u64,
    /// Its hash (hex).
    pub hash: String,
    /// The installation's revision when the anchor was written.
    pub revision: u64,
    /// The chain's pruning checkpoint (0: never pruned): a chain pruned to its anchor has no
    /// event left.
    pub base_seq: u64,
}

/// The first line of the stream.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Header {
    /// The version of the line format inside the stream.
    pub format: u32,
    /// The schema version of the store it was taken from (its sections have that schema's
    /// columns).
    pub schema_version: i64,
    /// The canopy that wrote it.
    pub canopy_version: String,
    /// `sqlite` or `postgres`: where it came from (the content does not depend on it).
    pub source: String,
    /// The head revision it is consistent at.
    pub head_revision: u64,
    /// When it was taken, in milliseconds since the epoch (also the time of the decision
    /// sample).
    pub created_ms: i64,
    /// The same, for people.
    pub created: String,
    /// Each audit chain's anchor as stored, in chain order.
    pub anchors: Vec<HeaderAnchor>,
}

/// What a section's end line and the trailer say of it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SectionSum {
    /// The section (a table, or `decisions`).
    pub name: String,
    /// Rows.
    pub rows: u64,
    /// SHA-256 (hex) of its row lines, newline included: equal content, equal sums.
    pub sha256: String,
}

/// The last line of the stream.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Trailer {
    /// Every section, in order.
    pub sections: Vec<SectionSum>,
    /// The digest of the installation's state (`state_digest`) at the head revision.
    pub state_digest: String,
    /// SHA-256 (hex) of every byte before this line: the magic line and the stream.
    pub sha256: String,
}

/// Control lines (rows are JSON arrays, control lines objects).
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Control {
    Header {
        canopy_backup: Header,
    },
    Start {
        section: String,
        columns: Vec<String>,
    },
    Chunk {
        chunk: u64,
        sha256: String,
    },
    End {
        end: String,
        rows: u64,
        sha256: String,
    },
    Trailer {
        trailer: Trailer,
    },
}

fn hex_of(h: Sha256) -> String {
    hex::encode(h.finalize())
}

/// The file a backup is written to before it is complete.
pub fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Writes a backup file line by line.
pub struct BackupWriter {
    out: PathBuf,
    partial: PathBuf,
    stream: zstd::Encoder<'static, BufWriter<File>>,
    /// Everything so far (for the trailer).
    all: Sha256,
    section: Option<OpenSection>,
    sections: Vec<SectionSum>,
    line: Vec<u8>,
}

struct OpenSection {
    name: String,
    rows: u64,
    sha: Sha256,
    chunk: Sha256,
}

impl BackupWriter {
    /// Creates `OUT.partial` (readable by the owner only) and writes the magic line and the
    /// header.
    pub fn create(out: &Path, header: &Header) -> Result<BackupWriter, BackupError> {
        let partial = partial_path(out);
        let path = partial.clone();
        let io = io_error(&path);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&partial).map_err(&io)?;
        // An existing file keeps its mode when truncated: make sure.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(&io)?;
        }
        file.write_all(MAGIC).map_err(&io)?;
        let mut stream =
            zstd::Encoder::new(BufWriter::with_capacity(1 << 20, file), LEVEL).map_err(&io)?;
        stream.include_checksum(true).map_err(&io)?;
        let mut all = Sha256::new();
        all.update(MAGIC);
        let mut w = BackupWriter {
            out: out.to_path_buf(),
            partial,
            stream,
            all,
            section: None,
            sections: Vec::new(),
            line: Vec::with_capacity(4096),
        };
        w.control(&Control::Header {
            canopy_backup: header.clone(),
        })?;
        Ok(w)
    }

    fn put_line(&mut self) -> Result<(), BackupError> {
        self.line.push(b'\n');
        self.all.update(&self.line);
        self.stream
            .write_all(&self.line)
            .map_err(io_error(&self.partial))?;
        Ok(())
    }

    fn control(&mut self, c: &Control) -> Result<(), BackupError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, c).map_err(BackupError::encode)?;
        self.put_line()
    }

    /// Starts a section of rows with these columns.
    pub fn begin(&mut self, name: &str, columns: &[&str]) -> Result<(), BackupError> {
        self.control(&Control::Start {
            section: name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
        })?;
        self.section = Some(OpenSection {
            name: name.into(),
            rows: 0,
            sha: Sha256::new(),
            chunk: Sha256::new(),
        });
        Ok(())
    }

    /// Writes one row of the open section (a JSON array).
    pub fn row(&mut self, row: &impl Serialize) -> Result<(), BackupError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, row).map_err(BackupError::encode)?;
        self.line.push(b'\n');
        let Some(s) = self.section.as_mut() else {
            return Err(BackupError::encode("a row outside a section"));
        };
        s.sha.update(&self.line);
        s.chunk.update(&self.line);
        s.rows += 1;
        let checkpoint = s.rows.is_multiple_of(CHUNK).then(|| {
            let sha = std::mem::take(&mut s.chunk);
            (s.rows, hex_of(sha))
        });
        self.line.pop();
        self.put_line()?;
        if let Some((chunk, sha256)) = checkpoint {
            self.control(&Control::Chunk { chunk, sha256 })?;
        }
        Ok(())
    }

    /// Ends the open section; its sum.
    pub fn end(&mut self) -> Result<SectionSum, BackupError> {
        let Some(s) = self.section.take() else {
            return Err(BackupError::encode("no section to end"));
        };
        let sum = SectionSum {
            name: s.name,
            rows: s.rows,
            sha256: hex_of(s.sha),
        };
        self.control(&Control::End {
            end: sum.name.clone(),
            rows: sum.rows,
            sha256: sum.sha256.clone(),
        })?;
        self.sections.push(sum.clone());
        Ok(sum)
    }

    /// Writes the trailer, finishes the stream, syncs the file and renames it to its final
    /// name. Returns the section sums and the file's size.
    pub fn finish(self, state_digest: String) -> Result<(Vec<SectionSum>, u64), BackupError> {
        let partial = self.partial.clone();
        self.complete(state_digest).inspect_err(|_| {
            let _ = std::fs::remove_file(&partial);
        })
    }

    fn complete(mut self, state_digest: String) -> Result<(Vec<SectionSum>, u64), BackupError> {
        let sha256 = hex_of(std::mem::take(&mut self.all));
        let trailer = Trailer {
            sections: self.sections.clone(),
            state_digest,
            sha256,
        };
        self.control(&Control::Trailer { trailer })?;
        let io = io_error(&self.partial);
        let file = self
            .stream
            .finish()
            .map_err(&io)?
            .into_inner()
            .map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(&io)?;
        let size = file.metadata().map_err(&io)?.len();
        drop(file);
        std::fs::rename(&self.partial, &self.out).map_err(&io)?;
        if let Some(dir) = self.out.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable once the directory is synced.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_error(dir))?;
        }
        Ok((self.sections, size))
    }

    /// Removes the partial file (after a failure).
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.partial);
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |e| BackupError::Io {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// Counts the compressed bytes read, to say where decompression failed.
struct Counting {
    file: File,
    read: Arc<AtomicU64>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// What a reader hands out, in order.
#[derive(Debug)]
pub enum Item {
    /// A section starts.
    Start {
        /// Its name.
        name: String,
        /// Its columns.
        columns: Vec<String>,
    },
    /// A row of the current section: the text of its line (a JSON array) and its line number.
    Row(String, u64),
    /// The current section ended, with these sums (already checked).
    End(SectionSum),
    /// The trailer (already checked): nothing follows.
    Trailer(Trailer),
}

/// Reads a backup file and checks it as it goes: each checkpoint, each section's count and
/// sum, the trailer's sum of everything, and that nothing follows.
pub struct BackupReader {
    path: PathBuf,
    stream: BufReader<zstd::Decoder<'static, BufReader<Counting>>>,
    compressed: Arc<AtomicU64>,
    /// Lines read so far (the magic line is line 0; the header line 1).
    line_no: u64,
    all: Sha256,
    header: Header,
    section: Option<ReadSection>,
    sections: Vec<SectionSum>,
    done: bool,
}

struct ReadSection {
    name: String,
    rows: u64,
    sha: Sha256,
    chunk: Sha256,
    /// The line of the first row since the last checkpoint.
    chunk_from: u64,
}

impl BackupReader {
    /// Opens a backup file and reads its header.
    pub fn open(path: &Path) -> Result<BackupReader, BackupError> {
        let io = io_error(path);
        let mut file = File::open(path).map_err(&io)?;
        let mut magic = vec![0u8; MAGIC.len()];
        let got = read_up_to(&mut file, &mut magic).map_err(&io)?;
        if got < MAGIC.len() || magic != MAGIC {
            return Err(match magic.starts_with(b"CANOPY-BACKUP ") {
                true => BackupError::UnknownFormat {
                    found: String::from_utf8_lossy(&magic).trim().to_string(),
                },
                false => BackupError::NotABackup {
                    path: path.display().to_string(),
                },
            });
        }
        let compressed = Arc::new(AtomicU64::new(MAGIC.len() as u64));
        let counting = Counting {
            file,
            read: compressed.clone(),
        };
        let decoder =
            zstd::Decoder::with_buffer(BufReader::with_capacity(1 << 16, counting)).map_err(&io)?;
        let mut all = Sha256::new();
        all.update(MAGIC);
        let mut r = BackupReader {
            path: path.to_path_buf(),
            stream: BufReader::with_capacity(1 << 20, decoder),
            compressed,
            line_no: 0,
            all,
            header: placeholder_header(),
            section: None,
            sections: Vec::new(),
            done: false,
        };
        let (text, line) = r.next_line()?;
        r.header = match serde_json::from_str(&text) {
            Ok(Control::Header { canopy_backup }) => canopy_backup,
            _ => {
                return Err(BackupError::malformed(
                    line,
                    "the first line is not a header",
                ));
            }
        };
        Ok(r)
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of the line read last.
    pub fn line(&self) -> u64 {
        self.line_no
    }

    /// The next line (without its newline) and its number; hashed into the running sum.
    fn next_line(&mut self) -> Result<(String, u64), BackupError> {
        let mut buf = Vec::with_capacity(256);
        let n = self
            .stream
            .read_until(b'\n', &mut buf)
            .map_err(|e| BackupError::Decompress {
                offset: self.compressed.load(Ordering::Relaxed),
                detail: e.to_string(),
            })?;
        self.line_no += 1;
        if n == 0 || buf.last() != Some(&b'\n') {
            return Err(BackupError::Truncated { line: self.line_no });
        }
        self.all.update(&buf);
        buf.pop();
        let text = String::from_utf8(buf)
            .map_err(|_| BackupError::malformed(self.line_no, "not UTF-8"))?;
        Ok((text, self.line_no))
    }

    /// The next item; `None` after the trailer.
    pub fn next_item(&mut self) -> Result<Option<Item>, BackupError> {
        if self.done {
            return Ok(None);
        }
        // The sum of everything before the trailer line, taken before that line is read.
        let before = self.all.clone();
        let (text, line) = self.next_line()?;
        if text.starts_with('[') {
            return self.row(text, line).map(Some);
        }
        let control: Control = serde_json::from_str(&text)
            .map_err(|e| BackupError::malformed(line, &e.to_string()))?;
        match control {
            Control::Header { .. } => Err(BackupError::malformed(line, "a second header")),
            Control::Start { section, columns } => {
                if let Some(open) = &self.section {
                    return Err(BackupError::malformed(
                        line,
                        &format!("section {:?} is not ended", open.name),
                    ));
                }
                self.section = Some(ReadSection {
                    name: section.clone(),
                    rows: 0,
                    sha: Sha256::new(),
                    chunk: Sha256::new(),
                    chunk_from: line + 1,
                });
                Ok(Some(Item::Start {
                    name: section,
                    columns,
                }))
            }
            Control::Chunk { chunk, sha256 } => {
                let s = self.open_section(line)?;
                let sha = hex_of(std::mem::take(&mut s.chunk));
                let (from, name) = (s.chunk_from, s.name.clone());
                s.chunk_from = line + 1;
                if chunk != s.rows || sha != sha256 {
                    return Err(BackupError::SectionDiffers {
                        section: name,
                        from,
                        to: line,
                    });
                }
                self.next_item()
            }
            Control::End { end, rows, sha256 } => {
                let s = self.open_section(line)?;
                let sum = SectionSum {
                    name: s.name.clone(),
                    rows: s.rows,
                    sha256: hex_of(std::mem::take(&mut s.sha)),
                };
                let from = s.chunk_from;
                if end != sum.name || rows != sum.rows || sha256 != sum.sha256 {
                    return Err(BackupError::SectionDiffers {
                        section: sum.name,
                        from,
                        to: line,
                    });
                }
                self.section = None;
                self.sections.push(sum.clone());
                Ok(Some(Item::End(sum)))
            }
            Control::Trailer { trailer } => {
                if self.section.is_some() {
                    return Err(BackupError::malformed(line, "the trailer ends a section"));
                }
                if trailer.sha256 != hex_of(before) || trailer.sections != self.sections {
                    return Err(BackupError::TrailerDiffers { line });
                }
                self.expect_end()?;
                self.done = true;
                Ok(Some(Item::Trailer(trailer)))
            }
        }
    }

    fn open_section(&mut self, line: u64) -> Result<&mut ReadSection, BackupError> {
        self.section
            .as_mut()
            .ok_or_else(|| BackupError::malformed(line, "outside a section"))
    }

    fn row(&mut self, text: String, line: u64) -> Result<Item, BackupError> {
        let s = self.open_section(line)?;
        s.sha.update(text.as_bytes());
        s.sha.update(b"\n");
        s.chunk.update(text.as_bytes());
        s.chunk.update(b"\n");
        s.rows += 1;
        Ok(Item::Row(text, line))
    }

    /// Nothing may follow the trailer (the frame's own checksum is checked on the way).
    fn expect_end(&mut self) -> Result<(), BackupError> {
        let mut rest = [0u8; 1];
        let n = self
            .stream
            .read(&mut rest)
            .map_err(|e| BackupError::Decompress {
                offset: self.compressed.load(Ordering::Relaxed),
                detail: e.to_string(),
            })?;
        match n {
            0 => Ok(()),
            _ => Err(BackupError::malformed(
                self.line_no + 1,
                "text after the trailer",
            )),
        }
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

fn placeholder_header() -> Header {
    Header {
        format: 0,
        schema_version: 0,
        canopy_version: String::new(),
        source: String::new(),
        head_revision: 0,
        created_ms: 0,
        created: String::new(),
        anchors: Vec::new(),
    }
}
