<?php
$server = stream_socket_server('tcp://0.0.0.0:' . (getenv('PORT') ?: 8080), $errno, $errstr);
if (false === $server) {
    fwrite(STDERR, "Failed creating socket server: $errstr\n");
    exit(1);
}
echo "Waiting…\n";
$children = [];
// a UNIX socket for two-way communication between parent and children
$pipe = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
for (; ;) {
    // check for signals, and run the signal handlers
    //pcntl_signal_dispatch();
    $read = [$server, $pipe[0]]; // watch the server and pipe sockets for data
    $write = null;
    $except = null;
    // blocks
    stream_select($read, $write, $except,NULL);
    foreach ($read as $stream) {
        if ($stream === $server && count($children) < 2) {
            $conn = @stream_socket_accept($server, -1, $peer);
            if (!is_resource($conn)) {
                continue;
            }
            echo "Starting a new child process for $peer\n";
            $pid = pcntl_fork();
            if ($pid > 0) {
                $children[] = $pid;
            } elseif ($pid === 0) {
                fclose($pipe[0]); // the child closes the pipe[0] end
                // Child process, implement our echo server
                $childPid = posix_getpid();
                fwrite($conn, "You are connected to process $childPid\n");
                while ($line = fgets($conn, 4096)) {
                    if(trim($line) == 'quit')
                        break;
                    fwrite($conn, $line);
                }
                //  shutdown( socket, SHUT_WR) sends a FIN
                stream_socket_shutdown($conn,STREAM_SHUT_RDWR);
                fclose($conn);
                // Tell the parent that we are done
                fwrite($pipe[1], "$childPid\n"); // talk to the parent through the pipe
                // We are done, quit.
                exit(0);
            }
        } elseif ($stream === $pipe[0]) { // a child sent the parent a message
            $result = fgets($pipe[0]);
            if ($result === '0') { // where does this come from??
                foreach ($children as $i => $pid) {
                    $wait = pcntl_waitpid($pid, $status, WNOHANG);
                    if ($wait > 0 && pcntl_wifexited($status)) {
                        unset($chilren[$i]);
                    }
                }
            } else { // get the child's pid
                foreach ($children as $i => $pid) {
                    if ((string)$pid == (string)$result) {
                        unset($children[$i]);
                    }
                }
            }
        }
    }
    echo count($children) . " connected\n";
}
?>
