//! What the original tutorial says about creating, binding, listening,
//! accepting, connecting, naming and selecting, checked by running PHP: its
//! extension loader and its `socket_create()` example as it prints them, and
//! a few lines of PHP for each claim chapter 2 makes about a single function.
//!
//! Every socket is on loopback, but for the two short moments where PHP's
//! own choice is the point (`socket_create_listen()` and `socket_listen()`
//! on an unbound socket listen on every address).

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use testkit::php::{Original, Scratch, php};
use testkit::{Server, timeout};

/// A PHP listening socket on a free loopback port, `$listener`, with its
/// port in `$port`.
const LOOPBACK_LISTENER: &str = "
$listener = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
socket_bind($listener, '127.0.0.1', 0);
socket_listen($listener, 5);
socket_getsockname($listener, $addr, $port);
";

/// Backs ch02-the-socket-api-from-php-to-rust.md#wrong-dl-substr.
#[test]
fn the_loader_compares_the_wrong_part_of_php_os() {
    let Some(php) = php() else { return };
    // On Linux, with the extension loaded, the loader does nothing at all.
    let loader = Original::of(&["01-load-extension"]);
    let run = php.run(&loader, b"");
    assert_eq!((run.code(), run.stdout.as_str()), (0, ""), "{run:?}");

    // As if on Windows, where PHP_OS is "WINNT", without the extension: the
    // loader asks for the Linux file. (`echo` shows what `dl` would load.)
    let on_windows = loader
        .edit("extension_loaded('sockets')", "false", 1)
        .edit("PHP_OS", "'WINNT'", 1)
        .edit("dl(", "echo(", 2);
    let run = php.run(&on_windows, b"");
    assert_eq!(
        (run.code(), run.stdout.as_str()),
        (0, "sockets.so"),
        "{run:?}"
    );

    // substr() with one number returns the rest of the string from there.
    let parts = php.output_of("echo substr('WINNT', 3), ' ', substr('WINNT', 0, 3), ' ', PHP_OS_FAMILY, \"\\n\";",
    );
    assert_eq!(parts, "NT WIN Linux\n");
}

/// Backs ch02-the-socket-api-from-php-to-rust.md#wrong-unix-socket-file.
#[test]
fn socket_create_makes_no_file_bind_does_and_close_leaves_it() {
    let Some(php) = php() else { return };
    // The original's example, run in a fresh folder: when it is over, the
    // folder holds the script and nothing else.
    let example = Original::of(&["02-socket-create"])
        .then("<?php echo implode(' ', array_diff(scandir('.'), ['.', '..'])), \"\\n\"; ?>");
    let run = php.run(&example, b"");
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stderr, "");
    assert_eq!(run.stdout, "02-socket-create.php\n");

    // The file comes from bind(), and outlives socket_close().
    let scratch = Scratch::new("unix-file");
    let steps = php.output_of(&format!(
            "chdir({});
            $socket = socket_create(AF_UNIX, SOCK_STREAM, 0);
            echo 'after socket_create: ', file_exists('my.sock') ? 'a file' : 'no file', \"\\n\";
            socket_bind($socket, 'my.sock');
            echo 'after socket_bind: a file of type ', filetype('my.sock'), \"\\n\";
            socket_close($socket);
            clearstatcache();
            echo 'after socket_close: ', file_exists('my.sock') ? 'still there' : 'gone', \"\\n\";",
            scratch.php_string()
        ),
    );
    assert_eq!(
        steps,
        "after socket_create: no file\n\
         after socket_bind: a file of type socket\n\
         after socket_close: still there\n"
    );
    assert!(scratch.path().join("my.sock").exists());
}

/// Backs what chapter 2 says of `SOL_TCP` under "Creating a socket": in PHP
/// it is the protocol number of TCP, as `getprotobyname('tcp')` gives it.
#[test]
fn sol_tcp_and_sol_udp_are_the_protocol_numbers() {
    let Some(php) = php() else { return };
    let numbers = php.output_of("echo SOL_TCP, ' ', getprotobyname('tcp'), ' ', SOL_UDP, ' ', getprotobyname('udp'), \
         ' ', getprotobyname('icmp'), ' ', IPPROTO_IP, \"\\n\";
        $tcp = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
        $udp = socket_create(AF_INET, SOCK_DGRAM, SOL_UDP);
        echo socket_get_option($tcp, SOL_SOCKET, SO_TYPE) === SOCK_STREAM ? 'stream' : '?', ' ',
            socket_get_option($udp, SOL_SOCKET, SO_TYPE) === SOCK_DGRAM ? 'datagram' : '?', \"\\n\";",
    );
    assert_eq!(numbers, "6 6 17 17 1 0\nstream datagram\n");
}

/// Backs ch02-the-socket-api-from-php-to-rust.md#wrong-udp-record-length.
#[test]
fn udp_datagrams_keep_lengths_of_their_own() {
    let Some(php) = php() else { return };
    let lengths = php.output_of("$server = socket_create(AF_INET, SOCK_DGRAM, SOL_UDP);
        socket_bind($server, '127.0.0.1', 0);
        socket_getsockname($server, $addr, $port);
        $client = socket_create(AF_INET, SOCK_DGRAM, SOL_UDP);
        foreach ([1, 5, 1000, 65507] as $length) {
            socket_sendto($client, str_repeat('x', $length), $length, 0, '127.0.0.1', $port);
            socket_recvfrom($server, $datagram, 70000, 0, $from, $from_port);
            echo strlen($datagram), ' ';
        }
        $sent = @socket_sendto($client, str_repeat('x', 65508), 65508, 0, '127.0.0.1', $port);
        echo var_export($sent, true), ': ', socket_strerror(socket_last_error($client)), \"\\n\";",
    );
    assert_eq!(lengths, "1 5 1000 65507 false: Message too long\n");
}

/// Backs ch02-the-socket-api-from-php-to-rust.md#wrong-bind-before-connect.
#[test]
fn a_client_connects_without_binding_and_listen_needs_no_bind_either() {
    let Some(php) = php() else { return };
    let steps = php.output_of(&format!(
            "{LOOPBACK_LISTENER}
            $client = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
            socket_getsockname($client, $a, $p);
            echo \"before connect: $a:$p\\n\";
            echo 'connect: ', var_export(socket_connect($client, '127.0.0.1', $port), true), \"\\n\";
            socket_getsockname($client, $a, $p);
            echo 'after connect: ', $a, ' ', $p > 0 ? 'and a free port' : $p, \"\\n\";
            $unbound = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
            echo 'listen: ', var_export(socket_listen($unbound), true), \"\\n\";
            socket_getsockname($unbound, $a, $p);
            echo 'after listen: ', $a, ' ', $p > 0 ? 'and a free port' : $p, \"\\n\";"
        ),
    );
    assert_eq!(
        steps,
        "before connect: 0.0.0.0:0\n\
         connect: true\n\
         after connect: 127.0.0.1 and a free port\n\
         listen: true\n\
         after listen: 0.0.0.0 and a free port\n"
    );
}

/// A client socket bound to `from`, connected to `to`.
fn call_from(from: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((from, 0)).into())?;
    socket.connect_timeout(&to.into(), timeout())?;
    Ok(socket.into())
}

/// Backs ch02-the-socket-api-from-php-to-rust.md#wrong-bind-network.
#[test]
fn binding_one_address_chooses_what_callers_dial_not_who_they_are() {
    let Some(php) = php() else { return };
    // A PHP server bound to one address, w.x.y.z = 127.0.0.2, that says
    // who called.
    let process = php.spawn_code(
        "bind-network",
        "<?php
        $server = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
        socket_bind($server, '127.0.0.2', 0) or die(\"could not bind\\n\");
        socket_listen($server, 5);
        socket_getsockname($server, $addr, $port);
        echo \"listening on $addr:$port\\n\";
        while ($call = socket_accept($server)) {
            socket_getpeername($call, $peer);
            echo \"call from $peer\\n\";
            socket_close($call);
        }",
    );
    let mut server = Server::from_process(process);
    let port = server.port();

    // Dialling another address of this machine: nobody answers there.
    let elsewhere =
        TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(
        elsewhere.expect_err("refused").kind(),
        ErrorKind::ConnectionRefused
    );
    // Dialling the bound address: callers from other addresses get in.
    for caller in [[127, 0, 0, 1], [127, 0, 0, 3]] {
        let _call =
            call_from(caller, server.addr()).expect("the call is accepted");
        let ip = std::net::Ipv4Addr::from(caller);
        assert_eq!(server.next_line(), format!("call from {ip}"));
    }
}

/// Backs ch02-the-socket-api-from-php-to-rust.md#wrong-chmod-0702.
#[test]
fn mode_0702_shuts_out_the_files_group_and_lets_everyone_else_in() {
    let Some(php) = php() else { return };
    let scratch = Scratch::new("chmod");
    // The original's chmod($sockpath, 0702) on a listening socket; then, as
    // root can become anyone, a member of the file's group and a user of
    // no group of the file's try to connect.
    let output = php.output_of(&format!(
            "chdir({});
            $server = socket_create(AF_UNIX, SOCK_STREAM, 0);
            socket_bind($server, 'server.sock');
            socket_listen($server);
            chmod('server.sock', 0702);
            clearstatcache();
            printf(\"mode %o\\n\", fileperms('server.sock') & 0777);
            if (posix_geteuid() != 0) {{
                exit(\"not root\\n\");
            }}
            $callers = ['a member of the group' => filegroup('server.sock'), 'anyone else' => 65534];
            foreach ($callers as $who => $group) {{
                $pid = pcntl_fork();
                if ($pid == 0) {{
                    posix_initgroups('nobody', $group);
                    posix_setgid($group);
                    posix_setuid(65534);
                    $client = socket_create(AF_UNIX, SOCK_STREAM, 0);
                    $ok = @socket_connect($client, 'server.sock');
                    echo $who, ': ', $ok ? 'connected' : socket_strerror(socket_last_error($client)), \"\\n\";
                    exit(0);
                }}
                pcntl_waitpid($pid, $status);
            }}",
            scratch.php_string()
        ),
    );
    if output.ends_with("not root\n") {
        eprintln!("partly skipped: connecting as other users needs root");
        assert_eq!(output, "mode 702\nnot root\n");
        return;
    }
    assert_eq!(
        output,
        "mode 702\n\
         a member of the group: Permission denied\n\
         anyone else: connected\n"
    );
}

/// Backs ch02-the-socket-api-from-php-to-rust.md#wrong-reuseaddr-advice.
#[test]
fn so_reuseaddr_cures_time_wait_but_not_a_listening_server() {
    let Some(php) = php() else { return };
    let limit = timeout().as_secs();
    let output = php.output_of(&format!(
            "/** A listening socket on $port, or why there is none. */
            function server($port, $reuse) {{
                $socket = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
                if ($reuse) {{
                    socket_set_option($socket, SOL_SOCKET, SO_REUSEADDR, 1);
                }}
                if (!@socket_bind($socket, '127.0.0.1', $port)) {{
                    return socket_strerror(socket_last_error($socket));
                }}
                socket_listen($socket);
                return 'listening';
            }}
            /** Whether /proc/net/tcp shows a connection of $port in TIME_WAIT (06). */
            function time_wait($port) {{
                foreach (file('/proc/net/tcp') as $line) {{
                    $fields = preg_split('/\\s+/', trim($line));
                    if (str_ends_with($fields[1], sprintf(':%04X', $port)) && $fields[3] == '06') {{
                        return true;
                    }}
                }}
                return false;
            }}
            $old = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
            socket_set_option($old, SOL_SOCKET, SO_REUSEADDR, 1);
            socket_bind($old, '127.0.0.1', 0);
            socket_listen($old);
            socket_getsockname($old, $addr, $port);
            echo 'while a server listens: ', server($port, true), \"\\n\";

            // The server hangs up on a client first, and stops.
            $client = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
            socket_connect($client, '127.0.0.1', $port);
            socket_close(socket_accept($old));
            socket_read($client, 1);
            socket_close($client);
            socket_close($old);
            $deadline = microtime(true) + {limit};
            while (!time_wait($port) && microtime(true) < $deadline) {{
                usleep(5000);
            }}
            echo 'its connection in TIME_WAIT: ', time_wait($port) ? 'yes' : 'no', \"\\n\";
            echo 'without SO_REUSEADDR: ', server($port, false), \"\\n\";
            echo 'with SO_REUSEADDR: ', server($port, true), \"\\n\";"
        ),
    );
    assert_eq!(
        output,
        "while a server listens: Address already in use\n\
         its connection in TIME_WAIT: yes\n\
         without SO_REUSEADDR: Address already in use\n\
         with SO_REUSEADDR: listening\n"
    );
}

/// Backs what chapter 2 says under "The queue": PHP's default backlog, 0,
/// still queues one connection.
#[test]
fn the_default_backlog_of_socket_listen_queues_one_connection() {
    let Some(php) = php() else { return };
    // A server that listens with the default backlog and never accepts.
    let process = php.spawn_code(
        "backlog",
        "<?php
        $server = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
        socket_bind($server, '127.0.0.1', 0);
        socket_listen($server);
        socket_getsockname($server, $addr, $port);
        echo \"listening on $addr:$port\\n\";
        fgets(STDIN);",
    );
    let server = Server::from_process(process);
    let first = TcpStream::connect_timeout(&server.addr(), timeout());
    assert!(first.is_ok(), "the queue holds one: {first:?}");
    // The second caller's SYN is ignored: it would wait, so we give up.
    let second =
        TcpStream::connect_timeout(&server.addr(), Duration::from_millis(300));
    assert_eq!(
        second.expect_err("the queue is full").kind(),
        ErrorKind::TimedOut
    );
}

/// Backs what chapter 2 says of `socket_create_listen()`: every address, and
/// a free port for port 0.
#[test]
fn socket_create_listen_listens_on_every_address() {
    let Some(php) = php() else { return };
    let output = php.output_of(
        "$listener = socket_create_listen(0);
        socket_getsockname($listener, $addr, $port);
        echo $addr, ' ', $port > 0 ? 'and a free port' : $port, \"\\n\";",
    );
    assert_eq!(output, "0.0.0.0 and a free port\n");
}

/// Backs ch02-the-socket-api-from-php-to-rust.md#wrong-socket-set-blocking.
#[test]
fn socket_set_blocking_is_for_streams_and_a_non_blocking_accept_says_eagain() {
    let Some(php) = php() else { return };
    let output = php.output_of(&format!(
            "{LOOPBACK_LISTENER}
            try {{
                socket_set_blocking($listener, false);
            }} catch (TypeError $error) {{
                echo $error->getMessage(), \"\\n\";
            }}
            socket_set_nonblock($listener);
            $call = socket_accept($listener);
            // The error is not kept on $listener, only as the last error.
            echo var_export($call, true), ' ', socket_last_error($listener), ' ',
                socket_strerror(socket_last_error()), \"\\n\";"
        ),
    );
    assert_eq!(
        output,
        "socket_set_blocking(): Argument #1 ($stream) must be of type resource, Socket given\n\
         false 0 Resource temporarily unavailable\n"
    );
}

/// Backs what chapter 2 says under "Connecting": a non-blocking
/// `socket_connect()` returns false with EINPROGRESS, and the handshake goes
/// on.
#[test]
fn a_non_blocking_connect_returns_false_and_goes_on() {
    let Some(php) = php() else { return };
    let output = php.output_of(&format!(
            "{LOOPBACK_LISTENER}
            $client = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
            socket_set_nonblock($client);
            $connected = socket_connect($client, '127.0.0.1', $port);
            echo var_export($connected, true), ' ', socket_strerror(socket_last_error($client)), \"\\n\";
            $read = null;
            $write = [$client];
            $except = null;
            echo socket_select($read, $write, $except, 10), ' writable, SO_ERROR ',
                socket_get_option($client, SOL_SOCKET, SO_ERROR), \"\\n\";"
        ),
    );
    assert_eq!(
        output,
        "false Operation now in progress\n1 writable, SO_ERROR 0\n"
    );
}

/// Backs ch02-the-socket-api-from-php-to-rust.md#wrong-getpeername-listener,
/// and what chapter 2 says of the names of Unix sockets.
#[test]
fn a_listener_has_a_name_but_no_peer() {
    let Some(php) = php() else { return };
    let scratch = Scratch::new("names");
    let run = php.eval(&format!(
        "chdir({});
        function name($ok, $address) {{
            return $ok ? var_export($address, true) : 'false';
        }}
        $listener = socket_create(AF_UNIX, SOCK_STREAM, 0);
        socket_bind($listener, 'server.sock');
        socket_listen($listener);
        $client = socket_create(AF_UNIX, SOCK_STREAM, 0);
        socket_connect($client, 'server.sock');
        $accepted = socket_accept($listener);
        foreach (['client' => $client, 'accepted' => $accepted, 'listener' => $listener] as $which => $socket) {{
            $own = name(socket_getsockname($socket, $address), $address);
            $peer = name(socket_getpeername($socket, $address), $address);
            echo \"$which: $own, peer $peer\\n\";
        }}
        echo socket_strerror(socket_last_error($listener)), \"\\n\";
        {LOOPBACK_LISTENER}
        echo 'TCP listener: ', name(socket_getsockname($listener, $a, $p), $a), ', peer ',
            name(socket_getpeername($listener, $a), $a), \"\\n\";",
        scratch.php_string()
    ));
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "client: '', peer 'server.sock'\n\
         accepted: 'server.sock', peer ''\n\
         listener: 'server.sock', peer false\n\
         Transport endpoint is not connected\n\
         TCP listener: '127.0.0.1', peer false\n"
    );
    // PHP warns, each time, with the code and text of ENOTCONN.
    let warning = "unable to retrieve peer name [107]: Transport endpoint is not connected";
    assert_eq!(run.stderr.matches(warning).count(), 2, "{}", run.stderr);
}

/// Backs what chapter 2 says of the other families under "Names": PHP 8
/// makes sockets of `AF_UNIX`, `AF_INET` and `AF_INET6` only.
#[test]
fn php_refuses_to_create_sockets_of_other_families() {
    let Some(php) = php() else { return };
    // 16 is AF_NETLINK on Linux, which PHP has no constant for.
    let output = php.output_of(
        "try {
            socket_create(16, SOCK_RAW, 0);
        } catch (ValueError $error) {
            echo $error->getMessage(), \"\\n\";
        }
        try {
            socket_create_pair(16, SOCK_RAW, 0, $pair);
        } catch (ValueError $error) {
            echo $error->getMessage(), \"\\n\";
        }",
    );
    assert_eq!(
        output,
        "socket_create(): Argument #1 ($domain) must be one of AF_UNIX, AF_INET6, or AF_INET\n\
         socket_create_pair(): Argument #1 ($domain) must be one of AF_UNIX, AF_INET6, or AF_INET\n"
    );
}
