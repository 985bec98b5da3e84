//! The control plane that the binary's signal loop, [`crate::Server`]'s
//! methods and the admin thread share: reloads (of a config given in
//! memory, or of the config file, as on SIGHUP and `POST /reload`), their
//! counting, which file the running config came from, and the stop (a
//! signal or `POST /drain`). Control threads only; shards never touch it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use shardgate_config::Config;

use crate::ctx::Shared;
use crate::metrics::control::ReloadMetrics;
use crate::publish::Publisher;
use crate::Error;

/// The file the running config was loaded from, as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// SHA-256 of the bytes loaded, lower-case hex.
    pub sha256: String,
    pub loaded_at: SystemTime,
    /// The generation this load published (a later DNS change publishes
    /// newer generations of the same file).
    pub generation: u64,
}

impl ConfigFile {
    /// Loads and validates `path`; `generation` is filled in once published.
    pub fn load(path: &Path) -> Result<(Config, ConfigFile), Error> {
        let (config, text) = shardgate_config::load_source(path)?;
        let file = ConfigFile {
            path: path.to_path_buf(),
            sha256: sha256_hex(text.as_bytes()),
            loaded_at: SystemTime::now(),
            generation: 0,
        };
        Ok((config, file))
    }
}

type Hook = Box<dyn Fn() + Send + Sync>;

pub struct Control {
    pub shared: Arc<Shared>,
    publisher: Arc<Publisher>,
    metrics: ReloadMetrics,
    /// None when the running config was given in memory (`Server::start`,
    /// `Server::reload`): then there is no file to reload.
    file: ArcSwapOption<ConfigFile>,
    /// One reload at a time, from reading the file to recording it, so a
    /// generation is never paired with another reload's file (the
    /// publisher's own lock covers only the publishing).
    reloading: Mutex<()>,
    /// Run once when a stop starts, so the binary's signal loop wakes up
    /// for a `POST /drain` as it does for SIGTERM.
    on_stop: OnceLock<Hook>,
    /// Set by `Server::join` once the shards are done: the admin listener
    /// answers (`/ready` 503) for the whole drain, then stops.
    pub admin_stop: AtomicBool,
}

impl Control {
    pub fn new(shared: Arc<Shared>, publisher: Arc<Publisher>, metrics: ReloadMetrics) -> Self {
        Control {
            shared,
            publisher,
            metrics,
            file: ArcSwapOption::empty(),
            reloading: Mutex::new(()),
            on_stop: OnceLock::new(),
            admin_stop: AtomicBool::new(false),
        }
    }

    pub fn file(&self) -> Option<Arc<ConfigFile>> {
        self.file.load_full()
    }

    pub fn set_file(&self, file: ConfigFile) {
        self.file.store(Some(Arc::new(file)));
    }

    /// Publishes `config` (given in memory): the running config no longer
    /// comes from a file.
    pub fn reload(&self, config: Config) -> Result<u64, Error> {
        let _one = self.lock();
        let published = self.publisher.reload(config);
        if published.is_ok() {
            self.file.store(None);
        }
        self.counted(published)
    }

    /// Loads `path` and publishes it: a file that does not load and a
    /// config that is refused both count as a failed reload.
    pub fn reload_file(&self, path: &Path) -> Result<u64, Error> {
        let _one = self.lock();
        let published = ConfigFile::load(path).and_then(|(config, mut file)| {
            let generation = self.publisher.reload(config)?;
            file.generation = generation;
            self.set_file(file);
            Ok(generation)
        });
        self.counted(published)
    }

    /// SIGHUP and `POST /reload`: the file the running config came from.
    pub fn reload_running_file(&self) -> Result<u64, Error> {
        match self.file() {
            Some(f) => self.reload_file(&f.path),
            None => self.counted(Err(Error::Reload(
                "the running config was not loaded from a file".into(),
            ))),
        }
    }

    /// The one place reloads are counted.
    fn counted(&self, result: Result<u64, Error>) -> Result<u64, Error> {
        match &result {
            Ok(generation) => {
                self.metrics.reloads.increment(1);
                // Generations stay far below 2^53, exact in an f64.
                self.metrics.generation.set(*generation as f64);
            }
            Err(_) => self.metrics.failures.increment(1),
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.reloading.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the graceful stop (listeners close, connections finish up to
    /// `shutdown_grace`). True for the call that started it; later calls
    /// change nothing.
    pub fn stop(&self) -> bool {
        self.publisher.stop();
        let first = !self.shared.stopping.swap(true, Ordering::Relaxed);
        if first {
            if let Some(hook) = self.on_stop.get() {
                hook();
            }
        }
        first
    }

    pub fn stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::Relaxed)
    }

    /// `hook` runs when a stop starts (at most once; a second hook is
    /// ignored). Runs at once if the stop already started.
    pub fn on_stop(&self, hook: Hook) {
        if self.on_stop.set(hook).is_ok() && self.stopping() {
            if let Some(h) = self.on_stop.get() {
                h();
            }
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = String::with_capacity(64);
    for b in digest.as_ref() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
