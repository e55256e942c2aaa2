"""The handshake of a connection's core, sans-IO: the client's HELLO, the server's admission
(token, versions, limits) and WELCOME or REJECT, and the client's reading of the WELCOME.
A mixin of ``core.ConnectionCore`` (its state lives there)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from . import protocol as P
from .errors import ProtocolError
from .core_types import EV_CONNECTED, EV_REFUSED, Options, PeerInfo


class _Handshake:
    """The handshake half of ConnectionCore."""

    # What it uses of ConnectionCore (declared for the type checker; set in ConnectionCore.__init__).
    role: str
    options: Options
    address: str
    state: str
    peer: Optional[PeerInfo]
    tls: Any
    _out: List[bytes]
    _pinned: int
    _decoder: P.FrameDecoder

    if TYPE_CHECKING:

        def _queue(self, message: List[Any]) -> None: ...

    def start(self) -> None:
        """Client: queue the HELLO. Server: nothing (it waits for HELLO)."""
        if self.role != "client":
            return
        o = self.options
        hello: Dict[str, Any] = {
            "protocol": P.PROTOCOL_NAME,
            "versions": list(P.SUPPORTED_VERSIONS),
            "peerName": o.name,
            "peerVersion": o.version,
            "maxFrameSize": o.max_frame_size,
            "heartbeatMs": o.heartbeat_ms,
            "streamWindowMessages": o.stream_window[0],
            "streamWindowBytes": o.stream_window[1],
        }
        if o.token is not None:
            hello["token"] = o.token
        self._queue([P.HELLO, hello])

    def _admit(self, hello: Dict[str, Any]) -> Tuple[bool, str, str, bool, int]:
        if hello["protocol"] != P.PROTOCOL_NAME:
            import json

            return False, "PROTOCOL", f"expected protocol {P.PROTOCOL_NAME}, got {json.dumps(hello['protocol'])}", False, 0
        offered = hello["versions"]
        version = next((v for v in P.SUPPORTED_VERSIONS if v in offered), None)
        if version is None:
            shown = ", ".join(str(int(v)) if float(v).is_integer() else str(v) for v in offered) or "none"
            return False, "VERSION_MISMATCH", f"server speaks protocol version {', '.join(map(str, P.SUPPORTED_VERSIONS))}; client offered {shown}", False, 0
        expected = self.options.token
        if expected is not None:
            given = hello.get("token")
            ok = given is not None and hmac.compare_digest(
                hashlib.sha256(expected.encode()).digest(), hashlib.sha256(given.encode()).digest()
            )
            if not ok:
                return False, "UNAUTHENTICATED", "wrong token" if given else "a token is required", True, 0
        authenticate = self.options.authenticate
        if authenticate is not None:
            try:
                allowed = bool(authenticate(hello, self.address))
            except Exception:
                allowed = False
            if not allowed:
                return False, "UNAUTHENTICATED", "not authorised", True, 0
        return True, "", "", False, version

    def _on_hello(self, m: List[Any], events: List[Tuple[Any, ...]]) -> None:
        hello = m[1]
        ok, reason, message, auth, version = self._admit(hello)
        if not ok:
            self._queue([P.REJECT, reason, message])
            self.state = "closed"
            events.append((EV_REFUSED, reason, message, auth))
            return
        o = self.options
        welcome: Dict[str, Any] = {
            "protocol": P.PROTOCOL_NAME,
            "version": version,
            "peerName": o.name,
            "peerVersion": o.version,
            "connectionId": str(uuid.uuid4()),
            "maxFrameSize": o.max_frame_size,
            "heartbeatMs": o.heartbeat_ms,
            "streamWindowMessages": o.stream_window[0],
            "streamWindowBytes": o.stream_window[1],
        }
        self._queue([P.WELCOME, welcome])
        self._pinned = len(self._out)
        self.peer = PeerInfo(
            hello["peerName"],
            hello["peerVersion"],
            version,
            welcome["connectionId"],
            self.address,
            hello["maxFrameSize"],
            hello["heartbeatMs"],
            (hello.get("streamWindowMessages") or P.DEFAULT_STREAM_WINDOW_MESSAGES, hello.get("streamWindowBytes") or P.DEFAULT_STREAM_WINDOW_BYTES),
        )
        self._connected()
        events.append((EV_CONNECTED, self.peer))

    def _on_welcome(self, m: List[Any], events: List[Tuple[Any, ...]]) -> None:
        w = m[1]
        if w["protocol"] != P.PROTOCOL_NAME or w["version"] not in P.SUPPORTED_VERSIONS:
            v = w["version"]
            raise ProtocolError(f"server chose unsupported protocol {w['protocol']}/{int(v) if float(v).is_integer() else v}")
        self.peer = PeerInfo(
            w["peerName"],
            w["peerVersion"],
            int(w["version"]),
            w["connectionId"],
            self.address,
            w["maxFrameSize"],
            w["heartbeatMs"],
            (w.get("streamWindowMessages") or P.DEFAULT_STREAM_WINDOW_MESSAGES, w.get("streamWindowBytes") or P.DEFAULT_STREAM_WINDOW_BYTES),
        )
        self._connected()
        events.append((EV_CONNECTED, self.peer))

    def _connected(self) -> None:
        assert self.peer is not None
        self.peer.tls = self.tls
        self.state = "connected"
        self._decoder.max_frame_size = self.options.max_frame_size
