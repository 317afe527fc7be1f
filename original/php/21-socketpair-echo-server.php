<?php
$server = stream_socket_server('tcp://0.0.0.0:' . (getenv('PORT') ?: 8080), $errno, $errstr);
if (false === $server) {
    fwrite(STDERR, "Failed creating socket server: $errstr\n");
    exit(1);
}
echo "Waiting…\n";
$children = [];
// UNIX socket进行父子进程双向通信
$pipe = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
for (; ;) {
    // 检查信号，执行信号处理函数
    //pcntl_signal_dispatch();
    $read = [$server, $pipe[0]]; // 监听server socket和pipe socket是否有数据
    $write = null;
    $except = null;
    // 阻塞
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
                fclose($pipe[0]); // 子进程关闭pipe[0]管道
                // Child process, implement our echo server
                $childPid = posix_getpid();
                fwrite($conn, "You are connected to process $childPid\n");
                while ($line = fgets($conn, 4096)) {
                    if(trim($line) == 'quit')
                        break;
                    fwrite($conn, $line);
                }
                //  shutdown( socket, SHUT_WR)发送FIN
                stream_socket_shutdown($conn,STREAM_SHUT_RDWR);
                fclose($conn);
                // Tell the parent that we are done
                fwrite($pipe[1], "$childPid\n"); //通过pipe管道与父进程通信
                // We are done, quit.
                exit(0);
            }
        } elseif ($stream === $pipe[0]) { // 子进程发送消息给父进程
            $result = fgets($pipe[0]);
            if ($result === '0') { // 这个怎么来的？？
                foreach ($children as $i => $pid) {
                    $wait = pcntl_waitpid($pid, $status, WNOHANG);
                    if ($wait > 0 && pcntl_wifexited($status)) {
                        unset($chilren[$i]);
                    }
                }
            } else { // 获取子进程号
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
