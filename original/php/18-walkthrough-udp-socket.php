<?php
 // 创建 socket
 $socket = socket_create(AF_INET, SOCK_DGRAM, 0) or die("Could not create
 socket\n");
?>
