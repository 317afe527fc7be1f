<?php
// 创建一个socket
$sock = socket_create(AF_INET, SOCK_STREAM, IPPROTO_IP);
// 如果创建失败，则显示错误信息
if(!($sock = socket_create(AF_INET, SOCK_STREAM, 0)))
{
    $errorcode = socket_last_error();
    $errormsg = socket_strerror($errorcode);

    die("Couldn't create socket: [$errorcode] $errormsg \n");
}
echo "Socket created";
?>
