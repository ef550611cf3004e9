"""Analyse one video or photo in this process, with the same services the workers use.

    python manage.py analyse PATH [--detector yunet|haar] [--sample-fps F] [--project ID] [--user NAME] [--json]

It stores the file as Footage and records an Analysis, so the result is also on the site.
Without --project the footage goes into the scratch project of a local "cli" organisation.
With --project the command acts as --user (default: that project's organisation owner) and
refuses a project that user may not upload to and analyse in: another organisation's project
is "not found", exactly as on the site.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

log = logging.getLogger("analysis.cli")

CLI_ORG_SLUG = "cli"
CLI_PROJECT_NAME = "Command-line analyses"


class Command(BaseCommand):
    help = "Analyse a video or photo in-process and print the summary (DESIGN.md §4 JSON with --json)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="video or still image file")
        parser.add_argument("--detector", choices=("yunet", "haar"),
                            help="face detector (default: yunet when EMO7ION_YUNET_MODEL is set, else haar)")
        parser.add_argument("--sample-fps", type=float, default=None,
                            help="frames per second to analyse (default: EMO7ION_DEFAULT_SAMPLE_FPS)")
        parser.add_argument("--project", type=int, help="store the footage and analysis in this project (id)")
        parser.add_argument("--user", help="act as this user (default: the project's organisation owner; "
                                           "with no --project, nobody)")
        parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    def handle(self, *args, **opts):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.as_json = opts["json"]
        path = Path(opts["path"]).expanduser()
        if not path.is_file():
            self._fail(f"{path} does not exist or is not a file.")
        user = self._user(opts["user"])
        project = self._project(opts["project"], user)
        if opts["project"] and user is None:
            user = self._owner_of(project)

        from analysis import services
        from emo7ion_site.core.jobs import JobStatus
        from ml import registry, runtime

        model_version = registry.active_model_version()
        if model_version is None:
            self._fail("No emotion model is active: the shipped default model is missing "
                       "(ml/default_model/) and none is registered. See the README, 'The emotion model'.")
        try:
            detector_name = services.validate_detector(opts["detector"])
            sample_fps = services.validate_sample_fps(opts["sample_fps"])
        except ValidationError as exc:
            self._fail(" ".join(exc.messages))
        # Load and warm up the model and detector first: wall_time_s measures the analysis,
        # not start-up or model loading (the worker caches both per process the same way).
        t_load = time.perf_counter()
        try:
            self._warm_up(runtime.get_classifier(model_version), runtime.get_detector(detector_name))
        except Exception as exc:
            self._fail(f"Could not load the model or the detector: {exc}")
        log.info("Model %s and detector %s loaded in %.1f s", model_version.name, detector_name,
                 time.perf_counter() - t_load)

        with open(path, "rb") as fh:
            footage = services.footage_create_from_upload(project=project, uploaded_file=File(fh, name=path.name),
                                                          uploaded_by=user)
        if footage.status != footage.Status.READY:
            self._fail(f"{path.name} was rejected: {footage.rejection_reason}", footage_id=footage.pk)

        started = time.perf_counter()
        analysis = services.analysis_create(footage=footage, created_by=user, model_version=model_version,
                                            detector=detector_name, sample_fps=sample_fps, enqueue=False)
        analysis = services.analysis_run_inline(analysis=analysis)
        wall = time.perf_counter() - started
        if analysis.status != JobStatus.SUCCEEDED:
            self._fail(f"The analysis {analysis.status}: {analysis.error}", analysis_id=analysis.pk)
        result = self._result(analysis, wall)
        if self.as_json:
            self.stdout.write(json.dumps(result))
        else:
            self._print_human(result)

    # --- who and where -------------------------------------------------------------------------

    def _user(self, username):
        if not username:
            return None
        try:
            return get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            self._fail(f"There is no user named {username!r}.")

    def _owner_of(self, project):
        from accounts.models import Role
        membership = project.organisation.memberships.filter(role=Role.OWNER).select_related("user") \
            .order_by("created_at").first()
        return membership.user if membership else None

    def _project(self, project_id, user):
        from accounts.permissions import ANALYSE, UPLOAD
        from analysis import selectors
        from analysis.models import Project

        if project_id is None:
            return self._scratch_project()
        if user is None:
            project = Project.objects.filter(pk=project_id).select_related("organisation").first()
            if project is None:
                self._fail(f"Project {project_id} not found.")
            owner = self._owner_of(project)
            if owner is None:
                self._fail(f"Project {project_id}'s organisation has no owner to act as; pass --user.")
            user = owner
        try:
            project = selectors.project_get(user, project_id, action=UPLOAD)
            selectors.project_get(user, project_id, action=ANALYSE)
        except Http404:
            # Same answer as the site: another organisation's project does not exist for this user.
            self._fail(f"Project {project_id} not found among the projects {user.get_username()} can use.")
        except PermissionDenied:
            self._fail(f"{user.get_username()}'s role does not allow uploading and analysing in project {project_id}.")
        return project

    def _scratch_project(self):
        from accounts.models import Organisation
        from analysis.models import Project

        organisation, _ = Organisation.objects.get_or_create(slug=CLI_ORG_SLUG,
                                                             defaults={"name": "Command line (local)"})
        project, _ = Project.objects.get_or_create(
            organisation=organisation, name=CLI_PROJECT_NAME,
            defaults={"description": "Footage analysed with manage.py analyse without --project."})
        return project

    # --- running and printing --------------------------------------------------------------------

    @staticmethod
    def _warm_up(classifier, detector):
        import numpy as np
        size = classifier.input_size
        classifier.predict_proba(np.zeros((1, size, size), np.uint8))
        detector.detect(np.zeros((120, 160, 3), np.uint8))

    @staticmethod
    def _result(analysis, wall: float) -> dict:
        from analysis.selectors import timeline_for
        s = analysis.summary
        return {
            "analysis_id": analysis.pk,
            "footage_id": analysis.footage_id,
            "frames_analysed": s["frames_analysed"],
            "faces_detected": s["faces_detected"],
            "unique_faces": s["unique_faces"],
            "frames_with_faces": s.get("frames_with_faces"),
            "duration_s": s["duration_s"],
            "emotion_shares": s["emotion_shares"],
            "dominant_emotion": s.get("dominant_emotion"),
            "timeline": [{"t_start": b.t_start, "t_end": b.t_end, "frames": b.frames, "faces": b.faces,
                          "emotion_shares": b.emotion_shares} for b in timeline_for(analysis)],
            "wall_time_s": round(wall, 3),
            # Seconds per stage summed over segments (decode, detect, classify, store) and the detection
            # schedule that made the analysis, as the segments recorded them.
            "timings": s.get("timings", {}),
            "schedule": s.get("schedule"),
            "detector": analysis.detector,
            "sample_fps": analysis.sample_fps,
            "model_version": analysis.model_version.name,
            **({"note": s["note"]} if s.get("note") else {}),
            **({"warnings": s["warnings"]} if s.get("warnings") else {}),
        }

    def _print_human(self, r: dict) -> None:
        w = self.stdout.write
        w(f"Analysis {r['analysis_id']}: {r['frames_analysed']} frames, {r['faces_detected']} faces, "
          f"{r['unique_faces']} unique (tracks), {r['duration_s']} s of footage, in {r['wall_time_s']} s")
        if r.get("note"):
            w(r["note"])
        for label, share in sorted(r["emotion_shares"].items(), key=lambda kv: -kv[1]):
            w(f"  {label:<9} {100 * share:5.1f}%")

    def _fail(self, message: str, **ids):
        if self.as_json:
            self.stdout.write(json.dumps({"error": message, **ids}))
        raise CommandError(message)
