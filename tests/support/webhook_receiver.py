"""A merchant's webhook receiver for the integration suite, on loopback.

    webhook_receiver.py serve PORT DIR   answer 200 (or the status POSTed to /_status) and keep
                                         every request as DIR/<n>.json {headers, body (base64)}
    webhook_receiver.py verify SECRET DIR
                                         verify each kept request with the Standard Webhooks
                                         reference library; print one JSON line per request:
                                         {"file", "ok", "id", "type" | "error"}
"""

import base64
import http.server
import json
import os
import sys
import threading
import time


def serve(port: int, directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    state = {"status": 200, "n": 0}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            if self.path == "/_status":
                state["status"] = int(body.decode())
                self.send_response(204)
                self.end_headers()
                return
            with lock:
                state["n"] += 1
                n = state["n"]
                status = state["status"]
            record = {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": base64.b64encode(body).decode(),
                "answered": status,
            }
            # Named by arrival time, so a receiver restarted on the same directory appends.
            name = os.path.join(directory, f"{time.time_ns():020d}-{n:06d}.json")
            with open(name + ".tmp", "w") as f:
                json.dump(record, f)
            os.rename(name + ".tmp", name)
            reply = json.dumps({"received": n}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("READY", flush=True)
    server.serve_forever()


def verify(secret: str, directory: str) -> None:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    wh = Webhook(secret)
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(directory, name)) as f:
            rec = json.load(f)
        body = base64.b64decode(rec["body"])
        try:
            event = wh.verify(body, rec["headers"])
            print(json.dumps({"file": name, "ok": True, "id": event["id"], "type": event["type"],
                              "webhook_id": rec["headers"].get("webhook-id")}))
        except WebhookVerificationError as e:
            print(json.dumps({"file": name, "ok": False, "error": str(e)}))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "verify":
        verify(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
