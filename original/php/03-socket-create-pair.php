<?php
    $sockets = array();
    /* Setup socket pair */
    if (socket_create_pair(AF_UNIX, SOCK_STREAM, 0, $sockets) === false) {
        echo "socket_create_pair failed. Reason: ".socket_strerror(socket_last_error());
    }
    /* Send and Recieve Data */
    if (socket_write($sockets[0], "ABCdef123\n", strlen("ABCdef123\n")) === false) {
        echo "socket_write() failed. Reason: ".socket_strerror(socket_last_error($sockets[0]));
    }
    if (($data = socket_read($sockets[1], strlen("ABCdef123\n"), PHP_BINARY_READ)) === false) {
        echo "socket_read() failed. Reason: ".socket_strerror(socket_last_error($sockets[1]));
    }
    var_dump($data);

    /* Close sockets */
    socket_close($sockets[0]);
    socket_close($sockets[1]);
?>
