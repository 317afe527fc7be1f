//! What chapter 4 says about signals and the original's rules, shown with
//! PHP: a signal cuts `socket_recv()` with `MSG_WAITALL` short, and a
//! blocking `socket_write()` too, although PHP's `pcntl_signal()` asks the
//! kernel to restart interrupted calls (`SA_RESTART`): a call that has
//! already moved some bytes returns their count instead.
//!
//! The original gives no program for this, so this test runs a PHP program
//! of its own, with the same socket functions, and sends it `SIGALRM` once
//! the kernel shows it asleep in the call.

use nix::sys::signal::Signal;
use testkit::kernel::{wchan, wchan_is_readable};
use testkit::php::php;
use testkit::{Process, timeout, wait_until};

/// The PHP program: each blocking call is announced by a line, so that the
/// test knows which call the process is asleep in.
const INTERRUPTED: &str = r#"<?php
function pair() {
    $listener = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
    socket_bind($listener, '127.0.0.1', 0);
    socket_listen($listener);
    socket_getsockname($listener, $address, $port);
    $writer = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
    socket_connect($writer, '127.0.0.1', $port);
    $reader = socket_accept($listener);
    socket_close($listener);
    return [$writer, $reader];
}
// A handler, so that SIGALRM interrupts a call instead of ending PHP.
pcntl_signal(SIGALRM, function () {});

[$writer, $reader] = pair();
socket_write($writer, "1234");
echo "socket_recv(MSG_WAITALL) for 10 bytes, 4 there\n";
$got = socket_recv($reader, $buffer, 10, MSG_WAITALL);
echo "returned $got bytes\n";

[$writer, $reader] = pair();
$message = str_repeat('x', 16 * 1024 * 1024);
echo "socket_write() of 16777216 bytes nobody reads\n";
$written = socket_write($writer, $message);
echo "returned $written\n";
"#;

/// Waits until `process` sleeps in the kernel, waiting on a socket (its wait
/// channel is `wait_woken`, or `sk_wait_data` on older kernels), then sends
/// it SIGALRM.
fn interrupt_when_asleep(process: &Process) {
    let pid = process.pid();
    let asleep = wait_until(timeout(), || {
        wchan(pid).is_some_and(|at| at.contains("wait"))
    });
    assert!(asleep, "PHP never slept in its call: {:?}", wchan(pid));
    process.signal(Signal::SIGALRM);
}

/// Backs ch04-blocking-and-non-blocking-io.md#wrong-reading-and-writing:
/// a signal makes PHP's `MSG_WAITALL` return 4 of 10 bytes, and its blocking
/// write of 16 MiB return part of it.
#[test]
fn a_signal_cuts_php_s_msg_waitall_and_its_blocking_write_short() {
    if !wchan_is_readable() {
        testkit::skip("/proc/<pid>/wchan is not readable on this machine");
        return;
    }
    let Some(php) = php() else { return };
    let mut program = php.spawn_code("interrupted", INTERRUPTED);

    assert_eq!(
        program.next_line(),
        "socket_recv(MSG_WAITALL) for 10 bytes, 4 there"
    );
    interrupt_when_asleep(&program);
    assert_eq!(program.next_line(), "returned 4 bytes");

    assert_eq!(
        program.next_line(),
        "socket_write() of 16777216 bytes nobody reads"
    );
    interrupt_when_asleep(&program);
    let line = program.next_line();
    let written: usize = line
        .strip_prefix("returned ")
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line: {line}"));
    assert!(0 < written && written < 16 * 1024 * 1024, "{written}");

    let finished = program.finish();
    assert_eq!(finished.code(), 0, "{finished:?}");
}
