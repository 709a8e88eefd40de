#!/usr/bin/python3
"""A stand-in for daphne --fd 0: accept HTTP connections on the listening
socket it was given as fd 0 ([fcgi-program:x] socket=) and answer with its
own pid."""
import os
import socket

sock = socket.socket(fileno=0)
while True:
    conn, _ = sock.accept()
    conn.recv(4096)
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n%d\n" % os.getpid())
    conn.close()
