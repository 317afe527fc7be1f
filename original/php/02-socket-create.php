<?php
    // 会创建一个本地文件，socket_close被调用时不会删除该文件，需要使用unlink()手动删除
    $socket = socket_create(AF_UNIX, SOCK_STREAM, 0); //unix tcp socket
    $socket = socket_create(AF_UNIX, SOCK_DGRAM, 0); //unix udp socket
    $socket = socket_create(AF_INET, SOCK_STREAM, SOL_TCP); // tcp socket
    $socket = socket_create(AF_INET, SOCK_DGRAM, SOL_UDP); // udp socket
?>
