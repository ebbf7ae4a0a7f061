#!/usr/bin/env python3
# A small service written for systemd's Type=notify with WatchdogSec=, as many are: it
# serves HTTP, says READY=1 and its STATUS= on $NOTIFY_SOCKET once it listens, then sends
# WATCHDOG=1 every half $WATCHDOG_USEC from its main loop — a main loop that hangs stops
# the pings, and the watchdog restarts it. It logs to syslog (/dev/log), as daemons on the
# VM did. Nothing here knows about tend: under systemd it would run the same.
import http.server
import os
import socket
import syslog
import threading
import time


def notify(message):
    address = os.environ.get('NOTIFY_SOCKET')
    if not address:
        return
    if address.startswith('@'):
        address = '\0' + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(address)
        s.send(message.encode())


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'notifier ok\n'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        syslog.syslog(syslog.LOG_INFO, format % args)


port = int(os.environ.get('PORT', '8081'))
syslog.openlog('notifier', syslog.LOG_PID, syslog.LOG_DAEMON)
server = http.server.HTTPServer(('127.0.0.1', port), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
syslog.syslog(syslog.LOG_NOTICE, 'listening on 127.0.0.1:%d' % port)
notify('READY=1\nSTATUS=serving on port %d' % port)

usec = int(os.environ.get('WATCHDOG_USEC', '0'))
while True:
    time.sleep(usec / 2e6 if usec else 3600)
    notify('WATCHDOG=1')
