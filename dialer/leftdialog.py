"""What it takes to end a call that a dead process left up, and the call that ends it.

A process killed mid-call (kill -9, a power cut) leaves its dialogs up at the callee,
which goes on sending RTP to ports the next process hands to new calls. So each call's
dialog is written down with its attempt as it changes: the INVITE as sent (for a
CANCEL while it rings), and once answered the remote tag, the remote target, the route
set and our last CSeq (for a BYE, RFC 3261 §12.2.1.1 and §15). On restart the process
that recovers the attempt rebuilds the call from this record (`resumed`) and hangs it
up: a CANCEL for an early dialog, a BYE for a confirmed one, with the usual
retransmissions of the non-INVITE transaction.

Pure: parsing, serialising and rebuilding; the driver is `Dialer.end_left_dialog`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from dialer.sipactions import Address, CallSettings, Ids, State
from dialer.sipmessage import NameAddr, SipMessage, SipParseError
from dialer.uac import OutboundCall

LIVE = (State.CALLING, State.PROCEEDING, State.CANCELLING, State.CONFIRMED,
        State.TERMINATING)


class DialogRecordError(ValueError):
    """A stored dialog record that cannot be read back (says what is wrong)."""


@dataclass(frozen=True)
class DialogRecord:
    invite: bytes  # the INVITE as last sent (after a digest retry, the retry)
    next_hop: Address  # where the INVITE went: the proxy, else the callee
    media_port: int  # our RTP port: the dead call's media keeps coming to it
    answered: bool = False
    remote_tag: str | None = None
    remote_target: str = ""
    route_set: tuple[str, ...] = ()
    cseq: int = 1  # our last CSeq in the dialog

    def to_json(self) -> str:
        return json.dumps({
            "invite": self.invite.decode("utf-8", "surrogateescape"),
            "next_hop": list(self.next_hop), "media_port": self.media_port,
            "answered": self.answered, "remote_tag": self.remote_tag,
            "remote_target": self.remote_target, "route_set": list(self.route_set),
            "cseq": self.cseq}, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> DialogRecord:
        try:
            data = json.loads(text)
            host, port = data["next_hop"]
            record = cls(
                invite=str(data["invite"]).encode("utf-8", "surrogateescape"),
                next_hop=(str(host), int(port)), media_port=int(data["media_port"]),
                answered=bool(data["answered"]), remote_tag=data.get("remote_tag"),
                remote_target=str(data.get("remote_target", "")),
                route_set=tuple(str(r) for r in data.get("route_set", ())),
                cseq=int(data.get("cseq", 1)))
        except (ValueError, KeyError, TypeError) as exc:
            raise DialogRecordError(f"dialog record unreadable: {exc!r}") from exc
        record.invite_message()  # the INVITE must parse, or the record is no use
        return record

    def invite_message(self) -> SipMessage:
        try:
            message = SipMessage.parse(self.invite)
        except SipParseError as exc:
            raise DialogRecordError(f"dialog record's INVITE unreadable: {exc}") from exc
        if message.method != "INVITE":
            raise DialogRecordError(f"dialog record holds a {message.method}, not an INVITE")
        return message

    @property
    def call_id(self) -> str:
        return self.invite_message().call_id


def record_of(call: OutboundCall, media_port: int) -> DialogRecord | None:
    """The record of a call still up (ringing or answered); None once it has ended or
    before its INVITE went out."""
    if call.invite is None or call.state not in LIVE:
        return None
    return DialogRecord(call.invite.serialize(), call.next_hop, media_port, call.answered,
                        call.remote_tag, call.remote_target, tuple(call.route_set),
                        call.cseq)


def resumed(record: DialogRecord, settings: CallSettings, ids: Ids) -> OutboundCall:
    """The call of `record`, rebuilt on this process's SIP address (`settings.local`), in
    the state from which a `Hangup` ends it: CANCEL if it was ringing, BYE if answered."""
    invite = record.invite_message()
    caller = NameAddr.parse(invite.header("From"))
    call = OutboundCall(replace(settings, target=invite.uri, caller=caller.uri,
                                proxy=record.next_hop, call_id=invite.call_id), ids)
    call.call_id = invite.call_id
    call.local_tag = caller.tag or ""
    call.invite = invite
    call.branch = invite.branch
    call.provisional = True  # a CANCEL goes out even if no provisional had come
    if record.answered:
        call.state = State.CONFIRMED
        call.answered = True
        call.remote_tag = record.remote_tag
        call.remote_target = record.remote_target or invite.uri
        call.route_set = list(record.route_set)
        call.cseq = record.cseq
    else:
        call.state = State.PROCEEDING
        call.cseq = invite.cseq[0]
    return call
