//! The original's `socket_create_pair()` example, run as it prints it, and
//! what chapter 2 says about PHP's reads and writes (`socket_read()`,
//! `socket_recv()`, `socket_recvfrom()`, `socket_recvmsg()`,
//! `socket_write()`, `socket_send()`), checked by running PHP. Every socket
//! is a socket pair or on loopback.

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use testkit::php::{Original, php};
use testkit::{Transcript, accept, kernel, timeout, wait_until};

/// A connected pair of Unix stream sockets, `$pair[0]` and `$pair[1]`, as
/// the original makes them.
const PAIR: &str = "socket_create_pair(AF_UNIX, SOCK_STREAM, 0, $pair);\n";

/// A TCP connection on loopback: `$client` connected to `$server`.
const CONNECTION: &str = "
$listener = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
socket_bind($listener, '127.0.0.1', 0);
socket_listen($listener, 5);
socket_getsockname($listener, $addr, $port);
$client = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
socket_connect($client, '127.0.0.1', $port);
$server = socket_accept($listener);
";

#[test]
fn the_original_pair_example_reads_what_it_wrote() {
    let Some(php) = php() else { return };
    let run = php.run(&Original::of(&["03-socket-create-pair"]), b"");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stderr, "");
    assert_eq!(run.stdout, "string(10) \"ABCdef123\n\"\n");
    Transcript::new("transcripts/original-pair.console")
        .command("php original/php/03-socket-create-pair.php")
        .output(&run.stdout)
        .check();
}

/// Backs ch02-the-socket-api-from-php-to-rust.md#wrong-read-nul.
#[test]
fn normal_read_stops_after_cr_or_lf_and_never_at_nul() {
    let Some(php) = php() else { return };
    let run = php.eval(&format!(
        "{PAIR}
        socket_write($pair[0], \"one\\0two\\nthree\\r\\nfour\\n\");
        for ($i = 0; $i < 4; $i++) {{
            echo json_encode(socket_read($pair[1], 100, PHP_NORMAL_READ)), \"\\n\";
        }}
        socket_write($pair[0], \"a\\0b\\rc\\n\");
        echo json_encode(socket_read($pair[1], 100, PHP_BINARY_READ)), \"\\n\";
        socket_close($pair[0]);
        echo json_encode(socket_read($pair[1], 100, PHP_NORMAL_READ)), \"\\n\";
        echo json_encode(socket_read($pair[1], 100, PHP_BINARY_READ)), \"\\n\";"
    ));
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        run.stdout,
        concat!(
            "\"one\\u0000two\\n\"\n", // \0 does not stop it, \n does
            "\"three\\r\"\n",         // \r stops it,
            "\"\\n\"\n",              // so the \n of \r\n is a line of its own
            "\"four\\n\"\n",
            "\"a\\u0000b\\rc\\n\"\n", // PHP_BINARY_READ stops at nothing
            "false\n",                // the end: false for PHP_NORMAL_READ,
            "\"\"\n",                 // "" for PHP_BINARY_READ
        )
    );
    // PHP_NORMAL_READ reports the end as a reset the peer never sent.
    assert!(
        run.stderr.contains(
            "unable to read from socket [104]: Connection reset by peer"
        ),
        "{}",
        run.stderr
    );
}

/// Backs ch02-the-socket-api-from-php-to-rust.md#wrong-recv-no-data: on a
/// blocking socket with no data, `socket_recv()` does not return false; it
/// waits.
#[test]
fn a_blocking_recv_with_no_data_waits_for_it() {
    let Some(php) = php() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener
        .local_addr()
        .expect("local_addr")
        .port()
        .to_string();
    // A client that connects to the test and calls socket_recv() at once.
    let code = "<?php
$socket = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
socket_connect($socket, '127.0.0.1', (int) getenv('PORT'));
echo \"calling socket_recv\\n\";
$received = socket_recv($socket, $buf, 100, 0);
echo var_export($received, true), ' ', var_export($buf, true), \"\\n\";
";
    let mut client = php.spawn_code_with_env("recv", code, &[("PORT", &port)]);
    let (mut conversation, _) = accept(&listener);
    client.wait_for_stdout("calling socket_recv");

    // PHP is asleep in the kernel, in recv(), and stays there: it neither
    // returns nor spins. (Where the kernel shows where a process sleeps, the
    // test sees it sleep; where it does not, CPU time and wakeups tell.)
    if kernel::wchan_is_readable() {
        let asleep = || kernel::wchan(client.pid()).is_some();
        assert!(wait_until(timeout(), asleep));
    } else {
        testkit::skip("where PHP sleeps: /proc/<pid>/wchan is not readable");
    }
    kernel::assert_asleep_during(client.pid(), Duration::from_millis(300));
    assert!(!client.has_exited());
    assert_eq!(client.stdout(), "calling socket_recv\n");

    conversation.write_all(b"hello").expect("send");
    assert_eq!(client.next_line(), "calling socket_recv");
    assert_eq!(client.next_line(), "5 'hello'");
}

/// Backs what chapter 2 says under `socket_recv()`: `$buf` becomes NULL
/// whenever nothing was received, at the end of the stream too.
#[test]
fn recv_sets_buf_to_null_when_it_receives_nothing() {
    let Some(php) = php() else { return };
    let output = php.output_of(&format!(
            "{PAIR}
            function show($received, $buf) {{
                echo var_export($received, true), ' ', var_export($buf, true), \"\\n\";
            }}
            $buf = 'before';
            show(socket_recv($pair[1], $buf, 100, MSG_DONTWAIT), $buf);
            echo socket_strerror(socket_last_error($pair[1])), \"\\n\";
            socket_write($pair[0], 'hello');
            show(socket_recv($pair[1], $buf, 100, 0), $buf);
            socket_close($pair[0]);
            $buf = 'before';
            show(socket_recv($pair[1], $buf, 100, 0), $buf);"
        ),
    );
    assert_eq!(
        output,
        "false NULL\n\
         Resource temporarily unavailable\n\
         5 'hello'\n\
         0 NULL\n"
    );
}

/// Backs what chapter 2 says under `socket_write()`: a length longer than
/// the buffer is cut to it, a length of 0 or an empty buffer writes nothing,
/// and a full non-blocking socket gives false, not 0.
#[test]
fn write_cuts_a_long_length_and_a_full_socket_gives_false() {
    let Some(php) = php() else { return };
    let output = php.output_of(&format!(
            "{PAIR}
            echo socket_write($pair[0], 'hello', 100), ' ', socket_read($pair[1], 100), \"\\n\";
            echo socket_write($pair[0], 'hello', 0), ' ', socket_write($pair[0], ''), \"\\n\";
            echo socket_write($pair[0], 'hello'), ' ', socket_read($pair[1], 100), \"\\n\";
            socket_set_nonblock($pair[0]);
            $total = 0;
            while (($written = socket_write($pair[0], str_repeat('x', 65536))) !== false) {{
                $total += $written;
            }}
            echo var_export($written, true), ' ', socket_strerror(socket_last_error($pair[0])),
                ', after ', $total > 0 ? 'some bytes' : 'none', \"\\n\";"
        ),
    );
    assert_eq!(
        output,
        "5 hello\n\
         0 0\n\
         5 hello\n\
         false Resource temporarily unavailable, after some bytes\n"
    );
}

/// Backs ch02-the-socket-api-from-php-to-rust.md#wrong-recvfrom-connected.
#[test]
fn recvfrom_on_a_connection_gives_no_null() {
    let Some(php) = php() else { return };
    let output = php.output_of(&format!(
            "{CONNECTION}
            socket_write($client, 'hello');
            $name = 'before';
            $from = -1;
            $received = socket_recvfrom($server, $buf, 100, 0, $name, $from);
            echo $received, ' ', var_export($buf, true), ' from ', var_export($name, true), ' ',
                var_export($from, true), \"\\n\";
            $udp = socket_create(AF_INET, SOCK_DGRAM, SOL_UDP);
            socket_bind($udp, '127.0.0.1', 0);
            socket_getsockname($udp, $addr, $udp_port);
            $sender = socket_create(AF_INET, SOCK_DGRAM, SOL_UDP);
            socket_bind($sender, '127.0.0.1', 0);
            socket_getsockname($sender, $addr, $sender_port);
            socket_sendto($sender, 'ping', 4, 0, '127.0.0.1', $udp_port);
            socket_recvfrom($udp, $buf, 100, 0, $name, $from);
            echo var_export($buf, true), ' from ', var_export($name, true), ' ',
                $from === $sender_port ? \"the sender's port\" : $from, \"\\n\";"
        ),
    );
    assert_eq!(
        output,
        "5 'hello' from '0.0.0.0' 0\n'ping' from '127.0.0.1' the sender's port\n"
    );
}

/// Backs ch02-the-socket-api-from-php-to-rust.md#wrong-msg-eof.
#[test]
fn msg_eof_does_not_shut_the_sending_side_on_linux() {
    let Some(php) = php() else { return };
    let output = php.output_of(&format!(
            "{CONNECTION}
            echo 'MSG_EOF is ', MSG_EOF, \"\\n\";
            echo socket_send($client, 'last', 4, MSG_EOF), ' sent: ', socket_read($server, 100), \"\\n\";
            socket_set_nonblock($server);
            echo 'then: ', var_export(socket_read($server, 100), true), ' ',
                socket_strerror(socket_last_error($server)), \"\\n\";
            socket_set_block($server);
            echo socket_send($client, 'more', 4, 0), ' sent: ', socket_read($server, 100), \"\\n\";
            socket_shutdown($client, 1);
            echo 'after socket_shutdown: ', var_export(socket_read($server, 100), true), \"\\n\";"
        ),
    );
    assert_eq!(
        output,
        "MSG_EOF is 512\n\
         4 sent: last\n\
         then: false Resource temporarily unavailable\n\
         4 sent: more\n\
         after socket_shutdown: ''\n"
    );
}

/// Backs ch02-the-socket-api-from-php-to-rust.md#wrong-recvmsg-signature.
#[test]
fn recvmsg_fills_an_array_and_refuses_a_string() {
    let Some(php) = php() else { return };
    let output = php.output_of("socket_create_pair(AF_UNIX, SOCK_DGRAM, 0, $pair);
        echo socket_sendmsg($pair[0], ['iov' => ['hel', 'lo']], 0), \"\\n\";
        $message = ['buffer_size' => 100, 'controllen' => socket_cmsg_space(SOL_SOCKET, SCM_RIGHTS, 1)];
        echo socket_recvmsg($pair[1], $message, 0), ' ', json_encode($message), \"\\n\";
        $text = '';
        try {
            socket_recvmsg($pair[1], $text, 0);
        } catch (TypeError $error) {
            echo $error->getMessage(), \"\\n\";
        }",
    );
    assert_eq!(
        output,
        "5\n\
         5 {\"name\":null,\"control\":[],\"iov\":[\"hello\"],\"flags\":0}\n\
         socket_recvmsg(): Argument #2 ($message) must be of type array, string given\n"
    );
}
