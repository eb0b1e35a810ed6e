"""pfrelay: a private Postfix relay instance (its own config, queue and data directories
under a test's temporary directory) on 127.0.0.1, for tests and benches.

    pf = PostfixRelay(tmpdir, port, relayhost="[127.0.0.1]:2525").start()
    ...
    pf.stop()

Facts that shape it: the master is run in the foreground (`master -s`) with
maillog_file = /dev/stdout, so no syslog is needed; `postfix check` creates
the queue directories; data_directory must belong to the postfix user and
every directory above the queue must be searchable by it.
"""
import os
import re
import shutil
import socket
import subprocess
import time

MASTER = "/usr/lib/postfix/sbin/master"


def available():
    return os.path.exists(MASTER) and shutil.which("postfix") is not None and os.geteuid() == 0


class PostfixRelay:
    def __init__(self, tmp, port, relayhost, main_extra=None):
        self.dir = os.path.join(str(tmp), "postfix")
        self.port = port
        self.etc = os.path.join(self.dir, "etc")
        for d in ("etc", "queue", "data"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        shutil.chown(os.path.join(self.dir, "data"), "postfix")
        p = self.dir
        while p != "/":
            os.chmod(p, os.stat(p).st_mode | 0o055)
            p = os.path.dirname(p)
        main = {
            "compatibility_level": "3.6",
            "queue_directory": os.path.join(self.dir, "queue"),
            "data_directory": os.path.join(self.dir, "data"),
            "mail_owner": "postfix", "setgid_group": "postdrop",
            "inet_interfaces": "127.0.0.1", "inet_protocols": "ipv4",
            "myhostname": "pf.test", "mydestination": "", "mynetworks": "127.0.0.0/8",
            "relayhost": relayhost,
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "maillog_file": "/dev/stdout", "alias_maps": "", "alias_database": "",
            "local_recipient_maps": "", "smtputf8_enable": "no",
        }
        main.update(main_extra or {})
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        with open("/etc/postfix/master.cf") as f:
            master = f.read()
        master = re.sub(r"(?m)^smtp\s+inet\s.*$",
                        "127.0.0.1:%d inet n - n - - smtpd" % port, master)
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(master)
        self.log = None
        self.proc = None

    def start(self):
        subprocess.run(["postfix", "-c", self.etc, "check"], check=True, capture_output=True)
        self.log = open(os.path.join(self.dir, "maillog"), "w+")
        self.proc = subprocess.Popen([MASTER, "-c", self.etc, "-s"], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("postfix master exited: " + self.logtext())
                time.sleep(0.05)
        raise RuntimeError("postfix did not listen: " + self.logtext())

    def logtext(self):
        if not self.log:
            return ""
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            subprocess.run(["postfix", "-c", self.etc, "stop"], capture_output=True)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
