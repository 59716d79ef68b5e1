"""An aiortc peer that speaks the netplay signaling protocol (interop test helper).

It joins the lobby, challenges a player (and creates the offer) or accepts a challenge (and
answers), opens the negotiated game channel (id 0, unordered, maxRetransmits 0), reports
`connected`, waits for `match_started`, then exchanges netplay packets (ggrs keep-alives in
the peer crate's framing) with the opponent. Prints one JSON line with the counts.

Loopback only: host addresses are forced to 127.0.0.1 and no STUN server is configured.
"""

import argparse
import asyncio
import json
import sys

import aioice.ice

aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"]

import websockets  # noqa: E402
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.sdp import candidate_from_sdp  # noqa: E402


def packet(seq: int) -> bytes:
    # magic "NP", version 1, sequence (u32 LE), ggrs Message {magic 7, KeepAlive}
    return b"NP\x01" + seq.to_bytes(4, "little") + b"\x07\x07"


class Session:
    def __init__(self, ws, me, args):
        self.ws = ws
        self.me = me
        self.args = args
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel = self.pc.createDataChannel(
            "netplay-ggrs", negotiated=True, id=0, ordered=False, maxRetransmits=0
        )
        self.opened = asyncio.Event()
        self.started = asyncio.Event()
        self.received = 0
        self.opponent = None
        self.session_id = None
        self.channel.on("open", self.opened.set)
        self.channel.on("message", self.on_message)

    def on_message(self, message):
        if isinstance(message, bytes) and message[:3] == b"NP\x01":
            self.received += 1

    async def send(self, kind, payload):
        await self.ws.send(json.dumps({"type": kind, "payload": payload}))

    async def add_candidate(self, init):
        text = init.get("candidate") or ""
        if text.startswith("candidate:"):
            text = text[len("candidate:"):]
        if not text:
            return
        try:
            candidate = candidate_from_sdp(text)
        except Exception as error:  # a candidate we cannot parse is ignored, like a browser
            print(f"aiortc: bad candidate {text!r}: {error}", file=sys.stderr)
            return
        candidate.sdpMid = init.get("sdpMid") or "0"
        candidate.sdpMLineIndex = init.get("sdpMLineIndex") or 0
        await self.pc.addIceCandidate(candidate)


async def recv(ws):
    return json.loads(await ws.recv())


async def pair(ws, me, args):
    """Matchmaking: returns (opponent id, session id, we_offer)."""
    if args.challenge:
        requested = False
        session = None
        while True:
            msg = await recv(ws)
            kind, p = msg["type"], msg.get("payload", {})
            if kind == "lobby_update" and not requested:
                if any(x["playerId"] == args.challenge and x["status"] == "available" for x in p["players"]):
                    await ws.send(json.dumps({"type": "request_match", "payload": {"requesterId": me, "targetId": args.challenge}}))
                    requested = True
            elif kind == "match_request_sent":
                session = p["sessionId"]
            elif kind == "match_request_accepted" and p["sessionId"] == session:
                return p["accepterId"], session, True
            elif kind in ("match_request_declined", "error"):
                raise RuntimeError(f"challenge failed: {msg}")
    while True:
        msg = await recv(ws)
        if msg["type"] == "match_request_received":
            p = msg["payload"]
            if args.accept in ("any", p["requesterId"]):
                await ws.send(json.dumps({"type": "accept_match", "payload": {"accepterId": me, "requesterId": p["requesterId"], "sessionId": p["sessionId"]}}))
                return p["requesterId"], p["sessionId"], False


async def negotiate(s: Session, we_offer: bool):
    relay = {"senderId": s.me, "receiverId": s.opponent, "sessionId": s.session_id}
    if we_offer:
        await s.pc.setLocalDescription(await s.pc.createOffer())
        await s.send("send_sdp_offer", {**relay, "sdp": s.pc.localDescription.sdp})
    reported = False
    while not (s.started.is_set() and s.opened.is_set()):
        if s.opened.is_set() and not reported:
            await s.send("report_connection", {"playerId": s.me, "sessionId": s.session_id, "state": "connected"})
            reported = True
        try:
            msg = await asyncio.wait_for(recv(s.ws), 0.05)
        except asyncio.TimeoutError:
            continue
        kind, p = msg["type"], msg.get("payload", {})
        if p.get("sessionId") not in (None, s.session_id):
            continue
        if kind == "sdp_offer_received" and not we_offer:
            await s.pc.setRemoteDescription(RTCSessionDescription(p["sdp"], "offer"))
            await s.pc.setLocalDescription(await s.pc.createAnswer())
            await s.send("send_sdp_answer", {**relay, "sdp": s.pc.localDescription.sdp})
        elif kind == "sdp_answer_received" and we_offer:
            await s.pc.setRemoteDescription(RTCSessionDescription(p["sdp"], "answer"))
        elif kind == "ice_candidate_received":
            await s.add_candidate(p["candidate"])
        elif kind == "match_started":
            s.started.set()
        elif kind in ("match_failed", "error"):
            raise RuntimeError(f"negotiation failed: {msg}")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--name", default="aiortc")
    parser.add_argument("--challenge")
    parser.add_argument("--accept")
    parser.add_argument("--packets", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    async with websockets.connect(args.server, additional_headers={"Authorization": f"Bearer {args.token}"}) as ws:
        welcome = await recv(ws)
        me = welcome["payload"]["playerId"]
        await ws.send(json.dumps({"type": "join_lobby", "payload": {"playerId": me, "playerName": args.name}}))
        opponent, session_id, we_offer = await asyncio.wait_for(pair(ws, me, args), args.timeout)
        s = Session(ws, me, args)
        s.opponent, s.session_id = opponent, session_id
        await asyncio.wait_for(negotiate(s, we_offer), args.timeout)
        for seq in range(args.packets):
            s.channel.send(packet(seq))
            await asyncio.sleep(0.01)
        # the native peer may start sending well after us on a loaded machine: wait for
        # its packets until all arrived, at most 10 s (not a fixed 2 s)
        deadline = asyncio.get_running_loop().time() + 10.0
        while s.received < args.packets and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await s.send("end_match", {"playerId": me, "sessionId": session_id})
        print(json.dumps({"opponent": opponent, "offerer": we_offer, "sent": args.packets, "received": s.received}), flush=True)
        await s.pc.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as error:
        print(json.dumps({"error": str(error)}), flush=True)
        sys.exit(1)
