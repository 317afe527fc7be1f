<?php
$server = stream_socket_server('tcp://0.0.0.0:8080', $errno, $errstr);
if (false === $server) {
    fwrite(STDERR, "Failed creating socket server: $errstr\n");
    exit(1);
}
echo "Waiting…\n";
const MAX_PROCS = 2;
$children = [];
for (;;) {
    $read = [$server];
    $write = null;
    $except = null;
    // block for 500 milliseconds, to avoid polling too often
    stream_select($read, $write, $except, 0, 500);
    // handle the readable sockets
    foreach ($read as $stream) {
        // server readable: a new connection, so start a child process for it
        if ($stream === $server && count($children) < MAX_PROCS) {
            // blocks; here, presumably, to limit the children serving clients
            $conn = @stream_socket_accept($server, -1, $peer);
            if (!is_resource($conn)) {
                continue;
            }
            echo "Starting a new child process for $peer\n";
            $pid = pcntl_fork();
            if ($pid > 0) {
                $children[] = $pid; // add the child's pid to the array
            } elseif ($pid === 0) {
                // Child process, implement our echo server
                $childPid = posix_getpid();
                fwrite($conn, "You are connected to process $childPid\n");
                // blocks until data can be read; false once the client closes
                while ($buf = fread($conn, 4096)) {
                    fwrite($conn, $buf);
                }
                fclose($conn);
                // We are done, quit.
                exit(0);
            }
        }
    }
    // Do housekeeping on exited childs
    foreach ($children as $i => $child) {
        $result = pcntl_waitpid($child, $status, WNOHANG); // wait for the child to end, without blocking
        if ($result > 0 && pcntl_wifexited($status)) { // if it exited normally,
            unset($children[$i]); // remove the child's pid from the array
        }
    }
    echo "\t".count($children)." connected\r";
}
?>
