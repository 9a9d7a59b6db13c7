"""RTCP against a stack no one here wrote: baresip 1.0.0 auto-answers with RTCP on its
odd port, then (`rtcp_mux yes`) on the RTP port. Our figures must come from its real
reports (its CNAME, a round trip from the LSR/DLSR it echoed, its report on our stream),
and its `rtcpsummary` module must have read ours: it reports packets and a delay only
when it heard our reports ("No RTCP stats collected" otherwise, checked by hand)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from prompts.audio import write_wav
from tests.conftest import need
from tests.peers import free_udp_port
from tests.test_cli import huifang


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mux", [False, True], ids=["odd-port", "rtcp-mux"])
def test_our_rtcp_figures_come_from_baresips_reports(tmp_path: Path, mux: bool) -> None:
    need(shutil.which("baresip") is not None, "baresip not installed")
    sip_port, rtp = free_udp_port(), free_udp_port(span=12)
    tone = np.sin(2 * np.pi * 440 * np.arange(8000 * 30) / 8000) * 4000
    write_wav(tmp_path / "tone.wav", tone.astype(np.int16))
    (tmp_path / "config").write_text(
        f"sip_listen 127.0.0.1:{sip_port}\nnet_interface 127.0.0.1\n"
        f"audio_source aufile,{tmp_path / 'tone.wav'}\naudio_player aubridge,sink\n"
        "audio_alert aubridge,sink\naudio_srate 8000\naudio_channels 1\n"
        f"rtp_ports {rtp}-{rtp + 10}\nrtcp_mux {'yes' if mux else 'no'}\n"
        "module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\n"
        "module aubridge.so\nmodule rtcpsummary.so\nmodule_app account.so\n"
        "module_app menu.so\n", encoding="utf-8")
    (tmp_path / "accounts").write_text("<sip:callee@127.0.0.1>;regint=0;answermode=auto\n",
                                       encoding="utf-8")
    phone = subprocess.Popen(["baresip", "-f", str(tmp_path), "-t", "30"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:  # baresip reports every 5 s: by 11 s it has echoed our first SR at least once
        done = huifang("call", f"sip:callee@127.0.0.1:{sip_port}", "--hangup-after", "11",
                       "--rtp-ports", f"{free_udp_port(span=4)}-65000", "--json",
                       cwd=tmp_path, db=f"sqlite:///{tmp_path / 'x.db'}")
    finally:
        phone.terminate()
        log = phone.communicate(timeout=20)[0]
    assert done.returncode == 0, (done.stderr, log[-2000:])
    report = json.loads(done.stdout)
    assert report["outcome"] == "answered", log[-2000:]
    rtcp = report["rtcp"]
    assert rtcp["mux"] is mux
    assert rtcp["peer_cname"] == f"sip:callee@127.0.0.1:{sip_port}"  # its SDES
    assert rtcp["rtt_samples"] >= 1 and rtcp["rtt_ms"] is not None  # its LSR/DLSR
    assert rtcp["rtt_ms"] >= 0
    assert rtcp["peer_lost"] == 0 and rtcp["peer_jitter_ms"] is not None  # its block on us
    assert rtcp["reports_sent"] >= 2 and rtcp["reports_received"] >= 2
    assert rtcp["packets_lost"] == 0 and rtcp["packets_expected"] > 0
    assert rtcp["jitter_ms"] is not None
    summary = next(line for line in log.splitlines() if line.startswith("EX=BareSip"))
    fields = dict(f.split("=", 1) for f in summary.strip(";").split(";"))
    assert "ERROR" not in fields, summary  # it heard our reports
    assert fields["PL"] == "0,0" and "DL" in fields, summary  # and took a delay from them
