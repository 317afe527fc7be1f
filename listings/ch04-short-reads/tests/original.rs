//! What chapter 4 says about the original's section on reading, shown with
//! PHP: its `MSG_WAITALL` comes back short for more reasons than a signal,
//! there is no `MSG_NONBLOCK`, and one `recv()` with `MSG_WAITALL` takes in
//! one call what a loop of `recv()`s takes piece by piece.
//!
//! The original gives no program for this section, so these tests run a few
//! lines of PHP of their own, with the same socket functions.

use std::net::{SocketAddr, TcpStream};

use testkit::kernel::{wchan, wchan_is_readable};
use testkit::php::php;
use testkit::tcp_queues::queues;
use testkit::{timeout, wait_until};

/// PHP functions the tests share: a TCP connection on loopback, made by
/// one process that holds both ends, and a bounded wait for readability.
fn prelude() -> String {
    let limit = timeout().as_secs();
    format!(
        r#"
function pair() {{
    $listener = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
    socket_bind($listener, '127.0.0.1', 0);
    socket_listen($listener);
    socket_getsockname($listener, $address, $port);
    $writer = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
    socket_connect($writer, '127.0.0.1', $port);
    $reader = socket_accept($listener);
    socket_close($listener);
    return [$writer, $reader];
}}
function wait_readable($socket) {{
    $read = [$socket]; $write = null; $except = null;
    socket_select($read, $write, $except, {limit});
}}
"#
    )
}

/// Backs ch04-blocking-and-non-blocking-io.md#wrong-reading-and-writing:
/// the original's note names a flag PHP does not have.
#[test]
fn php_has_msg_dontwait_and_no_msg_nonblock() {
    let Some(php) = php() else { return };
    let run =
        php.eval("var_dump(defined('MSG_DONTWAIT'), defined('MSG_NONBLOCK'));");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, "bool(true)\nbool(false)\n");
}

/// Backs ch04-blocking-and-non-blocking-io.md#wrong-reading-and-writing:
/// `MSG_WAITALL` on a non-blocking socket, or with `MSG_DONTWAIT`, is
/// allowed; it returns what is there, and fails at once when nothing is.
#[test]
fn msg_waitall_returns_what_is_there_when_the_call_may_not_wait() {
    let Some(php) = php() else { return };
    let code = prelude()
        + r#"
[$writer, $reader] = pair();
socket_write($writer, "hi");
wait_readable($reader);
socket_set_nonblock($reader);
$got = socket_recv($reader, $buffer, 10, MSG_WAITALL);
echo "non-blocking, MSG_WAITALL: $got bytes, $buffer\n";
$got = socket_recv($reader, $buffer, 10, MSG_WAITALL);
echo "again, nothing there: ", var_export($got, true), ", ",
    socket_strerror(socket_last_error($reader)), "\n";

socket_set_block($reader);
socket_write($writer, "hi");
wait_readable($reader);
$got = socket_recv($reader, $buffer, 10, MSG_WAITALL | MSG_DONTWAIT);
echo "blocking, MSG_WAITALL | MSG_DONTWAIT: $got bytes, $buffer\n";
"#;
    let run = php.eval(&code);
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "non-blocking, MSG_WAITALL: 2 bytes, hi\n\
         again, nothing there: false, Resource temporarily unavailable\n\
         blocking, MSG_WAITALL | MSG_DONTWAIT: 2 bytes, hi\n"
    );
}

/// Backs ch04-blocking-and-non-blocking-io.md#wrong-reading-and-writing:
/// besides a signal (see ch04-eintr's tests), the end of the stream, a read
/// timeout and an error each make `MSG_WAITALL` return fewer bytes than
/// asked.
#[test]
fn msg_waitall_comes_back_short_at_the_end_at_a_timeout_and_on_an_error() {
    let Some(php) = php() else { return };
    let code = prelude()
        + r#"
[$writer, $reader] = pair();
socket_write($writer, "abc");
socket_close($writer);
$got = socket_recv($reader, $buffer, 10, MSG_WAITALL);
echo "the end of the stream: $got of 10 bytes\n";

[$writer, $reader] = pair();
socket_write($writer, "1234");
wait_readable($reader);
socket_set_option($reader, SOL_SOCKET, SO_RCVTIMEO,
    ['sec' => 0, 'usec' => 200000]);
$got = socket_recv($reader, $buffer, 10, MSG_WAITALL);
echo "a read timeout: $got of 10 bytes\n";

[$writer, $reader] = pair();
socket_write($writer, "1234");
wait_readable($reader);
socket_set_option($writer, SOL_SOCKET, SO_LINGER,
    ['l_onoff' => 1, 'l_linger' => 0]);
socket_close($writer); // with a linger of 0: a reset
$got = socket_recv($reader, $buffer, 10, MSG_WAITALL);
echo "a reset: $got of 10 bytes\n";
$got = socket_recv($reader, $buffer, 10, MSG_WAITALL);
echo "then: ", var_export($got, true), ", ",
    socket_strerror(socket_last_error($reader)), "\n";
"#;
    let run = php.eval(&code);
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "the end of the stream: 3 of 10 bytes\n\
         a read timeout: 4 of 10 bytes\n\
         a reset: 4 of 10 bytes\n\
         then: false, Connection reset by peer\n"
    );
}

/// A PHP reader that listens on loopback, and reads 12 bytes from each of
/// two clients: from the first with a loop of plain `socket_recv()`s, from
/// the second with one `socket_recv()` and `MSG_WAITALL`. It counts the
/// calls.
const PIECEWISE_READER: &str = r#"<?php
$listener = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
socket_bind($listener, '127.0.0.1', 0);
socket_listen($listener);
socket_getsockname($listener, $address, $port);
echo "listening on $address:$port\n";
foreach (['a loop of socket_recv()', 'MSG_WAITALL'] as $way) {
    $connection = socket_accept($listener);
    $data = '';
    $calls = 0;
    if ($way == 'MSG_WAITALL') {
        $calls++;
        socket_recv($connection, $data, 12, MSG_WAITALL);
    } else {
        while (strlen($data) < 12) {
            $calls++;
            $got = socket_recv($connection, $buffer, 12 - strlen($data), 0);
            if (!$got) {
                break;
            }
            $data .= $buffer;
        }
    }
    echo "$way: $calls call(s), ", strlen($data), " bytes\n";
    socket_close($connection);
}
"#;

/// Sends `message` in three pieces of four bytes, and after each piece but
/// the last waits until the reader has taken it and is asleep in `recv()`
/// again, so that the pieces arrive one at a time.
fn send_in_pieces(
    reader: u32,
    server: SocketAddr,
    client: &mut TcpStream,
    message: &[u8],
) {
    use std::io::Write;
    let client_end = client.local_addr().expect("local_addr");
    let pieces: Vec<&[u8]> = message.chunks(4).collect();
    for (index, piece) in pieces.iter().enumerate() {
        client.write_all(piece).expect("send a piece");
        if index + 1 == pieces.len() {
            break;
        }
        let taken_and_waiting = wait_until(timeout(), || {
            queues(server, client_end).is_some_and(|q| q.receive == 0)
                && wchan(reader).is_some_and(|at| at.contains("wait"))
        });
        assert!(taken_and_waiting, "the reader did not take piece {index}");
    }
}

/// Backs ch04-blocking-and-non-blocking-io.md#wrong-reading-and-writing:
/// when data arrives in pieces, `MSG_WAITALL` takes them in one call, where
/// a loop needs one call per piece; that is where its saving comes from.
#[test]
fn msg_waitall_takes_in_one_call_what_a_loop_takes_piece_by_piece() {
    if !wchan_is_readable() {
        testkit::skip("/proc/<pid>/wchan is not readable on this machine");
        return;
    }
    let Some(php) = php() else { return };
    let mut reader = php.spawn_code("piecewise-reader", PIECEWISE_READER);
    let line = reader.next_line();
    let server: SocketAddr = line
        .strip_prefix("listening on ")
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));

    let mut first = TcpStream::connect(server).expect("connect");
    send_in_pieces(reader.pid(), server, &mut first, b"123456789abc");
    assert_eq!(
        reader.next_line(),
        "a loop of socket_recv(): 3 call(s), 12 bytes"
    );

    let mut second = TcpStream::connect(server).expect("connect");
    send_in_pieces(reader.pid(), server, &mut second, b"123456789abc");
    assert_eq!(reader.next_line(), "MSG_WAITALL: 1 call(s), 12 bytes");
    assert!(wait_until(timeout(), || reader.has_exited()));
}
