"""A real SMTP server for shopd's mail tests (aiosmtpd): every accepted message is written to
OUT_DIR/<n>.eml (atomically). Usage: smtp_sink.py PORT OUT_DIR. Prints READY once listening."""
import asyncio
import os
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out):
        self.out = out
        self.n = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # Mailboxes at reject.test do not exist: a permanent refusal, as real servers give.
        if address.lower().endswith("@reject.test"):
            return "550 5.1.1 No such user here"
        # A policy refusal (the server's configuration, not the mailbox): worth retrying.
        if address.lower().endswith("@policy.test"):
            return "550 5.7.1 Relaying denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        name = f"{time.time_ns()}-{os.getpid()}-{self.n}"
        tmp = os.path.join(self.out, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.out, name + ".eml"))
        return "250 Message accepted for delivery"


def main():
    port = int(sys.argv[1])
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    controller = Controller(Sink(out), hostname="127.0.0.1", port=port)
    controller.start()
    print("READY", flush=True)
    try:
        asyncio.get_event_loop().run_until_complete(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
