//! A directory on disk as a store: the embedded default, and what local runs use.

use std::collections::HashSet;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use std::io::Write as _;

use tokio::io::BufReader;

use super::{
    BlockingStore, ObjectHeaders, ObjectMeta, ObjectReader, Precondition, Put, Ready, Store,
    StoreError, StoreFuture, Tagged, WaitedFor, sha256_hex,
};

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    /// The root, opened once (by [`Store::check`], before any write): a
    /// `syncfs` through it reports every write-back error since then,
    /// while one through a descriptor opened at the sync would miss those
    /// of the charts the kernel flushed before it (Linux 5.8 and later).
    opened: Arc<std::sync::OnceLock<std::fs::File>>,
}

/// Whether each new chart file is synced before it is linked into place:
/// only where no `syncfs` makes a run's charts durable at once (off Linux).
const SYNC_EACH_CHART: bool = !cfg!(target_os = "linux");

impl LocalStore {
    pub fn new(root: PathBuf) -> Self {
        LocalStore {
            root,
            opened: Arc::default(),
        }
    }

    /// A store in a fresh temporary directory, for the unit tests; the
    /// directory goes when the guard is dropped.
    #[cfg(test)]
    pub(crate) fn temp() -> (tempfile::TempDir, Self) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = LocalStore::new(dir.path().to_path_buf());
        (dir, store)
    }

    /// The path of `key`; keys never leave the root.
    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let rel = Path::new(key);
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(StoreError::Failed {
                location: self.describe(key),
                message: "key is not a plain relative path".into(),
            });
        }
        Ok(self.root.join(rel))
    }

    /// Refuses a key whose folders under the root are symbolic links: a write
    /// never leaves the destination through a link planted in it. `true` when
    /// every folder is there, `false` at the first one missing.
    fn refuse_links(&self, key: &str) -> Result<bool, StoreError> {
        let mut at = self.root.clone();
        let folders = Path::new(key).parent().map(Path::components);
        for folder in folders.into_iter().flatten() {
            at.push(folder);
            match std::fs::symlink_metadata(&at) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(StoreError::Failed {
                        location: self.describe(key),
                        message: format!(
                            "{} is a symbolic link; refusing to write through it",
                            at.display()
                        ),
                    });
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(self.io_error(key, e)),
            }
        }
        Ok(true)
    }

    /// The folders of `key` (at `path`) and the root, made where missing, none
    /// of the folders a symbolic link. One `lstat` per folder when they are all there (the
    /// usual case: every chart of a run shares them), without a `mkdir` that
    /// would fail because the folder exists.
    fn folders_of(&self, key: &str, path: &Path) -> Result<(), StoreError> {
        // A key at the top needs the root itself, which a key in a folder
        // found there proves.
        let in_folder = Path::new(key)
            .parent()
            .is_some_and(|p| p.components().next().is_some());
        if self.refuse_links(key)? && (in_folder || self.root.is_dir()) {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.io_error(key, e))?;
        }
        // Made just now, or by someone else meanwhile: checked again.
        self.refuse_links(key).map(drop)
    }

    /// Writes `body` to a file beside a key that must not exist yet
    /// (`create_new` follows no link: one planted there is an error, not a
    /// way out), synced to disk when `sync`.
    fn write_new(tmp: &std::ffi::OsStr, body: &[u8], sync: bool) -> io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)?;
        file.write_all(body)?;
        if sync {
            file.sync_all()?;
        }
        Ok(())
    }

    /// Replaces `key` whole: written beside it and renamed, so a reader never
    /// sees half a chart. The file beside is made anew: one left there (by a
    /// run killed mid-write, or a link planted there) is removed, not written
    /// through.
    fn put_now(&self, key: &str, body: &[u8]) -> Result<(), StoreError> {
        let path = self.path(key)?;
        self.folders_of(key, &path)?;
        let mut tmp = path.clone().into_os_string();
        tmp.push(".part");
        let written = match Self::write_new(&tmp, body, false) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                std::fs::remove_file(&tmp).and_then(|()| Self::write_new(&tmp, body, false))
            }
            done => done,
        };
        written.map_err(|e| self.io_error(key, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| self.io_error(key, e))
    }

    /// Creates `key` only if there is none (atomic on one machine): written
    /// whole beside it (and synced, when `sync`), then linked into place,
    /// which fails if the key exists, so a kill leaves no half object.
    fn create_now(&self, key: &str, body: &[u8], sync: bool) -> Result<(), StoreError> {
        let path = self.path(key)?;
        self.folders_of(key, &path)?;
        let mut tmp = path.clone().into_os_string();
        tmp.push(format!(".new-{:016x}", rand::random::<u64>()));
        Self::write_new(&tmp, body, sync).map_err(|e| self.io_error(key, e))?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(StoreError::PreconditionFailed {
                    location: self.describe(key),
                })
            }
            Err(e) => Err(self.io_error(key, e)),
        }
    }

    /// The bytes of `key` and their tag (their SHA-256, the local `ETag`),
    /// `None` when there is no such file.
    fn read_tagged_now(&self, key: &str) -> Result<Option<Tagged>, StoreError> {
        match std::fs::read(self.path(key)?) {
            Ok(bytes) => {
                let tag = sha256_hex(&bytes);
                Ok(Some((bytes, tag)))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io_error(key, e)),
        }
    }

    /// Writes `key` as `put_if` with `precondition` (as `put` without one)
    /// does, here and now: the file calls of one write, for a blocking thread.
    /// A new file is synced before it is linked when `sync` (a lease, a
    /// state: each must be durable on its own); a batch's charts are synced
    /// all at once by [`Store::sync`].
    fn put_now_if(
        &self,
        key: &str,
        body: &[u8],
        precondition: Option<&Precondition>,
        sync: bool,
    ) -> Result<(), StoreError> {
        match precondition {
            None => self.put_now(key, body),
            Some(Precondition::Absent) => self.create_now(key, body, sync),
            Some(Precondition::ETag(expected)) => {
                let current = self.read_tagged_now(key)?.map(|(_, tag)| tag);
                if current.as_ref() != Some(expected) {
                    return Err(StoreError::PreconditionFailed {
                        location: self.describe(key),
                    });
                }
                self.put_now(key, body)
            }
        }
    }

    /// Deletes `key` (none is fine), never through a link to a folder.
    fn delete_now(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        self.refuse_links(key)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_error(key, e)),
        }
    }

    /// Runs `write` on the blocking pool: each write is one task of plain
    /// file calls, not one task per call.
    async fn on_blocking_pool<T: Send + 'static>(
        &self,
        key: &str,
        write: impl FnOnce(&LocalStore, &str) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (store, owned) = (self.clone(), key.to_string());
        tokio::task::spawn_blocking(move || write(&store, &owned))
            .await
            .map_err(|e| StoreError::Failed {
                location: self.describe(key),
                message: format!("the file task stopped: {e}"),
            })?
    }

    fn io_error(&self, key: &str, e: io::Error) -> StoreError {
        match e.kind() {
            io::ErrorKind::NotFound => StoreError::NotFound {
                location: self.describe(key),
            },
            io::ErrorKind::PermissionDenied => StoreError::AccessDenied {
                location: self.describe(key),
                message: e.to_string(),
            },
            _ => StoreError::Io {
                location: self.describe(key),
                source: e,
            },
        }
    }
}

impl BlockingStore for LocalStore {
    /// The file's SHA-256 as its `ETag`, as [`Store::head`] answers it.
    fn head_now(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        Ok(self.read_tagged_now(key)?.map(|(_, sha256)| ObjectMeta {
            etag: Some(sha256.clone()),
            sha256_hex: Some(sha256),
            ..ObjectMeta::default()
        }))
    }

    fn put_all_now(
        &self,
        puts: Vec<Put>,
        ready: &dyn Fn() -> Result<(), String>,
    ) -> Vec<Result<(), StoreError>> {
        puts.iter()
            .map(|put| {
                ready().map_err(|message| super::not_written(self, &put.key, message))?;
                self.put_now_if(
                    &put.key,
                    &put.body,
                    put.precondition.as_ref(),
                    SYNC_EACH_CHART,
                )
            })
            .collect()
    }
}

impl Store for LocalStore {
    fn describe(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }

    fn open<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ObjectReader> {
        Box::pin(async move {
            let path = self.path(key)?;
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| self.io_error(key, e))?;
            Ok(Box::pin(BufReader::with_capacity(256 * 1024, file)) as ObjectReader)
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<ObjectMeta>> {
        Box::pin(async move { self.on_blocking_pool(key, BlockingStore::head_now).await })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, HashSet<String>> {
        Box::pin(async move {
            // Every key under the prefix, as S3 lists them: the folders'
            // files too (a chart's variants are in folders), never through a
            // link to a folder.
            let mut keys = HashSet::new();
            let mut folders = vec![(self.path(prefix.trim_end_matches('/'))?, prefix.to_string())];
            while let Some((dir, under)) = folders.pop() {
                let mut entries = match tokio::fs::read_dir(&dir).await {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(self.io_error(prefix, e)),
                };
                while let Some(entry) = entries
                    .next_entry()
                    .await
                    .map_err(|e| self.io_error(prefix, e))?
                {
                    let Ok(name) = entry.file_name().into_string() else {
                        continue;
                    };
                    let is_folder = entry.file_type().await.is_ok_and(|t| t.is_dir());
                    if is_folder {
                        folders.push((entry.path(), format!("{under}{name}/")));
                    } else {
                        keys.insert(format!("{under}{name}"));
                    }
                }
            }
            Ok(keys)
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        _headers: &'a ObjectHeaders,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.on_blocking_pool(key, move |store, key| store.put_now(key, &body)))
    }

    fn last_modified<'a>(&'a self, key: &'a str) -> StoreFuture<'a, DateTime<Utc>> {
        Box::pin(async move {
            let path = self.path(key)?;
            let meta = tokio::fs::metadata(&path)
                .await
                .map_err(|e| self.io_error(key, e))?;
            let modified = meta.modified().map_err(|e| self.io_error(key, e))?;
            Ok(DateTime::<Utc>::from(modified))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.on_blocking_pool(key, LocalStore::delete_now))
    }

    fn get_tagged<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Tagged>> {
        Box::pin(self.on_blocking_pool(key, LocalStore::read_tagged_now))
    }

    /// A lock file: `Absent` creates the file only if there is none (atomic on
    /// one machine); `ETag` compares the content's SHA-256 and replaces the file by
    /// a rename. Two processes racing to take over the same expired lock could
    /// both see the old tag; a local destination has one operator, so that
    /// window is accepted here, and S3's conditional writes close it there.
    fn put_if<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        headers: &'a ObjectHeaders,
        precondition: Precondition,
    ) -> StoreFuture<'a, String> {
        Box::pin(async move {
            self.path(key)?;
            // The caller usually hashed the body already (for the headers).
            let tag = match &headers.sha256_hex {
                Some(known) => known.clone(),
                None => sha256_hex(&body),
            };
            self.on_blocking_pool(key, move |store, key| {
                store.put_now_if(key, &body, Some(&precondition), true)
            })
            .await?;
            Ok(tag)
        })
    }

    /// One blocking task for the whole batch ([`BlockingStore::put_all_now`]):
    /// a chart's objects cost one hand-off to the blocking pool and back, not
    /// one each. A batch whose caller stopped waiting (a deadline dropped it)
    /// writes nothing more: the task cannot be cancelled, so it checks before
    /// each write.
    fn put_all(
        &self,
        puts: Vec<Put>,
        ready: Ready,
    ) -> futures::future::BoxFuture<'_, Vec<Result<(), StoreError>>> {
        Box::pin(async move {
            let keys: Vec<String> = puts.iter().map(|p| p.key.clone()).collect();
            let store = self.clone();
            let waited_for = WaitedFor::default();
            let still_waited_for = waited_for.watch();
            let written = tokio::task::spawn_blocking(move || {
                store.put_all_now(puts, &|| {
                    ready()?;
                    still_waited_for()
                })
            })
            .await;
            drop(waited_for);
            written.unwrap_or_else(|e| {
                keys.iter()
                    .map(|key| {
                        Err(StoreError::Failed {
                            location: self.describe(key),
                            message: format!("the file task stopped: {e}"),
                        })
                    })
                    .collect()
            })
        })
    }

    fn keeps_headers(&self) -> bool {
        false
    }

    fn blocking(&self) -> Option<&dyn BlockingStore> {
        Some(self)
    }

    fn check(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            tokio::fs::create_dir_all(&self.root)
                .await
                .map_err(|e| self.io_error("", e))?;
            self.on_blocking_pool("", |store, key| {
                store
                    .opened_root()
                    .map(drop)
                    .map_err(|e| store.io_error(key, e))
            })
            .await
        })
    }

    /// `syncfs` of the destination's file system (Linux): one call for every
    /// chart the run wrote (and, it being the file system's, any other dirty
    /// data on it), instead of a sync that waits for the device per file.
    /// Elsewhere each chart file was synced as it was written.
    fn sync(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.on_blocking_pool("", |store, key| {
            store.sync_file_system().map_err(|e| store.io_error(key, e))
        }))
    }
}

impl LocalStore {
    /// The root, opened the first time it is asked for (at [`Store::check`]).
    fn opened_root(&self) -> io::Result<&std::fs::File> {
        if let Some(opened) = self.opened.get() {
            return Ok(opened);
        }
        let opened = std::fs::File::open(&self.root)?;
        Ok(self.opened.get_or_init(|| opened))
    }

    /// Flushes the file system holding the root to its device, and reports
    /// a write-back error of any file on it since the root was opened. A
    /// root never made holds nothing to flush.
    #[cfg(target_os = "linux")]
    fn sync_file_system(&self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let root = match self.opened_root() {
            Ok(root) => root,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        // SAFETY: `syncfs` only reads the descriptor, which `self.opened`
        // keeps open for the store's life; it touches no memory of ours.
        if unsafe { libc::syncfs(root.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    #[allow(
        clippy::unnecessary_wraps,
        clippy::unused_self,
        reason = "the Linux version's signature"
    )]
    fn sync_file_system(&self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    // REQ-FR-007: the charts a batch wrote are synced at once before the
    // state that vouches for them; a destination not made yet has nothing
    // to sync, and one that is a file is an error, not a silent success.
    #[tokio::test]
    async fn a_sync_flushes_the_destination_and_fails_where_it_cannot() {
        let (dir, store) = LocalStore::temp();
        store.sync().await.unwrap();
        let puts = vec![Put {
            key: "c/a.png".into(),
            body: vec![1, 2, 3],
            headers: ObjectHeaders::no_store("image/png"),
            precondition: Some(Precondition::Absent),
        }];
        let written = store.put_all_now(puts, &|| Ok(()));
        assert!(written.iter().all(Result::is_ok), "{written:?}");
        store.sync().await.unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("c/a.png")).unwrap(),
            [1, 2, 3]
        );
        let missing = LocalStore::new(dir.path().join("not-yet"));
        missing.sync().await.unwrap();
        let file = LocalStore::new(dir.path().join("c/a.png"));
        assert!(file.sync().await.is_ok(), "a file's file system syncs too");
        let unreadable = LocalStore::new(dir.path().join("c/a.png/deeper"));
        let refused = unreadable.sync().await;
        assert!(refused.is_err(), "{refused:?}");
    }

    #[tokio::test]
    async fn put_head_open_round_trip() {
        let (_dir, store) = LocalStore::temp();
        let headers = ObjectHeaders {
            content_type: "text/plain",
            cache_control: None,
            sha256_hex: None,
        };
        assert_eq!(store.head("a/b.txt").await.unwrap(), None);
        store
            .put("a/b.txt", b"hello".to_vec(), &headers)
            .await
            .unwrap();
        let meta = store.head("a/b.txt").await.unwrap().unwrap();
        assert_eq!(
            meta.sha256_hex.as_deref(),
            Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
        let mut text = String::new();
        store
            .open("a/b.txt")
            .await
            .unwrap()
            .read_to_string(&mut text)
            .await
            .unwrap();
        assert_eq!(text, "hello");
        assert!(matches!(
            store.open("missing").await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(store.get("a/b.txt").await.unwrap(), Some(b"hello".to_vec()));
        assert_eq!(store.get("missing").await.unwrap(), None);
        let age = chrono::Utc::now() - store.last_modified("a/b.txt").await.unwrap();
        assert!(age.num_seconds().abs() < 60, "mtime {age}");
        store.delete("a/b.txt").await.unwrap();
        store.delete("a/b.txt").await.unwrap();
        assert_eq!(store.head("a/b.txt").await.unwrap(), None);
    }

    // REQ-RL-011: a link planted at `<key>.part` or as a folder of the key
    // is not written through.
    // REQ-RL-011: folders missing are made (a fresh destination), a folder
    // deeper down that is a link is refused although the ones above it are
    // real, and a `.part` a killed run left is replaced, not appended to.
    #[tokio::test]
    async fn missing_folders_are_made_and_leftovers_replaced() {
        let outside = tempfile::tempdir().unwrap();
        let (dir, store) = LocalStore::temp();
        let headers = ObjectHeaders::no_store("image/png");
        store
            .put_if("a/b/c.png", b"one".to_vec(), &headers, Precondition::Absent)
            .await
            .unwrap();
        store
            .put("a/b/d.png", b"two".to_vec(), &headers)
            .await
            .unwrap();
        assert_eq!(std::fs::read(dir.path().join("a/b/c.png")).unwrap(), b"one");
        std::fs::write(dir.path().join("a/b/d.png.part"), b"half a chart, and more").unwrap();
        store
            .put("a/b/d.png", b"three".to_vec(), &headers)
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("a/b/d.png")).unwrap(),
            b"three"
        );
        assert!(!dir.path().join("a/b/d.png.part").exists());
        std::os::unix::fs::symlink(outside.path(), dir.path().join("a/link")).unwrap();
        for key in ["a/link/x.png", "a/link/deeper/x.png"] {
            let through = store.put(key, b"x".to_vec(), &headers).await;
            assert!(
                matches!(through, Err(StoreError::Failed { .. })),
                "{key}: {through:?}"
            );
            let created = store
                .put_if(key, b"x".to_vec(), &headers, Precondition::Absent)
                .await;
            assert!(
                matches!(created, Err(StoreError::Failed { .. })),
                "{key}: {created:?}"
            );
        }
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    // A destination that does not exist yet is made by its first write,
    // whether the key is at its top or in a folder.
    #[tokio::test]
    async fn a_missing_root_is_made_by_the_first_write() {
        let dir = tempfile::tempdir().unwrap();
        let headers = ObjectHeaders::no_store("text/plain");
        for (root, key) in [("top", "a.txt"), ("nested", "b/c.txt")] {
            let store = LocalStore::new(dir.path().join(root).join("run-1"));
            store.put(key, b"x".to_vec(), &headers).await.unwrap();
            assert_eq!(store.get(key).await.unwrap(), Some(b"x".to_vec()));
            let created = LocalStore::new(dir.path().join(root).join("run-2"));
            created
                .put_if(key, b"y".to_vec(), &headers, Precondition::Absent)
                .await
                .unwrap();
            assert_eq!(created.get(key).await.unwrap(), Some(b"y".to_vec()));
        }
    }

    // REQ-FR-007: a batch its caller stopped waiting for (a deadline dropped
    // the future) writes nothing more, although its blocking task runs on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_batch_writes_nothing_more() {
        let (dir, store) = LocalStore::temp();
        let headers = ObjectHeaders::no_store("image/png");
        let puts: Vec<Put> = (0..4)
            .map(|i| Put {
                key: format!("c/{i}.png"),
                body: vec![i],
                headers: headers.clone(),
                precondition: Some(Precondition::Absent),
            })
            .collect();
        // Each write waits 150 ms (a slow disk); the caller gives up at 50.
        let ready: Ready = Arc::new(|| {
            std::thread::sleep(std::time::Duration::from_millis(150));
            Ok(())
        });
        let batch = store.put_all(puts, ready);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), batch)
                .await
                .is_err()
        );
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let written = (0..4)
            .filter(|i| dir.path().join(format!("c/{i}.png")).exists())
            .count();
        assert_eq!(written, 0, "written after the caller left");
    }

    #[tokio::test]
    async fn planted_links_are_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        let (dir, store) = LocalStore::temp();
        let headers = ObjectHeaders::no_store("application/json");
        let target = outside.path().join("victim");
        std::fs::write(&target, b"untouched").unwrap();
        std::fs::create_dir_all(dir.path().join("reports")).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("reports/latest.json.part")).unwrap();
        store
            .put("reports/latest.json", b"{}".to_vec(), &headers)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"untouched");
        let latest = dir.path().join("reports/latest.json");
        assert!(
            !std::fs::symlink_metadata(&latest)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        std::os::unix::fs::symlink(outside.path(), dir.path().join("charts")).unwrap();
        let through = store.put("charts/x.png", b"png".to_vec(), &headers).await;
        assert!(
            matches!(through, Err(StoreError::Failed { .. })),
            "{through:?}"
        );
        assert!(!outside.path().join("x.png").exists());
        let created = store
            .put_if(
                "charts/y.json",
                b"{}".to_vec(),
                &headers,
                Precondition::Absent,
            )
            .await;
        assert!(
            matches!(created, Err(StoreError::Failed { .. })),
            "{created:?}"
        );
        std::fs::write(outside.path().join("victim.png"), b"v").unwrap();
        let deleted = store.delete("charts/victim.png").await;
        assert!(
            matches!(deleted, Err(StoreError::Failed { .. })),
            "{deleted:?}"
        );
        assert!(outside.path().join("victim.png").exists());
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("root"));
        let headers = ObjectHeaders {
            content_type: "text/plain",
            cache_control: None,
            sha256_hex: None,
        };
        for key in ["../x", "/etc/passwd", "a/../../x", "./a"] {
            assert!(
                store.put(key, vec![1], &headers).await.is_err(),
                "key {key}"
            );
        }
    }

    // Lists as S3 does: every key under the prefix, folders' files included.
    #[tokio::test]
    async fn listing_includes_the_files_of_folders() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().to_path_buf());
        let headers = ObjectHeaders::no_store("image/png");
        for key in [
            "c/a.png",
            "c/dark/a.png",
            "c/compact-dark/a.png",
            "other/x.png",
        ] {
            store.put(key, b"x".to_vec(), &headers).await.unwrap();
        }
        let mut keys: Vec<String> = store.list("c/").await.unwrap().into_iter().collect();
        keys.sort();
        assert_eq!(keys, ["c/a.png", "c/compact-dark/a.png", "c/dark/a.png"]);
        assert!(store.list("none/").await.unwrap().is_empty());
    }
}
