"""Ticket search benchmark (issue 19): words of the summary and the last digits of a
number over 1,000,000 tickets, on SQLite and on PostgreSQL, before and after the search
indexes of migration 0009.

The store is synthesised in SQL at schema 0008 (no search index): tickets with Chinese
summaries made of a place (two of 100 characters each, 10,000 places) + 小区, one of 30
complaints and one of 20 details, and numbers spread over 10^8. Then `huifang db
upgrade` to head builds the indexes from those tickets (timed: it is what an operator's
upgrade costs), and each kind of search is timed through `store.search.search_tickets`,
the console's own function: "before" with `indexed=False` (the query the console ran
before 0009: one LIKE over the table), "after" on the indexes.

HUIFANG_BENCH_SEARCH_TICKETS sets the size (default 1,000,000);
HUIFANG_BENCH_SEARCH_BACKENDS=sqlite (or postgresql) runs one backend only.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from bench.report_bench import ADD_MINUTES, OUT, SERIES, START
from store import search_index
from store.db import make_engine, upgrade
from store.search import search_tickets
from tests.pgserver import PostgresServer, find_binaries

FIRST = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"  # noqa: E501
SECOND = "安宁和平康乐福祥瑞华兴盛泰丰裕隆昌荣德仁义礼信忠孝廉明清秀雅美丽新东西南北中春夏秋冬山水林田湖海江河溪泉松柏竹梅兰菊桃李杏梨云霞星月光辉阳晨曦锦绣金银玉翠碧蓝红紫青翡珠宝龙凤麒麟鹤燕莺鹭鸿雁鹏飞腾跃豪杰英雄"  # noqa: E501
ISSUES = ["加装电梯进度缓慢", "夜间施工噪音扰民", "楼道灯坏了无人修", "楼上漏水多次协调未果",
          "小区停车难乱收费", "垃圾清运不及时", "路灯不亮存在安全隐患", "物业不作为服务差",
          "冬季供暖温度不达标", "门口占道经营", "下水道堵塞污水外溢", "违章搭建影响通行",
          "电动车充电桩不足", "绿化带被毁", "广场舞音响声音过大", "自来水水质发黄",
          "井盖缺失", "外墙脱落砸坏车辆", "电梯频繁故障困人", "餐馆油烟扰民",
          "宠物狗扰民", "消防通道被占", "公交站台损坏", "学校门口交通拥堵",
          "医保报销咨询", "公积金提取咨询", "拖欠工资", "房屋漏雨", "燃气异味", "噪音"]
DETAILS = ["多次反映未解决", "已持续三个月", "影响老人出行", "希望尽快处理", "要求给予答复",
           "已向物业反映", "社区未处理", "情况紧急", "周边居民意见很大", "请相关部门核实",
           "市民情绪激动", "第二次来电", "要求上门查看", "涉及多户居民", "希望回电",
           "白天晚上都有", "附近有学校", "存在安全隐患", "雨天更严重", "已拍照留证"]
QUERIES = {  # kind -> queries (the place words are picked below, from the store's)
    "words, 2 characters, common": ["电梯", "噪音", "漏水", "物业", "供暖", "咨询"],
    "words, 3+ characters": ["加装电梯", "楼道灯坏了", "垃圾清运", "消防通道被占", "已拍照留证"],
}


def _values(name: str, words: list[str] | str) -> str:
    rows = " UNION ALL ".join(f"SELECT {k} AS k, '{w}' AS w" for k, w in enumerate(words))
    return f"CREATE TEMPORARY TABLE {name} AS {rows}"


def synthesise(engine: Engine, n: int) -> None:
    """Tickets 1..n with summaries and numbers, written in SQL (schema 0008)."""
    dialect = engine.dialect.name
    add = ADD_MINUTES[dialect]
    received = add.format(base=f"'{START}'", minutes=f"(i * 525600.0 / {n})")
    number = ("printf('%08d', (CAST(i AS BIGINT) * 7919) % 100000000)" if dialect == "sqlite"
              else "lpad(((CAST(i AS BIGINT) * 7919) % 100000000)::text, 8, '0')")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO units (id, name, kind, created_at, updated_at) VALUES "
                          "(1, '示例街道', 'street', :at, :at)"), {"at": START})
        for name, words in (("first", FIRST), ("second", SECOND), ("issues", ISSUES),
                            ("details", DETAILS)):
            conn.execute(text(_values(name, list(words))))
        conn.execute(text(f"""
            INSERT INTO tickets (id, ticket_no, unit_id, type, category, summary, phone,
                phone_kind, received_at, status, closure_count, created_at, updated_at)
            SELECT i, 'S' || i, 1, 'complaint', '城建/其他',
                   (SELECT w FROM first WHERE k = i % 100)
                   || (SELECT w FROM second WHERE k = (i / 100) % 100) || '小区'
                   || (SELECT w FROM issues WHERE k = (CAST(i AS BIGINT) * 104729) % 30)
                   || '，' || (SELECT w FROM details WHERE k = (CAST(i AS BIGINT) * 15485863) % 20),
                   '+86145' || {number}, 'mobile', {received}, 'closed', 1,
                   {received}, {received}
            FROM ({SERIES[dialect]}) AS a"""), {"n": n})
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def figures(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[max(0, int(0.95 * len(ordered) + 0.5) - 1)], 1),
            "max_ms": round(ordered[-1], 1)}


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - start)


def queries(n: int) -> dict[str, list[str]]:
    rng = random.Random(19)
    kinds = dict(QUERIES)
    kinds["words, 2 characters, a place"] = [
        FIRST[rng.randrange(100)] + SECOND[rng.randrange(100)] for _ in range(6)]
    kinds["words, 3+ characters, a place"] = [
        FIRST[rng.randrange(100)] + SECOND[rng.randrange(100)] + "小区" for _ in range(6)]
    phones = [f"{(i * 7919) % 100_000_000:08d}" for i in
              (rng.randint(1, n) for _ in range(20))]
    kinds["number, last 4 digits"] = [p[-4:] for p in phones]
    kinds["number, last 6 digits"] = [p[-6:] for p in phones]
    kinds["number, whole"] = [f"145{p}" for p in phones]
    kinds["ticket number"] = [f"S{rng.randint(1, n)}" for _ in range(20)]
    return kinds


def measure(engine: Engine, n: int, *, indexed: bool, rounds: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for kind, qs in queries(n).items():
        for q in qs:  # once each untimed: the page cache, not the first visitor's luck
            search_tickets(engine, q, indexed=indexed)
        samples = [timed(lambda q=q: search_tickets(engine, q, indexed=indexed))
                   for _ in range(rounds) for q in qs]
        hits = [len(search_tickets(engine, q, indexed=indexed)) for q in qs]
        result[kind] = {**figures(samples), "hits_per_query": round(sum(hits) / len(hits), 1)}
    return result


def run(url: str, n: int) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine, "0008")
    start = time.perf_counter()
    synthesise(engine, n)
    synthesis_s = time.perf_counter() - start
    search_index.forget()
    before = measure(engine, n, indexed=False, rounds=1)
    start = time.perf_counter()
    upgrade(engine)  # 0009: the indexes, filled from the tickets
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    migration_s = time.perf_counter() - start
    search_index.forget()
    after = measure(engine, n, indexed=True, rounds=3)
    engine.dispose()
    return {"tickets": n, "synthesis_s": round(synthesis_s, 1),
            "migration_0009_s": round(migration_s, 1), "before": before, "after": after}


def main() -> None:
    n = int(os.environ.get("HUIFANG_BENCH_SEARCH_TICKETS", "1000000"))
    OUT.mkdir(exist_ok=True)
    work = OUT / "console-search"
    work.mkdir(exist_ok=True)
    db = work / "search-bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    backends = os.environ.get("HUIFANG_BENCH_SEARCH_BACKENDS", "sqlite,postgresql").split(",")
    results: dict[str, Any] = {}
    if "sqlite" in backends:
        results["sqlite"] = run(f"sqlite:///{db}", n)
        print(json.dumps(results, ensure_ascii=False, indent=1), flush=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    bindir = find_binaries()
    if "postgresql" in backends and bindir is not None:
        server = PostgresServer(bindir)
        server.start()
        try:
            results["postgresql"] = run(server.create_database("search_bench"), n)
        finally:
            server.cleanup()
    print(json.dumps(results, ensure_ascii=False, indent=1), flush=True)
    (OUT / "console-search-results.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
