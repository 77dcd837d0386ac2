"""``--only search``: public directory search over 10,000 generated practitioners in 100 tenants.

The listing rows (and their 100 organisations) are written straight into the throwaway benchmark
database with COPY, the search vector computed in SQL the way ``directory.listings`` computes it.
Then ``GET /api/v1/directory/search`` is loaded at 32 connections with a mix of realistic queries,
next to a bare FastAPI endpoint and a raw asyncpg primary-key read measured in the same run
(``bench.baselines``), rounds rotated:

- **distinct**: ~20,000 different queries in rotation (specialty + city, near a point sorted by
  distance, condition words and name typos, price ranges sorted by price, language + video, "free
  before a date", page sizes 5-50), a new set each round, warmed up on yet others, so every request
  misses the cache (entries live 60 s) and runs its SQL;
- **popular**: 200 queries in rotation, so after the warm-up nearly every answer comes from the cache.

Target: p95 < 50 ms (issue 3). A round takes about 50 s with the default 10 s per load run.

The closed loop keeps 32 requests in flight: on a 2-core machine that is saturation, and its p95 is mostly
queueing (Little's law: 32 / throughput). After the rounds, a **paced** curve (``--search-rates``, default
200,400,600 req/s; bench/search_paced.py) offers distinct queries at fixed rates over the same 32 connections
(open loop, latency from each request's intended start): the latency a user sees at a given load.

``--profile`` adds a py-spy sample of the server under each mix (markers: routing, cache lookup, query, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from bench import loadgen, search_paced

PRACTITIONERS = 10_000
TENANTS = 100
TARGET_P95_MS = 50.0

CITIES_IN = [
    ("Bengaluru", 12.9716, 77.5946), ("Mumbai", 19.0760, 72.8777), ("Delhi", 28.6139, 77.2090),
    ("Chennai", 13.0827, 80.2707), ("Hyderabad", 17.3850, 78.4867), ("Pune", 18.5204, 73.8567),
    ("Kolkata", 22.5726, 88.3639), ("Ahmedabad", 23.0225, 72.5714), ("Jaipur", 26.9124, 75.7873),
    ("Mysuru", 12.2958, 76.6394),
]  # fmt: skip
CITIES_GB = [
    ("London", 51.5074, -0.1278), ("Manchester", 53.4808, -2.2426), ("Birmingham", 52.4862, -1.8904),
    ("Leeds", 53.8008, -1.5491), ("Oxford", 51.7520, -1.2577),
]  # fmt: skip
GIVEN = ["Aarav", "Ananya", "Vikram", "Priya", "Rahul", "Kavya", "Arjun", "Meera", "Rohan", "Sana", "Farah", "Suresh",
         "Lakshmi", "Nikhil", "Divya", "James", "Sarah", "Tom", "Emma", "Oliver", "Amelia", "Harry", "Chloe",
         "Daniel"]  # fmt: skip
FAMILY = ["Mehta", "Rao", "Iyer", "Khan", "Das", "Shetty", "Gowda", "Nair", "Reddy", "Sharma", "Verma", "Gupta",
          "Krishnan", "Menon", "Kapoor", "Bose", "Pillai", "Joshi", "Whitfield", "Collins", "Harris", "Shah", "Carter",
          "Brooks", "Hughes", "Patel", "Walsh", "Evans", "Taylor", "Wilson"]  # fmt: skip
CONDITIONS = ["acne", "heart", "child fever", "diabetes", "back pain", "pregnancy", "migraine", "asthma", "thyroid",
              "knee", "anxiety", "eczema", "kidney stone", "cataract", "teeth", "weight loss"]  # fmt: skip
LANGS_IN = ["en", "hi", "kn", "ta", "te", "mr", "bn", "gu"]
LANGS_GB = ["en", "pl", "ur", "pa"]
COLUMNS = [
    "practitioner_id", "location_id", "tenant_id", "tenant_name", "practitioner_name", "qualifications",
    "specialty_codes", "specialty_names", "languages", "modes", "min_price_minor", "max_price_minor", "currency",
    "location_name", "city", "timezone", "latitude", "longitude", "next_free_at", "words",
]  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the search section (called by bench.run.parse_args)."""
    g = p.add_argument_group("search")
    g.add_argument("--search-rates", type=lambda v: [r for x in v.split(",") if x.strip() and (r := float(x)) > 0],
                   default="200,400,600", metavar="R1,R2,...",
                   help="req/s offered by the paced (open-loop) runs of distinct queries, after the closed loop"
                        " (default 200,400,600; '' or 0: none)")  # fmt: skip


def log(message: str) -> None:
    print(message, flush=True)


async def generate(owner_dsn: str, seed: int = 3) -> dict[str, Any]:
    """100 organisations publishing 100 practitioners each, as listing rows; returns what queries need."""
    import asyncpg

    rng = random.Random(seed)  # noqa: S311 (benchmark data)
    conn = await asyncpg.connect(owner_dsn)
    try:
        specialties = [tuple(r) for r in await conn.fetch("SELECT code, name, keywords FROM specialties")]
        orgs, rows = [], []
        now = datetime.now(UTC)
        for t in range(TENANTS):
            india = t < 70
            city, lat, lon = rng.choice(CITIES_IN if india else CITIES_GB)
            tenant_id, location_id = uuid.uuid4(), uuid.uuid4()
            name = f"{rng.choice(['Sunrise', 'Lakeside', 'Apollo', 'Green Park', 'Riverside', 'City'])} Clinic {t}"
            orgs.append((tenant_id, name, f"bench-{t}", "IN" if india else "GB", "INR" if india else "GBP",
                         "Asia/Kolkata" if india else "Europe/London"))  # fmt: skip
            for _ in range(PRACTITIONERS // TENANTS):
                chosen = rng.sample(specialties, rng.choice([1, 1, 2]))
                chosen.sort(key=lambda s: s[1])
                langs = ["en", *rng.sample(LANGS_IN if india else LANGS_GB, rng.choice([0, 1, 2]))]
                low = rng.randrange(300, 1500, 50) * (100 if india else 10)
                modes = rng.choice([["in_person"], ["in_person", "video"], ["video"]])
                free = None if rng.random() < 0.1 else now + timedelta(minutes=rng.randrange(30, 14 * 24 * 60, 15))
                rows.append((
                    uuid.uuid4(), location_id, tenant_id, name,
                    f"Dr. {rng.choice(GIVEN)} {rng.choice(FAMILY)}", rng.choice(["MBBS", "MBBS, MD", "MBChB, MRCP"]),
                    [s[0] for s in chosen], [s[1] for s in chosen], langs, modes, low,
                    low + rng.choice([0, 20000 if india else 2000]), "INR" if india else "GBP",
                    f"{name} {city}", city, "Asia/Kolkata" if india else "Europe/London",
                    lat + rng.uniform(-0.12, 0.12), lon + rng.uniform(-0.12, 0.12), free,
                    " ".join(f"{s[1]} {s[2]}" for s in chosen),
                ))  # fmt: skip
        await conn.executemany(
            "INSERT INTO organizations (id, name, slug, kind, country, currency, timezone, settings)"
            " VALUES ($1, $2, $3, 'clinic', $4, $5, $6, '{\"marketplace\": true}')",
            orgs,
        )
        await conn.execute(
            "CREATE TEMP TABLE gen (LIKE directory_listings INCLUDING DEFAULTS EXCLUDING CONSTRAINTS);"
            " ALTER TABLE gen DROP COLUMN search, ADD COLUMN words text"
        )
        await conn.copy_records_to_table("gen", records=rows, columns=COLUMNS)
        cols = ", ".join(COLUMNS[:-1])
        await conn.execute(
            f"INSERT INTO directory_listings ({cols}, search) SELECT {cols},"  # noqa: S608 (our own column names)
            " setweight(to_tsvector('simple', practitioner_name), 'A') || setweight(to_tsvector('simple', words), 'B')"
            " || to_tsvector('simple', city || ' ' || tenant_name || ' ' || qualifications) FROM gen"
        )
        # What autovacuum does soon after a bulk load (the CI server runs with autovacuum off).
        await conn.execute("VACUUM (ANALYZE) directory_listings")
        await conn.execute("CHECKPOINT")  # earlier sections' writes flushed now, not while this one measures
        count = await conn.fetchval("SELECT count(*) FROM directory_listings")
        return {"listings": count, "tenants": TENANTS, "specialties": [s[0] for s in specialties]}
    finally:
        await conn.close()


def queries(specialties: list[str], n: int, seed: int) -> list[str]:
    """n distinct search paths in a realistic mix."""
    rng = random.Random(seed)  # noqa: S311
    today = datetime.now(UTC).date()
    out: dict[str, None] = {}
    cities = CITIES_IN + CITIES_GB
    attempts = 0
    while len(out) < n and attempts < n * 20:
        attempts += 1
        city, lat, lon = rng.choice(cities)
        currency = "GBP" if (city, lat, lon) in CITIES_GB else "INR"
        kind = rng.random()
        p: dict[str, Any]
        if kind < 0.2:
            p = {"specialty": rng.choice(specialties), "city": city}
        elif kind < 0.4:
            p = {"lat": round(lat + rng.uniform(-0.05, 0.05), 4), "lon": round(lon + rng.uniform(-0.05, 0.05), 4),
                 "radius_km": rng.choice([5, 10, 25, 50]), "sort": "distance"}  # fmt: skip
            if rng.random() < 0.5:
                p["specialty"] = rng.choice(specialties)
        elif kind < 0.55:
            p = {"q": rng.choice(CONDITIONS), "city": city}
        elif kind < 0.65:
            name = rng.choice(FAMILY)
            p = {"q": name + name[-1] if rng.random() < 0.5 else name}
        elif kind < 0.75:
            low = rng.randrange(300, 1200, 100) * (100 if currency == "INR" else 10)
            p = {"specialty": rng.choice(specialties), "min_price": low, "max_price": low * 2, "currency": currency,
                 "sort": "price"}  # fmt: skip
        elif kind < 0.85:
            p = {"language": rng.choice(LANGS_IN if currency == "INR" else LANGS_GB), "mode": "video", "city": city}
        elif kind < 0.95:
            before = today + timedelta(days=rng.randrange(1, 14))
            p = {"specialty": rng.choice(specialties), "available_before": before}
        else:
            p = {}
        p["limit"] = rng.randrange(5, 51)
        out["/api/v1/directory/search?" + urlencode({k: v.isoformat() if isinstance(v, date) else v
                                                     for k, v in p.items()})] = None  # fmt: skip
    return list(out)


async def _any_user(owner_dsn: str) -> str:
    """A user id for the raw asyncpg baseline's primary-key read (the demo data has several)."""
    import asyncpg

    conn = await asyncpg.connect(owner_dsn)
    try:
        return str(await conn.fetchval("SELECT id FROM users ORDER BY id LIMIT 1"))
    finally:
        await conn.close()


# Where a profile's samples go (share of samples whose stack holds the frame).
MARKERS = {
    "routing (FastAPI route matching)": "_IncludedRouter._match (",
    "our handler (search_directory)": "search_directory (carebase/directory/api.py",
    "cache lookup (query_params, digest, cached_page)": "cached_page (carebase/directory/search.py",
    "input checks (_filters, check_filters)": "_filters (carebase/directory/api.py",
    "the query (asyncpg Pool.fetch: acquire, run, reset, release)": "Pool.fetch (asyncpg",
    "result rows to JSON (_result, orjson)": "_result (carebase/directory/search.py",
    "response (Response.__call__ and below)": "Response.__call__ (starlette",
    "PlatformMiddleware (whole request below it)": "PlatformMiddleware.__call__ (",
}


def _profile(args: Any, server: Any, paths: list[str], name: str) -> dict[str, Any]:
    from bench import profile as prof
    from bench.run import RESULTS
    from bench.servers import HOST

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / (datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + f"-search-{name}.collapsed")
    spec = loadgen.Spec(HOST, server.port, "/api/v1/directory/search", paths=paths, concurrency=args.concurrency,
                        duration=args.duration, warmup=0, server_pids=[server.pid])  # fmt: skip
    log(f"  profiling search ({name}) with py-spy")
    return prof.profile_me(spec, args.generator, out, markers=MARKERS)


def bench_search(args: Any, server: Any, db: Any) -> dict[str, Any]:
    from bench.run import _median_result, http_json
    from bench.servers import HOST, uvicorn_server

    log(f"  generating {PRACTITIONERS:,} practitioners in {TENANTS} tenants (COPY into directory_listings)")
    import time

    t0 = time.perf_counter()
    info = asyncio.run(generate(db.owner_url))
    log(f"  {info['listings']:,} listing rows in {time.perf_counter() - t0:.1f} s")
    specialties = info.pop("specialties")
    # "distinct" must miss the cache (entries live 60 s): every round measures its own queries, and its
    # warm-up runs on others (wrk's warm-up would otherwise leave the first queries of the measured run cached).
    seen: set[str] = set()

    def fresh(n: int, seed: int) -> list[str]:
        out = [p for p in queries(specialties, n, seed) if p not in seen]
        seen.update(out)
        return out

    popular = fresh(200, 2)
    distinct = [(fresh(3_000, 1000 + r), fresh(20_000, 1 + 10 * r)) for r in range(args.rounds)]
    for path in distinct[0][0][:20] + popular[:20]:  # every kind answers 200 before we measure
        status, body = http_json("GET", f"http://{HOST}:{server.port}{path}")
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body}")
    bare = uvicorn_server("bare", "bench.baselines:bare_app")
    raw_env = {
        "BENCH_DSN": db.app_dsn(), "BENCH_USER_ID": asyncio.run(_any_user(db.owner_url)),
        "BENCH_TENANT_ID": str(uuid.uuid4()), "BENCH_SESSION_ID": str(uuid.uuid4()), "BENCH_POOL_SIZE": "20",
    }  # fmt: skip
    raw = uvicorn_server("raw", "bench.baselines:raw_app", env=raw_env)

    def spec(s: Any, path: str, paths: list[str], warmup: float) -> loadgen.Spec:
        return loadgen.Spec(HOST, s.port, path, paths=paths, concurrency=args.concurrency, duration=args.duration,
                            warmup=warmup, server_pids=[s.pid])  # fmt: skip

    names = ["bare", "raw_asyncpg", "distinct", "popular"]
    results: dict[str, list[loadgen.Result]] = {name: [] for name in names}
    profiles: dict[str, Any] = {}
    try:
        for s in (bare, raw):
            s.start()
        for s in (bare, raw):
            s.wait_healthy(timeout=60)
        for round_no in range(args.rounds):
            for name in names[round_no % len(names) :] + names[: round_no % len(names)]:  # rotate: drift hits all
                if name == "bare":
                    result = loadgen.run(spec(bare, "/bare", [], args.warmup), args.generator)
                elif name == "raw_asyncpg":
                    result = loadgen.run(spec(raw, "/raw", [], args.warmup), args.generator)
                elif name == "popular":
                    result = loadgen.run(spec(server, "/api/v1/directory/search", popular, args.warmup), args.generator)
                else:
                    warm, measured = distinct[round_no]
                    warm_spec = spec(server, "/api/v1/directory/search", warm, 0)
                    warm_spec.duration = args.warmup
                    loadgen.run(warm_spec, args.generator)
                    result = loadgen.run(spec(server, "/api/v1/directory/search", measured, 0), args.generator)
                results[name].append(result)
                log(
                    f"  round {round_no + 1}/{args.rounds} {name:11s} {result.rps:8.1f} req/s  p50 {result.p50_ms:7.2f}"
                    f"  p95 {result.p95_ms:7.2f}  p99 {result.p99_ms:7.2f} ms  server CPU {result.server_cpu_pct}%"
                    f"  postgres CPU {result.postgres_cpu_pct}%  machine busy {result.machine_busy_pct}%"
                    f"  errors {result.errors or 0}"
                )
    finally:
        for s in (bare, raw):
            s.stop()
    # The paced curve: distinct queries at fixed offered rates (open loop), each on paths never sent before.
    paced = search_paced.curve(args, server, args.search_rates, fresh) if args.search_rates else []
    if args.profile:
        profiles["distinct"] = _profile(args, server, fresh(20_000, 99), "distinct")
        profiles["popular"] = _profile(args, server, popular, "popular")
    runs = {name: _median_result(rs) for name, rs in results.items()}
    runs["distinct"]["distinct_queries"] = len(distinct[0][1])
    runs["popular"]["distinct_queries"] = len(popular)
    return {**info, "concurrency": args.concurrency, "duration_s": args.duration, "warmup_s": args.warmup,
            "rounds": args.rounds, "target_p95_ms": TARGET_P95_MS, "runs": runs, "paced": paced,
            "profiles": profiles}  # fmt: skip


def table_lines(report: dict[str, Any]) -> list[str]:
    if "search" not in report:
        return []
    s = report["search"]
    lines = [
        "",
        f"GET /api/v1/directory/search over {s['listings']:,} listings in {s['tenants']} tenants,"
        f" {s['concurrency']} connections, {s['duration_s']:g} s after {s['warmup_s']:g} s warm-up,"
        f" median of {s.get('rounds', 1)} round(s) (target p95 < {s['target_p95_ms']:g} ms)",
        f"  {'endpoint':36s} {'req/s':>9s} {'vs bare':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'srv CPU':>8s}"
        f" {'ms/req':>7s} {'pg CPU':>7s} {'machine':>8s}  errors",
    ]
    names = {
        "bare": "bare FastAPI (baseline)",
        "raw_asyncpg": "raw asyncpg PK read (baseline)",
        "distinct": "search, distinct (all cache misses)",
        "popular": "search, 200 popular (cache hits)",
    }
    bare_rps = (s["runs"].get("bare") or {}).get("rps")
    for key, label in names.items():
        t = s["runs"].get(key)
        if t is None:
            continue
        ratio = f"{t['rps'] / bare_rps:8.2f}" if bare_rps else f"{'':8s}"
        per_req = f"{10 * t['server_cpu_pct'] / t['rps']:7.2f}" if t.get("server_cpu_pct") and t["rps"] else f"{'':7s}"
        verdict = ""
        if key in ("distinct", "popular"):
            verdict = "  ok" if t["p95_ms"] < s["target_p95_ms"] else "  ABOVE TARGET"
        lines.append(
            f"  {label:36s} {t['rps']:9.1f} {ratio} {t['p50_ms']:8.2f} {t['p95_ms']:8.2f} {t['p99_ms']:8.2f}"
            f" {t['server_cpu_pct'] or 0:7.0f}% {per_req} {t['postgres_cpu_pct'] or 0:6.0f}%"
            f" {t['machine_busy_pct'] or 0:7.0f}%  {t['errors'] or 0}{verdict}"
        )
    lines += search_paced.table_lines(s)
    for name, prof in (s.get("profiles") or {}).items():
        if "error" in prof:
            lines.append(f"  profile of {name}: {prof['error']}")
            continue
        lines.append(f"  py-spy profile of search, {name} ({prof['samples']} samples; {prof['collapsed_stacks']}):")
        lines.append("    self time by library: " + ", ".join(f"{k} {v}%" for k, v in prof["by_library_pct"].items()))
        lines += [f"    {v:5.1f}%  {k}" for k, v in prof.get("markers_pct", {}).items()]
    return lines
