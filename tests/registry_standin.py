"""A STAND-IN for a Confluent-compatible schema registry, for tests only.

No real registry can be run here: Confluent's is on none of the package registries this project reaches, and
Apicurio Registry (Maven Central) could not be built into a runnable Quarkus application: its 3.3.3 app needs
apicurio-registry-schema-util-provider 3.3.3, which is not served, and the parent POM of 3.0.9 is not served
either. So this small HTTP server answers the four calls that confluent-kafka's SchemaRegistryClient makes for
us, as the Confluent REST API documents them:

    GET  /schemas/ids/{id}                -> {"schema": "...", "references": [...]}   (404, error_code 40403)
    GET  /subjects/{subject}/versions/{v} -> {"subject", "version", "id", "schema", "references"}   (references)
    POST /subjects/{subject}              -> {"subject", "id", "version", "schema"}   (lookup; 404 40403/40401)
    POST /subjects/{subject}/versions     -> {"id": N}                    (register; the same id if known)

with HTTP basic authentication when `user_info` is given (401, error_code 401, otherwise). Schemas are
compared by their JSON text after parsing, as a registry without normalisation would. It is the client that
is under test: the real client, real HTTP, real sockets; only the server is small.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


class StandInRegistry:
    def __init__(self, user_info: str | None = None, first_id: int = 1) -> None:
        self.user_info = user_info
        self.schemas: dict[int, str] = {}
        self.references: dict[int, list[dict]] = {}  # id -> [{"name", "subject", "version"}]
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path), to check what the client asked
        self._next_id = first_id
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="registry-standin", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, schema: dict, subject: str | None = None, schema_id: int | None = None,
            references: list[dict] | None = None) -> int:
        """Register `schema` directly (as another producer would have), returning its id."""
        with self._lock:
            found = self._register(json.dumps(schema), subject, schema_id)
            if references:
                self.references[found] = references
            return found

    def _register(self, text: str, subject: str | None, schema_id: int | None = None) -> int:
        wanted = json.loads(text)
        found = next((i for i, t in self.schemas.items() if json.loads(t) == wanted), None)
        if found is None:
            found = schema_id if schema_id is not None else self._next_id
            self._next_id = max(self._next_id, found) + 1
            self.schemas[found] = text
        if subject is not None and found not in self.subjects.setdefault(subject, []):
            self.subjects[subject].append(found)
        return found

    def __enter__(self) -> StandInRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # keep pytest's output clean
                pass

            def do_GET(self) -> None:
                path = self._begin()
                if path is None:
                    return
                parts = path.strip("/").split("/")
                if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
                    with registry._lock:
                        text = registry.schemas.get(int(parts[2]))
                        refs = registry.references.get(int(parts[2]))
                    if text is None:
                        return self._send(404, {"error_code": 40403, "message": "Schema not found"})
                    return self._send(200, {"schema": text, **({"references": refs} if refs else {})})
                if len(parts) == 4 and parts[0] == "subjects" and parts[2] == "versions":
                    with registry._lock:
                        ids = registry.subjects.get(unquote(parts[1]), [])
                        pick = len(ids) if parts[3] == "latest" else int(parts[3]) if parts[3].isdigit() else 0
                        if not 1 <= pick <= len(ids):
                            return self._send(404, {"error_code": 40402, "message": "Version not found"})
                        found = ids[pick - 1]
                        body = {"subject": unquote(parts[1]), "version": pick, "id": found,
                                "schema": registry.schemas[found], "references": registry.references.get(found, [])}
                    return self._send(200, body)
                self._send(404, {"error_code": 404, "message": f"no route {path}"})

            def do_POST(self) -> None:
                path = self._begin()
                if path is None:
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                parts = [unquote(p) for p in path.strip("/").split("/")]
                if len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
                    with registry._lock:
                        new_id = registry._register(body["schema"], parts[1])
                    return self._send(200, {"id": new_id})
                if len(parts) == 2 and parts[0] == "subjects":
                    with registry._lock:
                        ids = registry.subjects.get(parts[1])
                        wanted = json.loads(body["schema"])
                        match = [i for i in ids or [] if json.loads(registry.schemas[i]) == wanted]
                    if ids is None:
                        return self._send(404, {"error_code": 40401, "message": "Subject not found"})
                    if not match:
                        return self._send(404, {"error_code": 40403, "message": "Schema not found"})
                    return self._send(200, {"subject": parts[1], "id": match[0],
                                            "version": ids.index(match[0]) + 1, "schema": body["schema"]})
                self._send(404, {"error_code": 404, "message": f"no route {path}"})

            def _begin(self) -> str | None:
                path = urlsplit(self.path).path
                with registry._lock:
                    registry.requests.append((self.command, path))
                if registry.user_info is not None:
                    expected = "Basic " + base64.b64encode(registry.user_info.encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        self._send(401, {"error_code": 401, "message": "Unauthorized"})
                        return None
                return path

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
