//! Finding another listing's binary, for tests that need two programs (a
//! client's tests need the book's server).
//!
//! A test of its own package's binary uses `env!("CARGO_BIN_EXE_<name>")`.
//! Cargo gives no such path for another package, so [`bin`] looks in the
//! target folder the test itself was built into. `cargo test --workspace`
//! builds every listing before it runs any test, so there it is always fresh.
//! When only one package is tested (`cargo test -p ch01-hello-client`), the
//! other binary may be missing or older than its sources; then [`bin`] builds
//! it with cargo first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::SystemTime;

/// The path of listing `package`'s binary, built and up to date.
#[track_caller]
pub fn bin(package: &str) -> PathBuf {
    static CHECKED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let mut checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());

    let test_exe = std::env::current_exe().expect("current_exe");
    // <target>/<profile>/deps/<test binary>
    let profile_dir = test_exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in <target>/<profile>/deps");
    let path = profile_dir.join(package);
    if checked.contains(package) {
        return path;
    }

    let root = workspace_root();
    let sources = root.join("listings").join(package);
    assert!(
        sources.is_dir(),
        "no listing named {package} in {}",
        root.join("listings").display()
    );
    if !is_newer_than_sources(&path, &sources) {
        let target_dir = profile_dir.parent().expect("target folder");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .current_dir(&root)
            .args(["build", "--quiet", "--package", package, "--target-dir"])
            .arg(target_dir);
        if profile_dir
            .file_name()
            .is_some_and(|name| name == "release")
        {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "cargo build --package {package} failed");
    }
    checked.insert(package.to_string());
    path
}

/// The folder of the workspace's Cargo.toml: the nearest ancestor of the
/// running listing's folder that has `listings/`.
#[track_caller]
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR")
            .expect("run the tests with cargo"),
    );
    manifest_dir
        .ancestors()
        .find(|dir| {
            dir.join("listings").is_dir() && dir.join("Cargo.toml").is_file()
        })
        .expect("the workspace root holds listings/")
        .to_path_buf()
}

/// Whether `binary` exists and is newer than the listing's `Cargo.toml` and
/// every file in its `src/`.
#[track_caller]
fn is_newer_than_sources(binary: &Path, listing: &Path) -> bool {
    let Some(built) = modified(binary) else {
        return false;
    };
    let sources = [
        modified(&listing.join("Cargo.toml")),
        newest(&listing.join("src")),
    ];
    sources
        .iter()
        .all(|time| time.is_some_and(|time| time <= built))
}

#[track_caller]
fn modified(path: &Path) -> Option<SystemTime> {
    path.metadata().and_then(|meta| meta.modified()).ok()
}

/// The newest modification time of `dir` or anything below it.
#[track_caller]
fn newest(dir: &Path) -> Option<SystemTime> {
    let mut latest = modified(dir)?;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest(&path)?
        } else {
            modified(&path)?
        };
        latest = latest.max(time);
    }
    Some(latest)
}
