//! `cargo xtask doctor`: what this machine lacks for the book, and how to
//! get it. Each line is `ok`, `missing` (something needs it) or `limited`
//! (it works, but some tests skip, saying why), with what to do.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Ok,
    Missing,
    Limited,
}

pub struct Finding {
    pub state: State,
    /// What was checked, and what was found.
    pub what: String,
    /// What to do about it (empty when ok).
    pub advice: String,
    /// Whether the exercises' tests cannot run without it.
    pub required: bool,
}

fn ok(what: impl Into<String>) -> Finding {
    Finding {
        state: State::Ok,
        what: what.into(),
        advice: String::new(),
        required: false,
    }
}

fn not_ok(
    state: State,
    required: bool,
    what: impl Into<String>,
    advice: impl Into<String>,
) -> Finding {
    Finding {
        state,
        what: what.into(),
        advice: advice.into(),
        required,
    }
}

const CONTAINER: &str = "use the book's container (see the page \
    \"Working on the exercises\", On macOS and Windows)";

/// The tests need at least this many descriptors (`ulimit -Hn`).
const DESCRIPTORS_WANTED: u64 = 4096;

fn linux() -> Finding {
    if !cfg!(target_os = "linux") {
        return not_ok(
            State::Missing,
            true,
            format!("Linux: this is {}", std::env::consts::OS),
            format!(
                "the tests read /proc and make Linux-only calls (prctl, \
                 pidfd): {CONTAINER}"
            ),
        );
    }
    let release = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|_| "version unknown".to_string());
    ok(format!("Linux {release}"))
}

fn proc_fs() -> Finding {
    let readable = fs::read_to_string("/proc/self/status").is_ok()
        && fs::read_dir("/proc/self/fd").is_ok();
    if readable {
        ok("/proc is mounted and readable")
    } else {
        not_ok(
            State::Missing,
            true,
            "/proc: not mounted or not readable",
            format!(
                "the tests look at processes through /proc: mount it (mount -t proc proc /proc), or {CONTAINER}"
            ),
        )
    }
}

/// (major, minor) of `rustc --version`'s `rustc 1.85.0 (...)`.
pub fn rust_version(printed: &str) -> Option<(u32, u32)> {
    let version = printed.split_whitespace().nth(1)?;
    let mut parts = version.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn rust() -> Vec<Finding> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut found = Vec::new();
    let printed = output_of(&rustc, &["--version"]).unwrap_or_default();
    found.push(match rust_version(&printed) {
        Some(version) if version >= (1, 85) => {
            ok(format!("{printed} (the book needs 1.85 or later)"))
        }
        Some(_) => not_ok(
            State::Missing,
            true,
            format!("{printed}: the book needs Rust 1.85 or later"),
            "rustup update stable",
        ),
        None => not_ok(
            State::Missing,
            true,
            "Rust: rustc not found",
            "install Rust with rustup: https://rustup.rs",
        ),
    });
    for (component, command) in [("rustfmt", "fmt"), ("clippy", "clippy")] {
        found.push(match output_of(&cargo, &[command, "--version"]) {
            Some(version) => ok(format!("{component}: {version}")),
            None => not_ok(
                State::Missing,
                false,
                format!("{component}: not installed"),
                format!("rustup component add {component} (cargo xtask check needs it)"),
            ),
        });
    }
    found
}

fn loopback(
    address: &str,
    name: &str,
    required: bool,
    advice: &str,
) -> Finding {
    let works = TcpListener::bind(address).and_then(|listener| {
        let address = listener.local_addr()?;
        TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
        listener.accept().map(|_| ())
    });
    let host = address.trim_end_matches(":0");
    match works {
        Ok(()) => ok(format!("{name}: a connection to {host} works")),
        Err(err) => not_ok(
            if required {
                State::Missing
            } else {
                State::Limited
            },
            required,
            format!("{name}: cannot connect on {host}: {err}"),
            advice,
        ),
    }
}

/// The hard limit in /proc/self/limits' "Max open files" line.
pub fn hard_descriptor_limit(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    let fields: Vec<&str> =
        line["Max open files".len()..].split_whitespace().collect();
    match fields.get(1)? {
        &"unlimited" => Some(u64::MAX),
        number => number.parse().ok(),
    }
}

fn descriptors() -> Finding {
    let Some(hard) = fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| hard_descriptor_limit(&limits))
    else {
        return not_ok(
            State::Limited,
            false,
            "descriptor limit: cannot read /proc/self/limits",
            "tests that need 4096 descriptors will say whether they skip",
        );
    };
    if hard >= DESCRIPTORS_WANTED {
        ok(format!(
            "descriptors: the hard RLIMIT_NOFILE is {} (some tests want {DESCRIPTORS_WANTED})",
            if hard == u64::MAX {
                "unlimited".to_string()
            } else {
                hard.to_string()
            }
        ))
    } else {
        not_ok(
            State::Limited,
            false,
            format!(
                "descriptors: the hard RLIMIT_NOFILE is {hard}, and some tests want {DESCRIPTORS_WANTED}"
            ),
            "those tests skip: raise the hard limit (`nofile` in /etc/security/limits.conf, \
             LimitNOFILE= for a systemd service, docker run --ulimit nofile=4096:4096)",
        )
    }
}

/// Whether a sleeping process shows where it sleeps, as the tests of
/// chapters 9 and 10 need: `sleep`'s wait channel within two seconds.
fn wchan() -> Finding {
    let Ok(mut child) =
        Command::new("sleep").arg("10").stdin(Stdio::null()).spawn()
    else {
        return not_ok(
            State::Limited,
            false,
            "/proc/<pid>/wchan: cannot start `sleep` to look",
            "",
        );
    };
    let path = format!("/proc/{}/wchan", child.id());
    let started = Instant::now();
    let mut seen = String::new();
    while started.elapsed() < Duration::from_secs(2) {
        seen = fs::read_to_string(&path).unwrap_or_default();
        if !seen.is_empty() && seen != "0" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    if !seen.is_empty() && seen != "0" {
        ok(format!(
            "/proc/<pid>/wchan is readable (a sleeping process shows {seen})"
        ))
    } else {
        not_ok(
            State::Limited,
            false,
            "/proc/<pid>/wchan reads 0: this kernel or container hides where a process sleeps",
            "the tests that check a server sleeps in accept() skip; a Linux machine or VM shows it",
        )
    }
}

fn php() -> Finding {
    let probe = "echo PHP_VERSION, ' ', (PHP_MAJOR_VERSION >= 8 ? 'php8' : 'old'), \
                 ' ', implode(',', array_filter(['sockets', 'pcntl', 'posix'], \
                 fn($e) => !extension_loaded($e)));";
    let advice = "only the tests of the original PHP programs need it, and they skip \
                  without it: apt-get install php-cli (Debian, Ubuntu)";
    let Some(printed) = output_of("php", &["-r", probe]) else {
        return not_ok(State::Missing, false, "PHP: php not found", advice);
    };
    let fields: Vec<&str> = printed.split_whitespace().collect();
    match fields.as_slice() {
        [version, "php8"] => {
            ok(format!("PHP {version} with sockets, pcntl and posix"))
        }
        [version, "php8", missing] => not_ok(
            State::Missing,
            false,
            format!("PHP {version} lacks {missing}"),
            advice,
        ),
        _ => not_ok(
            State::Missing,
            false,
            format!("PHP: {printed}: the book needs PHP 8"),
            advice,
        ),
    }
}

fn browser() -> Finding {
    let browser = crate::find_browser();
    let node = output_of("node", &["--version"]);
    let npm = crate::has_program("npm");
    match (browser, node, npm) {
        (Some(browser), Some(node), true) => ok(format!(
            "Chromium ({}) and Node.js {node}, for the browser check",
            browser.display()
        )),
        (browser, node, npm) => {
            let mut missing = Vec::new();
            if browser.is_none() {
                missing.push("Chromium");
            }
            if node.is_none() {
                missing.push("Node.js");
            }
            if !npm {
                missing.push("npm");
            }
            not_ok(
                State::Missing,
                false,
                format!("browser check: {} not found", missing.join(", ")),
                "only cargo xtask check's browser check needs them, and it skips without \
                 them: apt-get install chromium nodejs npm",
            )
        }
    }
}

fn mdbook() -> Finding {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for tool in &crate::TOOLS {
        match crate::installed_version(tool) {
            Some(version) if version == tool.version => {
                found.push(format!("{} {version}", tool.package))
            }
            Some(version) => missing.push(format!(
                "{} {version} (the book pins {})",
                tool.package, tool.version
            )),
            None => missing.push(format!("{} {}", tool.package, tool.version)),
        }
    }
    if missing.is_empty() {
        ok(found.join(", "))
    } else {
        not_ok(
            State::Missing,
            false,
            format!("to build the book: {}", missing.join(", ")),
            "cargo xtask tools installs them (about five minutes; cargo xtask serve and check \
             do it too)",
        )
    }
}

fn pid_namespaces() -> Finding {
    let works = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "sh",
            "-c",
            "test $$ = 1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if works {
        ok(
            "PID namespaces (unshare --user --pid), for one test of exercise 7-2",
        )
    } else {
        not_ok(
            State::Limited,
            false,
            "PID namespaces: `unshare --user --pid` does not work here",
            "one test of exercise 7-2 skips (containers usually forbid it)",
        )
    }
}

fn git() -> Finding {
    match output_of("git", &["--version"]) {
        Some(version) => ok(version),
        None => not_ok(
            State::Missing,
            false,
            "git: not found",
            "to get the book, reset a starter and make a student edition: install git",
        ),
    }
}

fn netcat() -> Finding {
    if crate::has_program("nc") {
        ok("nc, to talk to the servers by hand (optional)")
    } else {
        not_ok(
            State::Limited,
            false,
            "nc: not found (optional)",
            "the book's own clients do the same job; or apt-get install netcat-openbsd",
        )
    }
}

pub fn findings() -> Vec<Finding> {
    let mut found = vec![linux(), proc_fs()];
    found.extend(rust());
    found.push(loopback(
        "127.0.0.1:0",
        "loopback",
        true,
        "every test talks over 127.0.0.1: bring up `lo` (ip link set lo up)",
    ));
    found.push(loopback(
        "[::1]:0",
        "IPv6 on loopback",
        false,
        "the tests that use ::1 skip: enable IPv6 on lo \
         (sysctl net.ipv6.conf.lo.disable_ipv6=0; docker needs --sysctl for it)",
    ));
    if cfg!(target_os = "linux") {
        found.push(descriptors());
        found.push(wchan());
        found.push(pid_namespaces());
    }
    found.push(php());
    found.push(browser());
    found.push(mdbook());
    found.push(git());
    found.push(netcat());
    found
}

pub fn report(findings: &[Finding]) -> String {
    let mut out = String::new();
    for finding in findings {
        let state = match finding.state {
            State::Ok => "ok",
            State::Missing => "missing",
            State::Limited => "limited",
        };
        out.push_str(&format!("  {state:<8} {}\n", finding.what));
        if !finding.advice.is_empty() {
            out.push_str(&format!("           -> {}\n", finding.advice));
        }
    }
    out
}

pub fn doctor() -> Result {
    println!("What this machine has for the book:\n");
    let findings = findings();
    print!("{}", report(&findings));
    let blocking: Vec<&str> = findings
        .iter()
        .filter(|f| f.required && f.state != State::Ok)
        .map(|f| f.what.as_str())
        .collect();
    if blocking.is_empty() {
        println!("\nThe exercises' tests can run here.");
        Ok(())
    } else {
        Err(format!(
            "the exercises' tests cannot run here: {}",
            blocking.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rust_versions() {
        assert_eq!(
            rust_version("rustc 1.85.0 (4d91de4e4 2025-02-17)"),
            Some((1, 85))
        );
        assert_eq!(
            rust_version("rustc 1.95.0-nightly (abc 2026-01-01)"),
            Some((1, 95))
        );
        assert_eq!(rust_version(""), None);
        assert!((1, 84) < (1, 85) && (2, 0) > (1, 85));
    }

    #[test]
    fn reads_the_hard_descriptor_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             63448                63448                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(hard_descriptor_limit(limits), Some(524288));
        let unlimited = "Max open files            1024                 unlimited            files\n";
        assert_eq!(hard_descriptor_limit(unlimited), Some(u64::MAX));
        assert_eq!(hard_descriptor_limit(""), None);
    }

    #[test]
    fn every_line_says_what_to_do_unless_ok() {
        let text = report(&[
            ok("Linux 6.8"),
            not_ok(State::Limited, false, "IPv6", "enable it"),
        ]);
        assert_eq!(
            text,
            "  ok       Linux 6.8\n  limited  IPv6\n           -> enable it\n"
        );
    }
}
