//! What chapter 4 says about the original's section on writing, shown with
//! PHP: a blocking `socket_write()` waits for room in the send buffer, not
//! for "the length", and a send timeout cuts it short; non-blocking writes
//! stop at the socket's own buffers, on loopback, with no network congestion
//! at all.
//!
//! The original gives no program for this section, so these tests run a few
//! lines of PHP of their own, with the same socket functions.

use testkit::php::php;

const CHUNK: usize = 64 * 1024;
const MESSAGE: usize = 16 * 1024 * 1024;

/// A TCP connection on loopback, made by one PHP process that holds both
/// ends.
const PAIR: &str = r#"
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
"#;

/// The numbers in `line`, in order.
fn numbers(line: &str) -> Vec<usize> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|word| !word.is_empty())
        .map(|word| word.parse().expect("a number"))
        .collect()
}

/// Backs ch04-blocking-and-non-blocking-io.md#wrong-reading-and-writing:
/// PHP's non-blocking writes to a peer that does not read stop, partial and
/// then failing with EAGAIN, once the two sockets' buffers are full: on
/// loopback, where there is no network to be congested.
#[test]
fn php_s_non_blocking_writes_stop_when_the_socket_buffers_are_full() {
    let Some(php) = php() else { return };
    let code = PAIR.to_string()
        + r#"
[$writer, $reader] = pair();
socket_set_nonblock($writer);
$chunk = str_repeat('x', 65536);
$calls = 0;
$taken = 0;
while (($written = socket_write($writer, $chunk)) !== false) {
    $calls++;
    $taken += $written;
    $last = $written;
}
echo "$calls calls took $taken bytes, the last $last\n";
echo "the next one: ", socket_strerror(socket_last_error($writer)), "\n";
echo "buffers: send ", socket_get_option($writer, SOL_SOCKET, SO_SNDBUF),
    ", receive ", socket_get_option($reader, SOL_SOCKET, SO_RCVBUF), "\n";
"#;
    let run = php.eval(&code);
    assert_eq!(run.code(), 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    let [calls, taken, last] = numbers(lines[0])[..] else {
        panic!("unexpected line: {}", lines[0]);
    };
    assert!(0 < last && last <= CHUNK, "{}", lines[0]);
    assert!(taken <= (calls - 1) * CHUNK + last, "{}", lines[0]);
    assert!(taken > 4 * CHUNK, "{}", lines[0]);
    assert_eq!(lines[1], "the next one: Resource temporarily unavailable");
    let [send_buffer, receive_buffer] = numbers(lines[2])[..] else {
        panic!("unexpected line: {}", lines[2]);
    };
    assert!(
        taken <= send_buffer + receive_buffer + CHUNK,
        "{}",
        run.stdout
    );
}

/// Backs ch04-blocking-and-non-blocking-io.md#wrong-reading-and-writing:
/// a blocking `socket_write()` of 16 MiB, whose length is known, takes it
/// all when the peer reads, and returns part of it when the peer does not
/// and a send timeout ends the wait for room.
#[test]
fn php_s_blocking_write_waits_for_room_and_a_send_timeout_cuts_it_short() {
    let Some(php) = php() else { return };
    let code = PAIR.to_string()
        + r#"
$message = str_repeat('y', 16 * 1024 * 1024);

[$writer, $reader] = pair();
socket_set_option($writer, SOL_SOCKET, SO_SNDTIMEO,
    ['sec' => 0, 'usec' => 200000]);
$written = socket_write($writer, $message);
echo "nobody reads, a send timeout: wrote $written\n";

[$writer, $reader] = pair();
$pid = pcntl_fork();
if ($pid == 0) {
    socket_close($writer);
    $got = 0;
    while (($data = socket_read($reader, 65536)) !== false && $data !== '') {
        $got += strlen($data);
    }
    echo "the reader got $got\n";
    exit(0);
}
socket_close($reader);
$written = socket_write($writer, $message);
echo "a child reads: wrote $written\n";
socket_close($writer);
pcntl_waitpid($pid, $status);
"#;
    let run = php.eval(&code);
    assert_eq!(run.code(), 0, "{run:?}");
    let line = |prefix: &str| -> usize {
        let found = run
            .stdout
            .lines()
            .find_map(|line| line.strip_prefix(prefix));
        found
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("no line {prefix:?}...: {}", run.stdout))
    };
    let cut_short = line("nobody reads, a send timeout: wrote ");
    assert!(0 < cut_short && cut_short < MESSAGE, "{}", run.stdout);
    assert_eq!(line("a child reads: wrote "), MESSAGE);
    assert_eq!(line("the reader got "), MESSAGE);
}
