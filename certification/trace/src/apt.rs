//! Installing a missing Debian package the report needs (Chromium for the browser check, LLVM
//! for coverage), as root, saying so on stderr first: a suite that installs software names the
//! step that did it.

use std::process::Command;

/// Whether this process runs as root (apt can install).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// The command a user runs to install `package` by hand.
pub fn install_command(package: &str) -> String {
    format!("apt-get install -y --no-install-recommends {package}")
}

/// Installs `package` with apt (after `apt-get update` if the first try fails), announcing it
/// with `why`. Returns whether apt succeeded.
pub fn install(package: &str, why: &str) -> bool {
    eprintln!("trace: installing Debian's `{package}` ({why}): {}", install_command(package));
    let apt = |arguments: &[&str]| {
        Command::new("apt-get")
            .args(arguments)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .is_ok_and(|output| output.status.success())
    };
    let arguments = ["install", "-y", "--no-install-recommends", package];
    apt(&arguments) || (apt(&["update"]) && apt(&arguments))
}
