<?php
//start loop to listen for incoming connections
while (true)
{
    //Accept incoming connection - This is a blocking call
    $client =  socket_accept($sock);

    //display information about the client who is connected
    if(socket_getpeername($client , $address , $port))
    {
        echo "Client $address : $port is now connected to us. \n";
    }

    //read data from the incoming socket
    $input = socket_read($client, 1024000);

    $response = "OK .. $input";

    // Display output  back to client
    socket_write($client, $response);
}
?>
