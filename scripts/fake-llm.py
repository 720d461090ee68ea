"""A stand-in OpenAI-compatible model provider on loopback, for scripts/fuzz-api.

POST /chat/completions answers "ok" for any model, whole or streamed (with usage), so that
Baton's completion endpoint answers as it does with a real provider instead of 503. It listens on
127.0.0.1 on a port the system picks and writes that port to the file named by its argument.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USAGE = {"prompt_tokens": 3, "completion_tokens": 1}


class Provider(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            request = {}
        model = request.get("model") if isinstance(request, dict) else None
        model = model if isinstance(model, str) else "fake"
        if isinstance(request, dict) and request.get("stream"):
            self.stream(model)
        else:
            self.whole(model)

    def whole(self, model):
        body = json.dumps({
            "model": model,
            "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
            "usage": USAGE,
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def stream(self, model):
        chunks = [
            {"model": model, "choices": [{"delta": {"content": "ok"}}]},
            {"model": model, "choices": [{"delta": {}, "finish_reason": "stop"}]},
            {"model": model, "choices": [], "usage": USAGE},
        ]
        body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        body = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    with open(sys.argv[1], "w", encoding="utf-8") as port_file:
        port_file.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
