"""A real softphone: baresip auto-answers and plays a WAV. The audio we received must be
the file it played, and the audio it received must be our prompt (cross-correlation
after G.711 both ways)."""

from __future__ import annotations

import json
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from huifang.speech import to_8k
from prompts.audio import read_wav, write_wav
from tests.conftest import need
from tests.peers import free_udp_port
from tests.speech import MODEL
from tests.test_cli import huifang

REAL = MODEL.parents[2] / "speech/real"


def clip(name: str, seconds: float) -> np.ndarray:
    samples, info = read_wav(REAL / name)
    x = np.frombuffer(to_8k(samples, info.rate), "<i2")
    return np.resize(x, int(seconds * 8000))  # repeated to length


def best_correlation(reference: np.ndarray, heard: np.ndarray) -> float:
    """Peak normalised cross-correlation of `reference` anywhere inside `heard`."""
    a = reference.astype(float) - reference.mean()
    b = heard.astype(float) - heard.mean()
    n = len(a) + len(b)
    corr = np.fft.irfft(np.fft.rfft(b, n) * np.conj(np.fft.rfft(a, n)), n)
    lag = int(np.argmax(corr[: len(b)]))
    window = b[lag:lag + len(a)]
    if len(window) < len(a) // 2:
        return 0.0
    ref = a[: len(window)]
    return float(np.dot(ref, window) / (np.linalg.norm(ref) * np.linalg.norm(window) + 1e-9))


@pytest.mark.timeout(120)
def test_baresip_hears_our_prompt_and_we_hear_its_file(tmp_path: Path) -> None:
    need(shutil.which("baresip") is not None, "baresip not installed")
    sip_port, rtp = free_udp_port(), free_udp_port(span=12)
    callee = clip("firered_BAC009S0764W0121.wav", 30.0)  # longer than the call
    write_wav(tmp_path / "callee.wav", callee.astype(np.int16))
    prompt = clip("asrabc_BAC009S0764W0143.wav", 3.0)
    write_wav(tmp_path / "prompt.wav", prompt.astype(np.int16))
    (tmp_path / "config").write_text(
        f"sip_listen 127.0.0.1:{sip_port}\nnet_interface 127.0.0.1\n"
        f"audio_source aufile,{tmp_path / 'callee.wav'}\naudio_player aubridge,sink\n"
        "audio_alert aubridge,sink\naudio_srate 8000\naudio_channels 1\n"
        f"rtp_ports {rtp}-{rtp + 10}\nsnd_path {tmp_path}\n"
        "module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\n"
        "module aubridge.so\nmodule sndfile.so\nmodule_app account.so\nmodule_app menu.so\n",
        encoding="utf-8")
    (tmp_path / "accounts").write_text("<sip:callee@127.0.0.1>;regint=0;answermode=auto\n",
                                       encoding="utf-8")
    phone = subprocess.Popen(["baresip", "-f", str(tmp_path), "-t", "30"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        done = huifang("call", f"sip:callee@127.0.0.1:{sip_port}", "--play",
                       str(tmp_path / "prompt.wav"), "--record", str(tmp_path / "call.wav"),
                       "--rtp-ports", f"{free_udp_port(span=4)}-65000", "--json",
                       cwd=tmp_path, db=f"sqlite:///{tmp_path / 'x.db'}")
    finally:
        phone.terminate()
        log = phone.communicate(timeout=20)[0]
    assert done.returncode == 0, (done.stderr, log)
    report = json.loads(done.stdout)
    assert (report["outcome"], report["code"]) == ("answered", 200), log
    with wave.open(str(tmp_path / "call.wav")) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    heard = x[:, 0]
    assert best_correlation(callee[8000:16000], heard) > 0.9  # a second of its file
    assert best_correlation(prompt[4000:20000], heard) < 0.5  # and not our own prompt
    decoded = sorted(tmp_path.glob("dump-*-dec.wav"))
    assert decoded, log
    samples, _ = read_wav(decoded[0])
    assert best_correlation(prompt[4000:20000], np.asarray(samples)) > 0.9  # our prompt
