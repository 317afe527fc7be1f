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
    // 设置500毫秒的阻塞等待，防止频繁的轮询
    stream_select($read, $write, $except, 0, 500);
    // 处理读socket
    foreach ($read as $stream) {
        // 如果是服务器socket读事件，表示有连接，则开启新的子进程来处理连接
        if ($stream === $server && count($children) < MAX_PROCS) {
            // 会阻塞，放到这里应该是为了控制有限子进程来处理连接的客户端
            $conn = @stream_socket_accept($server, -1, $peer);
            if (!is_resource($conn)) {
                continue;
            }
            echo "Starting a new child process for $peer\n";
            $pid = pcntl_fork();
            if ($pid > 0) {
                $children[] = $pid; // 子进程pid加入数组中
            } elseif ($pid === 0) {
                // Child process, implement our echo server
                $childPid = posix_getpid();
                fwrite($conn, "You are connected to process $childPid\n");
                // 阻塞，直到有数据可以读取，继续运行，当客户端关闭时返回false
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
        $result = pcntl_waitpid($child, $status, WNOHANG); // 无阻塞的等待子进程结束
        if ($result > 0 && pcntl_wifexited($status)) { // 如果是正常退出，
            unset($children[$i]); // 则清空数组中的子进程pid
        }
    }
    echo "\t".count($children)." connected\r";
}
?>
