"""A local stand-in for Stripe's API for shopd's tests (Stripe's API cannot run here), on loopback.

It answers with Stripe's own published object shapes (tests/fixtures/stripe/fixtures3.json,
changing only ids, amounts, statuses and metadata) and checks what a real client must send:
form encoding, `Authorization: Bearer sk_test_…`, `Stripe-Version`, and an `Idempotency-Key`
on every POST, replaying the stored answer for a repeated key as Stripe does.

    stripe_api.py serve PORT             the API; control routes under /_control
    stripe_api.py events SECRET TS       stdin: JSON lines {"id", "type", "object": {...}};
                                         stdout: JSON lines {"payload", "signature"}, the event
                                         built on the fixture of its object and signed with the
                                         official `stripe` library at time TS
"""

import copy
import http.server
import json
import os
import secrets
import sys
import threading
import urllib.parse

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "stripe", "fixtures3.json")
with open(FIXTURES) as f:
    RES = json.load(f)["resources"]


def form(body: bytes) -> dict:
    """Stripe's form encoding (`a[b]=c`) into nested dicts."""
    out: dict = {}
    for k, v in urllib.parse.parse_qsl(body.decode(), keep_blank_values=True):
        parts = k.replace("]", "").split("[")
        d = out
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = v
    return out


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.intents: dict = {}
        self.refunds: list = []
        self.sessions: dict = {}
        self.keys: dict = {}
        self.violations: list = []
        self.requests = 0
        self.drop = 0
        self.refund_status = "succeeded"
        self.fail_next = 0


S = State()


def intent(params: dict) -> dict:
    pi = copy.deepcopy(RES["payment_intent"])
    pid = new_id("pi")
    pi.update({
        "id": pid,
        "amount": int(params["amount"]),
        "amount_capturable": 0,
        "amount_received": 0,
        "currency": params["currency"],
        "status": "requires_payment_method",
        "client_secret": f"{pid}_secret_{secrets.token_hex(8)}",
        "capture_method": params.get("capture_method", "automatic"),
        "metadata": params.get("metadata", {}),
        "receipt_email": params.get("receipt_email"),
        "last_payment_error": None,
        "latest_charge": None,
        "canceled_at": None,
    })
    return pi


def refund(params: dict) -> dict:
    r = copy.deepcopy(RES["refund"])
    r.update({
        "id": new_id("re"),
        "amount": int(params.get("amount", 0)),
        "payment_intent": params.get("payment_intent"),
        "charge": params.get("charge") or r["charge"],
        "metadata": params.get("metadata", {}),
        "status": S.refund_status,
    })
    return r


def session(params: dict) -> dict:
    s = copy.deepcopy(RES["checkout.session"])
    sid = new_id("cs_test")
    item = params.get("line_items", {}).get("0", {})
    price = item.get("price_data", {})
    s.update({
        "id": sid,
        "url": f"https://checkout.stripe.com/c/pay/{sid}",
        "client_reference_id": params.get("client_reference_id"),
        "metadata": params.get("metadata", {}),
        "mode": params.get("mode"),
        "success_url": params.get("success_url"),
        "cancel_url": params.get("cancel_url"),
        "amount_total": int(price.get("unit_amount", 0)) * int(item.get("quantity", 1)),
        "currency": price.get("currency"),
        "payment_intent": None,
        "payment_status": "unpaid",
        "status": "open",
    })
    return s


def error(kind: str, message: str, status: int):
    return status, {"error": {"type": kind, "message": message}}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status: int, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def body(self) -> bytes:
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n)

    def checked(self, post: bool) -> bool:
        auth = self.headers.get("authorization", "")
        problems = []
        if not auth.startswith("Bearer sk_test_"):
            problems.append(f"authorization {auth!r}")
        if not self.headers.get("stripe-version"):
            problems.append("no Stripe-Version")
        if post:
            if not (self.headers.get("content-type") or "").startswith("application/x-www-form-urlencoded"):
                problems.append(f"content-type {self.headers.get('content-type')!r}")
            if not self.headers.get("idempotency-key"):
                problems.append(f"no Idempotency-Key on POST {self.path}")
        if problems:
            with S.lock:
                S.violations.extend(problems)
            self.answer(*error("invalid_request_error", "; ".join(problems), 400))
            return False
        return True

    def do_GET(self):
        path = urllib.parse.urlparse(self.path).path
        if path == "/_control/state":
            with S.lock:
                return self.answer(200, {"intents": S.intents, "refunds": S.refunds, "sessions": S.sessions,
                                         "violations": S.violations, "requests": S.requests})
        with S.lock:
            S.requests += 1
        if not self.checked(False):
            return
        parts = path.strip("/").split("/")
        with S.lock:
            if parts[:2] == ["v1", "payment_intents"] and len(parts) == 3:
                pi = S.intents.get(parts[2])
                return self.answer(200, pi) if pi else self.answer(*error("invalid_request_error", "No such payment_intent", 404))
            if parts[:3] == ["v1", "checkout", "sessions"] and len(parts) == 4:
                s = S.sessions.get(parts[3])
                return self.answer(200, s) if s else self.answer(*error("invalid_request_error", "No such session", 404))
        self.answer(*error("invalid_request_error", f"unknown route {path}", 404))

    def do_POST(self):
        path = urllib.parse.urlparse(self.path).path
        raw = self.body()
        if path.startswith("/_control/"):
            return self.control(path, json.loads(raw or b"{}"))
        with S.lock:
            S.requests += 1
        if not self.checked(True):
            return
        key = self.headers["idempotency-key"]
        params = form(raw)
        with S.lock:
            seen = S.keys.get(key)
            # Stripe compares the parameters, not their order in the body.
            same = (path, sorted(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True)))
            if seen is not None:
                if seen[0] != same:
                    status, obj = error("idempotency_error", "Keys for idempotent requests can only be used with the same parameters they were first used with.", 400)
                    return self.answer(status, obj)
                return self.answer(seen[1], seen[2], [("idempotent-replayed", "true")])
            if S.fail_next > 0:
                S.fail_next -= 1
                return self.answer(*error("api_error", "Stripe is having a moment", 500))
            status, obj = self.route(path, params)
            S.keys[key] = (same, status, obj)
            drop = S.drop > 0 and status == 200
            if drop:
                S.drop -= 1
        if drop:
            # The work is done but the answer is lost (a dropped connection).
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.answer(status, obj)

    def route(self, path: str, p: dict):
        parts = path.strip("/").split("/")
        if parts == ["v1", "payment_intents"]:
            pi = intent(p)
            S.intents[pi["id"]] = pi
            return 200, pi
        if parts[:2] == ["v1", "payment_intents"] and len(parts) == 4:
            pi = S.intents.get(parts[2])
            if not pi:
                return error("invalid_request_error", "No such payment_intent", 404)
            if parts[3] == "capture":
                if pi["status"] != "requires_capture":
                    return error("invalid_request_error", f"PaymentIntent is {pi['status']}", 400)
                amount = int(p.get("amount_to_capture", pi["amount_capturable"]))
                pi.update({"status": "succeeded", "amount_received": amount, "amount_capturable": 0})
            elif parts[3] == "cancel":
                if pi["status"] in ("succeeded", "canceled"):
                    return error("invalid_request_error", f"PaymentIntent is {pi['status']}", 400)
                pi.update({"status": "canceled", "cancellation_reason": "requested_by_customer"})
            return 200, pi
        if parts == ["v1", "refunds"]:
            r = refund(p)
            S.refunds.append(r)
            return 200, r
        if parts == ["v1", "checkout", "sessions"]:
            s = session(p)
            S.sessions[s["id"]] = s
            return 200, s
        return error("invalid_request_error", f"unknown route {path}", 404)

    def control(self, path: str, body: dict):
        with S.lock:
            if path == "/_control/drop":
                S.drop = int(body.get("count", 1))
            elif path == "/_control/fail":
                S.fail_next = int(body.get("count", 1))
            elif path == "/_control/refund_status":
                S.refund_status = body["status"]
            elif path.startswith("/_control/intents/"):
                pi = S.intents[path.rsplit("/", 1)[1]]
                pi.update(body)
                return self.answer(200, pi)
            elif path.startswith("/_control/sessions/"):
                s = S.sessions[path.rsplit("/", 1)[1]]
                s.update(body)
                return self.answer(200, s)
        self.answer(200, {"ok": True})


def events(secret: str, ts: int) -> None:
    import stripe

    kinds = {"payment_intent": "payment_intent", "checkout": "checkout.session", "refund": "refund", "charge": "charge"}
    for line in sys.stdin:
        spec = json.loads(line)
        kind = kinds[spec["type"].split(".")[0]]
        obj = copy.deepcopy(RES[kind])
        obj.update(spec["object"])
        ev = copy.deepcopy(RES["event"])
        ev.update({"id": spec["id"], "type": spec["type"], "created": ts, "data": {"object": obj}})
        payload = json.dumps(ev)
        sig = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=ts)
        print(json.dumps({"payload": payload, "signature": sig}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A client killed mid-request (the crash tests do that) is not an error here.
                if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
                    super().handle_error(request, client_address)

        server = Server(("127.0.0.1", int(sys.argv[2])), Handler)
        print("READY", flush=True)
        server.serve_forever()
    elif sys.argv[1] == "events":
        events(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
