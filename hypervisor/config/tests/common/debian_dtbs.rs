//! The upstream ZCU102 and Raspberry Pi 4 device trees, from Debian's arm64 kernel package.
//!
//! The blobs are GPL-2.0 and not committed: `board-configs/{zcu102,rpi4}/board.toml` name the
//! package, the path inside it and the SHA-256 (`[dtb]`), and this helper fetches them with
//! the library code the compiler itself uses (`bulkhead_config::board::debian_dtb`) into
//! `target/debian-dtbs/`: `dpkg --add-architecture arm64` if needed (as root), `apt-get
//! download` of the package (`apt-get update` only when that fails), extraction of the two
//! files, checksum verification. When that is impossible (not root, no network) the test
//! fails with the exact commands to run — it never passes without the real trees.

use std::path::PathBuf;

use bulkhead_config::board::board_toml::BoardToml;
use bulkhead_config::board::debian_dtb::{self, DebianDtb};

use super::repo_root;

/// The `[dtb]` of `board-configs/<board>/board.toml`.
pub fn dtb_of(board: &str) -> DebianDtb {
    let path = repo_root()
        .join("board-configs")
        .join(board)
        .join("board.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let parsed: BoardToml =
        toml::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let table = parsed
        .dtb
        .unwrap_or_else(|| panic!("{} has no [dtb]", path.display()))
        .into_inner();
    DebianDtb {
        package: table.debian_package,
        version: table.debian_version,
        path: table.path,
        sha256: table.sha256,
    }
}

/// Makes sure the board's verified blob is in `target/debian-dtbs/` and returns its path;
/// panics with the commands to run when it cannot be fetched.
pub fn ensure(board: &str) -> PathBuf {
    let dtb = dtb_of(board);
    let cache = debian_dtb::cache_dir(&repo_root());
    match debian_dtb::fetch(&dtb, &cache) {
        Ok(path) => path,
        Err(error) => panic!(
            "the upstream {board} device tree ({} from {} {}) is needed and could not be fetched:\n{error}\n\nrun these commands (as root), then rerun the tests:\n{}",
            dtb.path,
            dtb.package,
            dtb.version,
            debian_dtb::manual_commands(&dtb, &cache)
        ),
    }
}
