# gunicorn under tend: tend binds the socket once and hands it to every
# instance as fd 3 (LISTEN_FDS=1, which gunicorn takes as systemd socket
# activation); gunicorn tells tend it is ready with sd_notify (ready=notify).
import shared

workers = 1
accesslog = None
graceful_timeout = 5


def on_starting(server):
    # in the master, before any worker: the shared objects exist from here on
    shared.create_or_open()


def post_fork(server, worker):
    # in each worker: open them by name
    shared.attach()
