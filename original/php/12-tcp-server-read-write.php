<?php
//read data from the incoming socket
$input = socket_read($client, 1024000);
$response = "OK .. $input";
// Display output  back to client
socket_write($client, $response);
// Display output  back to client
socket_write($client, $response);
socket_close($client);
?>
