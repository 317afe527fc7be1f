<?php
 // 创建Socket
 $socket = socket_create(AF_INET, SOCK_STREAM, 0) or die("Could not create
 socket\n");
?>
