<?php
// Create a socket
$sock = socket_create(AF_INET, SOCK_STREAM, IPPROTO_IP);
// If creating it fails, show the error message
if(!($sock = socket_create(AF_INET, SOCK_STREAM, 0)))
{
    $errorcode = socket_last_error();
    $errormsg = socket_strerror($errorcode);

    die("Couldn't create socket: [$errorcode] $errormsg \n");
}
echo "Socket created";
?>
