"""A real IMAP server for the bounce tests: Debian's Dovecot, started on a free loopback port with its own
configuration, state and mail folder under the test's temporary directory (installed by `.ci/run`)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient
from pydantic import SecretStr

from connector.administration import Mailbox
from tests.support.network import free_port
from tests.support.tools import tool

USER, PASSWORD = "bounces", "bounce-secret"


@dataclass
class ImapServer:
    port: int
    folder: Path

    @property
    def mailbox(self) -> Mailbox:
        return Mailbox(host="127.0.0.1", port=self.port, security="none", username=USER, password=SecretStr(PASSWORD))

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message in the mailbox, as the mail server would have."""
        with IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10) as client:
            client.login(USER, PASSWORD)
            client.append(folder, raw)

    def flags(self, folder: str = "INBOX") -> list[tuple[bytes, ...]]:
        with IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10) as client:
            client.login(USER, PASSWORD)
            client.select_folder(folder, readonly=True)
            return [data[b"FLAGS"] for data in client.fetch(client.search(["ALL"]), ["FLAGS"]).values()]


@contextmanager
def dovecot() -> Iterator[ImapServer]:
    command = tool("dovecot", "dovecot-imapd", also=("/usr/sbin/dovecot",))
    # Its own folder, readable by Dovecot's service users (pytest's temporary folders are private to the tester).
    root = Path(tempfile.mkdtemp(prefix="connector-dovecot-"))
    root.chmod(0o755)
    for part in ("run", "state", "mail"):
        (root / part).mkdir(parents=True, exist_ok=True)
    port = free_port()
    me = pwd.getpwuid(os.getuid()).pw_name
    if os.getuid() == 0:
        # Dovecot refuses to keep mail as root: the mailbox belongs to nobody, its service users are Dovecot's own.
        owner = "uid=65534 gid=65534"
        for path in [root, *root.rglob("*")]:
            os.chown(path, 65534, 65534)
        root.chmod(0o755)
        users = ""
    else:
        owner = f"uid={os.getuid()} gid={os.getgid()}"
        users = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    (root / "dovecot.conf").write_text(
        f"""protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 0
{users}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = {owner} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""
    )
    process = subprocess.Popen(
        [command, "-F", "-c", str(root / "dovecot.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                    error = process.stderr.read().decode() if process.stderr and process.poll() is not None else ""
                    raise RuntimeError(f"Dovecot did not start: {error} {log}") from None
                time.sleep(0.05)
        yield ImapServer(port, root / "mail" / USER)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
