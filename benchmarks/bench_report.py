"""Report benchmark: server time of the analysis report page at crowd scale.

Inserts a synthetic one-hour analysis with 200 faces in every frame sampled at 1 fps (720,000
observations, ~2,600 face tracks) with `bulk_create` into a throw-away test database (SQLite by
default, PostgreSQL when DATABASE_URL is set), then times the report view through Django's test
client, i.e. the whole request inside the server: URL routing, auth, tenancy, every query,
figure building and template rendering; no network and no browser.

Two states are timed:
  * "finalized": the summary and timeline buckets are stored, as analysis_finalize leaves them;
    this is what a user opens and what the 2 s target applies to.
  * "cold": no stored aggregates, so key figures and the timeline are aggregated from the
    observations too (older analyses, or aggregates lost).
The page is compared with a trivial page (the same analysis' progress JSON: auth + tenancy + one
row) as a ratio within the same run, so the number travels between machines.

    python benchmarks/bench_report.py                     # 1 h x 200 faces x 1 fps, JSON on stdout
    python benchmarks/bench_report.py --minutes 5 --faces 50   # a quick run
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emo7ion_site.settings.test")
os.environ.setdefault("TEST_TAG", "bench-report")

TARGET_S = 2.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def synthetic_frames(*, minutes: float, faces: int, sample_fps: float, track_life_s: float, seed: int = 7):
    """Yield (t, track_ids, boxes, probs) per sampled frame: a crowd whose mood drifts (a happy wave,
    a negative dip) with per-face noise; faces are replaced every ~track_life_s seconds."""
    import numpy as np

    from ml.engine.labels import EMOTIONS

    rng = np.random.default_rng(seed)
    n_frames = int(round(minutes * 60 * sample_fps))
    life = max(1, int(round(track_life_s * sample_fps)))
    offsets = rng.integers(0, life, size=faces)
    cols = int(np.ceil(np.sqrt(faces * 16 / 9)))
    slot = np.arange(faces)
    xs, ys = (slot % cols) * (1920 // cols), (slot // cols) * (1080 // max(1, int(np.ceil(faces / cols))))
    base = np.log(np.array([0.06, 0.01, 0.04, 0.30, 0.09, 0.06, 0.44]))  # a crowd mostly neutral/happy
    happy, neg = EMOTIONS.index("happy"), [EMOTIONS.index(e) for e in ("angry", "fear", "sad")]
    for k in range(n_frames):
        t = k / sample_fps
        phase = t / max(1.0, minutes * 60)
        logits = np.tile(base, (faces, 1))
        logits[:, happy] += 1.2 * np.sin(2 * np.pi * 3 * phase)
        logits[:, neg] += 1.5 * np.exp(-((phase - 0.7) / 0.04) ** 2)
        logits += rng.normal(0, 0.8, size=logits.shape)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        tracks = slot + faces * ((k + offsets) // life)
        yield t, tracks, (xs, ys), p


def insert_analysis(*, minutes: float, faces: int, sample_fps: float, track_life_s: float, finalized: bool):
    import numpy as np
    from django.contrib.auth import get_user_model

    from accounts.models import Membership, Organisation, Role
    from analysis.models import Analysis, FaceObservation, Footage, Project, TimelineBucket
    from ml.engine.labels import EMOTIONS
    from ml.engine.timeline import aggregate_timeline, bucket_seconds, summarise
    from ml.models import ModelVersion

    user = get_user_model().objects.create_user("bench", password="bench-password-123")
    org = Organisation.objects.create(name="Benchmark organisation")
    Membership.objects.create(user=user, organisation=org, role=Role.VIEWER)
    project = Project.objects.create(organisation=org, name="Benchmark event", created_by=user)
    duration = minutes * 60.0
    footage = Footage.objects.create(project=project, original_name="crowd-1h.mp4", status=Footage.Status.READY,
                                     duration_s=duration, fps=25.0, frame_count=int(duration * 25), width=1920,
                                     height=1080, size_bytes=1)
    mv = ModelVersion.objects.create(name="bench-model", file="/nonexistent/bench.keras", sha256="0" * 64,
                                     labels=list(EMOTIONS), metrics={"validation": {"accuracy": 0.7}})
    analysis = Analysis.objects.create(footage=footage, model_version=mv, detector="yunet", sample_fps=sample_fps,
                                       status=Analysis.Status.SUCCEEDED, progress=1.0, created_by=user)
    started = time.perf_counter()
    batch, n = [], 0
    ts_all, tr_all, pr_all = [], [], []
    for t, tracks, (xs, ys), p in synthetic_frames(minutes=minutes, faces=faces, sample_fps=sample_fps,
                                                   track_life_s=track_life_s):
        top = p.argmax(axis=1)
        frame_index = int(round(t * 25))
        for i in range(len(tracks)):
            pi = p[i]
            batch.append(FaceObservation(
                analysis_id=analysis.pk, segment_index=int(t // 60), t=t, frame_index=frame_index,
                track_id=int(tracks[i]), x=int(xs[i]), y=int(ys[i]), w=40, h=40, detector_score=0.9,
                p_angry=float(pi[0]), p_disgust=float(pi[1]), p_fear=float(pi[2]), p_happy=float(pi[3]),
                p_sad=float(pi[4]), p_surprise=float(pi[5]), p_neutral=float(pi[6]), top_emotion=EMOTIONS[top[i]]))
        if finalized:
            ts_all.append(np.full(len(tracks), t))
            tr_all.append(tracks.copy())
            pr_all.append(p)
        if len(batch) >= 20_000:
            FaceObservation.objects.bulk_create(batch, batch_size=2000)
            n += len(batch)
            batch = []
            log(f"  inserted {n:,} observations ({time.perf_counter() - started:.0f} s)")
    FaceObservation.objects.bulk_create(batch, batch_size=2000)
    n += len(batch)
    insert_s = time.perf_counter() - started

    if finalized:
        # What analysis_finalize stores, computed with the same engine functions it uses.
        from django.conf import settings
        bucket_s = bucket_seconds(duration, sample_fps, preferred_s=settings.EMO7ION_BUCKET_SECONDS)
        rows = [{"t": t, "track_id": tr, "probs": p}
                for ts, trs, ps in zip(ts_all, tr_all, pr_all) for t, tr, p in zip(ts, trs, ps)]
        frames = int(round(duration * sample_fps))
        buckets = aggregate_timeline(rows, bucket_s, duration, EMOTIONS, sample_fps=sample_fps, fps=25.0)
        TimelineBucket.objects.bulk_create([TimelineBucket(analysis=analysis, **{
            k: b[k] for k in ("index", "t_start", "t_end", "frames", "faces", "mean_faces_per_frame", "unique_tracks",
                              "emotion_counts", "emotion_shares", "mean_probabilities")}) for b in buckets])
        analysis.summary = summarise(rows, frames, duration, EMOTIONS)
        analysis.save(update_fields=["summary"])
    return user, analysis, n, insert_s


def analyse_tables() -> None:
    """Planner statistics, as a database that autovacuums (PostgreSQL) or is ANALYZEd has them."""
    from django.db import connection
    with connection.cursor() as cur:
        cur.execute("ANALYZE")


def time_get(client, url: str, repeat: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries, status = [], 0, None
    for i in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.get(url)
            content = b"".join(response.streaming_content) if response.streaming else response.content
            times.append(time.perf_counter() - t0)
        status, queries = response.status_code, len(ctx.captured_queries)
        assert status == 200, f"{url} answered {status}"
        assert content
    return {"first_s": round(times[0], 4), "median_s": round(statistics.median(times), 4),
            "min_s": round(min(times), 4), "queries": queries}


def breakdown(analysis) -> dict:
    from reports import selectors as reports

    parts = {}
    for name, fn in (
        ("key_figures", lambda: reports.analysis_key_figures(analysis=analysis)),
        ("timeline", lambda: reports.analysis_timeline(analysis=analysis)),
        ("key_moments", lambda: reports.analysis_key_moments(analysis=analysis,
                                                             timeline=reports.analysis_timeline(analysis=analysis))),
        ("tracks_page", lambda: reports.analysis_tracks_page(analysis=analysis)[0].object_list),
        ("tracks_sorted_by_happy_last_page", lambda: reports.analysis_tracks_page(
            analysis=analysis, sort="-happy", page=10_000)[0].object_list),
        ("model_info", lambda: reports.analysis_model_info(analysis=analysis)),
    ):
        t0 = time.perf_counter()
        fn()
        parts[name] = round(time.perf_counter() - t0, 4)
    return parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--faces", type=int, default=200, help="faces in every sampled frame")
    parser.add_argument("--sample-fps", type=float, default=1.0)
    parser.add_argument("--track-life-s", type=float, default=300.0, help="how long a face stays in view")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keepdb", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args()

    import django
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        # Its own database: never the one a concurrent `make test` (test_<name>) is using.
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_report_{old_name}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        log(f"benchmark database: {connection.vendor} {connection.settings_dict['NAME']}")
        user, analysis, n_obs, insert_s = insert_analysis(
            minutes=args.minutes, faces=args.faces, sample_fps=args.sample_fps, track_life_s=args.track_life_s,
            finalized=True)
        analyse_tables()
        from analysis.models import Analysis
        tracks = analysis.observations.values("track_id").distinct().count()
        client = Client()
        client.force_login(user)
        report_url = f"/analyses/{analysis.pk}/report/"
        trivial_url = f"/analyses/{analysis.pk}/report/progress.json"
        client.get(trivial_url)  # warm-up: first-request imports and URL resolver, not the report's cost
        trivial = time_get(client, trivial_url, args.repeat)
        finalized = time_get(client, report_url, args.repeat)
        sorted_page = time_get(client, report_url + "?tracks_sort=-happy&tracks_page=50", args.repeat)
        parts_finalized = breakdown(Analysis.objects.select_related("footage__project__organisation",
                                                                   "model_version").get(pk=analysis.pk))
        # Cold: the same analysis without stored aggregates.
        analysis.buckets.all().delete()
        Analysis.objects.filter(pk=analysis.pk).update(summary={})
        cold = time_get(client, report_url, args.repeat)
        parts_cold = breakdown(Analysis.objects.select_related("footage__project__organisation",
                                                              "model_version").get(pk=analysis.pk))
        t0 = time.perf_counter()
        csv_response = client.get(f"/analyses/{analysis.pk}/export/observations.csv")
        csv_bytes = sum(len(chunk) for chunk in csv_response.streaming_content)
        csv_s = time.perf_counter() - t0

        result = {
            "benchmark": "report",
            "database": connection.vendor,
            "observations": n_obs,
            "face_tracks": tracks,
            "duration_min": args.minutes,
            "faces_per_frame": args.faces,
            "sample_fps": args.sample_fps,
            "insert_s": round(insert_s, 1),
            "trivial_page": trivial,
            "report_page_finalized": finalized,
            "report_page_sorted_by_happy_page_50": sorted_page,
            "report_page_cold": cold,
            "ratio_report_to_trivial": round(finalized["median_s"] / trivial["median_s"], 1),
            "ratio_cold_report_to_trivial": round(cold["median_s"] / trivial["median_s"], 1),
            "breakdown_finalized_s": parts_finalized,
            "breakdown_cold_s": parts_cold,
            "observations_csv": {"seconds": round(csv_s, 2), "megabytes": round(csv_bytes / 1e6, 1),
                                 "rows_per_s": round(n_obs / csv_s)},
            "target_s": TARGET_S,
            "meets_target": max(finalized["first_s"], finalized["median_s"], sorted_page["median_s"]) < TARGET_S,
        }
        print(json.dumps(result, indent=1))
        return 0
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=args.keepdb)
        teardown_test_environment()


if __name__ == "__main__":
    sys.exit(main())
