<?php
// Accepts client requests and replies with a fixed response
function server_listen_socket ($address, $port) {
    $buffer = "Welcome to My First Server...";
    $len = strlen($buffer);

    // create, bind and listen to socket
    $socket = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
    if (!$socket) {
        echo "failed to create socket:" . socket_strerror($socket) . "\n";
        exit();
    }

    $bind_flag = socket_bind($socket, $address, $port);
    if (!$bind_flag) {
        echo "failed to bind socket:" . socket_strerror($bind_flag) . "\n";
        exit();
    }

    $backlog = 20;
    $listen_flag = socket_listen($socket, $backlog);
    if (!$listen_flag) {
        echo "failed to listen to socket:" . socket_strerror($listen_flag) . "\n";
        exit();
    }

    echo "waiting for clients to connect\n";

    while (1) {
        // block, waiting for a client to connect
        if (($accept_socket = socket_accept($socket)) == FALSE) {
            continue;
        } else { // if the connection succeeded, answer the client at once
            socket_write($accept_socket, $buffer, $len);
            // close the connection
            socket_close($accept_socket);
        }
    }
}

function run_server () {
    $pid1 = pcntl_fork();
    if ($pid1 == 0) {
        // first child process

        // the usual steps of a daemon: fork()->setsid()->fork()
        posix_setsid(); // make this child thread the session leader

        // create a child process again; this child is the daemon
        if (($pid2 = pcntl_fork()) == 0) {
            $address = "0.0.0.0";
            $port = "8080";
            // the daemon accepts the client connections
            server_listen_socket($address, $port);
        } else {
            // to keep from getting a controlling terminal, this process exits
            exit();
        }
    } else {
        // the parent waits for the first child to exit
        pcntl_wait($status);
    }
}

// the server daemon
run_server();
?>
