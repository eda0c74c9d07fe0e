//! Signed checkpoints of the audit chain, kept outside the database.
//!
//! A hash chain cannot show that its tail was deleted, nor that every keyed record was rewritten
//! as an unkeyed one: what is left is a valid, shorter or unkeyed chain. So every
//! `[audit] checkpoint_interval_s` the gateway appends one line to `[audit] checkpoint_file`,
//! an append-only file outside the database:
//!
//! ```text
//! {"at":"2026-03-01T10:05:00Z","count":120,"head_id":120,"head_hash":"…","sig":"…"}
//! ```
//!
//! `sig` is the hex HMAC-SHA256, under the chain key, of the line without `sig` in exactly this
//! form (the four members in this order, no spaces). `lienthong audit verify` then checks that
//! the store still holds as many records as the latest checkpoint counted, and that each
//! checkpointed record still has the hash the checkpoint saw. A line is written only when the head
//! moved; each replica writes its own file.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ChainKey, ChainKeys};
use crate::telemetry::metrics::Metrics;

/// The newest record of the chain: its id (the record count: ids are dense from 1) and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The record's id.
    pub id: i64,
    /// The record's hash.
    pub hash: String,
}

/// What a checkpoint says: at `at`, the chain held `count` records, the newest `head_id` with hash
/// `head_hash`. Serialised as is, it is the text the signature covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// When it was taken, RFC 3339 (UTC).
    pub at: String,
    /// How many records the chain held.
    pub count: u64,
    /// The newest record's id.
    pub head_id: i64,
    /// The newest record's hash.
    pub head_hash: String,
}

/// A line of the file as read: every member, none other.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Line {
    at: String,
    count: u64,
    head_id: i64,
    head_hash: String,
    sig: String,
}

impl Checkpoint {
    /// A checkpoint of `head`, taken now.
    pub fn of(head: &Head) -> Checkpoint {
        let now = time::OffsetDateTime::now_utc();
        let now = now.replace_nanosecond(0).unwrap_or(now);
        Checkpoint {
            at: now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            count: u64::try_from(head.id).unwrap_or(0),
            head_id: head.id,
            head_hash: head.hash.clone(),
        }
    }

    /// The text the signature covers.
    fn canonical(&self) -> String {
        // Strings and integers only: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The line to append (without its newline), signed with `key`.
    pub fn signed_line(&self, key: &ChainKey) -> String {
        let line = Line {
            at: self.at.clone(),
            count: self.count,
            head_id: self.head_id,
            head_hash: self.head_hash.clone(),
            sig: key.sign(self.canonical().as_bytes()),
        };
        serde_json::to_string(&line).unwrap_or_default()
    }

    /// Reads one line; its signature must verify under one of `keys`.
    pub fn parse(line: &str, keys: &ChainKeys) -> Result<Checkpoint, LineFault> {
        let line: Line =
            serde_json::from_str(line).map_err(|e| LineFault::NotACheckpoint(e.to_string()))?;
        let checkpoint = Checkpoint {
            at: line.at,
            count: line.count,
            head_id: line.head_id,
            head_hash: line.head_hash,
        };
        if keys.any_verifies(checkpoint.canonical().as_bytes(), &line.sig) {
            Ok(checkpoint)
        } else {
            Err(LineFault::BadSignature)
        }
    }
}

/// What is wrong with a line of a checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFault {
    /// It is not a checkpoint line (the parser's reason).
    NotACheckpoint(String),
    /// Its signature verifies under none of the chain keys: forged, altered, or signed with a key
    /// this verifier does not hold.
    BadSignature,
}

impl fmt::Display for LineFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotACheckpoint(why) => write!(f, "not a checkpoint line: {why}"),
            Self::BadSignature => f.write_str(
                "bad signature: the line was forged or altered, or signed with a key that is neither `audit.chain_key` nor one of `audit.retired_chain_keys`",
            ),
        }
    }
}

/// A checkpoint file as read: the checkpoints whose signature verifies, and the faulty lines.
#[derive(Debug, Default)]
pub struct CheckpointLog {
    /// The valid checkpoints, in file order.
    pub checkpoints: Vec<Checkpoint>,
    /// Each faulty line's number (from 1) and fault.
    pub faults: Vec<(usize, LineFault)>,
    /// Whether the last line has no newline: a write cut short (a crash), not counted as a fault.
    pub incomplete_last_line: bool,
}

impl CheckpointLog {
    /// Reads a checkpoint file, checking each line's signature with `keys`.
    pub fn read(path: &Path, keys: &ChainKeys) -> io::Result<CheckpointLog> {
        let text = std::fs::read_to_string(path)?;
        let mut log = CheckpointLog::default();
        let complete = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            if n + 1 == lines.len() && !complete {
                log.incomplete_last_line = true;
                continue;
            }
            match Checkpoint::parse(line, keys) {
                Ok(c) => log.checkpoints.push(c),
                Err(fault) => log.faults.push((n + 1, fault)),
            }
        }
        Ok(log)
    }
}

/// What a round of the checkpoint writer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    /// A checkpoint was appended.
    Written(Checkpoint),
    /// The head has not moved since the last checkpoint (or the chain is empty).
    Unchanged,
    /// The head is behind the last checkpoint, or the same record with another hash: records
    /// were deleted or rewritten. Nothing was written.
    Behind {
        /// The last checkpoint's head.
        checkpointed: Head,
        /// The head now.
        now: Head,
    },
}

/// Appends checkpoints to one file, each with an fsync, and only when the head moved.
pub struct CheckpointWriter {
    path: PathBuf,
    file: File,
    key: Arc<ChainKey>,
    /// The head of the last checkpoint in the file (or written by this process).
    last: Option<Head>,
}

/// How much of the file's end is read at start to find its last checkpoint.
const TAIL_BYTES: u64 = 4096;

impl CheckpointWriter {
    /// Opens `path` for appending (created if missing), so that a file that cannot be written
    /// stops the start; takes the last checkpoint in it, if signed with `key`, as the last head.
    pub fn open(path: &Path, key: Arc<ChainKey>) -> io::Result<CheckpointWriter> {
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        let len = file.metadata()?.len();
        let mut tail = String::new();
        file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
        Read::by_ref(&mut file)
            .take(TAIL_BYTES)
            .read_to_string(&mut tail)
            .ok();
        let keys = ChainKeys::new(vec![], Some(key.clone()));
        let last = tail
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .and_then(|l| Checkpoint::parse(l, &keys).ok())
            .map(|c| Head {
                id: c.head_id,
                hash: c.head_hash,
            });
        if len > 0 && !tail.ends_with('\n') {
            // A line cut short by a crash: end it, so that the next one starts on its own line.
            file.write_all(b"\n")?;
            file.sync_data()?;
        }
        if !existed {
            // The new file's name must survive a crash too.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir)?.sync_all()?;
            }
        }
        Ok(CheckpointWriter {
            path: path.to_owned(),
            file,
            key,
            last,
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a checkpoint of `head` if it moved past the last one; returns what it did.
    pub fn write(&mut self, head: Option<Head>) -> io::Result<Round> {
        let Some(head) = head else {
            return Ok(Round::Unchanged);
        };
        match &self.last {
            Some(last) if last == &head => return Ok(Round::Unchanged),
            Some(last) if head.id <= last.id => {
                return Ok(Round::Behind {
                    checkpointed: last.clone(),
                    now: head,
                });
            }
            _ => {}
        }
        let checkpoint = Checkpoint::of(&head);
        let mut line = checkpoint.signed_line(&self.key);
        line.push('\n');
        // One write of the whole line: appends from several processes never interleave inside it.
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()?;
        self.last = Some(head);
        Ok(Round::Written(checkpoint))
    }
}

/// One round: reads the head with `head`, appends a checkpoint if it moved (off the async
/// threads: the write waits for the disk), and logs what happened, ids and hashes only. A round
/// that leaves the file covering the chain is recorded in `metrics`, whose last time an alert
/// watches.
pub async fn round<E: fmt::Display>(
    writer: &Arc<Mutex<CheckpointWriter>>,
    head: Result<Option<Head>, E>,
    metrics: &Metrics,
) {
    let head = match head {
        Ok(head) => head,
        Err(e) => {
            tracing::warn!(error = %e, "audit checkpoint: could not read the chain's head");
            return;
        }
    };
    let writer = writer.clone();
    let written = tokio::task::spawn_blocking(move || {
        let mut writer = writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let round = writer.write(head);
        (round, writer.path().display().to_string())
    })
    .await;
    match written {
        Ok((Ok(Round::Written(c)), file)) => {
            metrics.audit_checkpoint_round();
            tracing::info!(
                file = %file,
                at = %c.at,
                count = c.count,
                head_id = c.head_id,
                head_hash = %c.head_hash,
                "audit checkpoint"
            )
        }
        Ok((Ok(Round::Unchanged), _)) => metrics.audit_checkpoint_round(),
        Ok((Ok(Round::Behind { checkpointed, now }), file)) => tracing::error!(
            file = %file,
            checkpointed_id = checkpointed.id,
            checkpointed_hash = %checkpointed.hash,
            head_id = now.id,
            head_hash = %now.hash,
            "audit chain is behind its last checkpoint: records were deleted or rewritten; run `lienthong audit verify`"
        ),
        Ok((Err(e), file)) => {
            tracing::error!(file = %file, error = %e, "audit checkpoint could not be written")
        }
        Err(e) => tracing::error!(error = %e, "audit checkpoint writer failed"),
    }
}

/// Writes checkpoints every `interval`, reading the head with `head`, until aborted.
pub async fn run<F, Fut, E>(
    writer: Arc<Mutex<CheckpointWriter>>,
    interval: Duration,
    metrics: Arc<Metrics>,
    mut head: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Head>, E>>,
    E: fmt::Display,
{
    loop {
        tokio::time::sleep(interval).await;
        round(&writer, head().await, &metrics).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Arc<ChainKey> {
        Arc::new(ChainKey::new(vec![byte; 32]).unwrap())
    }

    fn head(id: i64) -> Head {
        Head {
            id,
            hash: format!("{id:064x}"),
        }
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_line_is_the_signed_canonical_checkpoint_and_only_the_key_verifies_it() {
        let k = key(1);
        let c = Checkpoint {
            at: "2026-03-01T10:05:00Z".into(),
            count: 120,
            head_id: 120,
            head_hash: "ab".repeat(32),
        };
        let line = c.signed_line(&k);
        let unsigned = format!(
            r#"{{"at":"2026-03-01T10:05:00Z","count":120,"head_id":120,"head_hash":"{}"}}"#,
            "ab".repeat(32)
        );
        assert_eq!(
            line,
            format!(
                r#"{},"sig":"{}"}}"#,
                unsigned.trim_end_matches('}'),
                k.sign(unsigned.as_bytes())
            )
        );
        let keys = ChainKeys::new(vec![], Some(k.clone()));
        assert_eq!(Checkpoint::parse(&line, &keys), Ok(c.clone()));
        // Spacing does not matter, every member does.
        let spaced = line.replace(",\"", ", \"").replace("\":", "\": ");
        assert_eq!(Checkpoint::parse(&spaced, &keys), Ok(c));
        let forged = line.replace("\"count\":120", "\"count\":100");
        assert_eq!(
            Checkpoint::parse(&forged, &keys),
            Err(LineFault::BadSignature)
        );
        let other = ChainKeys::new(vec![], Some(key(2)));
        assert_eq!(
            Checkpoint::parse(&line, &other),
            Err(LineFault::BadSignature)
        );
        let retired = ChainKeys::new(vec![k], Some(key(2)));
        assert!(
            Checkpoint::parse(&line, &retired).is_ok(),
            "a retired key still verifies its old lines"
        );
        assert!(matches!(
            Checkpoint::parse(r#"{"at":"x"}"#, &keys),
            Err(LineFault::NotACheckpoint(_))
        ));
    }

    #[test]
    fn the_writer_appends_only_when_the_head_moved_and_resumes_from_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.jsonl");
        let k = key(1);
        let mut w = CheckpointWriter::open(&path, k.clone()).unwrap();
        assert_eq!(w.write(None).unwrap(), Round::Unchanged);
        assert!(matches!(w.write(Some(head(3))).unwrap(), Round::Written(c) if c.count == 3));
        assert_eq!(w.write(Some(head(3))).unwrap(), Round::Unchanged);
        assert!(matches!(w.write(Some(head(5))).unwrap(), Round::Written(_)));
        assert!(matches!(
            w.write(Some(head(4))).unwrap(),
            Round::Behind { checkpointed, .. } if checkpointed.id == 5
        ));
        let mut rewritten = head(5);
        rewritten.hash = "ff".repeat(32);
        assert!(matches!(
            w.write(Some(rewritten)).unwrap(),
            Round::Behind { .. }
        ));
        assert_eq!(lines(&path).len(), 2);
        drop(w);

        // A restart takes the file's last checkpoint: no duplicate line for an unmoved head.
        let mut w = CheckpointWriter::open(&path, k.clone()).unwrap();
        assert_eq!(w.write(Some(head(5))).unwrap(), Round::Unchanged);
        drop(w);

        // A line cut short by a crash is ended, and the next line starts on its own.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"at\":\"20")
            .unwrap();
        let mut w = CheckpointWriter::open(&path, k.clone()).unwrap();
        assert!(matches!(w.write(Some(head(6))).unwrap(), Round::Written(_)));
        let keys = ChainKeys::new(vec![], Some(k));
        let log = CheckpointLog::read(&path, &keys).unwrap();
        assert_eq!(
            log.checkpoints.iter().map(|c| c.count).collect::<Vec<_>>(),
            [3, 5, 6]
        );
        assert_eq!(log.faults.len(), 1, "the cut line is reported");
        assert_eq!(log.faults[0].0, 3);
    }

    #[test]
    fn a_file_that_cannot_be_written_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(CheckpointWriter::open(dir.path(), key(1)).is_err());
        let missing = dir.path().join("no/such/dir/checkpoints.jsonl");
        assert!(CheckpointWriter::open(&missing, key(1)).is_err());
    }

    #[test]
    fn reading_reports_forged_lines_and_forgives_a_last_line_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let k = key(1);
        let good = Checkpoint::of(&head(2)).signed_line(&k);
        let forged = Checkpoint::of(&head(9)).signed_line(&key(2));
        std::fs::write(&path, format!("{good}\n{forged}\ngarbage\n{{\"at\":")).unwrap();
        let log = CheckpointLog::read(&path, &ChainKeys::new(vec![], Some(k))).unwrap();
        assert_eq!(log.checkpoints.len(), 1);
        assert_eq!(log.faults[0], (2, LineFault::BadSignature));
        assert!(matches!(log.faults[1], (3, LineFault::NotACheckpoint(_))));
        assert!(log.incomplete_last_line);
    }

    /// On tokio's paused clock: a checkpoint each interval in which the head moved, none
    /// otherwise.
    #[tokio::test(start_paused = true)]
    async fn checkpoints_are_written_each_interval_the_head_moved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.jsonl");
        let writer = Arc::new(Mutex::new(CheckpointWriter::open(&path, key(1)).unwrap()));
        let chain = Arc::new(Mutex::new(None::<Head>));
        let metrics = Arc::new(Metrics::new());
        let worker = tokio::spawn(run(writer, Duration::from_secs(300), metrics.clone(), {
            let chain = chain.clone();
            move || {
                let head = chain.lock().unwrap().clone();
                async move { Ok::<_, String>(head) }
            }
        }));
        // Waits until the file has `n` lines (the write runs on a blocking thread).
        let wait_for = |n: usize| {
            let path = path.clone();
            async move {
                for _ in 0..10_000 {
                    if lines(&path).len() >= n {
                        return lines(&path);
                    }
                    tokio::task::yield_now().await;
                    std::thread::sleep(Duration::from_millis(1));
                }
                panic!("no {n} checkpoint lines");
            }
        };

        tokio::time::sleep(Duration::from_secs(301)).await;
        assert!(lines(&path).is_empty(), "an empty chain has no checkpoint");

        *chain.lock().unwrap() = Some(head(4));
        tokio::time::sleep(Duration::from_secs(298)).await;
        assert!(lines(&path).is_empty(), "not before the interval");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let written = wait_for(1).await;
        assert!(written[0].contains("\"count\":4"), "{written:?}");

        tokio::time::sleep(Duration::from_secs(900)).await;
        assert_eq!(lines(&path).len(), 1, "the head did not move: no new line");

        *chain.lock().unwrap() = Some(head(7));
        tokio::time::sleep(Duration::from_secs(300)).await;
        let written = wait_for(2).await;
        assert!(written[1].contains("\"head_id\":7"), "{written:?}");
        worker.abort();
    }
}
