<?php
    // creates a local file; socket_close won't delete it: unlink() it by hand
    $socket = socket_create(AF_UNIX, SOCK_STREAM, 0); //unix tcp socket
    $socket = socket_create(AF_UNIX, SOCK_DGRAM, 0); //unix udp socket
    $socket = socket_create(AF_INET, SOCK_STREAM, SOL_TCP); // tcp socket
    $socket = socket_create(AF_INET, SOCK_DGRAM, SOL_UDP); // udp socket
?>
