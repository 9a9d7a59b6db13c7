"""`make bench` (issue 21): the same campaign twice in one sitting, once in peace and
once while an attacker on the trunk side fires forged SIP at the service's SIP port
(`tests/attacker.py`: about 140 datagrams a second, as the attack run of the
issue had it, aimed at the live calls by Call-ID, tags, branch and CSeq from another
address, plus blind garbage), and with Debian's sipvicious (svmap, svwar) and sipsak in
rounds beside it (`bench/sip_tools.py`; left out, and said so, where they are not
installed). Reports calls lost to the attack (answered calls that did
not complete, beyond those of the peaceful run; target 0), the drops by reason, and the
CPU of both runs. HUIFANG_BENCH_CALLBACKS (150), HUIFANG_BENCH_CHANNELS (30) and
HUIFANG_BENCH_ATTACK_RATE (140) change the size. Writes bench/out/hostile_sip.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import sip_tools

OUT = Path(__file__).parent / "out"
NOT_COMPLETED = ("media_failure", "hung_up_early", "unclear", "failed", "interrupted")


def run(rate: float, name: str, tools: bool = False) -> dict[str, Any]:
    env = {**os.environ, "HUIFANG_BENCH_ATTACK_RATE": str(rate),
           "HUIFANG_BENCH_SIP_TOOLS": "1" if tools else "0",
           "HUIFANG_BENCH_OUT": name,
           "HUIFANG_BENCH_CALLBACKS": os.environ.get("HUIFANG_BENCH_CALLBACKS", "150"),
           "HUIFANG_BENCH_CHANNELS": os.environ.get("HUIFANG_BENCH_CHANNELS", "30")}
    subprocess.run([sys.executable, "-m", "bench.campaign_bench"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return json.loads((OUT / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def lost(result: dict[str, Any]) -> int:
    return sum(int(result["outcomes"].get(o, 0)) for o in NOT_COMPLETED)


def main() -> int:
    rate = float(os.environ.get("HUIFANG_BENCH_ATTACK_RATE", "140"))
    missing = sip_tools.available()
    if missing:
        print(f"not installed, left out of the attack: {', '.join(missing)}", file=sys.stderr)
    peace = run(0, "hostile_peace.json")
    attack = run(rate, "hostile_attack.json", tools=not missing)
    report = {
        "callbacks": peace["callbacks"], "channels": peace["channels"],
        "attack_datagrams": attack["attack"]["datagrams"], "attack_rate_per_s": rate,
        "completed": {"peace": peace["outcomes"].get("completed", 0),
                      "attack": attack["outcomes"].get("completed", 0)},
        "answered_not_completed": {"peace": lost(peace), "attack": lost(attack)},
        "calls_lost_to_the_attack": max(0, lost(attack) - lost(peace)),
        "outcomes": {"peace": peace["outcomes"], "attack": attack["outcomes"]},
        "dropped_by_reason": attack["attack"]["dropped"],
        "sip_tools": attack["attack"].get("tools") or f"not installed: {missing}",
        "cpu_s": {"peace": peace["cpu_s"], "attack": attack["cpu_s"]},
        "cpu_attack_over_peace": round(attack["cpu_s"] / peace["cpu_s"], 2)
        if peace["cpu_s"] else None,
        "wall_s": {"peace": peace["wall_s"], "attack": attack["wall_s"]},
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "hostile_sip.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
