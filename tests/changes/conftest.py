"""A real webhook receiver on loopback: verifies every signature, can fail on purpose (500)
or hang, and records what it accepted."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from changes.delivery import SIGNATURE_HEADER, verify


class Receiver:
    def __init__(self):
        self.secret = ""
        self.fail_next = 0  # answer 500 to this many requests, then 200
        self.always_fail = False
        self.hang_seconds = 0.0  # hold the next request this long, then answer 503
        self.accepted: list[dict] = []  # bodies answered 200, in arrival order
        self.requests: list[tuple[int, str]] = []  # (status answered, delivery id)
        self.bad_signatures = 0
        self.seen_request = threading.Event()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.seen_request.set()
                with receiver.lock:
                    hang, receiver.hang_seconds = receiver.hang_seconds, 0.0
                if hang:  # held until the worker is gone, then refused: it never counts as accepted
                    time.sleep(hang)
                    with receiver.lock:
                        receiver.requests.append((503, self.headers.get("Switchboard-Delivery")))
                    self.send_response(503)
                    self.end_headers()
                    return
                with receiver.lock:
                    if not verify(receiver.secret, body, self.headers.get(SIGNATURE_HEADER, "")):
                        receiver.bad_signatures += 1
                        status = 400
                    elif receiver.always_fail or receiver.fail_next > 0:
                        receiver.fail_next = max(receiver.fail_next - 1, 0)
                        status = 500
                    else:
                        status = 200
                        receiver.accepted.append(
                            {**json.loads(body), "_delivery": self.headers.get("Switchboard-Delivery")}
                        )
                    receiver.requests.append((status, self.headers.get("Switchboard-Delivery")))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        return Handler

    def wait_for(self, count: int, timeout: float = 60) -> list[dict]:
        """Until ``count`` deliveries were accepted (a wait, not an assertion on time)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.accepted) >= count:
                    return list(self.accepted)
            time.sleep(0.05)
        with self.lock:
            return list(self.accepted)


@pytest.fixture
def receiver():
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
